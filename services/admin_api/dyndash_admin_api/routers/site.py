"""/api/v1/site: a whole site applied in one transaction, and exported in one response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from dyndash_admin_api.deps import CurrentKey, RenderPoolDep, RuntimeDep
from dyndash_admin_api.operations.common import lock_template_graph
from dyndash_admin_api.operations.site_apply import apply_plan, export_site
from dyndash_admin_api.operations.site_plan import (
    Plan,
    check_expected,
    compile_bundle,
    make_plan,
)
from dyndash_admin_api.responses import answers
from dyndash_admin_api.schemas.site import SiteApply, SiteExport, SitePlan
from dyndash_common.apikeys import require_any_scope, require_scope
from dyndash_common.changes import change
from dyndash_common.db import ApiKey
from dyndash_common.envelope import Envelope, success

APPLY_PATH = "/api/v1/site/apply"
# A plan (dry run) and an export only read the site: `site:plan` is enough, so CI can plan
# pull requests with a key that cannot write (README, "Scopes"). A real apply needs
# `site:apply`; `admin` implies both.
READ_SCOPES = ("site:plan", "site:apply")

# What a 422 may refuse that the bundle's schema allows (README, "Sites as code"): JSON Schema
# has no uniqueness by one field of the items, and the names resolve only against each other.
BUNDLE_RULES = (
    "two templates, routes or dashboards with one name or path, or two widgets with one key in "
    "a dashboard; a route's template or dashboard, or a widget's config.template, naming "
    "nothing in the bundle; an include cycle or a template that does not compile; widget "
    "config or data that does not fit its type; an integer past 64 bits in any config, "
    "context or data"
)

router = APIRouter(prefix="/api/v1/site", tags=["site"])


@dataclass(frozen=True)
class SiteCaller:
    key: ApiKey
    dry_run: bool


async def _site_caller(
    key: CurrentKey,
    dry_run: Annotated[
        bool,
        Query(
            description="Only say what would change (the plan); write nothing. Scope "
            "`site:plan` is enough; a real apply needs `site:apply`."
        ),
    ] = False,
) -> SiteCaller:
    """The scope a call needs depends on whether it writes; checked before the body is read."""
    if dry_run:
        require_any_scope(key, *READ_SCOPES)
    else:
        require_scope(key, "site:apply")
    return SiteCaller(key, dry_run)


async def _site_reader(key: CurrentKey) -> ApiKey:
    require_any_scope(key, *READ_SCOPES)
    return key


SiteReader = Annotated[ApiKey, Depends(_site_reader)]


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
    responses=answers(400, 403, 409, 413, beyond_schema=BUNDLE_RULES),
)
async def apply_site(
    *,
    runtime: RuntimeDep,
    pool: RenderPoolDep,
    caller: Annotated[SiteCaller, Depends(_site_caller)],
    body: SiteApply,
    prune: Annotated[
        bool, Query(description="Also delete the server's objects that the bundle lacks.")
    ] = False,
    adopt: Annotated[
        bool,
        Query(
            description="Take ownership (`managed_by: files`) of objects the bundle matches "
            "even when nothing else changes; otherwise an adoption alone writes nothing."
        ),
    ] = False,
) -> dict[str, Any]:
    """Validate the bundle as a whole and apply it in one transaction; 409 and nothing
    changes when the site moved since the plan whose `expected_versions` are sent. Its
    changes are published after commit as one `site.applied` event."""
    # Templates compile before any lock or transaction: a big bundle's compile takes seconds,
    # which no admin write or data push should wait for (README, "Sites as code").
    references = await compile_bundle(runtime.database, body.bundle, pool)
    if caller.dry_run:
        async with runtime.database.read() as session:
            plan = await make_plan(
                session, body.bundle, prune=prune, references=references, lock=False
            )
            check_expected(plan, body.expected_versions)
        return success(_answer(plan, applied=False, dry_run=True, event_id=None), "plan only")
    async with change(runtime) as changes:
        await lock_template_graph(changes.session)
        plan = await make_plan(
            changes.session, body.bundle, prune=prune, references=references, lock=True
        )
        check_expected(plan, body.expected_versions)
        applied = plan.changes_anything or (adopt and plan.adopts_anything)
        if applied:
            await apply_plan(changes, plan, caller.key)
    event_id = changes.events[0].id if changes.events else None
    if applied:
        message = "site applied"
    elif plan.adopts_anything:
        message = "nothing to change; send adopt=true to take ownership of what matches"
    else:
        message = "nothing to change"
    return success(_answer(plan, applied=applied, dry_run=False, event_id=event_id), message)


@router.get(
    "/export",
    operation_id="site_export",
    response_model=Envelope[SiteExport],
    responses=answers(403),
)
async def export(*, runtime: RuntimeDep, _key: SiteReader) -> dict[str, Any]:
    """The whole site as a bundle, in a stable order: what `dyndash export` writes. Scope
    `site:plan` (or `site:apply`): it holds every dashboard's widget data, private ones too."""
    async with runtime.database.read() as session:
        bundle = await export_site(session)
    return success(bundle)
