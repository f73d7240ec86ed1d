"""Preview: renders DB templates in the sandbox, under a budget no template can break."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Api


async def test_preview_renders_with_db_templates_and_saves_nothing(api: Api) -> None:
    await api.create_template("frame", "<main>{% block body %}{% endblock %}</main>")
    response = await api.client.post(
        "/api/v1/templates/preview",
        json={
            "html_content": "{% extends 'frame' %}{% block body %}Hi {{ who }}{% endblock %}",
            "context": {"who": "<b>Ann</b>"},
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["html"] == "<main>Hi &lt;b&gt;Ann&lt;/b&gt;</main>"
    listed = (await api.client.get("/api/v1/templates")).json()["data"]
    assert listed["total"] == 1


HOSTILE = [
    pytest.param(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "time budget",
        id="silent-nested-loops",
    ),
    pytest.param(
        "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "output", id="output-flood"
    ),
    pytest.param("{{ 2 ** 100000000 }}", "exponent", id="huge-power"),
    pytest.param("{{ 'x' * 10**9 }}", "repeated sequence", id="huge-string"),
    pytest.param("{{ [1] * 10**9 }}", "repeated sequence", id="huge-list"),
    pytest.param("{{ '%999999999s' % 1 }}", "format widths", id="percent-width"),
    pytest.param("{{ '{:>999999999}'.format(1) }}", "format widths", id="format-width"),
    pytest.param("{{ '%999999999s'|format(1) }}", "format widths", id="format-filter"),
    pytest.param("{{ '%*d' % (300000000, 1) }}", "format widths", id="percent-star-width"),
    pytest.param("{{ '{:{}}'.format(1, 300000000) }}", "format widths", id="nested-width"),
    pytest.param("{{ []|slice(30000000)|min }}", "budget", id="folded-at-compile"),
    pytest.param("{{ ''.__class__.__mro__ }}", "unsafe", id="mro-escape"),
    pytest.param("{{ cycler.__init__.__globals__ }}", "unsafe", id="globals-escape"),
    pytest.param("{{ (lipsum|attr('__globals__')) }}", "unsafe", id="attr-filter-escape"),
    pytest.param("{{ '{0.__class__.__mro__}'.format('') }}", "unsafe", id="format-field-escape"),
    pytest.param("{{ ''.format.__globals__ }}", "unsafe", id="format-globals"),
    pytest.param(
        "{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", "recurs", id="deep-recursion"
    ),
]


@pytest.mark.parametrize(("source", "reason"), HOSTILE)
async def test_hostile_preview_is_stopped_with_a_reason(api: Api, source: str, reason: str) -> None:
    response = await api.client.post("/api/v1/templates/preview", json={"html_content": source})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["data"]["code"] == "render_failed"
    assert reason in body["message"], body["message"]


async def test_admin_api_keeps_answering_during_a_runaway_preview(api: Api) -> None:
    runaway = asyncio.create_task(
        api.client.post(
            "/api/v1/templates/preview",
            json={
                "html_content": "{% for i in range(100000) %}{% for j in range(100000) %}"
                "{% endfor %}{% endfor %}"
            },
        )
    )
    await asyncio.sleep(0.2)
    listed = await api.client.get("/api/v1/templates")
    assert listed.status_code == 200
    assert not runaway.done()
    assert (await runaway).status_code == 422
    after = await api.client.post("/api/v1/templates/preview", json={"html_content": "ok"})
    assert after.json()["data"]["html"] == "ok"


async def test_preview_of_unknown_include_is_422(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/templates/preview", json={"html_content": "{% include 'ghost' %}"}
    )
    assert response.status_code == 422
    assert "ghost" in response.json()["message"]
