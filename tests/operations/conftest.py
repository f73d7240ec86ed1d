"""Fixtures shared with the gateway and renderer tests."""

from tests.gateway.conftest import site
from tests.renderer.conftest import real_servers

__all__ = ["real_servers", "site"]
