"""Each workspace member declares every third-party package it imports, and nothing more."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# member directory -> the package it ships
MEMBERS = {
    "libs/common": "dyndash_common",
    "services/admin_api": "dyndash_admin_api",
    "services/gateway": "dyndash_gateway",
    "services/renderer": "dyndash_renderer",
    ".": "dyndash",
}
# Loaded by SQLAlchemy from the database URL, never imported by name.
LOADED_BY_NAME = {"libs/common": {"asyncpg", "aiosqlite"}}
FIRST_PARTY = {
    package: tomllib.loads((ROOT / member / "pyproject.toml").read_text())["project"]["name"]
    for member, package in MEMBERS.items()
}


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_top_levels(package: Path) -> set[str]:
    names: set[str] = set()
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def needed_distributions(package: Path) -> set[str]:
    owners = packages_distributions()
    needed = set()
    for name in imported_top_levels(package):
        if name in sys.stdlib_module_names or name == package.name:
            continue
        if name in FIRST_PARTY:
            needed.add(_normalised(FIRST_PARTY[name]))
            continue
        assert name in owners, f"{package.name} imports {name}, which no installed package provides"
        needed.update(_normalised(owner) for owner in owners[name])
    return needed


def declared_distributions(member: str) -> set[str]:
    project = tomllib.loads((ROOT / member / "pyproject.toml").read_text())["project"]
    return {
        _normalised(re.match(r"[A-Za-z0-9_.\-]+", requirement).group())  # type: ignore[union-attr]
        for requirement in project.get("dependencies", [])
    }


@pytest.mark.parametrize(("member", "package"), MEMBERS.items())
def test_a_member_declares_exactly_what_it_imports(member: str, package: str) -> None:
    needed = needed_distributions(ROOT / member / package)
    declared = declared_distributions(member)
    assert sorted(needed - declared) == [], f"{member} imports undeclared packages"
    unused = declared - needed - LOADED_BY_NAME.get(member, set())
    assert sorted(unused) == [], f"{member} declares packages it does not import"
