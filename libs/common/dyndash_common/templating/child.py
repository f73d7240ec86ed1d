"""The main loop of a render process: compiles and renders admin-authored templates.

Runs in a child of the serving process (see `dyndash_common.templating.pool`), under an
address-space limit and a CPU-time limit of its own, so a template that crashes the
interpreter, runs a long C call or allocates without bound takes down only this process.

Jobs come pickled (from the trusted parent, with any Python value its context holds); replies
go back as JSON, never pickle: what the parent reads must not be able to run code in it, even
from a child whose sandbox was broken.

    parent → child  {"op": "render", "name": n, "sources": [[name, version, source], …],
                     "context": {…}, "asset_urls": {kind: url}}
                    {"op": "compile", "source": s, "field": f}
    child → parent  ["ok", html] | ["compiled", [names]] | ["invalid", {details}]
                    ["budget", why] | ["error", why]

A render job carries only the sources this child has not seen at their version; the child
keeps every template compiled until a job names a newer version of it.
"""

from __future__ import annotations

import os
import pickle
import resource
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import orjson
from jinja2 import BaseLoader, TemplateNotFound, TemplateSyntaxError, meta

from dyndash_common.errors import BudgetExceeded
from dyndash_common.templating.meter import metered
from dyndash_common.templating.sandbox import DashboardSandbox
from dyndash_common.widgets.render import render_widget, widget_placeholder

CACHED_TEMPLATES = 2000
# Renders yield the CPU to the serving process: on a busy core a hostile render slows only
# other renders, not the pages served from cache.
RENDER_NICENESS = 10
Reply = list[Any]


class VersionedSources(BaseLoader):
    """Sources by name, each with the version it came from; a compiled template is reused
    until its name is given another version."""

    def __init__(self) -> None:
        self.sources: dict[str, tuple[str | int, str]] = {}

    def add(self, name: str, version: str | int, source: str) -> None:
        self.sources[name] = (version, source)

    def version(self, name: str) -> str | int | None:
        known = self.sources.get(name)
        return known[0] if known else None

    def get_source(
        self, environment: Any, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        known = self.sources.get(template)
        if known is None:
            raise TemplateNotFound(template)
        version, source = known
        return source, None, lambda: self.version(template) == version


def render_capped(
    environment: DashboardSandbox, name: str, context: dict[str, Any], cap: int
) -> str:
    """Render, stopping as soon as the streamed output passes the cap."""
    template = environment.get_template(name)
    parts: list[str] = []
    size = 0
    for chunk in template.generate(context):
        size += len(chunk)
        if size > cap:
            raise BudgetExceeded(f"the output passed its budget of {cap} characters")
        parts.append(chunk)
    return "".join(parts)


def compile_references(environment: DashboardSandbox, source: str, field: str) -> Reply:
    """Compile `source`; the names it includes, extends or imports, or why it is invalid."""
    try:
        tree = environment.parse(source)
        environment.compile(tree)
    except TemplateSyntaxError as error:
        return [
            "invalid",
            {
                "message": f"{field}: template syntax error on line {error.lineno}: "
                f"{error.message}",
                "details": {"field": field, "line": error.lineno, "error": error.message},
            },
        ]
    except MemoryError:
        return [
            "invalid",
            {
                "message": f"{field}: the template could not be compiled within its memory "
                "budget; split it into smaller templates",
                "details": {"field": field, "reason": "budget"},
            },
        ]
    except (RecursionError, SyntaxError):
        return [
            "invalid",
            {
                "message": f"{field}: the template nests too deeply to compile; "
                "flatten its expressions",
                "details": {"field": field},
            },
        ]
    names = list(meta.find_referenced_templates(tree))
    if None in names:
        return [
            "invalid",
            {
                "message": f"{field}: include/extends/import must name a template with a "
                "string literal",
                "details": {"field": field},
            },
        ]
    return ["compiled", sorted({name for name in names if name is not None})]


class _CpuLimit:
    """RLIMIT_CPU counts the process's whole life: each job moves the soft limit to the CPU
    time used so far plus the job's budget. Past it the kernel sends SIGXCPU, which ends the
    process even inside a C call that no Python-level check could interrupt."""

    def __init__(self, seconds: float) -> None:
        self.seconds = max(1, int(seconds + 0.999))

    def arm(self) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        used = int(usage.ru_utime + usage.ru_stime) + 1
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = used + self.seconds
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def serve(
    connection: Connection,
    *,
    max_memory_bytes: int,
    max_output_chars: int,
    cpu_seconds: float,
) -> None:
    """The child's entry point: set its limits, say it is ready, then answer jobs until the
    parent closes the pipe."""
    resource.setrlimit(resource.RLIMIT_AS, (max_memory_bytes, max_memory_bytes))
    # A child killed by its limits leaves no core file behind.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.nice(RENDER_NICENESS)
    cpu = _CpuLimit(cpu_seconds)
    loader = VersionedSources()
    environment = DashboardSandbox(loader, cache_size=CACHED_TEMPLATES)
    _warm(environment, loader, max_output_chars)
    connection.send_bytes(orjson.dumps(["ready", None]))
    while True:
        try:
            message = pickle.loads(connection.recv_bytes())  # noqa: S301 (from our parent)
        except (EOFError, OSError):
            return
        cpu.arm()
        reply = answer(environment, loader, message, max_memory_bytes, max_output_chars)
        try:
            connection.send_bytes(orjson.dumps(reply))
        except (EOFError, OSError):
            return


# Jinja builds its lexer and code-generator state on a process's first compile (about 3 ms of
# a first preview's 4): done before "ready", so the first preview or save after start-up, or
# after a child is replaced, is as quick as the next (README, "The admin web UI").
_WARM_SOURCE = "{% for x in [1] %}{{ x | e }}{% if x %}<p>{{ x }}</p>{% endif %}{% endfor %}"


def _warm(environment: DashboardSandbox, loader: VersionedSources, max_output_chars: int) -> None:
    compile_references(environment, _WARM_SOURCE, "html_content")
    loader.add("__warm__", 0, _WARM_SOURCE)
    render_capped(environment, "__warm__", {}, max_output_chars)


def answer(
    environment: DashboardSandbox,
    loader: VersionedSources,
    message: dict[str, Any],
    max_memory_bytes: int,
    max_output_chars: int,
) -> Reply:
    try:
        if message["op"] == "compile":
            return compile_references(environment, message["source"], message["field"])
        for name, version, source in message["sources"]:
            loader.add(name, version, source)
        context = dict(message["context"])
        asset_urls: dict[str, str] = message.get("asset_urls") or {}
        context["asset_url"] = lambda kind: asset_urls.get(kind, "")
        # Built-in widgets render here, under this process's budget (README, "Widgets").
        context["render_widget"] = render_widget
        context["widget_placeholder"] = widget_placeholder
        with metered(max_memory_bytes // 4):
            return ["ok", render_capped(environment, message["name"], context, max_output_chars)]
    except BudgetExceeded as error:
        return ["budget", str(error)]
    except MemoryError:
        return ["budget", "the render ran out of its memory budget"]
    except RecursionError:
        return ["budget", "the render recursed too deeply"]
    except Exception as error:
        return ["error", f"{type(error).__name__}: {error}"]
