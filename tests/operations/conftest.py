"""Fixtures shared with the gateway and renderer tests."""

from tests.gateway.conftest import metered_site, site
from tests.renderer.conftest import real_servers

__all__ = ["metered_site", "real_servers", "site"]
