"""Site bundle shapes: a whole site as the files hold it (README, "Sites as code").

Objects name each other by name, never by id: a route names its template and dashboard, a
widget's `config.template` a template. Ids, versions, timestamps and `managed_by` are the
server's bookkeeping and stay out, so one bundle applies to any server.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from dyndash_admin_api.schemas.common import Input, JsonObject, Output, WholeNumber
from dyndash_admin_api.schemas.dashboards import DashboardName, Slug, Title, WidgetCreate
from dyndash_admin_api.schemas.routes import HandlerConfig, RouteMethod, RoutePath
from dyndash_admin_api.schemas.templates import Content, Description, TemplateName

# "template:<name>", "route:<path>", "dashboard:<name>", "widget:<dashboard>/<key>".
EXPECTED_KEY = r"^(?:template|route|dashboard|widget):[^\x00]{1,202}$"
MAX_OBJECTS = 20_000


class TemplateSpec(Input):
    name: TemplateName
    description: Description | None = None
    html_content: Content = ""
    css_content: Content = ""
    js_content: Content = ""
    config: JsonObject = Field(default_factory=dict)
    is_active: bool = True


class RouteSpec(Input):
    path: RoutePath
    # None: the built-in dashboard layout, which needs `dashboard`.
    template: TemplateName | None = None
    dashboard: Slug | None = None
    method: RouteMethod = "GET"
    handler_config: HandlerConfig = Field(default_factory=HandlerConfig)
    is_active: bool = True

    @field_validator("handler_config")
    @classmethod
    def _dashboard_by_name(cls, value: HandlerConfig) -> HandlerConfig:
        if value.dashboard_id is not None:
            raise ValueError(
                "dashboard_id is a server id; name the dashboard in the route's `dashboard`"
            )
        return value

    @model_validator(mode="after")
    def _layout_needs_dashboard(self) -> RouteSpec:
        if self.template is None and self.dashboard is None:
            raise ValueError(
                "template: name a template, or a `dashboard` to render with the built-in "
                "dashboard layout"
            )
        return self


class WidgetSpec(WidgetCreate):
    """A widget as its dashboard's file holds it: a left-out `position` is its place in the
    file's list, not after the dashboard's last widget."""


class DashboardSpec(Input):
    name: DashboardName
    title: Title = ""
    description: Annotated[str, Field(max_length=2000)] | None = None
    is_public: bool = False
    widgets: list[WidgetSpec] = Field(default_factory=list, max_length=1000)


class Bundle(Input):
    templates: list[TemplateSpec] = Field(default_factory=list, max_length=MAX_OBJECTS)
    routes: list[RouteSpec] = Field(default_factory=list, max_length=MAX_OBJECTS)
    dashboards: list[DashboardSpec] = Field(default_factory=list, max_length=MAX_OBJECTS)


ExpectedKey = Annotated[str, Field(pattern=EXPECTED_KEY)]


class SiteApply(Input):
    bundle: Bundle
    expected_versions: (
        dict[ExpectedKey, Annotated[int, Field(ge=0, le=2_147_483_647), WholeNumber]] | None
    ) = Field(
        default=None,
        description="The plan's `expected_versions`, sent back as it came: every object of "
        "the site as the plan saw it (an object it lacks was absent). Anything created, "
        "changed or deleted since → 409 and nothing changes. Left out: the bundle is applied "
        "to the site as it is then, held to no plan.",
    )


Action = Literal["create", "update", "delete", "unchanged", "adopt"]


class PlanItem(Output):
    kind: Literal["template", "route", "dashboard", "widget"]
    name: str
    action: Action
    version: int | None = Field(description="The server's version before the apply; null: absent")
    new_version: int | None = Field(
        default=None, description="The version after the apply (only when applied)"
    )
    fields: list[str] = Field(default_factory=list, description="The fields that change")
    diff: str = Field(default="", description="Unified diff of the changed fields")


class SitePlan(Output):
    applied: bool
    dry_run: bool
    prune: bool
    summary: dict[str, int]
    changes: list[PlanItem] = Field(description="Every object, unchanged ones included")
    expected_versions: dict[str, int] = Field(
        description="Send back with the apply: the version of every object of the site the "
        "plan saw, the ones it leaves alone included (0: absent)"
    )
    event_id: int | None = Field(
        default=None, description="The id of the one site.applied event, when one was published"
    )


class SiteExport(Output):
    templates: list[dict[str, Any]]
    routes: list[dict[str, Any]]
    dashboards: list[dict[str, Any]]
