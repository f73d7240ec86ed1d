"""The shared library's public surface: each subpackage says what it offers (`__all__`), and
the services and the CLI import those names, not the modules behind them."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "libs/common/dyndash_common"
SUBPACKAGES = sorted(p.name for p in LIBRARY.iterdir() if (p / "__init__.py").exists())
CONSUMERS = [
    ROOT / "services/admin_api/dyndash_admin_api",
    ROOT / "services/gateway/dyndash_gateway",
    ROOT / "services/renderer/dyndash_renderer",
    ROOT / "dyndash",
]


@pytest.mark.parametrize("subpackage", SUBPACKAGES)
def test_every_subpackage_exports_what_it_declares(subpackage: str) -> None:
    module = importlib.import_module(f"dyndash_common.{subpackage}")
    exported = module.__all__
    assert exported, f"dyndash_common.{subpackage} declares no public names"
    for name in exported:
        assert hasattr(module, name), f"dyndash_common.{subpackage} lacks {name}"


def test_services_import_public_names_only() -> None:
    deep = []
    for package in CONSUMERS:
        for source in package.rglob("*.py"):
            tree = ast.parse(source.read_text())
            for node in ast.walk(tree):
                if not isinstance(node, ast.ImportFrom) or not node.module:
                    continue
                parts = node.module.split(".")
                if parts[0] == "dyndash_common" and len(parts) > 2 and parts[1] in SUBPACKAGES:
                    deep.append(f"{source.relative_to(ROOT)}: from {node.module}")
    assert deep == []
