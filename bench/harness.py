"""Running servers and load for the benchmarks: processes, readiness, wrk, its figures."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from devtools.cluster import free_port as free_port  # re-exported for the benchmarks
from tests.utils.backends import ADMIN_SECRET, TEST_PEPPER
from tests.utils.services import REDIS_URL

ROOT = Path(__file__).resolve().parent.parent


def wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def service_env(database_url: str, prefix: str, **extra: str) -> dict[str, str]:
    """The environment of the services a benchmark starts: its own database and Redis prefix,
    the test key, and no rate limit in the way of the load."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "DYNDASH_REDIS_PREFIX": prefix,
        "DYNDASH_KEY_PEPPER": TEST_PEPPER,
        "DYNDASH_BOOTSTRAP_API_KEY": ADMIN_SECRET,
        "DYNDASH_GATEWAY_RATE_LIMIT_REQUESTS": "0",
        "DYNDASH_RATE_LIMIT_REQUESTS": "1000000",
        "DYNDASH_LOG_LEVEL": "WARNING",
        # Several services on one host: none opens an operator port unless a benchmark asks.
        "DYNDASH_METRICS_PORT": "0",
        **extra,
    }


@contextlib.contextmanager
def process(
    arguments: list[str], env: dict[str, str], ready_url: str
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        arguments,
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_http(ready_url)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def uvicorn(app: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
    ]


def granian(app: str, port: int) -> list[str]:
    """The same server settings as the shipped gateway's (dyndash.granian_server)."""
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--http",
        "1",
        "--no-ws",
        "--loop",
        "uvloop",
        "--task-impl",
        "asyncio",
        "--log-level",
        "warning",
        app,
    ]


def nginx(directory: Path, body_file: Path, port: int) -> list[str] | None:
    """nginx serving `body_file` at every path, one worker, no access log; None when nginx is
    not installed."""
    binary = shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx",) if Path(path).exists()), None
    )
    if binary is None:
        return None
    config = directory / "nginx.conf"
    config.write_text(
        f"""
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 100000;
    client_body_temp_path {directory};
    proxy_temp_path {directory};
    fastcgi_temp_path {directory};
    uwsgi_temp_path {directory};
    scgi_temp_path {directory};
    server {{
        listen 127.0.0.1:{port};
        root {body_file.parent};
        default_type "text/html; charset=utf-8";
        location / {{ try_files /{body_file.name} =404; }}
    }}
}}
"""
    )
    return [binary, "-p", str(directory), "-c", str(config), "-g", "daemon off; user root;"]


def dyndash(command: str, port: int) -> list[str]:
    return [sys.executable, "-m", "dyndash.cli", command, "--port", str(port)]


@dataclass(frozen=True)
class Load:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _milliseconds(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def wrk(
    url: str,
    *,
    seconds: int,
    connections: int,
    threads: int = 1,
    headers: Sequence[str] = (),
) -> Load:
    output = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            *(argument for header in headers for argument in ("-H", header)),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _milliseconds(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _milliseconds(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses:\s+(\d+)", r"Socket errors:.*?(\d+)"):
        found = re.search(pattern, output)
        if found and pattern.startswith("Non"):
            errors += int(found.group(1))
    return Load(rate, p50, p99, errors)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
