"""Template versions that ran over their render budget, remembered across the cluster.

A budget failure (time, memory, CPU, a crashed render process) is not a matter of one page's
params: the same template would fail the same way for the next visitor, and each attempt costs
a render process. So it is remembered per template and include graph — the versions of the
template and of everything it reaches — in the database (`templates.budget_failure_graph`)
and announced as `template.render_failed`. No gateway or renderer renders that graph again
until one of its templates has a new version; its pages are served from their last good
render (`STALE`) or answer 503 at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

Signature = tuple[tuple[str, int], ...]


def graph_digest(signature: Signature) -> str:
    """A short, stable name for the versions of a template's include graph."""
    return hashlib.blake2b(orjson.dumps(signature), digest_size=12).hexdigest()


@dataclass(frozen=True)
class BudgetFailure:
    graph: str
    reason: str


class RenderFailures:
    """The budget failures a process knows of, by template name."""

    def __init__(self) -> None:
        self._by_name: dict[str, BudgetFailure] = {}

    def add(self, name: str, graph: str, reason: str) -> None:
        self._by_name[name] = BudgetFailure(graph, reason)

    def replace(self, failures: Iterable[tuple[str, str, str]]) -> None:
        self._by_name = {name: BudgetFailure(graph, reason) for name, graph, reason in failures}

    def blocked(self, name: str, signature: Signature) -> str | None:
        """Why `name` may not be rendered at `signature`, or None when it may."""
        failure = self._by_name.get(name)
        if failure is None or failure.graph != graph_digest(signature):
            return None
        return failure.reason
