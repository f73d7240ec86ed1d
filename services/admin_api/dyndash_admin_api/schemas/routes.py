"""Route request and response shapes, and the handler_config contract (README, "Routes")."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from dyndash_admin_api.schemas.common import MAX_ID, Input, JsonObject, Output, Patch, WholeNumber
from dyndash_common.csp import EXTENDABLE, ORIGIN_PATTERN, check_csp
from dyndash_common.web import RESERVED_SEGMENTS, first_segment

ALLOWED_METHODS = ("GET",)
_SEGMENT = re.compile(r"^(?:[A-Za-z0-9_.~\-]+|\{[A-Za-z_][A-Za-z0-9_]*\})$")


def check_path(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError("path must start with '/'")
    if first_segment(path) in RESERVED_SEGMENTS:
        raise ValueError(f"path may not use the reserved prefix '/{first_segment(path)}'")
    if path == "/":
        return path
    if path.endswith("/"):
        raise ValueError("path may not end with '/'")
    segments = path[1:].split("/")
    names: list[str] = []
    for segment in segments:
        if segment in (".", ".."):
            # Clients resolve dot segments before sending, so such a route is never reached.
            raise ValueError(f"path segment '{segment}' is not allowed (a dot segment)")
        # fullmatch: Python's `$` also matches before a final newline.
        if not _SEGMENT.fullmatch(segment):
            raise ValueError(
                # !r: a refused newline or control character is shown escaped, not raw.
                f"path segment {segment!r} must be letters, digits, '_.~-', or a {{param}}"
            )
        if segment.startswith("{"):
            names.append(segment[1:-1])
    if len(names) != len(set(names)):
        raise ValueError("path parameters must have distinct names")
    return path


def check_method(method: str) -> str:
    # Exactly as listed, as the document's enum says: HTTP methods are case-sensitive.
    if method not in ALLOWED_METHODS:
        raise ValueError(
            f"method '{method}' is not supported; routes serve pages for {list(ALLOWED_METHODS)} "
            "(HEAD is answered for every GET route)"
        )
    return method


def _path_pattern() -> str:
    """check_path's rules as one pattern, for the document (all but distinct parameter
    names); check_path stays the enforcer, with messages that say which rule was broken."""
    segment = _SEGMENT.pattern.removeprefix("^").removesuffix("$")
    reserved = "|".join(re.escape(name) for name in sorted(RESERVED_SEGMENTS))
    dot_segment = r"(?!.*/\.{1,2}(?:/|$))"
    return rf"^(?!/(?:{reserved})(?:/|$)){dot_segment}/(?:{segment}(?:/{segment})*)?$"


RoutePath = Annotated[
    str,
    Field(min_length=1, max_length=200, json_schema_extra={"pattern": _path_pattern()}),
    AfterValidator(check_path),
]
# The enum is declared for the document; check_method enforces it with a message naming the
# refused method (pydantic's Literal error would not).
RouteMethod = Annotated[
    str,
    Field(max_length=10, json_schema_extra={"enum": list(ALLOWED_METHODS)}),
    AfterValidator(check_method),
]
QueryParamName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]


# The pattern is for the document; check_csp enforces it with a message saying what an origin
# may be (pydantic's would print the regular expression).
CspOrigin = Annotated[str, Field(max_length=300, json_schema_extra={"pattern": ORIGIN_PATTERN})]
CspDirective = Literal[EXTENDABLE]  # type: ignore[valid-type]
# Directive → origins the page's Content-Security-Policy adds (README, "CSP and embedding").
CspAdditions = Annotated[
    dict[CspDirective, Annotated[list[CspOrigin], Field(max_length=20)]],
    AfterValidator(check_csp),
]


class HandlerConfig(Input):
    dashboard_id: Annotated[int, Field(ge=1, le=MAX_ID), WholeNumber] | None = None
    context: JsonObject = Field(default_factory=dict)
    query_params: list[QueryParamName] = Field(default_factory=list, max_length=20)
    cache_ttl: Annotated[int, Field(ge=0, le=86_400), WholeNumber] = 300
    auth: Literal["public", "api_key"] = "public"
    # Widgets with priority ≤ this render into the page; the rest load after it. None: all.
    inline_priority: Annotated[int, Field(ge=0, le=1000), WholeNumber] | None = None
    csp: CspAdditions = Field(default_factory=dict)


class RouteCreate(Input):
    path: RoutePath
    # None: the built-in dashboard layout, which needs handler_config.dashboard_id.
    template_id: Annotated[int, Field(ge=1, le=MAX_ID), WholeNumber] | None = None
    method: RouteMethod = "GET"
    handler_config: HandlerConfig = Field(default_factory=HandlerConfig)
    is_active: bool = True

    @model_validator(mode="after")
    def _layout_needs_dashboard(self) -> RouteCreate:
        if self.template_id is None and self.handler_config.dashboard_id is None:
            raise ValueError(
                "template_id: give a template, or a handler_config.dashboard_id to render "
                "with the built-in dashboard layout"
            )
        return self


class RouteUpdate(Patch):
    NULLABLE = frozenset({"template_id"})

    path: RoutePath | None = None
    template_id: Annotated[int, Field(ge=1, le=MAX_ID), WholeNumber] | None = None
    method: RouteMethod | None = None
    handler_config: HandlerConfig | None = None
    is_active: bool | None = None


class RoutePublic(Output):
    id: int
    path: str
    template_id: int | None
    method: str
    handler_config: dict[str, Any]
    is_active: bool
    managed_by: str | None = Field(
        description='"files" when a site apply wrote it: admin API writes then need ?force=true'
    )
    version: int
    created_at: datetime
    updated_at: datetime
