"""Recording how a template version renders, for the admin API, gateways and renderers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from dyndash_common.changes import change
from dyndash_common.db.models import Template
from dyndash_common.runtime import Runtime
from dyndash_common.site.failures import graph_digest

if TYPE_CHECKING:
    from dyndash_common.site.warming import WarmReport

MAX_ERROR_CHARS = 2000


async def record_render_status(
    runtime: Runtime,
    template_name: str,
    version: int,
    failure: str | None,
    *,
    budget_graph: str | None = None,
) -> None:
    """Mark that version of the template `ok` or `failed` (a newer version keeps its own
    status). `budget_graph` names the include graph of a budget failure, which no one renders
    again (see `dyndash_common.site.failures`). A new failure is an event,
    `template.render_failed`: a report, which no one answers with more render work."""
    async with change(runtime) as changes:
        row = (
            await changes.session.execute(
                select(Template).where(Template.name == template_name).with_for_update()
            )
        ).scalar_one_or_none()
        if row is None or row.version != version:
            return
        if failure is None and row.render_status == "failed":
            return  # another part of the same change failed with this version: keep that
        status = "failed" if failure else "ok"
        error = failure[:MAX_ERROR_CHARS] if failure else None
        if budget_graph is None and row.budget_failure_graph is not None and failure:
            budget_graph = row.budget_failure_graph  # a plain error does not lift a budget one
        if (row.render_status, row.render_error, row.budget_failure_graph) == (
            status,
            error,
            budget_graph,
        ):
            return
        row.render_status, row.render_error = status, error
        row.budget_failure_graph = budget_graph
        await changes.session.flush()
        if failure:
            await changes.emit(
                "template.render_failed",
                "template",
                row.id,
                row.version,
                {"name": row.name, "error": error, "budget_graph": budget_graph},
            )


async def record_warm_report(runtime: Runtime, report: WarmReport) -> None:
    """Mark each template a warm run rendered, at the version each render was of (not the
    catalog's when the run ends): `failed` with the first error, else `ok`. A page that
    rendered also marks `ok` what it includes, extends or imports, at the versions rendered
    with it (a layout or partial is never rendered alone, and would otherwise read "not
    rendered" for ever). Templates nothing was rendered with keep their status."""
    outcomes: dict[tuple[str, int], str | None] = {}
    budget_graphs: dict[tuple[str, int], str] = {}
    for failure in report.failures:
        version = dict(failure.signature).get(failure.template or "")
        if failure.template is None or version is None:
            continue  # failed before it rendered: nothing to say about a version
        key = (failure.template, version)
        if outcomes.get(key) is None:
            outcomes[key] = f"{failure.target}: {failure.error}"
        if failure.over_budget:
            budget_graphs[key] = graph_digest(failure.signature)
    succeeded = [
        (template, signature)
        for template, signature in report.rendered
        if template in dict(signature)
    ]
    for template, signature in succeeded:
        outcomes.setdefault((template, dict(signature)[template]), None)
    for template, signature in succeeded:
        if outcomes[template, dict(signature)[template]] is None:
            for member in signature:
                outcomes.setdefault(member, None)
    for (name, version), error in outcomes.items():
        await record_render_status(
            runtime, name, version, error, budget_graph=budget_graphs.get((name, version))
        )
