"""No Python repr reaches a page: every way a template turns a value into text refuses a
function, a class or an object whose text is its memory address, as printing it does
(README, "Templates")."""

from __future__ import annotations

import re

import pytest
from jinja2.exceptions import SecurityError

from dyndash_common.templating import DashboardSandbox
from dyndash_common.widgets import render_widget, widget_placeholder
from tests.conftest import Api

# What a Python repr gives away: a memory address, or the kind of thing it is.
REPR = re.compile(r"0x[0-9a-fA-F]{4,}|<function|<class|<bound|<generator|&lt;(?:function|class)")

CONVERSIONS = [
    "{{ lipsum|string }}",
    "{{ [cycler]|string }}",
    "{{ cycler(1).next|string }}",
    "{{ '%s' % lipsum }}",
    "{{ '%r' % (cycler,) }}",
    "{{ '%s %s' % (1, [lipsum]) }}",
    "{{ '%(a)s' % {'a': joiner} }}",
    "{{ '%s'|format(lipsum) }}",
    "{{ '{}'.format(joiner) }}",
    "{{ '{!r}'.format(namespace) }}",
    "{{ '{0.next}'.format(cycler(1)) }}",
    "{{ '{x}'.format_map({'x': lipsum}) }}",
    "{{ ('{}'|safe).format(lipsum) }}",
    "{{ lipsum ~ '' }}",
    "{{ 'a' ~ cycler(1) }}",
    "{{ [lipsum]|join }}",
    "{{ [1, joiner]|join(', ') }}",
    "{{ ','.join([lipsum]) }}",
    "{{ lipsum|e }}",
    "{{ lipsum|safe }}",
    "{{ lipsum|forceescape }}",
    "{{ lipsum|pprint }}",
    "{{ lipsum|upper }}",
    "{{ lipsum|title }}",
    "{{ lipsum|trim }}",
    "{{ lipsum|replace('a', 'b') }}",
    "{{ lipsum|urlencode }}",
    "{{ lipsum|urlize }}",
    "{{ {'a': lipsum}|xmlattr }}",
    "{{ [1, 2]|map('string') }}",
    "{{ range(3)|batch(2) }}",
    "{% set ns = namespace(g=[1]|reverse) %}{{ ns }}",
    "{{ render_widget({'type': 'generic', 'title': lipsum, 'data': {}}) }}",
    "{{ render_widget({'type': 'generic', 'key': cycler, 'data': {}}) }}",
    "{{ render_widget({'type': namespace, 'data': {}}) }}",
    "{{ render_widget({'type': 'stat', 'title': cycler(1), 'data': {'value': 1}}) }}",
    "{{ widget_placeholder({'type': cycler, 'title': 't'}) }}",
    "{{ widget_placeholder({'type': 'stat', 'title': lipsum}) }}",
]


def render(source: str) -> str:
    template = DashboardSandbox().from_string(source)
    return template.render(render_widget=render_widget, widget_placeholder=widget_placeholder)


@pytest.mark.parametrize("source", CONVERSIONS)
def test_a_conversion_to_text_refuses_what_printing_refuses(source: str) -> None:
    with pytest.raises(SecurityError, match="not allowed") as refused:
        render(source)
    assert REPR.search(str(refused.value)) is None, str(refused.value)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ [1, 2]|map('string')|join(',') }}", "1,2"),
        ("{{ [{'n': 'a'}, {'n': 'b'}]|map(attribute='n')|join(', ') }}", "a, b"),
        ("{{ 'a' ~ 1 ~ none ~ 2.5 }}", "a1None2.5"),
        ("{{ '%s-%d' % ('a', 2) }}{{ '%(k)s' % {'k': 'v'} }}", "a-2v"),
        ("{{ '{}:{}'.format('a', 1) }}{{ '{k}'.format_map({'k': 3}) }}", "a:13"),
        ("{{ 'x'|upper }}{{ [1, 'b']|string }}{{ '%s'|format(4) }}", "X[1, &#39;b&#39;]4"),
        ("{% set ns = namespace(a=1) %}{{ ns.a|string }}", "1"),
        ("{{ loop is undefined }}{% for i in [1] %}{{ loop.index|string }}{% endfor %}", "True1"),
    ],
)
def test_data_still_converts_to_text(source: str, expected: str) -> None:
    assert render(source) == expected


def test_a_widget_of_text_and_numbers_still_renders() -> None:
    html = str(render_widget({"type": "stat", "title": 42, "key": "k", "data": {"value": 1}}))
    assert '<h2 class="dd-card-title" id="dd-title-0">42</h2>' in html
    assert "dd-t-stat" in html
    placeholder = str(widget_placeholder({"type": "bar", "key": "sales"}))
    assert ">sales</h2>" in placeholder


PREVIEWED = [
    "{{ lipsum|string }}",
    "{{ '%s' % lipsum }}",
    "{{ '{}'.format(joiner) }}",
    "{{ lipsum ~ '' }}",
    "{{ [lipsum]|join }}",
    "{{ render_widget({'type': 'generic', 'title': lipsum, 'data': {}}) }}",
    "{{ render_widget({'type': namespace, 'data': {}}) }}",
]


async def test_preview_refuses_each_conversion_with_a_reason(api: Api) -> None:
    for source in PREVIEWED:
        response = await api.client.post("/api/v1/templates/preview", json={"html_content": source})
        assert response.status_code == 422, (source, response.text)
        body = response.json()
        assert body["data"]["code"] == "render_failed", body
        assert "not allowed" in body["message"], body["message"]
        assert REPR.search(response.text) is None, response.text


def test_a_function_past_many_values_is_still_found() -> None:
    with pytest.raises(SecurityError, match="printing a function"):
        render("{{ (range(20000)|list + [lipsum])|string }}")
