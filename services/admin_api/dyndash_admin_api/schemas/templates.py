"""Template request and response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from dyndash_admin_api.schemas.common import MAX_ID, Input, JsonObject, Output, Patch, WholeNumber

MAX_CONTENT_CHARS = 256 * 1024

TemplateName = Annotated[
    str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-/]*$")
]
Content = Annotated[str, Field(max_length=MAX_CONTENT_CHARS)]
Description = Annotated[str, Field(max_length=2000)]
VersionMessage = Annotated[str, Field(max_length=500)]


class TemplateCreate(Input):
    name: TemplateName
    description: Description | None = None
    html_content: Content = ""
    css_content: Content = ""
    js_content: Content = ""
    config: JsonObject = Field(default_factory=dict)
    is_active: bool = True
    message: VersionMessage | None = None


class TemplateUpdate(Patch):
    NULLABLE = frozenset({"description", "message"})

    name: TemplateName | None = None
    description: Description | None = None
    html_content: Content | None = None
    css_content: Content | None = None
    js_content: Content | None = None
    config: JsonObject | None = None
    is_active: bool | None = None
    message: VersionMessage | None = None


class TemplateRollback(Input):
    version: Annotated[int, Field(ge=1, le=MAX_ID), WholeNumber]
    message: VersionMessage | None = None


class TemplatePreview(Input):
    html_content: Content
    css_content: Content = ""
    js_content: Content = ""
    context: JsonObject = Field(default_factory=dict)


class TemplateSummary(Output):
    id: int
    name: str
    description: str | None
    is_active: bool
    managed_by: str | None = Field(
        description='"files" when a site apply wrote it: admin API writes then need ?force=true'
    )
    version: int
    dependencies: list[str]
    render_status: str | None
    created_at: datetime
    updated_at: datetime


class TemplatePublic(TemplateSummary):
    html_content: str
    css_content: str
    js_content: str
    config: dict[str, Any]
    render_error: str | None


class TemplateVersionSummary(Output):
    version: int
    name: str
    author_key_id: int | None
    message: str | None
    created_at: datetime


class TemplateVersionPublic(TemplateVersionSummary):
    template_id: int
    description: str | None
    html_content: str
    css_content: str
    js_content: str
    config: dict[str, Any]
    is_active: bool


class PreviewResult(Output):
    html: str
