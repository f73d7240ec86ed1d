"""HTTP pieces both services share: error envelopes and middleware."""

from __future__ import annotations

from dyndash_common.web.clients import client_address
from dyndash_common.web.errors import install_error_handlers
from dyndash_common.web.instrumentation import instrument_http, scrape
from dyndash_common.web.middleware import (
    NOSNIFF,
    BodyLimitMiddleware,
    RequestIdMiddleware,
    request_id_for,
)
from dyndash_common.web.openapi import (
    RATE_LIMIT,
    error_responses,
    event_stream,
    header,
    presented_key,
    refine_document,
    without_null,
)
from dyndash_common.web.operator import operator_port
from dyndash_common.web.params import ID_DIGITS, MAX_ID, PathId
from dyndash_common.web.paths import (
    FRAMEWORK_SEGMENTS,
    RESERVED_SEGMENTS,
    first_segment,
    sent_path,
)
from dyndash_common.web.readiness import dependency_checks
from dyndash_common.web.shared_checks import SharedChecks
from dyndash_common.web.stream_slots import SlotStreamingResponse, StreamSlot, StreamSlots
from dyndash_common.web.streams import DRAINING_STATE_KEY, KEEPALIVE_SECONDS, draining, guarded

__all__ = [
    "DRAINING_STATE_KEY",
    "FRAMEWORK_SEGMENTS",
    "ID_DIGITS",
    "KEEPALIVE_SECONDS",
    "MAX_ID",
    "NOSNIFF",
    "RATE_LIMIT",
    "RESERVED_SEGMENTS",
    "BodyLimitMiddleware",
    "PathId",
    "RequestIdMiddleware",
    "SharedChecks",
    "SlotStreamingResponse",
    "StreamSlot",
    "StreamSlots",
    "client_address",
    "dependency_checks",
    "draining",
    "error_responses",
    "event_stream",
    "first_segment",
    "guarded",
    "header",
    "install_error_handlers",
    "instrument_http",
    "operator_port",
    "presented_key",
    "refine_document",
    "request_id_for",
    "scrape",
    "sent_path",
    "without_null",
]
