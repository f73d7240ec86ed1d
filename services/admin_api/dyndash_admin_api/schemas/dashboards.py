"""Dashboard, widget and widget-data shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from dyndash_admin_api.schemas.common import (
    DataDocument,
    Input,
    JsonObject,
    Output,
    Patch,
    WholeNumber,
)
from dyndash_admin_api.schemas.templates import check_file_name

Slug = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]


def _fileable(name: str) -> str:
    check_file_name(name)
    return name


# A dashboard's name is its file in a site export, `dashboards/<name>.yaml` (README, "Sites as
# code"), so it must be a name files can hold; a widget key is not a file and stays a Slug.
DashboardName = Annotated[Slug, AfterValidator(_fileable)]
Title = Annotated[str, Field(max_length=200)]
Position = Annotated[int, Field(ge=0, le=1_000_000), WholeNumber]
Priority = Annotated[int, Field(ge=0, le=1000), WholeNumber]


class DashboardCreate(Input):
    name: DashboardName
    title: Title = ""
    description: Annotated[str, Field(max_length=2000)] | None = None
    is_public: bool = False


class DashboardUpdate(Patch):
    NULLABLE = frozenset({"description"})

    name: DashboardName | None = None
    title: Title | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    is_public: bool | None = None


class DashboardPublic(Output):
    id: int
    name: str
    title: str
    description: str | None
    is_public: bool
    managed_by: str | None = Field(
        description='"files" when a site apply wrote it: admin API writes then need ?force=true'
    )
    version: int
    created_at: datetime
    updated_at: datetime


class WidgetCreate(Input):
    key: Slug
    title: Title = ""
    type: Annotated[str, Field(min_length=1, max_length=50)] = "generic"
    config: JsonObject = Field(default_factory=dict)
    data: DataDocument = Field(default_factory=dict)
    # Order in the built-in layout; default: after the dashboard's last widget.
    position: Position | None = None
    # 0 renders first; see handler_config.inline_priority of routes.
    priority: Priority = 0


class WidgetUpdate(Patch):
    key: Slug | None = None
    title: Title | None = None
    type: Annotated[str, Field(min_length=1, max_length=50)] | None = None
    config: JsonObject | None = None
    position: Position | None = None
    priority: Priority | None = None


class WidgetData(Input):
    data: DataDocument


class WidgetPublic(Output):
    id: int
    dashboard_id: int
    key: str
    title: str
    type: str
    config: dict[str, Any]
    data: Any
    data_version: int
    position: int
    priority: int
    managed_by: str | None = Field(
        description='"files" when a site apply wrote it: admin API writes then need ?force=true'
    )
    version: int
    updated_at: datetime
