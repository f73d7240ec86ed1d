"""GET /api/v1/events: the change stream as Server-Sent Events, resumable by Last-Event-ID.

Read from the outbox (`dyndash_common.events.feed.follow`), whose ids are handed out in
commit order, so a resume never skips an event.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from dyndash_admin_api.deps import EventsReader, PresentedKey, RuntimeDep
from dyndash_admin_api.responses import errors
from dyndash_common.apikeys import authenticate, has_scope
from dyndash_common.errors import Unauthorized
from dyndash_common.events import ChangeEvent, follow
from dyndash_common.runtime import Runtime
from dyndash_common.web import (
    KEEPALIVE_SECONDS,
    RATE_LIMIT,
    SharedChecks,
    SlotStreamingResponse,
    StreamSlots,
    draining,
    event_stream,
    guarded,
)

router = APIRouter(prefix="/api/v1/events", tags=["events"])

# Event ids are BIGINT: a larger resume point failed in the database after the stream began.
MAX_EVENT_ID = 2**63 - 1


def _frame(event: ChangeEvent) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.id, event.type.encode(), event.to_json())


async def _refusal(runtime: Runtime, presented: str | None) -> str | None:
    """Why the stream's key may no longer read events (revoked, expired, re-scoped), or None."""
    try:
        async with runtime.database.sessions() as session:
            key = await authenticate(
                session, pepper=runtime.settings.key_pepper, presented=presented
            )
    except Unauthorized as error:
        return error.message
    return None if has_scope(key, "events:read") else "the API key lacks the 'events:read' scope"


async def _frames(runtime: Runtime, after: int | None) -> AsyncGenerator[bytes, None]:
    yield b"retry: 1000\n\n"
    async for event in follow(runtime.database, runtime.bus, after, KEEPALIVE_SECONDS):
        if event is not None:
            yield _frame(event)


@router.get(
    "",
    operation_id="events_stream",
    response_class=StreamingResponse,
    responses={
        200: {
            **event_stream("Change events as Server-Sent Events, `id` the event id"),
            "headers": RATE_LIMIT,
        },
        **errors(403, 429, 503),
    },
)
async def stream_events(
    *,
    runtime: RuntimeDep,
    key: EventsReader,
    request: Request,
    response: Response,
    presented: PresentedKey,
    last_event_id: Annotated[
        str | None,
        Header(
            pattern=r"^[0-9]{1,19}$",
            description="The id of the last event received (SSE reconnection): resume after it",
        ),
    ] = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_EVENT_ID, description="resume after this event id")
    ] = None,
) -> StreamingResponse:
    # A header, like SSE's own Last-Event-ID, is text; an id past the last possible one
    # means "after everything".
    start = min(int(last_event_id), MAX_EVENT_ID) if last_event_id is not None else after
    # Each open stream re-checks its key every few seconds: bounded per key (429) and per
    # process (503), so one key cannot hold the process busy with idle streams.
    slots: StreamSlots = request.app.state.event_stream_slots
    slot = slots.take(f"key:{key.id}")
    # The streams of one key share each re-check's query (web.shared_checks).
    rechecks: SharedChecks[str | None] = request.app.state.event_stream_rechecks
    return SlotStreamingResponse(
        guarded(
            _frames(runtime, start),
            recheck=lambda: rechecks.ask(key.id, lambda: _refusal(runtime, presented)),
            closing=draining(request),
        ),
        slot=slot,
        media_type="text/event-stream",
        # The rate-limit state current_key set on `response`, which a returned response
        # does not inherit.
        headers={
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            **{name: response.headers[name] for name in RATE_LIMIT if name in response.headers},
        },
    )
