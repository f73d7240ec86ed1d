"""Write-time checks: the template compiles in the sandbox and names only known templates."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from jinja2 import TemplateSyntaxError, meta

from dyndash_common.errors import TemplateInvalid
from dyndash_common.templating.sandbox import DashboardSandbox


def referenced_templates(source: str, *, field: str = "html_content") -> list[str]:
    """Compile `source` and return the names it includes, extends or imports.

    Raises TemplateInvalid with the line number on a syntax error, and for a reference whose
    name is computed at render time: the dependency graph must be known at write time.
    """
    environment = DashboardSandbox()
    try:
        tree = environment.parse(source)
        environment.compile(tree)
    except TemplateSyntaxError as error:
        raise TemplateInvalid(
            f"{field}: template syntax error on line {error.lineno}: {error.message}",
            details={"field": field, "line": error.lineno, "error": error.message},
        ) from None
    except (RecursionError, SyntaxError, MemoryError):
        raise TemplateInvalid(
            f"{field}: the template nests too deeply to compile; flatten its expressions",
            details={"field": field},
        ) from None
    names = list(meta.find_referenced_templates(tree))
    if None in names:
        raise TemplateInvalid(
            f"{field}: include/extends/import must name a template with a string literal",
            details={"field": field},
        )
    return sorted({name for name in names if name is not None})


async def referenced_templates_off_loop(
    source: str, *, field: str = "html_content", timeout_seconds: float = 5.0
) -> list[str]:
    """`referenced_templates` on a worker thread, so a template that is slow to compile
    cannot stall the event loop; past the timeout it is refused."""
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(referenced_templates, source, field=field), timeout_seconds
        )
    except TimeoutError:
        raise TemplateInvalid(
            f"{field}: the template took more than {timeout_seconds:g} s to compile",
            details={"field": field},
        ) from None


def check_references(
    references: Collection[str], known: Collection[str], *, field: str = "html_content"
) -> None:
    unknown = sorted(set(references) - set(known))
    if unknown:
        raise TemplateInvalid(
            f"{field}: references unknown template(s): {', '.join(unknown)}",
            details={"field": field, "unknown_templates": unknown},
        )
