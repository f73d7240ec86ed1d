"""Which of our modules a template change crosses, from the admin API's PUT to the gateway's
bytes, in the three-process production arrangement (PostgreSQL + Redis; `dyndash admin`,
`dyndash renderer`, `dyndash gateway`).

    python -m devtools.change_path [--windows change,idle,poll] [--json results.json]

run from a synced checkout with its own interpreter (`.venv/bin/python`). It drives only the
`dyndash` CLI and the HTTP API, so the same file measures any commit: copy it (with
devtools/cluster.py, whose process handling it uses) into an older checkout's devtools/ and
run it there with that checkout's interpreter. It needs the local
PostgreSQL (trust auth; `--postgres`, default postgresql://postgres@127.0.0.1:5432) with
`psql` on PATH, and the local Redis (`--redis`) with `redis-cli` on PATH.

What it does:

1. creates a database `change_path_<random>`, migrates it (`dyndash migrate`), and starts the
   three services with the Redis prefix `change-path-<random>`. Every Python process they start
   loads this file as a tracer (a `sitecustomize` on PYTHONPATH calls `install()`), so the
   render processes (the fork server and its forked children) are traced too;
2. creates a template and a route `/probe` through the admin API, waits until the gateway
   serves it, requests it a few times so it is cached, and waits until everything is idle;
3. runs measurement windows. Each starts with SIGUSR1 to every traced process (the tracer
   records the `co_filename` of each Python 'call' event, on every thread) and ends with
   SIGUSR2 (each process writes what it saw). The windows:
   - change: PUT new html_content, poll GET /probe on the gateway until the new content is
     served, wait 1 s (the renderer's job ends), stop;
   - idle: the same length, no request at all (the background: tickers, followers);
   - poll: the same length, GET /probe at the change window's cadence and no PUT (serving
     cached bytes);
4. prints, per process, the files of our packages (dyndash, dyndash_common,
   dyndash_admin_api, dyndash_gateway, dyndash_renderer) each window saw, the counts, their
   sum and union, and what the change window saw beyond each baseline;
5. stops the services, drops the database and deletes the prefix's Redis keys.

A module counts when one of its functions (or its module body, or a coroutine of it
resuming) ran during the window. Code run by threads not started through `threading` (none
of ours) is not seen, nor is a process that exited before the window's end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

# The process handling of `make cluster`; imported by the tracer half of this file too, which
# runs in every traced process (the repository root is on their PYTHONPATH).
from devtools.cluster import HOST, Kind, Member, answers, free_port

PACKAGES = ("dyndash", "dyndash_common", "dyndash_admin_api", "dyndash_gateway", "dyndash_renderer")
SERVICES: tuple[Kind, ...] = ("admin", "renderer", "gateway")
# The traced processes' side: where they write, and this file (which sitecustomize loads).
OUT_ENV = "CHANGE_PATH_TRACE_DIR"
TRACER_ENV = "CHANGE_PATH_TRACER"
SITECUSTOMIZE = f"""\
import importlib.util
import os
import sys

_path = os.environ.get({TRACER_ENV!r})
if _path and {OUT_ENV!r} in os.environ:
    _spec = importlib.util.spec_from_file_location("devtools_trace", _path)
    if _spec is not None and _spec.loader is not None:
        _module = importlib.util.module_from_spec(_spec)
        sys.modules["devtools_trace"] = _module
        _spec.loader.exec_module(_module)
        _module.install()
"""
BOOTSTRAP = (
    "import devtools_trace; devtools_trace.install(); "
    "from dyndash.cli import main; raise SystemExit(main())"
)

# -- the tracer, inside each traced process ------------------------------------------------------

_seen: set[str] = set()
_recording = False
_installed = False


def _profile(frame: FrameType, event: str, _arg: object) -> None:
    if _recording and event == "call":
        _seen.add(frame.f_code.co_filename)


def _out(name: str) -> Path:
    return Path(os.environ[OUT_ENV]) / name


def _write(name: str, payload: Mapping[str, Any]) -> None:
    temporary = _out(f".{name}.tmp")
    temporary.write_text(json.dumps(payload))
    temporary.replace(_out(name))


def _identity() -> dict[str, Any]:
    try:
        command = Path("/proc/self/cmdline").read_bytes().split(b"\0")
        cmdline = [part.decode(errors="replace") for part in command if part]
    except OSError:
        cmdline = list(sys.argv)
    return {"pid": os.getpid(), "ppid": os.getppid(), "cmdline": cmdline}


def _start(_signum: int, _frame: FrameType | None) -> None:
    global _recording
    _seen.clear()
    _recording = True
    sys.setprofile(_profile)  # the main thread; the others have had it since install()
    _write(f"{os.getpid()}.on", _identity())


def _stop(_signum: int, _frame: FrameType | None) -> None:
    global _recording
    _recording = False
    sys.setprofile(None)
    _write(f"{os.getpid()}.json", {**_identity(), "files": sorted(_seen)})


def _after_fork() -> None:
    # A forked render process: what its parent saw is not its own; recording carries on if
    # the parent was recording (the profile function is inherited with the thread).
    _seen.clear()
    _write(f"{os.getpid()}.ready", _identity())


def install() -> None:
    """Arm the tracer in this process (once; nothing without CHANGE_PATH_TRACE_DIR): SIGUSR1
    starts recording, SIGUSR2 writes <pid>.json and stops. Threads started from now on carry
    the (idle until SIGUSR1) profile function; the main thread gets it on SIGUSR1."""
    global _installed
    if _installed or OUT_ENV not in os.environ:
        return
    _installed = True
    threading.setprofile(_profile)
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
    os.register_at_fork(after_in_child=_after_fork)
    _write(f"{os.getpid()}.ready", _identity())


# -- the measurement -------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None
) -> Answer:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return Answer(response.status, response.read(), dict(response.headers.items()))
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read(), dict(error.headers.items()))


def run_tool(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {done.stdout}{done.stderr}")
    return done.stdout


def psql(server: str, sql: str) -> None:
    run_tool(["psql", f"{server}/postgres", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])


def delete_redis_keys(redis_url: str, pattern: str) -> int:
    keys = run_tool(["redis-cli", "-u", redis_url, "--scan", "--pattern", pattern]).split()
    for start in range(0, len(keys), 500):
        run_tool(["redis-cli", "-u", redis_url, "DEL", *keys[start : start + 500]])
    return len(keys)


def children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def descendants(root: int) -> list[int]:
    children = children_map()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


@dataclass
class Traced:
    """One traced process: its service, its role there, and what it recorded."""

    service: str
    role: str  # main, forkserver, render-child, other
    pid: int
    cmdline: list[str]
    files: list[str]


class Measurement:
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.args = args
        self.root = root
        token = secrets.token_hex(4)
        self.token = token
        self.database = f"change_path_{token}"
        self.prefix = f"change-path-{token}"
        self.api_key = "ddk_change-path-" + secrets.token_hex(16)
        self.work = Path(tempfile.mkdtemp(prefix="change-path-"))
        self.trace_dir = self.work / "trace"
        self.site_dir = self.work / "site"
        self.trace_dir.mkdir()
        self.site_dir.mkdir()
        (self.site_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
        self.services: dict[str, Member] = {}
        self.database_created = False
        self.template_id = 0
        self.etag: str | None = None

    # -- set-up ---------------------------------------------------------------------------------

    def base_env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("DYNDASH_")}
        for name in ("DATABASE_URL", "REDIS_URL", OUT_ENV, TRACER_ENV):
            env.pop(name, None)
        env.update(
            DATABASE_URL=f"{self.args.postgres}/{self.database}",
            REDIS_URL=self.args.redis,
            DYNDASH_REDIS_PREFIX=self.prefix,
            DYNDASH_BOOTSTRAP_API_KEY=self.api_key,
            DYNDASH_WORKERS="1",
            PYTHONUNBUFFERED="1",
        )
        return env

    def setup_backends(self) -> None:
        psql(self.args.postgres, f'CREATE DATABASE "{self.database}"')
        self.database_created = True
        done = subprocess.run(  # noqa: S603
            [self.args.python, "-m", "dyndash.cli", "migrate"],
            cwd=self.root,
            env=self.base_env(),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"dyndash migrate failed:\n{done.stdout}{done.stderr}")

    def start_services(self) -> None:
        base = self.base_env()
        python_path = [str(self.site_dir), str(self.root), *filter(None, [base.get("PYTHONPATH")])]
        base.update(
            {
                OUT_ENV: str(self.trace_dir),
                TRACER_ENV: str(Path(__file__).resolve()),
                "PYTHONPATH": os.pathsep.join(python_path),
            }
        )
        for name in SERVICES:
            env = dict(base)
            command = [self.args.python, "-c", BOOTSTRAP, name]
            port = metrics_port = free_port()
            if name == "renderer":
                command += ["--metrics-port", str(port)]
            else:
                command += ["--host", HOST, "--port", str(port)]
                metrics_port = free_port()
                env.update(DYNDASH_METRICS_HOST=HOST, DYNDASH_METRICS_PORT=str(metrics_port))
            self.services[name] = Member(
                name, name, port, metrics_port, command, env, self.work / f"{name}.log"
            )
        for service in self.services.values():
            service.start()
        deadline = time.monotonic() + 90
        waiting = list(self.services.values())
        while waiting:
            for service in list(waiting):
                if not service.running:
                    raise RuntimeError(f"{service.name} exited:\n{service.log_tail()}")
                if answers(service.ready_url):
                    waiting.remove(service)
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"{waiting[0].name} not ready:\n{waiting[0].log_tail()}")
            time.sleep(0.1)

    def pid(self, service: str) -> int:
        process = self.services[service].process
        assert process is not None
        return process.pid

    def url(self, service: str, path: str) -> str:
        return self.services[service].url + path

    def admin(self, method: str, path: str, body: Any, **headers: str) -> Answer:
        answer = http(method, self.url("admin", path), body, {"X-API-Key": self.api_key, **headers})
        if answer.status >= 300:
            raise RuntimeError(f"{method} {path}: {answer.status} {answer.body[:500]!r}")
        return answer

    def content(self, version: int) -> str:
        return f'<main><h1>{{{{ "probe" | upper }}}}</h1><p>v{version}-{self.token}</p></main>'

    def setup_site(self) -> None:
        created = self.admin(
            "POST",
            "/api/v1/templates",
            {"name": f"probe-{self.token}", "html_content": self.content(1)},
        )
        self.template_id = int(created.json()["data"]["id"])
        self.etag = {k.lower(): v for k, v in created.headers.items()}.get("etag")
        self.admin("POST", "/api/v1/routes", {"path": "/probe", "template_id": self.template_id})
        deadline = time.monotonic() + 90
        while not self.probe_shows(f"v1-{self.token}"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the gateway never served /probe:\n{self.log_tails()}")
            time.sleep(0.1)
        for _ in range(5):
            self.probe_shows("")
            time.sleep(0.05)
        time.sleep(self.args.settle)

    def probe_shows(self, text: str) -> bool:
        try:
            answer = http("GET", self.url("gateway", "/probe"))
        except OSError:
            return False
        return answer.status == 200 and text.encode() in answer.body

    def log_tails(self) -> str:
        return "\n".join(f"--- {s.name}\n{s.log_tail()}" for s in self.services.values())

    # -- windows --------------------------------------------------------------------------------

    def traced(self) -> dict[int, str]:
        """Every live process of the services' trees that has the tracer: pid → service."""
        found: dict[int, str] = {}
        for service in self.services.values():
            for pid in descendants(self.pid(service.name)):
                if (self.trace_dir / f"{pid}.ready").exists():
                    found[pid] = service.name
        return found

    def signal_all(self, pids: Iterable[int], signum: signal.Signals) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def wait_for(self, names: Iterable[str], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        missing = [name for name in names if not (self.trace_dir / name).exists()]
        while missing and time.monotonic() < deadline:
            time.sleep(0.02)
            missing = [name for name in missing if not (self.trace_dir / name).exists()]
        if missing:
            print(f"  (no answer from {', '.join(missing)})", file=sys.stderr)

    def window(self, kind: str, length: float | None, cadence: float) -> tuple[float, list[Traced]]:
        """One window; returns its length and each traced process's record."""
        started = self.traced()
        self.signal_all(started, signal.SIGUSR1)
        self.wait_for(f"{pid}.on" for pid in started)
        begin = time.monotonic()
        if kind == "change":
            headers = {"If-Match": self.etag} if self.etag else {}
            answer = self.admin(
                "PUT",
                f"/api/v1/templates/{self.template_id}",
                {"html_content": self.content(2)},
                **headers,
            )
            self.etag = {k.lower(): v for k, v in answer.headers.items()}.get("etag")
            deadline = time.monotonic() + 60
            while not self.probe_shows(f"v2-{self.token}"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the change never reached /probe:\n{self.log_tails()}")
                time.sleep(cadence)
            time.sleep(1.0)
        elif kind == "poll":
            assert length is not None
            while time.monotonic() < begin + length - 1.0:
                self.probe_shows("")
                time.sleep(cadence)
            time.sleep(max(0.0, begin + length - time.monotonic()))
        else:
            assert length is not None
            time.sleep(length)
        elapsed = time.monotonic() - begin
        ending = self.traced()
        ending.update(started)
        self.signal_all(ending, signal.SIGUSR2)
        self.wait_for(f"{pid}.json" for pid in ending)
        records: list[Traced] = []
        for pid, service in sorted(ending.items()):
            path = self.trace_dir / f"{pid}.json"
            if not path.exists():
                continue
            record = json.loads(path.read_text())
            path.unlink()
            (self.trace_dir / f"{pid}.on").unlink(missing_ok=True)
            files = sorted(
                {r for r in (self.relative(f) for f in record["files"]) if r is not None}
            )
            records.append(
                Traced(service, self.role(service, record), pid, record["cmdline"], files)
            )
        return elapsed, records

    def role(self, service: str, record: Mapping[str, Any]) -> str:
        if record["pid"] == self.pid(service):
            return "main"
        if any("multiprocessing.forkserver" in part for part in record["cmdline"]):
            return "forkserver" if record["ppid"] == self.pid(service) else "render-child"
        return "other"

    def relative(self, filename: str) -> str | None:
        """`filename` as package/…/module.py when it is a file of our packages, else None."""
        path = Path(filename)
        if not path.is_absolute() or path.suffix != ".py":
            return None
        try:
            parts = path.relative_to(self.root).parts
        except ValueError:
            return None
        if parts[0] == "dyndash":
            return "/".join(parts)
        for index, part in enumerate(parts[:-1]):
            if part in PACKAGES[1:] and parts[0] in ("libs", "services"):
                return "/".join(parts[index:])
        return None

    # -- tear-down ------------------------------------------------------------------------------

    def close(self) -> None:
        for name in reversed(SERVICES):
            if name in self.services:
                self.services[name].stop()
        if self.database_created:
            try:
                psql(self.args.postgres, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            except RuntimeError as error:
                print(f"could not drop {self.database}: {error}", file=sys.stderr)
        try:
            delete_redis_keys(self.args.redis, f"*{self.prefix}*")
        except RuntimeError as error:
            print(f"could not delete the Redis keys of {self.prefix}: {error}", file=sys.stderr)
        if self.args.keep_logs:
            print(f"logs kept in {self.work}")
        else:
            for path in sorted(self.work.rglob("*"), reverse=True):
                if path.is_dir():
                    path.rmdir()
                else:
                    path.unlink()
            self.work.rmdir()


# -- the report ------------------------------------------------------------------------------------

RENDER_ROLES = ("forkserver", "render-child")
GROUPS = [(service, roles) for service in SERVICES for roles in (("main",), RENDER_ROLES)]


def group_name(service: str, roles: tuple[str, ...]) -> str:
    return service if roles == ("main",) else f"{service} render processes"


def grouped(records: list[Traced]) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for service, roles in GROUPS:
        chosen = [r for r in records if r.service == service and r.role in roles]
        if chosen:
            groups[group_name(service, roles)] = set().union(*(r.files for r in chosen))
    return groups


def summary(groups: Mapping[str, set[str]], names: Iterable[str]) -> tuple[int, int]:
    sets = [groups.get(name, set()) for name in names]
    return sum(len(s) for s in sets), len(set().union(*sets))


def report(windows: dict[str, tuple[float, list[Traced]]]) -> dict[str, Any]:
    mains = list(SERVICES)
    everything = [group_name(s, r) for s, r in GROUPS]
    result: dict[str, Any] = {}
    for kind, (elapsed, records) in windows.items():
        groups = grouped(records)
        print(f"\n=== {kind} window ({elapsed:.2f} s) ===")
        for record in records:
            print(f"  pid {record.pid}: {record.service} {record.role}, {len(record.files)} files")
        for name, files in groups.items():
            print(f"\n{name}: {len(files)} modules")
            for file in sorted(files):
                print(f"    {file}")
        main_sum, main_union = summary(groups, mains)
        all_sum, all_union = summary(groups, everything)
        counts = " + ".join(str(len(groups.get(name, ()))) for name in mains)
        print(f"\n{kind}: three service processes: {counts} = {main_sum} (sum), union {main_union}")
        print(f"{kind}: with the render processes: sum {all_sum}, union {all_union}")
        result[kind] = {
            "seconds": round(elapsed, 3),
            "modules": {name: sorted(files) for name, files in groups.items()},
            "processes": [
                {"pid": r.pid, "service": r.service, "role": r.role, "files": r.files}
                for r in records
            ],
            "three_processes": {"sum": main_sum, "union": main_union},
            "with_render_processes": {"sum": all_sum, "union": all_union},
        }
    if "change" in windows:
        change = grouped(windows["change"][1])
        for baseline in (kind for kind in windows if kind != "change"):
            base = grouped(windows[baseline][1])
            extra = {name: change.get(name, set()) - base.get(name, set()) for name in everything}
            extra = {name: files for name, files in extra.items() if files}
            print(f"\n=== change minus {baseline} ===")
            for name, files in extra.items():
                print(f"\n{name}: {len(files)} modules")
                for file in sorted(files):
                    print(f"    {file}")
            main_sum, main_union = summary(extra, mains)
            all_sum, all_union = summary(extra, everything)
            print(
                f"\nchange minus {baseline}: three service processes: sum {main_sum}, "
                f"union {main_union}; with the render processes: sum {all_sum}, "
                f"union {all_union}"
            )
            result[f"change_minus_{baseline}"] = {
                "modules": {name: sorted(files) for name, files in extra.items()},
                "three_processes": {"sum": main_sum, "union": main_union},
                "with_render_processes": {"sum": all_sum, "union": all_union},
            }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--python", default=sys.executable, help="the checkout's interpreter")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--windows", default="change,idle,poll", help="which windows, in order (change first)"
    )
    parser.add_argument("--settle", type=float, default=3.0, help="idle seconds before a window")
    parser.add_argument("--cadence", type=float, default=0.02, help="seconds between GETs")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    kinds = [kind.strip() for kind in args.windows.split(",") if kind.strip()]
    if not kinds or any(kind not in ("change", "idle", "poll") for kind in kinds):
        parser.error("--windows takes change, idle and poll")
    if kinds[0] != "change":
        parser.error("the baselines take the change window's length: put change first")
    root = Path(__file__).resolve().parent.parent
    measurement = Measurement(args, root)
    windows: dict[str, tuple[float, list[Traced]]] = {}
    try:
        measurement.setup_backends()
        measurement.start_services()
        measurement.setup_site()
        length: float | None = None
        for kind in kinds:
            windows[kind] = measurement.window(kind, length, args.cadence)
            if kind == "change":
                length = windows[kind][0]
            time.sleep(args.settle)
    finally:
        measurement.close()
    result = report(windows)
    print(
        f"\ncommit {git_head(root)}; database {measurement.database}; prefix {measurement.prefix}"
    )
    if args.json is not None:
        result["commit"] = git_head(root)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def git_head(root: Path) -> str:
    try:
        return run_tool(["git", "-C", str(root), "rev-parse", "--short", "HEAD"]).strip()
    except (RuntimeError, OSError):
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
