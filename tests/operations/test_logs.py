"""Every line a service writes is one JSON object in the shape of the README's "Operations"
section, uvicorn's and arq's own lines included, and a request's lines carry its
X-Request-ID."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest

from devtools.cluster import free_port
from dyndash_common.logs import instance_id
from tests.utils.backends import ADMIN_SECRET, TEST_PEPPER, delete_redis_prefix
from tests.utils.services import REDIS_URL

SEED_FIELDS = {"timestamp", "level", "service", "instance_id", "event", "details"}


def _environment(postgres_url: str, prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": postgres_url,
        "REDIS_URL": REDIS_URL,
        "DYNDASH_REDIS_PREFIX": prefix,
        "DYNDASH_KEY_PEPPER": TEST_PEPPER,
        "DYNDASH_BOOTSTRAP_API_KEY": ADMIN_SECRET,
        "DYNDASH_ACCESS_LOG": "true",
        "DYNDASH_LOG_LEVEL": "INFO",
        "DYNDASH_METRICS_PORT": "0",
    }


def _run_until(
    command: list[str], env: dict[str, str], ready: str, exercise: Any = None
) -> list[str]:
    """Start a service, wait for `ready` in its log, exercise it, stop it; its stderr lines."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dyndash.cli", *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line.rstrip("\n"))
            if ready in line:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert seen.wait(30), "\n".join(lines[-20:])
        if exercise is not None:
            exercise()
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=5)
        assert process.stderr is not None
        process.stderr.close()
    return lines


def _parsed(lines: list[str], service: str) -> list[dict[str, Any]]:
    records = []
    for line in lines:
        record = json.loads(line)  # a line that is not JSON fails here, naming itself
        assert set(record) == SEED_FIELDS, line
        assert record["service"] == service, line
        assert record["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}, line
        assert datetime.fromisoformat(record["timestamp"]).tzinfo is not None, line
        assert (
            record["instance_id"]
            == f"{socket.gethostname()}:{record['instance_id'].split(':')[-1]}"
        )
        assert isinstance(record["details"], dict), line
        records.append(record)
    return records


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"dyndash-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    import asyncio

    asyncio.run(delete_redis_prefix(prefix))


@pytest.mark.parametrize(
    ("service", "command", "server"),
    [
        ("admin_api", "admin", "uvicorn"),
        ("gateway", "gateway", "uvicorn"),
        ("gateway", "gateway", "granian"),
    ],
)
def test_http_service_logs_are_seed_json_with_request_ids(
    postgres_url: str, redis_prefix: str, service: str, command: str, server: str
) -> None:
    port = free_port()
    request_id = f"trace-{uuid.uuid4().hex}"

    def exercise() -> None:
        response = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/templates/999999"
            if command == "admin"
            else f"http://127.0.0.1:{port}/no-such-page",
            headers={"X-Request-ID": request_id, "X-API-Key": ADMIN_SECRET},
            timeout=10,
        )
        assert response.status_code == 404
        assert response.headers["x-request-id"] == request_id

    lines = _run_until(
        [command, "--host", "127.0.0.1", "--port", str(port)],
        {**_environment(postgres_url, redis_prefix), "DYNDASH_GATEWAY_SERVER": server},
        "Application startup complete",
        exercise,
    )
    records = _parsed(lines, service)
    loggers = {record["details"].get("logger") for record in records}
    server_loggers = {"uvicorn": {"uvicorn.error"}, "granian": {"granian.error", "_granian"}}
    assert {*server_loggers[server], f"{server}.access"} <= loggers, loggers
    access = [r for r in records if r["details"].get("logger") == f"{server}.access"]
    assert any(r["details"].get("request_id") == request_id for r in access), access
    events = {record["event"] for record in records}
    assert {"Application startup complete.", "Application shutdown complete."} <= events


def test_renderer_logs_are_seed_json_including_arq_lines(
    postgres_url: str, redis_prefix: str
) -> None:
    env = {**_environment(postgres_url, redis_prefix), "DYNDASH_RENDERER_METRICS_PORT": "0"}
    lines = _run_until(["renderer"], env, "render_queue_depth")
    records = _parsed(lines, "renderer")
    assert any(r["details"].get("logger", "").startswith("arq") for r in records), records
    depth = next(r for r in records if r["event"] == "render_queue_depth")
    assert depth["details"] == {"queued": 0, "workers": 1, "per_worker": 0.0}


def test_renderer_queue_depth_line_survives_a_quieter_log_level(
    postgres_url: str, redis_prefix: str
) -> None:
    # The line is the autoscaling metric of the deployment: it is written whatever the level.
    env = {
        **_environment(postgres_url, redis_prefix),
        "DYNDASH_RENDERER_METRICS_PORT": "0",
        "DYNDASH_LOG_LEVEL": "WARNING",
    }
    records = _parsed(_run_until(["renderer"], env, "render_queue_depth"), "renderer")
    assert [r["level"] for r in records if r["event"] == "render_queue_depth"] == ["INFO"]
    assert not any(r["details"].get("logger", "").startswith("arq") for r in records)


class _TaskMetadata(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(
            {"TaskARN": "arn:aws:ecs:eu-west-1:123456789012:task/dyndash/0f1e2d3c4b5a"}
        ).encode()
        self.send_response(200 if self.path == "/task" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_instance_id_is_the_ecs_task_id_when_the_metadata_endpoint_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = HTTPServer(("127.0.0.1", 0), _TaskMetadata)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv(
            "ECS_CONTAINER_METADATA_URI_V4", f"http://127.0.0.1:{server.server_port}"
        )
        assert instance_id() == "0f1e2d3c4b5a"
        # An endpoint that does not answer falls back to host and pid, without waiting long.
        monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", f"http://127.0.0.1:{free_port()}")
        started = time.monotonic()
        assert instance_id() == f"{socket.gethostname()}:{os.getpid()}"
        assert time.monotonic() - started < 5
    finally:
        server.shutdown()
        server.server_close()
