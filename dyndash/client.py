"""A typed client of the admin API, on httpx: one method per operation (README, "The client").

Every method returns the envelope's `data`; an error answer raises `ApiError` carrying the
status, the machine code, the message, the details and the whole envelope. A server that
cannot be reached raises `ServerUnreachable`. Both derive from `ClientError`.

    with Client("http://127.0.0.1:8001", key) as client:
        page = client.templates_list(name="home")
        client.templates_update(page["items"][0]["id"], {"description": "…"}, if_match=3)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpx

__all__ = ["ApiError", "Client", "ClientError", "ServerUnreachable"]

Json = dict[str, Any]
DEFAULT_TIMEOUT_SECONDS = 120.0


class ClientError(Exception):
    """Anything that kept a call from getting its answer."""


class ServerUnreachable(ClientError):
    def __init__(self, server: str, reason: str) -> None:
        super().__init__(f"cannot reach {server}: {reason}")
        self.server = server


class ApiError(ClientError):
    """An error answer: the HTTP status and the envelope's code, message and details."""

    def __init__(self, status: int, envelope: Json) -> None:
        data = envelope.get("data") if isinstance(envelope.get("data"), dict) else {}
        self.status = status
        self.code = str((data or {}).get("code") or "http_error")
        self.message = str(envelope.get("message") or f"HTTP {status}")
        self.details: Any = (data or {}).get("details")
        self.envelope = envelope
        super().__init__(f"{status} {self.code}: {self.message}")


class Client:
    """The admin API at `server` with API key `key`. `transport` is httpx's seam for tests."""

    def __init__(
        self,
        server: str,
        key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        headers = {"X-API-Key": key} if key else {}
        self._http = httpx.Client(
            base_url=self.server, headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        if_match: int | None = None,
    ) -> Any:
        headers = {"If-Match": f'"{if_match}"'} if if_match is not None else {}
        query = {
            key: (str(value).lower() if isinstance(value, bool) else value)
            for key, value in (params or {}).items()
            if value is not None
        }
        try:
            response = self._http.request(method, path, json=body, params=query, headers=headers)
        except httpx.HTTPError as error:
            raise ServerUnreachable(self.server, str(error) or type(error).__name__) from None
        try:
            envelope = response.json()
        except ValueError:
            envelope = {"message": response.text[:200] or response.reason_phrase}
        if not isinstance(envelope, dict):
            envelope = {"message": str(envelope)[:200]}
        if response.status_code >= 400:
            raise ApiError(response.status_code, envelope)
        return envelope.get("data")

    # Templates
    def templates_list(self, *, limit: int = 50, offset: int = 0, name: str | None = None) -> Json:
        return dict(self._call("GET", "/api/v1/templates", params=_page(limit, offset, name=name)))

    def templates_create(self, fields: Json) -> Json:
        return dict(self._call("POST", "/api/v1/templates", body=fields))

    def templates_get(self, template_id: int) -> Json:
        return dict(self._call("GET", f"/api/v1/templates/{template_id}"))

    def templates_update(
        self, template_id: int, fields: Json, *, if_match: int | None = None, force: bool = False
    ) -> Json:
        return dict(
            self._call(
                "PUT",
                f"/api/v1/templates/{template_id}",
                body=fields,
                if_match=if_match,
                params=_force(force),
            )
        )

    def templates_delete(
        self, template_id: int, *, if_match: int | None = None, force: bool = False
    ) -> None:
        self._call(
            "DELETE", f"/api/v1/templates/{template_id}", if_match=if_match, params=_force(force)
        )

    def templates_preview(self, fields: Json) -> Json:
        return dict(self._call("POST", "/api/v1/templates/preview", body=fields))

    def template_versions_list(self, template_id: int, *, limit: int = 50, offset: int = 0) -> Json:
        return dict(
            self._call(
                "GET", f"/api/v1/templates/{template_id}/versions", params=_page(limit, offset)
            )
        )

    def template_versions_get(self, template_id: int, version: int) -> Json:
        return dict(self._call("GET", f"/api/v1/templates/{template_id}/versions/{version}"))

    def templates_rollback(
        self,
        template_id: int,
        version: int,
        *,
        message: str | None = None,
        if_match: int | None = None,
        force: bool = False,
    ) -> Json:
        body: Json = {"version": version}
        if message is not None:
            body["message"] = message
        return dict(
            self._call(
                "POST",
                f"/api/v1/templates/{template_id}/rollback",
                body=body,
                if_match=if_match,
                params=_force(force),
            )
        )

    # Routes
    def routes_list(self, *, limit: int = 50, offset: int = 0) -> Json:
        return dict(self._call("GET", "/api/v1/routes", params=_page(limit, offset)))

    def routes_create(self, fields: Json) -> Json:
        return dict(self._call("POST", "/api/v1/routes", body=fields))

    def routes_get(self, route_id: int) -> Json:
        return dict(self._call("GET", f"/api/v1/routes/{route_id}"))

    def routes_update(
        self, route_id: int, fields: Json, *, if_match: int | None = None, force: bool = False
    ) -> Json:
        return dict(
            self._call(
                "PUT",
                f"/api/v1/routes/{route_id}",
                body=fields,
                if_match=if_match,
                params=_force(force),
            )
        )

    def routes_delete(
        self, route_id: int, *, if_match: int | None = None, force: bool = False
    ) -> None:
        self._call("DELETE", f"/api/v1/routes/{route_id}", if_match=if_match, params=_force(force))

    # Dashboards and widgets
    def dashboards_list(self, *, limit: int = 50, offset: int = 0) -> Json:
        return dict(self._call("GET", "/api/v1/dashboards", params=_page(limit, offset)))

    def dashboards_create(self, fields: Json) -> Json:
        return dict(self._call("POST", "/api/v1/dashboards", body=fields))

    def dashboards_get(self, dashboard_id: int) -> Json:
        return dict(self._call("GET", f"/api/v1/dashboards/{dashboard_id}"))

    def dashboards_update(
        self, dashboard_id: int, fields: Json, *, if_match: int | None = None, force: bool = False
    ) -> Json:
        return dict(
            self._call(
                "PUT",
                f"/api/v1/dashboards/{dashboard_id}",
                body=fields,
                if_match=if_match,
                params=_force(force),
            )
        )

    def dashboards_delete(
        self, dashboard_id: int, *, if_match: int | None = None, force: bool = False
    ) -> None:
        self._call(
            "DELETE", f"/api/v1/dashboards/{dashboard_id}", if_match=if_match, params=_force(force)
        )

    def widgets_list(self, dashboard_id: int, *, limit: int = 50, offset: int = 0) -> Json:
        return dict(
            self._call(
                "GET", f"/api/v1/dashboards/{dashboard_id}/widgets", params=_page(limit, offset)
            )
        )

    def widgets_create(self, dashboard_id: int, fields: Json, *, force: bool = False) -> Json:
        return dict(
            self._call(
                "POST",
                f"/api/v1/dashboards/{dashboard_id}/widgets",
                body=fields,
                params=_force(force),
            )
        )

    def widgets_get(self, widget_id: int) -> Json:
        return dict(self._call("GET", f"/api/v1/widgets/{widget_id}"))

    def widgets_update(
        self, widget_id: int, fields: Json, *, if_match: int | None = None, force: bool = False
    ) -> Json:
        return dict(
            self._call(
                "PUT",
                f"/api/v1/widgets/{widget_id}",
                body=fields,
                if_match=if_match,
                params=_force(force),
            )
        )

    def widgets_delete(
        self, widget_id: int, *, if_match: int | None = None, force: bool = False
    ) -> None:
        self._call(
            "DELETE", f"/api/v1/widgets/{widget_id}", if_match=if_match, params=_force(force)
        )

    def widget_data_push(self, widget_id: int, data: Any) -> Json:
        return dict(self._call("POST", f"/api/v1/data/widget/{widget_id}", body={"data": data}))

    # Keys
    def keys_list(self, *, limit: int = 50, offset: int = 0) -> Json:
        return dict(self._call("GET", "/api/v1/keys", params=_page(limit, offset)))

    def keys_create(self, name: str, scopes: list[str], **extra: Any) -> Json:
        return dict(
            self._call("POST", "/api/v1/keys", body={"name": name, "scopes": scopes, **extra})
        )

    def keys_revoke(self, key_id: int) -> None:
        self._call("DELETE", f"/api/v1/keys/{key_id}")

    # Events
    def events(self, *, last_event_id: int | None = None) -> Iterator[Json]:
        """The change events as they happen (Server-Sent Events), each as its JSON object."""
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
        try:
            with self._http.stream(
                "GET", "/api/v1/events", headers=headers, timeout=None
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ApiError(response.status_code, response.json())
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        yield dict(json.loads(line[5:]))
        except httpx.HTTPError as error:
            raise ServerUnreachable(self.server, str(error) or type(error).__name__) from None

    # Sites as code
    def site_apply(
        self,
        bundle: Json,
        *,
        expected_versions: dict[str, int] | None = None,
        dry_run: bool = False,
        prune: bool = False,
        adopt: bool = False,
    ) -> Json:
        """Validate and apply a whole site in one transaction; with `dry_run`, only the plan;
        with `adopt`, take ownership of matching objects even when nothing else changes."""
        body: Json = {"bundle": bundle}
        if expected_versions is not None:
            body["expected_versions"] = expected_versions
        return dict(
            self._call(
                "POST",
                "/api/v1/site/apply",
                body=body,
                params={"dry_run": dry_run, "prune": prune, **({"adopt": True} if adopt else {})},
            )
        )

    def site_export(self) -> Json:
        """The whole site as a bundle, in one request."""
        return dict(self._call("GET", "/api/v1/site/export"))


def _page(limit: int, offset: int, **filters: Any) -> dict[str, Any]:
    return {"limit": limit, "offset": offset, **filters}


def _force(force: bool) -> dict[str, Any]:
    return {"force": True} if force else {}
