"""A running admin API and gateway, and a browser on the admin UI."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.gateway.conftest import Site, start_site
from tests.ui.browser import Session, browser_session, require_browser
from tests.utils.backends import Backend


@pytest.fixture
async def site(backend: Backend) -> AsyncIterator[Site]:
    require_browser()
    async for running in start_site(backend):
        yield running


@pytest.fixture
async def ui(site: Site) -> AsyncIterator[Session]:
    async with browser_session(site.admin.base_url) as session:
        yield session
        assert session.unexpected_errors() == []
