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
from dyndash_common.settings import Settings
from dyndash_gateway.app import create_framework_app
from tests.gateway.conftest import Site, start_site
from tests.utils.backends import ADMIN_SECRET, TEST_PEPPER, Backend

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

# Statuses a schema-valid request may still get, besides schemathesis' defaults, because they
# depend on state a schema cannot describe: a stale If-Match (412). Everything else it refuses
# must be a failure, so that a document looser than the server is caught.
POSITIVE_EXTRA = [412]
# A refusal of a schema-violating request by the body-size limit is a refusal all the same.
NEGATIVE_EXTRA = [413]
# Rules the schema cannot express, answered 422 as the README documents; accepted from these
# operations only: references to templates and dashboards that do not exist (routes), expiry
# times in the past (keys), template source that does not parse or render (templates), a site
# bundle whose names do not resolve or whose include graph has a cycle (site apply), and
# integers past 64 bits anywhere in a free-form JSON document (configs, contexts, widget data).
SEMANTIC_422 = (
    "routes_create",
    "routes_update",
    "keys_create",
    "templates_create",
    "templates_update",
    "templates_preview",
    "templates_rollback",
    "widgets_create",
    "widgets_update",
    "widget_data_push",
    "site_apply",
)


def schemathesis_config(service: str) -> dict[str, Any]:
    positive = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx", *POSITIVE_EXTRA]
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
                "checks": {"positive_data_acceptance": {"expected-statuses": [*positive, 422]}},
            }
            for operation_id in SEMANTIC_422
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
