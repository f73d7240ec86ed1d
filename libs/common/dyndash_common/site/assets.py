"""Template CSS/JS bundles, served under their content hash so they can be cached forever."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import rcssmin
import rjsmin

from dyndash_common.cache.entry import BUNDLE_QUALITY, CachedEntry
from dyndash_common.site.state import Catalog

CONTENT_TYPES = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8"}
# Comments and whitespace go; names and semantics stay (neither renames nor reorders). The
# address keeps the hash of the authored source, which determines the minified bytes.
MINIFIERS: dict[str, Callable[[bytes], bytes]] = {"css": rcssmin.cssmin, "js": rjsmin.jsmin}
ONE_YEAR = 31_536_000
# Superseded bundles stay servable for pages still cached in browsers or CDNs.
MAX_ASSETS = 2_000


class Assets:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._entries: OrderedDict[str, CachedEntry] = OrderedDict()

    def get(self, digest: str, kind: str) -> CachedEntry | None:
        if kind not in CONTENT_TYPES:
            return None
        name = f"{digest}.{kind}"
        entry = self._entries.get(name)
        if entry is None:
            self._index()
            entry = self._entries.get(name)
        return entry

    def _index(self) -> None:
        for template in list(self.catalog.by_name):
            for kind, content_type in CONTENT_TYPES.items():
                digest, content = self.catalog.bundle(template, kind)
                name = f"{digest}.{kind}"
                if content and name not in self._entries:
                    self._entries[name] = CachedEntry.build(
                        MINIFIERS[kind](content),
                        content_type,
                        ONE_YEAR,
                        brotli_quality=BUNDLE_QUALITY,
                    )
        while len(self._entries) > MAX_ASSETS:
            self._entries.popitem(last=False)
