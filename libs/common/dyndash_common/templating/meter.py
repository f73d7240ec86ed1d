"""The per-render allocation meter the sandbox charges, one per rendering thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from dyndash_common.errors import BudgetExceeded


class RenderMeter:
    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.charged = 0

    def charge(self, chars: int) -> None:
        self.charged += chars
        if self.charged > self.max_chars:
            raise BudgetExceeded(
                f"the render built more than {self.max_chars} characters of strings "
                "(its memory budget)"
            )


_local = threading.local()


def charge(chars: int) -> None:
    meter: RenderMeter | None = getattr(_local, "meter", None)
    if meter is not None:
        meter.charge(chars)


@contextmanager
def metered(max_chars: int) -> Iterator[RenderMeter]:
    meter = RenderMeter(max_chars)
    previous = getattr(_local, "meter", None)
    _local.meter = meter
    try:
        yield meter
    finally:
        _local.meter = previous
