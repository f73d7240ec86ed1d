"""The API reference pages of the documentation site, rendered from the OpenAPI documents.

A MkDocs hook (mkdocs.yml `hooks:`): at build time it asks the admin API and the gateway for
their OpenAPI documents, in process, and adds one Markdown page per service to the site. The
pages are never committed, so the reference cannot drift from what the servers answer
(docs/reference/index.md says what the documents promise).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

from dyndash_admin_api.app import create_app as create_admin_app
from dyndash_common.settings import Settings
from dyndash_gateway.app import create_framework_app

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
ROOT = Path(__file__).resolve().parent.parent
# Pictures kept beside the code that takes them (ui/screenshots: devtools/ui_screenshots.py)
# are served by the site under screenshots/ instead of being copied into docs/.
SCREENSHOTS = ROOT / "ui" / "screenshots"
ALERT_RULES = ROOT / "deploy" / "prometheus" / "alerts.yaml"
RUNBOOKS_INDEX = "runbooks/index.md"


@dataclass(frozen=True)
class ReferencePage:
    path: str
    title: str
    intro: str


ADMIN_PAGE = ReferencePage(
    "reference/admin-api.md",
    "Admin API reference",
    "Every operation of the admin API (port 8001), as its `/openapi.json` describes it.",
)
GATEWAY_PAGE = ReferencePage(
    "reference/gateway-api.md",
    "Gateway API reference",
    "The gateway's public API (port 8000): the data API, live streams and health, as its "
    "`/openapi.json` describes it. Pages, fragments and assets are served by its hot path "
    "and are not operations of the document.",
)


def openapi_documents() -> dict[ReferencePage, dict[str, Any]]:
    # The default settings are the embedded development ones; building the documents opens
    # no database and no socket.
    settings = Settings()
    return {
        ADMIN_PAGE: create_admin_app(settings).openapi(),
        GATEWAY_PAGE: create_framework_app(settings).openapi(),
    }


def operations(document: dict[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method in METHODS:
            if method in methods:
                yield method.upper(), path, methods[method]


def cell(text: object) -> str:
    """Text fit for one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def code(text: object) -> str:
    value = str(text)
    fence = "``" if "`" in value else "`"
    padding = " " if fence == "``" else ""
    return f"{fence}{padding}{value}{padding}{fence}"


def schema_anchor(name: str) -> str:
    return "schema-" + "".join(c if c.isalnum() else "-" for c in name.lower())


def shown(key: str, value: object) -> str:
    # A pattern is shown as written, not as a JSON string with its backslashes doubled.
    return value if key == "pattern" and isinstance(value, str) else json.dumps(value)


def type_of(schema: dict[str, Any]) -> str:
    """A short description of a schema: its type, a link for a named one, its constraints."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{schema_anchor(name)})"
    for combinator, joiner in (("anyOf", " or "), ("oneOf", " or "), ("allOf", " and ")):
        if combinator in schema:
            return joiner.join(type_of(part) for part in schema[combinator])
    kind = schema.get("type", "any")
    if kind == "array":
        text = "array of " + type_of(schema.get("items", {}))
    elif kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        text = "object of " + type_of(schema["additionalProperties"])
    else:
        text = str(kind)
    details = [
        f"{label} {code(shown(key, schema[key]))}"
        for key, label in (
            ("enum", "one of"),
            ("const", "exactly"),
            ("minimum", "≥"),
            ("maximum", "≤"),
            ("exclusiveMinimum", ">"),
            ("exclusiveMaximum", "<"),
            ("minLength", "length ≥"),
            ("maxLength", "length ≤"),
            ("minItems", "items ≥"),
            ("maxItems", "items ≤"),
            ("pattern", "pattern"),
            ("format", "format"),
            ("default", "default"),
        )
        if key in schema
    ]
    return text + (f" ({', '.join(details)})" if details else "")


def render_operation(method: str, path: str, operation: dict[str, Any]) -> list[str]:
    operation_id = operation["operationId"]
    lines = [f"### {code(f'{method} {path}')} {{ #{operation_id} }}", ""]
    lines.append(f"Operation id: {code(operation_id)}.")
    if "summary" in operation:
        lines[-1] += f" {operation['summary']}."
    lines.append("")
    if "description" in operation:
        lines += [operation["description"], ""]
    security = operation.get("security")
    if security:
        schemes = " or ".join(code(name) for requirement in security for name in requirement)
        lines += [f"Authentication: {schemes}.", ""]
    else:
        lines += ["Authentication: none.", ""]
    parameters = operation.get("parameters", [])
    if parameters:
        lines += [
            "| parameter | in | required | type | meaning |",
            "| --- | --- | --- | --- | --- |",
        ]
        for parameter in parameters:
            lines.append(
                f"| {code(parameter['name'])} | {parameter['in']} | "
                f"{'yes' if parameter.get('required') else 'no'} | "
                f"{cell(type_of(parameter.get('schema', {})))} | "
                f"{cell(parameter.get('description', ''))} |"
            )
        lines.append("")
    body = operation.get("requestBody")
    if body:
        for media, content in body.get("content", {}).items():
            lines += [f"Body ({code(media)}): {type_of(content.get('schema', {}))}.", ""]
    lines += ["| status | meaning | body | headers |", "| --- | --- | --- | --- |"]
    for status, response in operation.get("responses", {}).items():
        bodies = ", ".join(
            f"{code(media)} {type_of(content.get('schema', {}))}"
            for media, content in response.get("content", {}).items()
        )
        headers = ", ".join(code(name) for name in response.get("headers", {}))
        lines.append(
            f"| {status} | {cell(response.get('description', ''))} | {cell(bodies)} | {headers} |"
        )
    lines.append("")
    return lines


def render_schema(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### {name} {{ #{schema_anchor(name)} }}", ""]
    if "description" in schema:
        lines += [schema["description"], ""]
    properties: dict[str, dict[str, Any]] = schema.get("properties", {})
    if not properties:
        lines += [f"{type_of({k: v for k, v in schema.items() if k != 'title'})}.", ""]
        return lines
    required = set(schema.get("required", []))
    lines += ["| field | required | type | meaning |", "| --- | --- | --- | --- |"]
    for field, field_schema in properties.items():
        lines.append(
            f"| {code(field)} | {'yes' if field in required else 'no'} | "
            f"{cell(type_of(field_schema))} | {cell(field_schema.get('description', ''))} |"
        )
    if schema.get("additionalProperties") is False:
        lines += ["", "No other field is accepted."]
    lines.append("")
    return lines


def render_document(page: ReferencePage, document: dict[str, Any]) -> str:
    info = document.get("info", {})
    lines = [
        f"# {page.title}",
        "",
        page.intro,
        "",
        f"{info.get('title', '')} {info.get('version', '')}: {info.get('description', '')}",
        "",
        "Generated from the OpenAPI document at build time (`devtools/api_reference.py`).",
        "",
    ]
    schemes = document.get("components", {}).get("securitySchemes", {})
    if schemes:
        lines += ["## Authentication", "", "| scheme | how |", "| --- | --- |"]
        for name, scheme in schemes.items():
            where = scheme.get("name") or scheme.get("scheme", "")
            how = f"{scheme.get('type', '')} {scheme.get('in', '')} {where}"
            lines.append(f"| {code(name)} | {cell(how)} {cell(scheme.get('description', ''))} |")
        lines.append("")
    grouped: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for method, path, operation in operations(document):
        tag = (operation.get("tags") or ["other"])[0]
        grouped.setdefault(tag, []).append((method, path, operation))
    for tag, members in grouped.items():
        lines += [f"## {tag.capitalize()}", ""]
        for method, path, operation in members:
            lines += render_operation(method, path, operation)
    schemas = document.get("components", {}).get("schemas", {})
    if schemas:
        lines += ["## Schemas", ""]
        for name, schema in sorted(schemas.items()):
            lines += render_schema(name, schema)
    return "\n".join(lines)


def alert_rules(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    document = yaml.safe_load(path.read_text()) or {}
    return [
        rule
        for group in document.get("groups", [])
        for rule in group.get("rules", [])
        if "alert" in rule
    ]


def runbook_source(runbook_url: str, site_url: str) -> str:
    """The Markdown file whose page is served at a runbook_url of this site."""
    if not runbook_url.startswith(site_url):
        raise ValueError(f"runbook_url {runbook_url} is not on the site {site_url}")
    page = runbook_url.removeprefix(site_url).split("#", 1)[0].strip("/")
    return f"{page}.md" if page else "index.md"


def render_runbooks_index(rules: list[dict[str, Any]], site_url: str) -> str:
    lines = [
        "# Runbooks",
        "",
        "One page per alert of `deploy/prometheus/alerts.yaml`: what it means, how to confirm "
        "it, what to do and how to verify the fix.",
        "",
        "| alert | severity | summary |",
        "| --- | --- | --- |",
    ]
    for rule in sorted(rules, key=lambda rule: str(rule["alert"])):
        annotations = rule.get("annotations", {})
        source = runbook_source(str(annotations.get("runbook_url", "")), site_url)
        link = posixpath.relpath(source, posixpath.dirname(RUNBOOKS_INDEX))
        severity = rule.get("labels", {}).get("severity", "")
        lines.append(
            f"| [{rule['alert']}]({link}) | {cell(severity)} | "
            f"{cell(annotations.get('summary', ''))} |"
        )
    if not rules:
        lines += ["", "No alert rules are defined yet."]
    return "\n".join(lines) + "\n"


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """The Runbooks section of the nav lists every page of docs/runbooks, its index first."""
    runbooks = Path(config.docs_dir) / "runbooks"
    pages = sorted(
        f"runbooks/{page.name}" for page in runbooks.glob("*.md") if page.name != "index.md"
    )
    nav: list[Any] = config.nav or []
    for position, item in enumerate(nav):
        if isinstance(item, dict) and item.get("Runbooks") == RUNBOOKS_INDEX:
            nav[position] = {"Runbooks": [RUNBOOKS_INDEX, *pages]}
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for page, document in openapi_documents().items():
        files.append(File.generated(config, page.path, content=render_document(page, document)))
    for picture in sorted(SCREENSHOTS.glob("*.png")):
        files.append(
            File.generated(config, f"screenshots/{picture.name}", abs_src_path=str(picture))
        )
    # The runbooks' own index wins when the runbooks directory has one.
    if files.get_file_from_path(RUNBOOKS_INDEX) is None:
        index = render_runbooks_index(alert_rules(ALERT_RULES), str(config.site_url))
        files.append(File.generated(config, RUNBOOKS_INDEX, content=index))
    return files
