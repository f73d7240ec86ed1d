"""Hostile templates: neither escape the sandbox nor hurt the other pages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.gateway.conftest import Site, start_site
from tests.utils.backends import Backend

HOSTILE = [
    pytest.param(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        503,
        id="cpu-loop",
    ),
    pytest.param("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", 503, id="output-bomb"),
    pytest.param("{{ 'x' * 10**9 }}", 503, id="huge-string"),
    pytest.param("{{ 2 ** 100000000 }}", 503, id="huge-power"),
    pytest.param("{% set s = 'x' * 999999 %}{{ s ~ s }}", 503, id="tilde-concat"),
    pytest.param(
        "{% set s = 'x' * 900000 %}{% for i in range(400) %}{% set t = s ~ 'y' %}{% endfor %}",
        503,
        id="allocation-churn",
    ),
    pytest.param("{{ ('x' * 999999)|replace('x', 'yy') }}", 503, id="replace-amplifier"),
    pytest.param("{{ 'x'.center(10**9) }}", 503, id="center-width"),
    pytest.param("{{ '{:>999999999}'.format(1) }}", 503, id="format-width"),
    pytest.param("{{ '%*d' % (300000000, 1) }}", 503, id="percent-star-width"),
    pytest.param("{{ '{:{}}'.format(1, 300000000) }}", 503, id="nested-width"),
    pytest.param("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", 503, id="recursion"),
    pytest.param("{{ ''.__class__.__mro__ }}", 500, id="mro"),
    pytest.param("{{ cycler.__init__.__globals__ }}", 500, id="globals"),
    pytest.param("{{ lipsum|attr('__globals__') }}", 500, id="attr-filter"),
    pytest.param("{{ '{0.__class__}'.format('') }}", 500, id="format-field"),
    pytest.param("{{ self.__init__.__globals__ }}", 500, id="template-reference"),
]


@pytest.fixture
async def strict_site(backend: Backend) -> AsyncIterator[Site]:
    async for running in start_site(backend, {"render_timeout_seconds": 0.5}):
        yield running


@pytest.mark.parametrize(("source", "status"), HOSTILE)
async def test_hostile_page_fails_alone(strict_site: Site, source: str, status: int) -> None:
    site = strict_site
    await site.publish_page("/good", "<p>fine</p>", name="good")
    await site.publish_page("/bad", source, name="bad")
    bad_request = asyncio.create_task(site.page("/bad"))
    good = await site.page("/good")
    bad = await bad_request
    assert good.status_code == 200
    assert good.text == "<p>fine</p>"
    assert bad.status_code == status, bad.text
    assert "Traceback" not in bad.text
    assert "object at 0x" not in bad.text
    assert bad.headers["cache-control"] == "no-store"
    if status == 503:
        assert bad.headers["retry-after"]
    again = await site.page("/good")
    assert again.status_code == 200
    assert (await site.page("/healthz")).status_code == 200
