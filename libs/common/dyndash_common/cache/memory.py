"""L1: an in-process LRU bounded in bytes, one slot per logical key.

Each slot remembers the version signature its entry was built from. A lookup with a newer
signature misses, and the new render replaces the slot, so superseded versions do not pile up;
the superseded entry stays reachable as "last good" for stale-if-error until then.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from dyndash_common.cache.entry import CachedEntry


class MemoryCache:
    """L1: this process's entries, by key and version signature, within a byte budget (least
    recently used out first), and the last good entry of each key."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes_used = 0
        self._slots: OrderedDict[Hashable, tuple[Hashable, CachedEntry]] = OrderedDict()

    def get(self, key: Hashable, signature: Hashable) -> CachedEntry | None:
        slot = self._slots.get(key)
        if slot is None or slot[0] != signature:
            return None
        self._slots.move_to_end(key)
        return slot[1]

    def holds(self, key: Hashable, entry: CachedEntry) -> bool:
        """True when the slot of `key` still holds `entry` itself (marked used, as `get` does):
        for a response derived from that entry, which is still what `get` would give."""
        slot = self._slots.get(key)
        if slot is None or slot[1] is not entry:
            return False
        self._slots.move_to_end(key)
        return True

    def last_good(self, key: Hashable) -> CachedEntry | None:
        """Whatever the slot holds, whatever version it was built from."""
        slot = self._slots.get(key)
        return slot[1] if slot else None

    def put(self, key: Hashable, signature: Hashable, entry: CachedEntry) -> None:
        if self.max_bytes <= 0 or entry.size > self.max_bytes:
            return
        previous = self._slots.pop(key, None)
        if previous is not None:
            self.bytes_used -= previous[1].size
        self._slots[key] = (signature, entry)
        self.bytes_used += entry.size
        while self.bytes_used > self.max_bytes and self._slots:
            _, (_, evicted) = self._slots.popitem(last=False)
            self.bytes_used -= evicted.size

    def clear(self) -> None:
        self._slots.clear()
        self.bytes_used = 0

    def __len__(self) -> int:
        return len(self._slots)
