"""`dyndash export|plan|apply DIR`: a site as files, over HTTP against any admin API.

Exit codes (README, "Sites as code"): `plan` 0 when nothing would change, 2 when something
would, 1 on an error; `apply` 0 when applied (or nothing to do), 1 on an error or when the
confirmation is declined; `export` 0 or 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from dyndash.client import ApiError, Client, ClientError
from dyndash.sitefiles import SiteFileError, Sources, read_tree, write_tree
from dyndash.terminal import shown

DEFAULT_SERVER = "http://127.0.0.1:8001"
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
_MARKS = {"create": "+", "update": "~", "delete": "-", "adopt": "=", "unchanged": " "}
# The admin API's default DYNDASH_MAX_BUNDLE_BYTES; a bigger bundle is refused before sending.
DEFAULT_MAX_BUNDLE_BYTES = 32 * 1024 * 1024


class _Failure(Exception):
    """An error the command reports and exits 1 with."""

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


def add_commands(commands: Any) -> None:
    """Register export, plan and apply on the `dyndash` parser's subcommands."""
    for name, help_text, handler in (
        ("export", "write the server's site as files under DIR", cmd_export),
        ("plan", "show what applying DIR would change (exit 2 when something would)", cmd_plan),
        ("apply", "apply DIR to the server in one transaction", cmd_apply),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("directory", metavar="DIR", type=Path)
        command.add_argument(
            "--server",
            default=os.environ.get("DYNDASH_SERVER", DEFAULT_SERVER),
            help=f"admin API URL (env DYNDASH_SERVER; default {DEFAULT_SERVER})",
        )
        command.add_argument(
            "--key", default=os.environ.get("DYNDASH_API_KEY"), help="API key (env DYNDASH_API_KEY)"
        )
        command.add_argument("--output", choices=("text", "json"), default="text")
        if name != "export":
            command.add_argument(
                "--prune", action="store_true", help="also delete server objects DIR lacks"
            )
        if name == "apply":
            command.add_argument("--yes", action="store_true", help="apply without asking")
            command.add_argument(
                "--adopt",
                action="store_true",
                help="take ownership of matching server objects even when nothing else changes",
            )
        command.set_defaults(handler=handler)


def _client(args: argparse.Namespace) -> Client:
    if not args.key:
        raise _Failure("no API key: pass --key or set DYNDASH_API_KEY")
    return Client(args.server, args.key)


def _console() -> Console:
    # Progress and prompts on stderr: stdout carries the plan (or the JSON) alone.
    return Console(stderr=True)


def _run(args: argparse.Namespace, body: Any) -> int:
    try:
        return int(body())
    except Exception as error:  # every failure is one line naming its cause, never a traceback
        message, details = _explain(error)
        if args.output == "json":
            print(json.dumps({"error": {"message": message, "details": details}}, indent=2))
        else:
            print(f"error: {shown(message)}", file=sys.stderr)
        return EXIT_ERROR


def _explain(error: Exception) -> tuple[str, Any]:
    if isinstance(error, _Failure):
        return error.message, error.details
    if isinstance(error, ApiError):
        return f"the server answered {error.status} ({error.code}): {error.message}", error.details
    if isinstance(error, SiteFileError | ClientError):
        return str(error), None
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror or error}", None
    return f"unexpected {type(error).__name__}: {error}", None


def _read(directory: Path) -> tuple[dict[str, Any], Sources]:
    with _console().status(f"reading {directory}"):
        return read_tree(directory)


def _located(error: ApiError, sources: Sources) -> _Failure:
    """A 422 about `bundle.routes.3.path` named by its file and line."""
    details = error.details
    if isinstance(details, list):
        lines = []
        for item in details:
            if isinstance(item, dict):
                where = sources.locate(str(item.get("field", "")))
                field = str(item.get("field", "")).split(".")[-1]
                lines.append(f"{where or item.get('field')}: {field}: {item.get('error')}")
        if lines:
            return _Failure("the site is invalid:\n  " + "\n  ".join(lines), details)
    return _Failure(f"the server refused the site ({error.status}): {error.message}", details)


def _check_size(bundle: dict[str, Any]) -> None:
    """Refuse a bundle the server would refuse (413) before sending it: the same limit,
    from the same setting."""
    limit = int(os.environ.get("DYNDASH_MAX_BUNDLE_BYTES", DEFAULT_MAX_BUNDLE_BYTES))
    size = len(json.dumps({"bundle": bundle}, ensure_ascii=False).encode())
    if size > limit:
        raise _Failure(
            f"the site is {size} bytes as a request, over the server's limit of {limit} "
            "(DYNDASH_MAX_BUNDLE_BYTES); split it or raise the limit on both sides"
        )


def _plan(client: Client, bundle: dict[str, Any], sources: Sources, prune: bool) -> Any:
    _check_size(bundle)
    with _console().status(f"planning against {client.server}"):
        try:
            return client.site_apply(bundle, dry_run=True, prune=prune)
        except ApiError as error:
            if error.status == 422:
                raise _located(error, sources) from None
            raise


def _print_plan(plan: dict[str, Any]) -> None:
    changes = [c for c in plan["changes"] if c["action"] != "unchanged"]
    for change in changes:
        fields = f" ({', '.join(change['fields'])})" if change["fields"] else ""
        version = "" if change["version"] is None else f" v{change['version']}"
        print(
            shown(
                f"{_MARKS[change['action']]} {change['kind']} {change['name']}{version}: "
                f"{change['action']}{fields}"
            )
        )
        if change["diff"]:
            diff = shown(change["diff"])
            print(diff, end="" if diff.endswith("\n") else "\n")
    summary = plan["summary"]
    print(
        ", ".join(f"{summary[a]} to {a}" for a in ("create", "update", "delete", "adopt"))
        + f", {summary['unchanged']} unchanged"
    )


def cmd_export(args: argparse.Namespace) -> int:
    def body() -> int:
        with _client(args) as client, _console().status(f"exporting from {client.server}"):
            bundle = client.site_export()
        count = sum(len(bundle[k]) for k in ("templates", "routes", "dashboards"))
        with Progress(
            TextColumn("writing files"),
            BarColumn(),
            MofNCompleteColumn(),
            console=_console(),
            transient=True,
        ) as progress:
            task = progress.add_task("write", total=count)
            exported = write_tree(args.directory, bundle, lambda: progress.advance(task))
        if args.output == "json":
            print(
                json.dumps(
                    {
                        "files": [str(p) for p in exported.files],
                        "removed": [str(p) for p in exported.removed],
                        "not_the_sites": [str(p) for p in exported.foreign],
                    },
                    indent=2,
                )
            )
            return EXIT_OK
        for path in exported.foreign:
            print(shown(f"warning: {path}: not part of the site; left as it is"), file=sys.stderr)
        removed = f", removed {len(exported.removed)}" if exported.removed else ""
        print(shown(f"wrote {len(exported.files)} files under {args.directory}{removed}"))
        return EXIT_OK

    return _run(args, body)


def cmd_plan(args: argparse.Namespace) -> int:
    def body() -> int:
        bundle, sources = _read(args.directory)
        with _client(args) as client:
            plan = _plan(client, bundle, sources, args.prune)
        if args.output == "json":
            print(json.dumps(plan, indent=2))
        else:
            _print_plan(plan)
        return EXIT_CHANGES if _changes(plan) else EXIT_OK

    return _run(args, body)


def _changes(plan: dict[str, Any]) -> bool:
    """Whether applying would change content; an adoption alone is a note (README, "Sites as
    code"), taken by the next apply that changes something, or by `apply --adopt`."""
    return any(c["action"] in ("create", "update", "delete") for c in plan["changes"])


def _adopts(plan: dict[str, Any]) -> bool:
    return any(c["action"] == "adopt" for c in plan["changes"])


def cmd_apply(args: argparse.Namespace) -> int:
    def body() -> int:
        bundle, sources = _read(args.directory)
        with _client(args) as client:
            plan = _plan(client, bundle, sources, args.prune)
            if args.output == "text":
                _print_plan(plan)
            if not _changes(plan) and not (args.adopt and _adopts(plan)):
                if args.output == "json":
                    print(json.dumps({"plan": plan, "result": None}, indent=2))
                else:
                    print("nothing to change")
                return EXIT_OK
            if not args.yes and not _confirm():
                raise _Failure("not applied (answer 'yes', or pass --yes)")
            with _console().status(f"applying to {client.server}"):
                result = client.site_apply(
                    bundle,
                    expected_versions=plan["expected_versions"],
                    prune=args.prune,
                    adopt=args.adopt,
                )
        if args.output == "json":
            print(json.dumps({"plan": plan, "result": result}, indent=2))
            return EXIT_OK
        for change in result["changes"]:
            if change["action"] == "unchanged":
                continue
            after = "deleted" if change["action"] == "delete" else f"v{change['new_version']}"
            before = "new" if change["version"] is None else f"v{change['version']}"
            print(
                shown(
                    f"{change['action']}d {change['kind']} {change['name']}: {before} → {after}"
                    if change["action"] != "adopt"
                    else f"adopted {change['kind']} {change['name']}: {after}"
                )
            )
        print(f"applied (event {result['event_id']})")
        return EXIT_OK

    return _run(args, body)


def _confirm() -> bool:
    if not sys.stdin.isatty():
        raise _Failure("refusing to apply without --yes: no terminal to ask on")
    answer = _console().input("Apply these changes? Type 'yes' to go on: ")
    return answer.strip().lower() == "yes"
