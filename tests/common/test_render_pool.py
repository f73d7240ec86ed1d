"""The render pool: budgets enforced by the OS and the parent, children replaced, templates kept
compiled per version."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dyndash_common.errors import BudgetExceeded, RenderError, TemplateInvalid
from dyndash_common.templating import RenderBudget, RenderJob, RenderPool

SLOW = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"


def job(source: str, version: str = "1", **context: object) -> RenderJob:
    return RenderJob("page", {"page": (version, source)}, dict(context))


@pytest.fixture
async def pool() -> AsyncIterator[RenderPool]:
    started = RenderPool(
        RenderBudget(timeout_seconds=0.5, max_memory_bytes=192 * 1024 * 1024), size=1
    )
    await started.start()
    try:
        yield started
    finally:
        await started.aclose()


async def test_renders_and_keeps_templates_per_version(pool: RenderPool) -> None:
    assert await pool.render(job("<p>{{ n }}</p>", n=1)) == "<p>1</p>"
    # The same version key is not sent again: the child renders what it compiled.
    assert await pool.render(job("ignored", n=2)) == "<p>2</p>"
    assert await pool.render(job("<b>{{ n }}</b>", "2", n=3)) == "<b>3</b>"


async def test_a_template_error_is_a_render_error_and_the_child_stays(pool: RenderPool) -> None:
    with pytest.raises(RenderError, match="ZeroDivisionError"):
        await pool.render(job("{{ 1 // 0 }}"))
    assert pool.replaced == 0
    assert await pool.render(job("ok", "2")) == "ok"


async def test_a_render_past_its_deadline_is_killed_and_replaced(pool: RenderPool) -> None:
    started = time.monotonic()
    with pytest.raises(BudgetExceeded, match=r"time budget of 0\.5 s"):
        await pool.render(job(SLOW))
    assert time.monotonic() - started < 2
    assert pool.replaced == 1
    assert await pool.render(job("after", "2")) == "after"


async def test_a_child_that_crashes_costs_only_its_render(pool: RenderPool) -> None:
    """A segfault (here sent by hand: the sandbox refuses the known ways to cause one) ends
    the child mid-render; the render is a budget failure naming the crash."""
    render = asyncio.create_task(pool.render(job(SLOW)))
    await asyncio.sleep(0.1)
    busy = pool.pids[0]
    os.kill(busy, signal.SIGSEGV)
    with pytest.raises(BudgetExceeded, match="crashed its process"):
        await render
    assert await pool.render(job("alive", "2")) == "alive"


async def test_memory_growth_stops_at_the_address_space_limit(pool: RenderPool) -> None:
    with pytest.raises(BudgetExceeded, match=r"memory|time budget"):
        await pool.render(job("{{ ([range(100000)|list] * 100000)|tojson }}"))
    assert await pool.render(job("after", "2")) == "after"


async def test_a_template_that_compiles_too_slowly_is_invalid(pool: RenderPool) -> None:
    with pytest.raises(TemplateInvalid, match="could not be compiled within its"):
        await pool.references("{{a+b+c+d+e+f+g+h+i+j+k+l+m+n+o+p}}" * 7_000)
    assert await pool.references("{% include 'a' %}{% import 'b' as b %}") == ["a", "b"]


async def test_syntax_errors_name_their_line(pool: RenderPool) -> None:
    with pytest.raises(TemplateInvalid, match="line 2") as raised:
        await pool.references("ok\n{% if %}")
    assert raised.value.details["line"] == 2


async def test_context_values_json_cannot_carry_reach_the_template(pool: RenderPool) -> None:
    rendered = await pool.render(job("{{ n }} {{ pair[1] }}", n=10**30, pair=("a", "b")))
    assert rendered == f"{10**30} b"


def test_children_do_not_run_the_serving_processes_main(tmp_path: Path) -> None:
    """multiprocessing would make every child import the parent's `__main__` again (for the
    `dyndash` console script, the whole CLI): seconds and tens of MB per render process."""
    marker = tmp_path / "imported-again"
    script = tmp_path / "serve.py"
    script.write_text(
        "import asyncio, pathlib\n"
        "if __name__ != '__main__':\n"
        f"    pathlib.Path({str(marker)!r}).write_text('yes')\n"
        "from dyndash_common.templating.pool import RenderBudget, RenderJob, RenderPool\n"
        "async def main():\n"
        "    pool = RenderPool(RenderBudget(), size=1)\n"
        "    await pool.start()\n"
        "    print(await pool.render(RenderJob('p', {'p': ('1', 'ok')}, {})))\n"
        "    await pool.aclose()\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr
    assert not marker.exists()


def test_replies_larger_than_the_pipe_buffer_arrive_on_uvloop() -> None:
    """uvloop leaves a watched pipe non-blocking; a reply over 64 KiB must still be read whole
    (it once read as the child's death: a built-in dashboard page is about 70 KB)."""
    import uvloop

    async def renders() -> list[int]:
        pool = RenderPool(RenderBudget(timeout_seconds=2), size=1)
        await pool.start()
        try:
            big = "{% for i in range(n) %}<p>row {{ i }} of the page</p>{% endfor %}"
            return [len(await pool.render(job(big, n=n))) for n in (20_000, 40_000, 5, 30_000)]
        finally:
            await pool.aclose()

    sizes = uvloop.run(renders())
    assert sizes[0] > 400_000
    assert sizes[2] < 200
