"""The hot path: pages, widget fragments and assets served by a raw ASGI handler.

Everything else (the data API, live streams, health, OpenAPI) goes to the FastAPI
app behind it. Cached responses are sent from pre-built bytes with no framework in between.
"""

from __future__ import annotations

import logging
from time import perf_counter, time
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dyndash_common.apikeys import presented_in
from dyndash_common.cache import CachedEntry
from dyndash_common.errors import Unservable
from dyndash_common.logs import request_id
from dyndash_common.ratelimit import RateDecision
from dyndash_common.site import (
    RouteInfo,
    RouteTable,
    TemplateInfo,
    fragment_key,
    fragment_signature,
    page_key,
    page_signature,
)
from dyndash_common.web import (
    FRAMEWORK_SEGMENTS,
    ID_DIGITS,
    client_address,
    first_segment,
    request_id_for,
    sent_path,
)
from dyndash_gateway.gateway import Gateway
from dyndash_gateway.metrics import PAGE_REQUESTS, PAGE_SECONDS
from dyndash_gateway.ready import ReadyResponse
from dyndash_gateway.responses import PagePolicies, entry_response, send_entry, send_page

MAX_QUERY_VALUE = 200
log = logging.getLogger("dyndash.gateway")
IMMUTABLE = b"public, max-age=31536000, immutable"


# Labelled children looked up once: the hot path pays a dict lookup, not a label resolution.
PAGE_KINDS = ("page", "fragment", "asset")
PAGE_OUTCOMES = {
    (kind, status_class): PAGE_REQUESTS.labels(kind, f"{status_class}xx")
    for kind in PAGE_KINDS
    for status_class in range(1, 6)
}
PAGE_DURATIONS = {kind: PAGE_SECONDS.labels(kind) for kind in PAGE_KINDS}


def _kind(path: str) -> str:
    if path.startswith("/assets/"):
        return "asset"
    if path.startswith("/fragments/widgets/"):
        return "fragment"
    return "page"


def _headers(scope: Scope) -> dict[bytes, bytes]:
    wanted = {b"accept-encoding", b"if-none-match", b"x-api-key", b"authorization"}
    return {name: value for name, value in scope["headers"] if name in wanted}


def _ready_for(gateway: Gateway, scope: Scope) -> ReadyResponse | None:
    """The response kept for this very `GET` or `HEAD` request (ready.py), if any: the hot
    path's shortcut. Conditional requests never match, so a 304 is always decided by the full
    path (an empty `If-None-Match` is no condition there either)."""
    accept_encoding = b""
    for name, value in scope["headers"]:
        if name == b"accept-encoding":
            accept_encoding = value
        elif name == b"if-none-match" and value:
            return None
    return gateway.ready_responses.get(
        (scope["path"], scope["query_string"], accept_encoding), gateway.state.generation, time()
    )


async def _send_ready(
    gateway: Gateway, ready: ReadyResponse, scope: Scope, send: Send, started: float
) -> None:
    """Send a kept response, inside the request's id (uvicorn writes its access line from
    within `send`, reading the log context) and counted as the full path counts a 200. Unlike
    the full path, `send` is not wrapped: appending the id to a fresh header list here is what
    that wrapper does, at a fraction of its cost."""
    gateway.responses.count_l1_hit()
    current = request_id_for(scope["headers"])
    token = request_id.set(current.decode("ascii"))
    try:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*ready.headers, (b"x-request-id", current)],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else ready.body}
        )
    except Exception:
        # As on the full path: the response has started, so only dropping the connection is
        # left, but the failure is logged inside the request's id.
        log.exception("page_request_failed", extra={"details": {"path": scope["path"]}})
        raise
    finally:
        request_id.reset(token)
        PAGE_OUTCOMES["page", 2].inc()
        PAGE_DURATIONS["page"].observe(perf_counter() - started)


def _presented_key(headers: dict[bytes, bytes]) -> str | None:
    key, authorization = headers.get(b"x-api-key"), headers.get(b"authorization")
    return presented_in(
        key.decode("latin-1") if key else None,
        authorization.decode("latin-1") if authorization else None,
    )


class GatewayFront:
    """The ASGI entry point: pages, fragments and assets from cached bytes; the rest to the
    FastAPI app behind it."""

    def __init__(self, framework: ASGIApp, gateway: Any) -> None:
        self.framework = framework
        # Set by the framework app's lifespan; read per request.
        self.holder = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # On the path as sent: `/%64ocs` is a page path (a 404), never the framework's `/docs`.
        if scope["type"] != "http" or first_segment(sent_path(scope)) in FRAMEWORK_SEGMENTS:
            await self.framework(scope, receive, send)
            return
        started = perf_counter()
        gateway: Gateway | None = getattr(self.holder.state, "gateway", None)
        decision: RateDecision | None = None
        method = scope["method"]
        if gateway is not None and (method == "GET" or method == "HEAD"):
            # The limiter first, as on the full path, which is handed its decision: asked once.
            if gateway.limiter is not None:
                client = client_address(scope, gateway.settings.trusted_proxies)
                decision = await gateway.limiter.hit(client)
            if decision is None or decision.allowed:
                # Looked up and sent with nothing awaited in between: the state it was checked
                # against is the state it is sent in.
                ready = _ready_for(gateway, scope)
                if ready is not None:
                    await _send_ready(gateway, ready, scope, send, started)
                    return
        await self._observed(scope, send, started, decision)

    async def _observed(
        self, scope: Scope, send: Send, started: float, decision: RateDecision | None
    ) -> None:
        """The full path, inside the request's id and its metrics."""
        path = scope["path"]
        kind = _kind(path)
        # RequestIdMiddleware's job, done inline: wrapping the hot path in the middleware as well
        # as this metrics wrapper measured about 5 % fewer pages per second.
        current = request_id_for(scope["headers"])
        token = request_id.set(current.decode("ascii"))
        status = 500
        started_response = False

        async def observed_send(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                # Each response builds a fresh header list (never a cached one): append to it.
                message["headers"].append((b"x-request-id", current))
                status = message["status"]
                started_response = True
            await send(message)

        try:
            await self._serve(scope, observed_send, decision)
        except Exception:
            # Logged here, inside the request's id; the client gets the clean 500 page.
            log.exception("page_request_failed", extra={"details": {"path": path}})
            if started_response:
                raise  # the response has started: only dropping the connection is left
            status = 500
            await send_page(
                send,
                500,
                "Page error",
                "Something went wrong on our side.",
                head=scope["method"] == "HEAD",
                headers=[(b"x-request-id", current)],
            )
        finally:
            request_id.reset(token)
            PAGE_OUTCOMES[kind, min(status // 100, 5)].inc()
            PAGE_DURATIONS[kind].observe(perf_counter() - started)

    async def _serve(self, scope: Scope, send: Send, decision: RateDecision | None) -> None:
        """Serve the request; `decision` is the limiter's (None: no limiter, or not asked)."""
        gateway: Gateway | None = getattr(self.holder.state, "gateway", None)
        method = scope["method"]
        head = method == "HEAD"
        if gateway is None:
            await send_page(send, 503, "Starting", "The gateway is starting.", head=head)
            return
        if method not in ("GET", "HEAD"):
            await send_page(
                send,
                405,
                "Method not allowed",
                "Pages answer GET and HEAD.",
                headers=[(b"allow", b"GET, HEAD")],
            )
            return
        # The front asked the limiter for every GET and HEAD once the gateway was up.
        if decision is not None and not decision.allowed:
            await send_page(
                send,
                429,
                "Too many requests",
                "Slow down and retry shortly.",
                head=head,
                headers=[(k.lower().encode(), v.encode()) for k, v in decision.headers().items()],
            )
            return
        headers = _headers(scope)
        path = scope["path"]
        if path.startswith("/assets/"):
            await self._asset(gateway, path, headers, send, head)
        elif path.startswith("/fragments/widgets/"):
            await self._fragment(gateway, path, headers, send, head)
        else:
            await self._page(gateway, scope, headers, send, head)

    async def _respond(
        self,
        send: Send,
        served: Any,
        headers: dict[bytes, bytes],
        head: bool,
        cache_control: bytes,
        policies: PagePolicies,
    ) -> None:
        await send_entry(
            send,
            served.entry,
            cache=served.cache.encode(),
            cache_control=cache_control,
            accept_encoding=headers.get(b"accept-encoding", b""),
            if_none_match=headers.get(b"if-none-match", b""),
            head=head,
            policies=policies,
        )

    async def _failed(self, send: Send, error: Unservable, head: bool) -> None:
        titles = {500: "Page error", 503: "Temporarily unavailable"}
        extra = [(b"retry-after", str(error.retry_after).encode())] if error.retry_after else []
        await send_page(
            send,
            error.status,
            titles.get(error.status, "Error"),
            error.reason,
            head=head,
            headers=extra,
        )

    async def _page(
        self, gateway: Gateway, scope: Scope, headers: dict[bytes, bytes], send: Send, head: bool
    ) -> None:
        state = gateway.state
        generation = state.generation
        # A request `_ready_for` could have answered, had the response been kept.
        ready_key = None
        if not headers.get(b"if-none-match"):
            ready_key = (scope["path"], scope["query_string"], headers.get(b"accept-encoding", b""))
        # The state this request is matched in; a build compares against it (_consistent_page).
        seen = (state.routes, state.catalog.by_name)
        matched = state.routes.match(scope["path"])
        template = (
            state.catalog.by_name.get(state.catalog.by_id.get(matched[0].template_id, ""))
            if matched
            else None
        )
        if matched is None or template is None or not template.is_active:
            await send_page(send, 404, "Not found", "There is no page at this address.", head=head)
            return
        route, params = matched
        limit = gateway.settings.max_path_param_chars
        if any(len(value) > limit for value in params.values()):
            await send_page(
                send,
                414,
                "Address too long",
                f"A part of this address is longer than {limit} characters.",
                head=head,
            )
            return
        if route.auth == "api_key":
            check = await gateway.keys.check(_presented_key(headers))
            if not check.allows("data:read"):
                status = 401 if not check.valid else 403
                reason = check.reason or "this page needs a key with the data:read scope"
                await send_page(send, status, "Not allowed", reason, head=head)
                return
        query: dict[str, str] = {}
        if route.query_params and scope["query_string"]:
            parsed = parse_qs(scope["query_string"].decode("latin-1"))
            query = {
                name: parsed[name][0][:MAX_QUERY_VALUE]
                for name in route.query_params
                if name in parsed
            }
        key = page_key(route, params, query)
        signature = page_signature(state, route, template.name)

        path = scope["path"]

        async def build() -> CachedEntry | None:
            return await _consistent_page(gateway, seen, path, route, template.name, params, query)

        try:
            served = await gateway.responses.get(key, signature, build)
        except Unservable as error:
            await self._failed(send, error, head)
            return
        assert served is not None
        if served.cache == "MISS" and (params or query):
            gateway.record_variant(route.id, params, query)
        visibility = b"private" if route.auth == "api_key" else b"public"
        cache_control = visibility + (b", no-cache" if route.cache_ttl else b", no-store")
        status, response_headers, body = entry_response(
            served.entry,
            cache=served.cache.encode(),
            cache_control=cache_control,
            accept_encoding=headers.get(b"accept-encoding", b""),
            if_none_match=headers.get(b"if-none-match", b""),
            policies=gateway.policies,
        )
        if (
            ready_key is not None
            and status == 200
            and served.cache == "HIT-L1"
            and route.auth != "api_key"
            # Query strings the route does not read would only churn what is kept.
            and (not scope["query_string"] or route.query_params)
        ):
            # Kept before sending: the send adds this request's id to the header list.
            gateway.ready_responses.put(
                ready_key,
                ReadyResponse(generation, key, served.entry, tuple(response_headers), body),
            )
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": b"" if head else body})

    async def _fragment(
        self, gateway: Gateway, path: str, headers: dict[bytes, bytes], send: Send, head: bool
    ) -> None:
        tail = path.removeprefix("/fragments/widgets/")
        widget = gateway.state.widgets.get(int(tail)) if ID_DIGITS.fullmatch(tail) else None
        dashboard = gateway.state.dashboards.get(widget.dashboard_id) if widget else None
        if widget is None or dashboard is None:
            await send_page(send, 404, "Not found", "There is no such widget.", head=head)
            return
        if not dashboard.is_public:
            check = await gateway.keys.check(_presented_key(headers))
            if not check.allows("data:read"):
                await send_page(
                    send,
                    401 if not check.valid else 403,
                    "Not allowed",
                    check.reason or "this widget needs a key with the data:read scope",
                    head=head,
                )
                return
        key = fragment_key(widget)
        signature = fragment_signature(gateway.state, widget)
        ttl = gateway.settings.fragment_ttl_seconds

        async def build() -> CachedEntry | None:
            return await gateway.builder.fragment(widget, ttl)

        try:
            served = await gateway.responses.get(key, signature, build)
        except Unservable as error:
            await self._failed(send, error, head)
            return
        if served is None:
            await send_page(send, 404, "Not found", "There is no such widget.", head=head)
            return
        visibility = b"public" if dashboard.is_public else b"private"
        await self._respond(
            send, served, headers, head, visibility + b", no-cache", gateway.policies
        )

    async def _asset(
        self, gateway: Gateway, path: str, headers: dict[bytes, bytes], send: Send, head: bool
    ) -> None:
        digest, _, kind = path.removeprefix("/assets/").partition(".")
        entry = gateway.assets.get(digest, kind)
        if entry is None:
            await send_page(send, 404, "Not found", "There is no such asset.", head=head)
            return
        await send_entry(
            send,
            entry,
            cache=b"HIT-L1",
            cache_control=IMMUTABLE,
            accept_encoding=headers.get(b"accept-encoding", b""),
            if_none_match=headers.get(b"if-none-match", b""),
            head=head,
        )


async def _consistent_page(
    gateway: Gateway,
    seen: tuple[RouteTable, dict[str, TemplateInfo]],
    path: str,
    route: RouteInfo,
    template: str,
    params: dict[str, str],
    query: dict[str, str],
) -> CachedEntry | None:
    """Build the page from one state: the route matched in `seen` and the templates rendered
    during the build. Followers replace the route table and the catalog whole (a site apply
    all at once), so if either was replaced since the match, the page is built again from the
    state as it is now (README, "Sites as code": no page from a mix of old and new)."""
    state = gateway.state
    routes, names = seen
    entry = await gateway.builder.page(route, template, params, query)
    for _ in range(5):
        if state.routes is routes and state.catalog.by_name is names:
            break
        routes, names = state.routes, state.catalog.by_name
        matched = routes.match(path)
        name = state.catalog.by_id.get(matched[0].template_id) if matched else None
        if matched is None or name is None:
            # The change took this page away: the old route with the new templates is no page.
            raise Unservable(404, "There is no page at this address.")
        route, template = matched[0], name
        entry = await gateway.builder.page(route, template, params, query)
    return entry
