"""The OpenAPI documents of the admin API and the gateway say exactly what the servers do.

The first tests read the documents; the last runs schemathesis against both real servers on
both backends, with its default checks and its stateful phase, and expects no failure.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.engine import from_schema
from schemathesis.engine.events import (
    EngineFinished,
    FatalError,
    NonFatalError,
    PhaseStarted,
    ScenarioFinished,
    StatefulPhasePayload,
)
from schemathesis.engine.run import PhaseName

from dyndash_admin_api.app import create_app as create_admin_app
from dyndash_admin_api.responses import BEYOND_SCHEMA
from dyndash_common.settings import Settings
from dyndash_gateway.app import create_framework_app
from tests.conftest import Api
from tests.gateway.conftest import Site, start_site
from tests.utils.backends import ADMIN_SECRET, TEST_PEPPER, Backend, snapshot

ENVELOPE = "#/components/schemas/ErrorEnvelope"
SEED = 20261128
MAX_EXAMPLES = 20


def documents() -> dict[str, dict[str, Any]]:
    settings = Settings(key_pepper=TEST_PEPPER)
    return {
        "admin": create_admin_app(settings).openapi(),
        "gateway": create_framework_app(settings).openapi(),
    }


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def test_operation_ids_are_readable_and_unique() -> None:
    for name, document in documents().items():
        ids = [operation["operationId"] for _, _, operation in operations(document)]
        assert len(ids) == len(set(ids)), (name, ids)
        for operation_id in ids:
            # `noun_verb`, not FastAPI's `list_templates_api_v1_templates_get`.
            assert re.fullmatch(r"[a-z]+(?:_[a-z]+){1,2}", operation_id), operation_id
            assert "api_v1" not in operation_id, operation_id
    admin_ids = {op["operationId"] for _, _, op in operations(documents()["admin"])}
    assert {
        "templates_list",
        "templates_create",
        "templates_get",
        "templates_update",
        "templates_delete",
    } <= admin_ids


def test_security_schemes_are_declared_and_required_where_checked() -> None:
    for name, document in documents().items():
        schemes = document["components"]["securitySchemes"]
        assert schemes["ApiKey"] == {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": schemes["ApiKey"]["description"],
        }, name
        assert schemes["Bearer"]["type"] == "http"
        assert schemes["Bearer"]["scheme"] == "bearer"
        for method, path, operation in operations(document):
            security = operation.get("security")
            if path in ("/healthz", "/readyz"):
                assert security is None, (name, method, path)
            elif name == "admin":
                # Either scheme, and no anonymous access.
                assert security == [{"ApiKey": []}, {"Bearer": []}], (method, path)
            else:
                # Public dashboards need no key: the empty requirement says so.
                assert security == [{"ApiKey": []}, {"Bearer": []}, {}], (method, path)
            # The key is not also a plain header parameter.
            names = {p["name"].lower() for p in operation.get("parameters", [])}
            assert not names & {"x-api-key", "authorization"}, (method, path)


def test_errors_are_documented_as_the_envelope() -> None:
    for name, document in documents().items():
        schemas = document["components"]["schemas"]
        assert "HTTPValidationError" not in schemas, name
        envelope = schemas["ErrorEnvelope"]
        assert envelope["required"] == ["status", "data", "message", "timestamp"]
        assert envelope["properties"]["status"] == {"type": "string", "const": "error"} | {
            "title": "Status"
        }
        assert schemas["ErrorData"]["required"] == ["code"]
        for method, path, operation in operations(document):
            for status, response in operation["responses"].items():
                if status.startswith("4") or (status == "503" and path != "/readyz"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": ENVELOPE}, (method, path, status)
                # Every answer passes through RequestIdMiddleware.
                assert "X-Request-ID" in response["headers"], (method, path, status)
            if operation.get("parameters") or "requestBody" in operation:
                assert "422" in operation["responses"], (method, path)
        if name == "gateway":
            rate_limited = document["paths"]["/api/v1/data/dashboard/{dashboard_id}"]["get"]
        else:
            rate_limited = document["paths"]["/api/v1/templates"]["post"]
            assert set(rate_limited["responses"]["201"]["headers"]) == {
                "ETag",
                "RateLimit",
                "RateLimit-Policy",
                "X-Request-ID",
            }
            assert "400" in rate_limited["responses"]  # a body that is not UTF-8
        too_many = rate_limited["responses"]["429"]["headers"]
        assert {"Retry-After", "RateLimit", "RateLimit-Policy"} <= set(too_many)
        assert "Retry-After" in rate_limited["responses"]["503"]["headers"]


def test_if_match_route_method_and_scopes_are_constrained() -> None:
    document = documents()["admin"]
    update = document["paths"]["/api/v1/templates/{template_id}"]["put"]
    (if_match,) = [p for p in update["parameters"] if p["name"].lower() == "if-match"]
    pattern = re.compile(if_match["schema"]["pattern"])
    assert if_match["schema"]["type"] == "string"  # not `null`
    for accepted in ('"3"', "*", "3", 'W/"3"'):
        assert pattern.fullmatch(accepted), accepted
    for refused in ("null", "", '"3', '"a"', '"1", "2"', '"1234567890"'):
        assert not pattern.fullmatch(refused), refused

    schemas = document["components"]["schemas"]
    assert schemas["RouteCreate"]["properties"]["method"]["enum"] == ["GET"]
    assert schemas["RouteUpdate"]["properties"]["method"]["enum"] == ["GET"]
    scopes = schemas["KeyCreate"]["properties"]["scopes"]["items"]["enum"]
    assert "admin" in scopes
    assert "data:read" in scopes
    # Patch bodies: null only where it means something (clearing a description).
    update_body = schemas["TemplateUpdate"]["properties"]
    assert update_body["is_active"] == {"type": "boolean", "title": "Is Active"}
    assert {"type": "null"} in update_body["description"]["anyOf"]


# The operations whose 422 may refuse a request the schema allows, and words their 422
# description must hold to say for what (the README's "Bad input" lists the same rules).
SEMANTIC_422 = {
    "keys_create": ("expires_at", "not in the future"),
    "routes_create": ("neither a template_id", "naming nothing", "private dashboard", "64 bits"),
    "routes_update": ("neither a template_id", "naming nothing", "private dashboard", "64 bits"),
    "templates_create": ("does not compile", "include cycle", "64 bits"),
    "templates_update": ("does not compile", "include cycle", "64 bits"),
    "templates_preview": ("fails to render", "64 bits"),
    "templates_rollback": ("no longer compiles",),
    "widgets_create": ("does not fit the widget's type", "config.template", "64 bits"),
    "widgets_update": ("does not fit the widget's type", "config.template", "64 bits"),
    "widget_data_push": ("does not fit the widget's type", "64 bits"),
    "site_apply": ("two widgets with one key", "naming nothing", "include cycle", "64 bits"),
}


def beyond_schema(document: dict[str, Any]) -> dict[str, str]:
    """Each operation whose 422 lists rules the schema cannot express, with that description."""
    found = {}
    for _, _, operation in operations(document):
        description = operation["responses"].get("422", {}).get("description", "")
        if BEYOND_SCHEMA in description:
            found[operation["operationId"]] = description
    return found


def documents_412(document: dict[str, Any]) -> list[str]:
    return [op["operationId"] for _, _, op in operations(document) if "412" in op["responses"]]


def test_rules_the_schema_cannot_express_are_documented_where_they_apply() -> None:
    document = documents()["admin"]
    documented = beyond_schema(document)
    assert set(documented) == set(SEMANTIC_422)
    for operation_id, words in SEMANTIC_422.items():
        for word in words:
            assert word in documented[operation_id], (operation_id, word)
    # Any version the If-Match pattern allows is schema-valid: 412 says why one is refused, on
    # exactly the operations that take If-Match.
    stale = set(documents_412(document))
    takes_if_match = {
        operation["operationId"]
        for _, _, operation in operations(document)
        if "if-match" in {p["name"].lower() for p in operation.get("parameters", [])}
    }
    assert stale == takes_if_match
    assert len(stale) >= 9, stale
    for _, _, operation in operations(document):
        if operation["operationId"] in stale:
            description = operation["responses"]["412"]["description"]
            assert "no longer the object's current version" in description, operation


def _origin_pattern(document: dict[str, Any]) -> re.Pattern[str]:
    csp = document["components"]["schemas"]["HandlerConfig"]["properties"]["csp"]
    return re.compile(csp["additionalProperties"]["items"]["pattern"])


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://cdn.example:1", True),
        ("https://cdn.example:443", True),
        ("https://cdn.example:65535", True),
        ("http://localhost:5173", True),
        ("https://cdn.example:0", False),
        ("https://cdn.example:65536", False),
        ("https://cdn.example:99999", False),
        ("http://127.0.0.1:070000", False),
        ("https://cdn.example:0443", False),
    ],
)
async def test_csp_ports_are_in_the_document_as_the_server_checks_them(
    api: Api, origin: str, allowed: bool
) -> None:
    pattern = _origin_pattern(documents()["admin"])
    assert bool(pattern.fullmatch(origin)) is allowed
    dashboard = await api.create_dashboard("csp", is_public=True)
    before = await snapshot(api.backend.settings)
    response = await api.client.post(
        "/api/v1/routes",
        json={
            "path": "/csp",
            "handler_config": {"dashboard_id": dashboard["id"], "csp": {"img-src": [origin]}},
        },
    )
    if allowed:
        assert response.status_code == 201, response.text
    else:
        assert response.status_code == 422, response.text
        assert "port outside 1 to 65535" in response.json()["message"]
        assert await snapshot(api.backend.settings) == before


async def test_integral_numbers_are_integers_as_json_schema_says(api: Api) -> None:
    """JSON Schema's `integer` includes 895.0: each integer of a request body takes it."""
    dashboard = await api.create_dashboard("whole", is_public=True)
    widgets = f"/api/v1/dashboards/{dashboard['id']}/widgets"
    created = await api.client.post(widgets, json={"key": "w", "priority": 895.0, "position": 2.0})
    assert created.status_code == 201, created.text
    widget = created.json()["data"]
    assert (widget["priority"], widget["position"]) == (895, 2)
    assert isinstance(widget["priority"], int)
    updated = await api.client.put(f"/api/v1/widgets/{widget['id']}", json={"priority": 7.0})
    assert updated.status_code == 200, updated.text
    assert updated.json()["data"]["priority"] == 7

    template = await api.create_template("whole", "<p>1</p>")
    route = await api.client.post(
        "/api/v1/routes",
        json={
            "path": "/whole",
            "template_id": float(template["id"]),
            "handler_config": {"cache_ttl": 60.0, "inline_priority": 3.0},
        },
    )
    assert route.status_code == 201, route.text
    stored = route.json()["data"]
    assert stored["template_id"] == template["id"]
    assert stored["handler_config"]["cache_ttl"] == 60
    assert stored["handler_config"]["inline_priority"] == 3
    path = f"/api/v1/templates/{template['id']}"
    assert (await api.client.put(path, json={"html_content": "<p>2</p>"})).status_code == 200
    rolled = await api.client.post(f"{path}/rollback", json={"version": 1.0})
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["data"]["html_content"] == "<p>1</p>"

    # A fraction, a string or a boolean is still no integer; nothing is written.
    before = await snapshot(api.backend.settings)
    for refused in (895.5, "895", True):
        response = await api.client.post(widgets, json={"key": "x", "priority": refused})
        assert response.status_code == 422, (refused, response.text)
        assert "priority" in response.json()["message"]
    assert await snapshot(api.backend.settings) == before


@pytest.mark.parametrize(
    ("service", "method", "path", "allow"),
    [
        ("admin", "PATCH", "/api/v1/templates/1", "GET, PUT, DELETE"),
        ("admin", "OPTIONS", "/api/v1/templates", "GET, POST"),
        ("admin", "DELETE", "/api/v1/dashboards/1/widgets", "GET, POST"),
        # A concrete path wins over /{template_id}: this is not a template named "preview".
        ("admin", "PUT", "/api/v1/templates/preview", "POST"),
        ("admin", "GET", "/api/v1/templates/preview", "POST"),
        ("admin", "POST", "/healthz", "GET"),
        ("gateway", "POST", "/api/v1/data/dashboard/1", "GET"),
        ("gateway", "DELETE", "/readyz", "GET"),
    ],
)
async def test_405_allow_lists_every_method_of_the_path(
    site: Site, service: str, method: str, path: str, allow: str
) -> None:
    client = site.admin.client if service == "admin" else site.web
    response = await client.request(method, path, headers={"X-API-Key": ADMIN_SECRET})
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    assert response.json()["data"]["code"] == "method_not_allowed"


# --- schemathesis against the running servers ---------------------------------------------

# A schema-valid request may still be refused for state a schema cannot describe, and only
# where the document says so: a stale If-Match (412), and the 422 rules an operation lists
# (beyond_schema). Everything else it refuses must be a failure, so that a document looser
# than the server is caught.
# A refusal of a schema-violating request by the body-size limit is a refusal all the same.
NEGATIVE_EXTRA = [413]


def schemathesis_config(service: str) -> dict[str, Any]:
    document = documents()[service]
    positive = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
    negative = [
        *("400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"),
        *NEGATIVE_EXTRA,
    ]
    operations: list[dict[str, Any]] = [
        # Revoking keys would revoke the run's own key: the suite tests revocation elsewhere.
        {"include-operation-id": "keys_revoke", "enabled": False},
        # Event streams never end: read the first frame, then stop. The first frame is sent
        # at once; the timeout leaves room for a busy machine.
        # The stateful phase reads the change stream to its end, which never comes while the
        # run's own writes keep events flowing: it is checked in the other phases. (The
        # gateway's live stream stays in: it is the first step of the gateway's only link.)
        {
            "include-operation-id": "events_stream",
            "max-stream-events": 1,
            "request-timeout": 2,
            "phases": {"stateful": {"enabled": False}},
        },
        {
            "include-operation-id": "dashboard_live_stream",
            "max-stream-events": 1,
            "request-timeout": 2,
        },
        *(
            {
                "include-operation-id": operation_id,
                "checks": {"positive_data_acceptance": {"expected-statuses": [*positive, *extra]}},
            }
            for operation_id, extra in documented_refusals(document).items()
        ),
    ]
    return {
        "seed": SEED,
        # No state carried between runs (it replays earlier crashes first): repeatable, and
        # nothing written into the checkout.
        "cache": {"enabled": False},
        "request-timeout": 10,
        "generation": {
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
            # PostgreSQL cannot store NUL in text, so every string refuses it (README).
            "allow-x00": False,
        },
        "auth": {"openapi": {"ApiKey": {"api_key": ADMIN_SECRET}}},
        "checks": {
            "positive_data_acceptance": {"expected-statuses": positive},
            "negative_data_rejection": {"expected-statuses": negative},
        },
        "operations": operations,
    }


def documented_refusals(document: dict[str, Any]) -> dict[str, list[str]]:
    """Per operation, the statuses its document gives a schema-valid request besides the
    defaults: 412 where it takes If-Match, 422 where it lists rules beyond its schema."""
    refusals: dict[str, list[str]] = {}
    for operation_id in documents_412(document):
        refusals.setdefault(operation_id, []).append("412")
    for operation_id in beyond_schema(document):
        refusals.setdefault(operation_id, []).append("422")
    return refusals


@dataclass
class Outcome:
    operations: set[str] = field(default_factory=set)
    cases: Counter[str] = field(default_factory=Counter)
    links: int = 0
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run_schemathesis(url: str, config: dict[str, Any]) -> Outcome:
    """One schemathesis run (all phases, default checks), in the calling thread."""
    schema = schemathesis.openapi.from_url(url, config=schemathesis.Config.from_dict(config))
    outcome = Outcome()
    for event in from_schema(schema).execute():
        if isinstance(event, PhaseStarted) and isinstance(event.payload, StatefulPhasePayload):
            outcome.links = event.payload.transitions_selected
        elif isinstance(event, ScenarioFinished):
            if event.phase is not PhaseName.STATEFUL_TESTING:
                outcome.operations.add(event.recorder.label)
            outcome.cases[event.phase.value] += len(event.recorder.cases)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        outcome.failures.append(
                            f"{event.recorder.label}: {failure.code} {failure.title}: "
                            f"{failure.message}\n{check.failure_info.code_sample}"
                        )
        elif isinstance(event, NonFatalError):
            outcome.errors.append(f"{event.label}: {event.value!r}")
        elif isinstance(event, FatalError):
            outcome.errors.append(repr(event.exception))
        elif isinstance(event, EngineFinished):
            break
    outcome.failures = sorted(set(outcome.failures))
    return outcome


@pytest.fixture
async def quiet_site(backend: Backend) -> AsyncIterator[Site]:
    """Both services, with the rate limits out of the way: schemathesis sends thousands of
    requests a minute (429 stays documented, and is tested in tests/admin_api)."""
    unlimited = backend.with_settings(rate_limit_requests=10**6)
    async for running in start_site(unlimited, {"gateway_rate_limit_requests": 0}):
        yield running


async def seed_dashboards(site: Site) -> None:
    """A public and a private dashboard with a widget each: something for the gateway's
    data API to answer besides 404."""
    for name, public in (("open", True), ("closed", False)):
        dashboard = await site.admin.create_dashboard(name, is_public=public)
        response = await site.admin.client.post(
            f"/api/v1/dashboards/{dashboard['id']}/widgets",
            json={"key": "w", "data": {"value": 1}},
        )
        assert response.status_code == 201, response.text
    async with asyncio.timeout(5):
        while len(site.gateway.state.dashboards) < 2:
            await asyncio.sleep(0.01)


# Hypothesis warns when it prints a large example; the suite's warnings-as-errors would turn
# that into an error inside the run.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
@pytest.mark.parametrize("service", ["admin", "gateway"])
async def test_schemathesis_finds_no_failure(quiet_site: Site, service: str) -> None:
    await seed_dashboards(quiet_site)
    base_url = quiet_site.admin.base_url if service == "admin" else str(quiet_site.web.base_url)
    outcome = await asyncio.to_thread(
        run_schemathesis,
        f"{base_url.rstrip('/')}/openapi.json",
        schemathesis_config(service),
    )
    print(
        f"{service}: {len(outcome.operations)} operations, {outcome.links} links, "
        f"cases by phase {dict(outcome.cases)}"
    )
    assert not outcome.errors, "\n".join(outcome.errors)
    assert not outcome.failures, "\n\n".join(outcome.failures)
    # Everything but key revocation was exercised, statefully too where links exist. (Metrics
    # are on the operator port, in no document.)
    assert len(outcome.operations) == (32 if service == "admin" else 4), outcome.operations
    if service == "admin":
        assert outcome.links > 0
        assert outcome.cases["stateful"] > 0
    # The servers are still up and the run's key still works.
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
        assert (await client.get("/healthz")).status_code == 200
