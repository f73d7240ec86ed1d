"""The sandbox's cheap checks, before a render ever needs its process limits."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError

from dyndash_common.errors import BudgetExceeded
from dyndash_common.templating import DashboardSandbox


def render(source: str) -> str:
    return DashboardSandbox().from_string(source).render()


@pytest.mark.parametrize(
    "source",
    [
        "{{ lipsum }}",
        "{{ cycler }}",
        "{{ '%s'.format_map }}",
        "{{ cycler(1, 2) }}",
        "{{ [lipsum] }}",
        "{{ {'a': namespace} }}",
        "{% macro m() %}{% endmacro %}{{ m }}",
    ],
)
def test_printing_a_function_class_or_bare_object_is_an_error(source: str) -> None:
    with pytest.raises(SecurityError, match="printing a"):
        render(source)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "{{ [1, 'a', none, 2.5, {'k': (1, 2)}] }}",
            "[1, &#39;a&#39;, None, 2.5, {&#39;k&#39;: (1, 2)}]",
        ),
        ("{{ x }}", ""),
        ("{% set ns = namespace(a=1) %}{{ ns.a }}", "1"),
        ("{{ lipsum(1, false, 5, 10)|length > 0 }}", "True"),
    ],
)
def test_data_still_prints(source: str, expected: str) -> None:
    assert render(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        "{{ ((10**1000)**1000)**5 }}",
        "{{ (10**900) ** 200 }}",
        "{% set ns = namespace(n=10**999) %}{% for i in range(40) %}"
        "{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n }}",
    ],
)
def test_integers_are_bounded_by_bit_length(source: str) -> None:
    with pytest.raises(BudgetExceeded, match="integers may not exceed"):
        render(source)


def test_namespaces_refuse_deep_nesting_but_not_wide_or_shared_values() -> None:
    deep = (
        "{% set ns = namespace(t=()) %}{% for i in range(20000) %}"
        "{% set ns.t = ((((((((((ns.t,),),),),),),),),),) %}{% endfor %}{{ ns.t|length }}"
    )
    with pytest.raises(BudgetExceeded, match="nest more than 100"):
        render(deep)
    shared = (
        "{% set ns = namespace(t=()) %}{% for i in range(27) %}"
        "{% set ns.t = (ns.t, ns.t) %}{% endfor %}{{ ns.t|length }}"
    )
    assert render(shared) == "2"
    assert render("{% set ns = namespace(t=range(50000)|list) %}{{ ns.t|length }}") == "50000"
