"""The arq worker: pre-renders what a change affects into L2, and sweeps the outbox.

Run any number of replicas against one Redis; each change is one job (`warm_job_id`), so
replicas and repeated events do the work once. Transient database or Redis failures retry with
backoff; a template that fails or overruns its budget is recorded, never retried.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from typing import Any

import orjson
from arq import Retry
from arq.connections import RedisSettings
from arq.cron import cron
from arq.worker import Worker, func
from prometheus_client import start_http_server
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from dyndash_common.cache import RedisStore
from dyndash_common.events import ChangeEvent, EntityRef, StreamReader, sweep_once
from dyndash_common.jobs import WARM_FUNCTION, ArqJobs, queue_name
from dyndash_common.logs import configure_logging, instance_id
from dyndash_common.loop_lag import sample_loop_lag
from dyndash_common.runtime import Runtime, build_runtime
from dyndash_common.settings import Settings, get_settings
from dyndash_common.site import (
    PageBuilder,
    ProcessTemplates,
    RedisSink,
    SiteState,
    StateFollower,
    Target,
    Variants,
    record_warm_report,
    targets_for,
    warm,
)
from dyndash_common.tasks import cancel_and_wait
from dyndash_common.templating import RenderBudget, RenderPool
from dyndash_renderer.metrics import (
    RENDER_JOB_SECONDS,
    RENDER_JOBS,
    RENDER_JOBS_QUEUED,
    RENDER_JOBS_RUNNING,
    RENDER_WORKERS,
)

log = logging.getLogger("dyndash.renderer")
# The autoscaling metric is read from this logger's lines: they must not follow the log level.
queue_log = logging.getLogger("dyndash.renderer.queue")
queue_log.setLevel(logging.INFO)

RETRY_STEP_SECONDS = 0.5
MAX_TRIES = 5
ROUTES_PER_PART = 5


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    runtime = build_runtime(settings)
    if runtime.redis is None:
        raise RuntimeError("the renderer needs REDIS_URL (its queue lives in Redis)")
    state = SiteState()
    pool = RenderPool(RenderBudget.from_settings(settings), size=settings.renderer_processes)
    # In ctx before anything else can fail, so that shutdown closes them whatever happens next.
    ctx.update(runtime=runtime, pool=pool)
    await pool.start()
    ctx.update(
        state=state,
        builder=PageBuilder(
            state.catalog,
            runtime.database,
            ProcessTemplates(state.catalog, pool),
            failures=state.failures,
        ),
        sink=RedisSink(
            RedisStore(runtime.redis, settings.redis_prefix, settings.gateway_stale_seconds)
        ),
        variants=Variants(runtime.redis, settings.redis_prefix),
    )
    # The worker's site state follows the event stream like a gateway's: a job applies only
    # its own event (in case the stream is behind), never reloads the whole site.
    follower = StateFollower(
        state,
        runtime.database,
        on_gap=lambda: None,
        resync_seconds=settings.gateway_resync_seconds,
    )
    await follower.load()
    ctx["follower"] = follower
    ctx["following"] = [
        asyncio.create_task(
            follower.follow_stream(StreamReader(runtime.redis, settings.redis_prefix)),
            name="event-stream",
        ),
        asyncio.create_task(follower.resync_forever(), name="resync"),
    ]
    if settings.renderer_metrics_port:
        server, _thread = start_http_server(
            settings.renderer_metrics_port, settings.renderer_metrics_host
        )
        ctx["metrics_server"] = server
    ctx["queue_reporter"] = asyncio.create_task(
        _report_queue_depth(runtime, settings, instance_id()), name="render-queue-depth"
    )
    ctx["loop_lag"] = asyncio.create_task(sample_loop_lag(), name="loop-lag")


async def _report_queue_depth(runtime: Runtime, settings: Settings, instance: str) -> None:
    """Keep the queue gauges current and log one `render_queue_depth` line per interval.

    `queued` counts jobs that are due (waiting or running; retries deferred to later are not
    work yet). Every worker sees the same queue, so the line also carries `per_worker`: the
    backlog divided by the workers that reported in the last three intervals. That is the
    value the deployment's target tracking follows: it falls as replicas are added.
    """
    assert runtime.redis is not None
    queue = queue_name(settings.redis_prefix)
    members = f"{settings.redis_prefix}:render-workers"
    interval = settings.renderer_queue_report_seconds
    while True:
        try:
            now = time.time()
            async with runtime.redis.pipeline(transaction=False) as pipe:
                pipe.zcount(queue, "-inf", int(now * 1000))
                pipe.zadd(members, {instance: now})
                pipe.zremrangebyscore(members, "-inf", now - 3 * interval)
                pipe.zcard(members)
                pipe.expire(members, int(10 * interval) + 1)
                due, _, _, workers, _ = await pipe.execute()
            RENDER_JOBS_QUEUED.set(due)
            RENDER_WORKERS.set(workers)
            queue_log.info(
                "render_queue_depth",
                extra={
                    "details": {
                        "queued": due,
                        "workers": workers,
                        "per_worker": round(due / max(1, workers), 2),
                    }
                },
            )
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("render_queue_depth_unavailable", extra={"details": {"error": repr(error)}})
        except Exception:
            # A reporter that dies takes the scaling metric with it: log and keep going.
            log.exception("render_queue_depth_failed")
        await asyncio.sleep(interval)


async def shutdown(ctx: dict[str, Any]) -> None:
    await cancel_and_wait(ctx.get("following", []))
    await cancel_and_wait(ctx[name] for name in ("queue_reporter", "loop_lag") if name in ctx)
    if "metrics_server" in ctx:
        server = ctx["metrics_server"]
        # shutdown() waits for the serving thread's poll: off the event loop.
        await asyncio.to_thread(server.shutdown)
        server.server_close()
    if "pool" in ctx:
        await ctx["pool"].aclose()
    if "runtime" in ctx:
        await ctx["runtime"].close()


async def warm_after_change(
    ctx: dict[str, Any], raw_event: dict[str, Any], route_ids: list[int] | None = None
) -> dict[str, Any]:
    """Warm what `raw_event` affects; with `route_ids`, only those routes' pages (a part of a
    big change, split off so that several replicas share it)."""
    started = time.perf_counter()
    RENDER_JOBS_RUNNING.inc()
    outcome = "failed"
    try:
        result = await _warm(ctx, raw_event, route_ids)
        outcome = "complete"
        return result
    except Retry:
        # On the last try arq fails the job without calling us again: count it failed here.
        outcome = "retried" if ctx.get("job_try", 1) < MAX_TRIES else "failed"
        raise
    except asyncio.CancelledError:
        # A worker shutting down: arq runs the job again, on this or another replica.
        outcome = "cancelled"
        raise
    finally:
        RENDER_JOBS_RUNNING.dec()
        RENDER_JOBS.labels(outcome).inc()
        RENDER_JOB_SECONDS.observe(time.perf_counter() - started)


async def _warm(
    ctx: dict[str, Any], raw_event: dict[str, Any], route_ids: list[int] | None
) -> dict[str, Any]:
    event = ChangeEvent.model_validate(raw_event)
    runtime: Runtime = ctx["runtime"]
    state: SiteState = ctx["state"]
    settings: Settings = ctx["settings"]
    try:
        follower: StateFollower = ctx["follower"]
        await follower.refresh(event)
        targets = await targets_for(state, event, ctx["variants"], settings.fragment_ttl_seconds)
        if route_ids is not None:
            targets = [t for t in targets if t.route_id in route_ids]
        else:
            targets = await _split_off_routes(ctx, event, targets)
        report = await warm(
            targets, ctx["builder"], ctx["sink"], concurrency=settings.renderer_processes
        )
        await record_warm_report(runtime, report)
        await runtime.bus.publish(
            ChangeEvent(
                id=0,
                type="cache.warmed",
                entity=EntityRef(kind=event.entity.kind, id=event.entity.id),
                version=event.version,
                ts=event.ts,
                payload={"cause": event.type, **report.as_dict()},
            )
        )
    except (DBAPIError, OSError, RedisError, TimeoutError) as error:
        defer = ctx["job_try"] * RETRY_STEP_SECONDS
        log.warning(
            "warm_retry",
            extra={"details": {"event": event.type, "error": repr(error), "in": defer}},
        )
        raise Retry(defer=defer) from error
    return {"event": event.type, **report.as_dict()}


async def _split_off_routes(
    ctx: dict[str, Any], event: ChangeEvent, targets: list[Target]
) -> list[Target]:
    """Queue the pages of a change touching many routes as parts of ROUTES_PER_PART routes each,
    for any replica to take; keep the rest (fragments, data, a small change) here."""
    route_ids = sorted({t.route_id for t in targets if t.route_id is not None})
    if len(route_ids) <= ROUTES_PER_PART:
        return targets
    runtime: Runtime = ctx["runtime"]
    assert isinstance(runtime.jobs, ArqJobs)
    for start in range(0, len(route_ids), ROUTES_PER_PART):
        await runtime.jobs.enqueue_warm_part(
            event, start, route_ids[start : start + ROUTES_PER_PART]
        )
    return [t for t in targets if t.route_id is None]


async def sweep_outbox(ctx: dict[str, Any]) -> int:
    runtime: Runtime = ctx["runtime"]
    return await sweep_once(
        runtime.database, runtime.bus, runtime.jobs, ctx["settings"].outbox_sweep_grace_seconds
    )


def health_check_key(settings: Settings) -> str:
    """One key per replica, so a container's health command checks its own worker."""
    return f"{queue_name(settings.redis_prefix)}:health-check:{socket.gethostname()}"


def worker_settings(settings: Settings) -> dict[str, Any]:
    if settings.redis_url is None:
        raise RuntimeError("the renderer needs REDIS_URL (its queue lives in Redis)")

    async def on_startup(ctx: dict[str, Any]) -> None:
        ctx["settings"] = settings
        await startup(ctx)

    return {
        "functions": [
            func(
                warm_after_change,
                name=WARM_FUNCTION,
                max_tries=MAX_TRIES,
                timeout=settings.renderer_job_timeout_seconds,
            )
        ],
        "cron_jobs": [
            # Named with the prefix: arq dedupes cron runs by name across everything on the Redis.
            cron(
                sweep_outbox,
                name=f"{settings.redis_prefix}:sweep_outbox",
                second=set(range(0, 60, 2)),
                run_at_startup=True,
                # arq lets a job of a killed worker run again after the longest timeout of
                # any function plus 10 s: keep this one from lengthening that.
                timeout=min(30.0, settings.renderer_job_timeout_seconds),
            )
        ],
        "on_startup": on_startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "queue_name": queue_name(settings.redis_prefix),
        "job_serializer": orjson.dumps,
        "job_deserializer": orjson.loads,
        "poll_delay": settings.renderer_poll_delay_seconds,
        "max_jobs": settings.renderer_max_jobs or 2 * settings.renderer_processes,
        "job_timeout": settings.renderer_job_timeout_seconds,
        "keep_result": 3600,
        "health_check_interval": 5,
        "health_check_key": health_check_key(settings),
        "handle_signals": True,
    }


class RenderWorker(Worker):
    """arq's Worker, with a `close` that always runs `on_shutdown` and closes the Redis pool.

    arq 0.28's `close` cancels the running jobs, then gathers them without
    `return_exceptions`: when one of them ends cancelled (arq only absorbs a cancellation that
    lands inside the job function, not one in its own bookkeeping before or after, or while the
    job's finish is shielded), the gather re-raises `CancelledError` and `close` stops there:
    `shutdown` never runs (the Runtime's Redis and database, the render processes and the
    background tasks stay open) and neither does the pool's close. Same steps, otherwise.
    """

    async def close(self) -> None:
        if not self._handle_signals:
            self.handle_sig(signal.SIGUSR1)
        if self._pool is None:
            return
        # Cancelled jobs are expected here (arq runs them again); only their ending matters.
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        try:
            await self.pool.delete(self.health_check_key)
            if self.on_shutdown:
                await self.on_shutdown(self.ctx)
        finally:
            await self.pool.aclose(close_connection_pool=True)
            self._pool = None


def run(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    configure_logging("renderer", settings.log_level)
    RenderWorker(**worker_settings(settings)).run()


async def check(settings: Settings | None = None) -> int:
    """0 when this host's worker refreshed its health key recently (a container health check)."""
    from arq.worker import async_check_health

    settings = settings or get_settings()
    if settings.redis_url is None:
        return 1
    return await async_check_health(
        RedisSettings.from_dsn(settings.redis_url),
        health_check_key(settings),
        queue_name(settings.redis_prefix),
    )
