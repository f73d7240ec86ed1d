"""The bundle budget of the README's admin UI section, on the built files (not timed): the
initial JS within 300 KB gzip, and the editor and diff code out of it, loaded on demand."""

from __future__ import annotations

import gzip
import re

import pytest

from dyndash_admin_api.ui import CHECKOUT_BUNDLE
from tests.ui.browser import require_bundle

BUDGET_BYTES = 300 * 1024


@pytest.fixture
def initial_js() -> list[bytes]:
    require_bundle()
    index = (CHECKOUT_BUNDLE / "index.html").read_text()
    files = re.findall(r'(?:src|href)="/admin/(assets/[^"]+\.js)"', index)
    assert files
    return [(CHECKOUT_BUNDLE / name).read_bytes() for name in files]


def test_initial_js_is_within_budget(initial_js: list[bytes]) -> None:
    assert sum(len(gzip.compress(code, 9)) for code in initial_js) <= BUDGET_BYTES


def test_the_editor_and_diff_load_on_demand(initial_js: list[bytes]) -> None:
    # Strings only CodeMirror and the diff library carry.
    markers = (b"cm-editor", b"newlineIsToken")
    for code in initial_js:
        for marker in markers:
            assert marker not in code
    chunks = [path.read_bytes() for path in (CHECKOUT_BUNDLE / "assets").glob("*.js")]
    for marker in markers:
        assert any(marker in chunk for chunk in chunks)
