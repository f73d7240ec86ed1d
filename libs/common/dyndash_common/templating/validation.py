"""Write-time checks: the template compiles in the sandbox and names only known templates.

Compiling runs template-author input through Jinja2's parser and Python's compiler, which can
be made to recurse deeply or run long. The admin API therefore compiles in its render pool
(`RenderPool.references`), under the pool's limits. `LocalCompiler` compiles in-process, for
templates this codebase writes itself (the demo site, benchmarks, tests).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from dyndash_common.errors import TemplateInvalid
from dyndash_common.templating.child import compile_references
from dyndash_common.templating.sandbox import DashboardSandbox


class TemplateCompiler(Protocol):
    async def references(self, source: str, *, field: str = "html_content") -> list[str]:
        """The templates `source` includes, extends or imports; TemplateInvalid (with the
        line of a syntax error) when it does not compile."""


def references_from_reply(status: str, payload: Any, field: str) -> list[str]:
    """Interpret a compile reply of `dyndash_common.templating.child.compile_references`."""
    if status == "invalid":
        raise TemplateInvalid(str(payload["message"]), details=payload["details"])
    if status != "compiled":
        raise TemplateInvalid(f"{field}: {payload}", details={"field": field})
    return [str(name) for name in payload]


class LocalCompiler:
    """Compiles in this process: only for templates that no API caller wrote."""

    async def references(self, source: str, *, field: str = "html_content") -> list[str]:
        status, payload = compile_references(DashboardSandbox(), source, field)
        return references_from_reply(status, payload, field)


def check_references(
    references: Collection[str], known: Collection[str], *, field: str = "html_content"
) -> None:
    unknown = sorted(set(references) - set(known))
    if unknown:
        raise TemplateInvalid(
            f"{field}: references unknown template(s): {', '.join(unknown)}",
            details={"field": field, "unknown_templates": unknown},
        )
