"""Template request and response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from dyndash_admin_api.schemas.common import MAX_ID, Input, JsonObject, Output, Patch, WholeNumber

MAX_CONTENT_CHARS = 256 * 1024
# The files a template becomes in a site export (README, "Sites as code").
_TEMPLATE_FILE_SUFFIXES = (".html", ".css", ".js", ".yaml")
# Device names Windows reserves in any folder and with any extension (`con.html` too).
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"{port}{n}" for port in ("COM", "LPT") for n in range(10))}
)


def check_file_name(part: str) -> None:
    """Refuse a name part no file or folder can hold on Linux, macOS and Windows alike, where
    a site repository is checked out (README, "Sites as code")."""
    if part.endswith("."):
        raise ValueError(f"'{part}' may not end in '.' (Windows drops it from file names)")
    if part.split(".")[0].upper() in _WINDOWS_DEVICES:
        raise ValueError(f"'{part}' is a device name Windows reserves; choose another name")


def _fileable(name: str) -> str:
    """Each `/`-separated part of a template name is a folder of the export, the last one its
    files (`a/b` → `templates/a/b.html`), so every part must be a name files can hold."""
    parts = name.split("/")
    for index, part in enumerate(parts):
        if part == "":
            raise ValueError("a '/'-separated part is empty ('a//b', 'a/'); remove the '/'")
        if not part[0].isalnum():
            raise ValueError(f"'{part}': each '/'-separated part must start with a letter or digit")
        check_file_name(part)
        # A folder `x.html` would be the file of the template `x` (file versus folder).
        if index < len(parts) - 1 and part.lower().endswith(_TEMPLATE_FILE_SUFFIXES):
            raise ValueError(
                f"'{part}' names a folder and may not end in .html, .css, .js or .yaml "
                "(a template's files end so)"
            )
    return name


TemplateName = Annotated[
    str,
    Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-/]*$"),
    AfterValidator(_fileable),
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
