"""/api/v1/site: a whole site applied in one transaction, and exported in one response."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from dyndash_admin_api.deps import CurrentKey, RenderPoolDep, RuntimeDep, SiteApplier
from dyndash_admin_api.operations.common import lock_template_graph
from dyndash_admin_api.operations.site_apply import apply_plan, export_site
from dyndash_admin_api.operations.site_plan import Plan, check_expected, make_plan
from dyndash_admin_api.responses import answers
from dyndash_admin_api.schemas.site import SiteApply, SiteExport, SitePlan
from dyndash_common.changes import change
from dyndash_common.envelope import Envelope, success

APPLY_PATH = "/api/v1/site/apply"

router = APIRouter(prefix="/api/v1/site", tags=["site"])


def _answer(plan: Plan, *, applied: bool, dry_run: bool, event_id: int | None) -> dict[str, Any]:
    return {
        "applied": applied,
        "dry_run": dry_run,
        "prune": plan.prune,
        "summary": plan.summary(),
        "changes": [step.public(written=not dry_run) for step in plan.steps],
        "expected_versions": plan.expected_versions(),
        "event_id": event_id,
    }


@router.post(
    "/apply",
    operation_id="site_apply",
    response_model=Envelope[SitePlan],
    responses=answers(400, 403, 409, 413),
)
async def apply_site(
    *,
    runtime: RuntimeDep,
    pool: RenderPoolDep,
    key: SiteApplier,
    body: SiteApply,
    dry_run: Annotated[
        bool, Query(description="Only say what would change (the plan); write nothing.")
    ] = False,
    prune: Annotated[
        bool, Query(description="Also delete the server's objects that the bundle lacks.")
    ] = False,
) -> dict[str, Any]:
    """Validate the bundle as a whole and apply it in one transaction; 409 and nothing
    changes when `expected_versions` no longer match. Its changes are published after commit
    as one `site.applied` event."""
    if dry_run:
        async with runtime.database.read() as session:
            plan = await make_plan(session, body.bundle, prune=prune, compiler=pool, lock=False)
            check_expected(plan, body.expected_versions)
        return success(_answer(plan, applied=False, dry_run=True, event_id=None), "plan only")
    async with change(runtime) as changes:
        await lock_template_graph(changes.session)
        plan = await make_plan(changes.session, body.bundle, prune=prune, compiler=pool, lock=True)
        check_expected(plan, body.expected_versions)
        if plan.changes_anything:
            await apply_plan(changes, plan, key)
    event_id = changes.events[0].id if changes.events else None
    applied = plan.changes_anything
    message = "site applied" if applied else "nothing to change"
    return success(_answer(plan, applied=applied, dry_run=False, event_id=event_id), message)


@router.get(
    "/export",
    operation_id="site_export",
    response_model=Envelope[SiteExport],
    responses=answers(),
)
async def export(*, runtime: RuntimeDep, _key: CurrentKey) -> dict[str, Any]:
    """The whole site as a bundle, in a stable order: what `dyndash export` writes."""
    async with runtime.database.read() as session:
        bundle = await export_site(session)
    return success(bundle)
