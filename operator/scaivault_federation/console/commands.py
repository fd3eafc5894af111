"""``backends``, ``status NAME``, ``sync NAME``, ``conflicts NAME``, ``get PATH``,
``leases`` and ``certificates``: the HTTP API for people, as tables (or ``-o json``).

The API URL and token come from ``--api-url`` / ``--token``, else from
``SCAIVAULT_API_URL`` / ``SCAIVAULT_API_TOKEN`` (through the settings model),
else from ``dev.json`` of ``make dev`` (its URL and admin token). A backend is
named by its id (``fed_...``) or by its name, with ``-n NAMESPACE`` when the
name is in several namespaces. An API error is one line on stderr and exit
code 1; a bad flag or setting is exit code 2. Secret values are printed only by
``get --show-values``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import functools
import json
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..flags import Program, add_flags, given
from ..settings import FLAG_FIELDS, SETTINGS, Settings
from .client import ApiCallError, FederationClient
from .tables import NONE, age, cell, pairs, size, table, until

FED = "/v1/federation"
COMMANDS = ("backends", "status", "sync", "conflicts", "get", "leases", "certificates")
Handler = Callable[[argparse.Namespace], int]

CONNECTION_HELP = """\
connection:
  The API URL and token come from --api-url and --token, else from the
  SCAIVAULT_API_URL and SCAIVAULT_API_TOKEN variables, else from the dev.json
  that `make dev` writes (--dev-json, default .state/dev/dev.json).
"""


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection and output")
    add_flags(group, Program.COMMANDS, FLAG_FIELDS)
    group.add_argument(
        "-o",
        "--output",
        choices=("table", "json"),
        default="table",
        help="table (default) or the API's JSON",
    )
    return common


def _namespace(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("-n", "--namespace", help=what)


def _add(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    description: str,
    examples: str,
    handler: Handler,
) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        name,
        parents=[_common()],
        help=summary,
        description=textwrap.fill(description, 78),
        epilog=CONNECTION_HELP + "\nexamples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the commands for people to the ``scaivault-federation`` parser."""
    backends = _add(
        sub,
        "backends",
        "list the backends with their health",
        "List the FederationBackends you may read, with their status: the namespace, "
        "name, id, type, mode, health, secrets synced, conflicts, last sync and message.",
        "  scaivault-federation backends\n  scaivault-federation backends -n payments -o json\n",
        _backends,
    )
    _namespace(backends, "only this namespace (default: every namespace you may read)")

    status = _add(
        sub,
        "status",
        "one backend's status",
        "Show one backend's status: health and why, the last sync (when, how long, how "
        "many secrets), conflicts, and the connection to the backend.",
        "  scaivault-federation status aws-dev\n  scaivault-federation status fed_73957fad55cf\n",
        _status,
    )
    _name(status)

    sync = _add(
        sub,
        "sync",
        "sync a backend now (or some paths of it)",
        "Ask the operator to sync a sync-mode backend now: everything, or with --path only "
        "those ScaiVault paths or patterns (nothing else is read or written, and the next "
        "full sync stays when it was due).",
        "  scaivault-federation sync aws-dev\n"
        "  scaivault-federation sync aws-dev --path external/aws/payments/db\n"
        "  scaivault-federation sync aws-dev --path 'external/aws/web/**'\n",
        _sync,
    )
    _name(sync)
    sync.add_argument(
        "--path",
        dest="paths",
        action="append",
        metavar="PATH",
        help="a ScaiVault path or pattern (* one segment, ** any); repeatable",
    )

    conflicts = _add(
        sub,
        "conflicts",
        "a backend's sync conflicts",
        "List the paths where a local Secret and the backend disagree (path, remote path, "
        "reason, since when). Values are never shown.",
        "  scaivault-federation conflicts aws-dev\n",
        _conflicts,
    )
    _name(conflicts)

    get = _add(
        sub,
        "get",
        "read a secret by its ScaiVault path (values hidden)",
        "Read a secret by ScaiVault path through the API: proxy-mode paths from the backend, "
        "others from their local Secret. Shows the source, the backend and each key's size; "
        "the values only with --show-values.",
        "  scaivault-federation get external/aws/payments/db -n scaivault-dev\n"
        "  scaivault-federation get external/aws/payments/db --show-values -o json\n",
        _get,
    )
    get.add_argument("path", metavar="PATH", help="the ScaiVault path, e.g. external/aws/db")
    _namespace(get, "the namespace of the path (default: the API's default namespace)")
    get.add_argument(
        "--show-values", action="store_true", help="print the secret's values (off by default)"
    )

    leases = _add(
        sub,
        "leases",
        "list the FederationLeases with their expiry",
        "List the FederationLeases (dynamic credentials) you may read: the namespace, name, "
        "backend, path, Secret, readiness, when the credentials expire and are next "
        "renewed, renewals and rotations. Never a lease id or a credential.",
        "  scaivault-federation leases\n  scaivault-federation leases -n payments -o json\n",
        _leases,
    )
    _namespace(leases, "only this namespace (default: every namespace you may read)")
    certificates = _add(
        sub,
        "certificates",
        "list the FederationCertificates with their expiry",
        "List the FederationCertificates (from a PKI engine) you may read: the namespace, "
        "name, backend, common name, Secret, readiness, notAfter, the next re-issue and "
        "rotations. Never a key.",
        "  scaivault-federation certificates\n  scaivault-federation certificates -n web\n",
        _certificates,
    )
    _namespace(certificates, "only this namespace (default: every namespace you may read)")


def _name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the backend's name or id (fed_...)")
    _namespace(parser, "the backend's namespace, when the name is in several")


# --- plumbing -------------------------------------------------------------------------------


def _guarded(handler: Callable[[argparse.Namespace], None]) -> Handler:
    """Run ``handler``; an API error is one line on stderr and exit code 1."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            handler(args)
        except ApiCallError as exc:
            status = f"{exc.status}: " if exc.status else ""
            print(f"scaivault-federation {args.command}: {status}{exc.message}", file=sys.stderr)
            return 1
        return 0

    return run


def _dev_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def connect(args: argparse.Namespace) -> FederationClient:
    """The client of the API the flags, the settings or dev.json name."""
    settings = Settings.load(**given(args, SETTINGS))
    url = settings.commands.api_url
    token = settings.commands.api_token.get_secret_value() if settings.commands.api_token else None
    if url is None or token is None:
        dev = _dev_json(settings.commands.dev_json)
        tokens = dev.get("tokens") if isinstance(dev.get("tokens"), dict) else {}
        url = url or dev.get("api_url")
        token = token or (tokens or {}).get("admin")
    if not isinstance(url, str) or not url:
        raise ApiCallError(
            0,
            "no API URL: give --api-url or set SCAIVAULT_API_URL "
            f"(make dev writes it into {settings.commands.dev_json})",
        )
    return FederationClient(url, token if isinstance(token, str) else None)


def _print(args: argparse.Namespace, doc: Any, text: str) -> None:
    if args.output == "json":
        print(json.dumps(doc, indent=2, sort_keys=False))
    else:
        print(text)


def find_backend(client: FederationClient, name: str, namespace: str | None) -> dict[str, Any]:
    """The backend named ``name`` (or with that id), in ``namespace`` if given."""
    if name.startswith("fed_"):
        try:
            found: dict[str, Any] = client.get(f"{FED}/backends/{name}")
        except ApiCallError as exc:
            if exc.status != 404:
                raise
        else:
            if namespace is None or found.get("namespace") == namespace:
                return found
    params = {"namespace": namespace} if namespace else None
    listed: list[dict[str, Any]] = client.get(f"{FED}/backends", params).get("backends", [])
    matches = [b for b in listed if b.get("name") == name]
    if not matches:
        where = f"in namespace {namespace!r}" if namespace else "in any namespace you may read"
        raise ApiCallError(404, f"no backend named {name!r} {where}")
    if len(matches) > 1:
        spaces = ", ".join(sorted(b["namespace"] for b in matches))
        raise ApiCallError(
            409, f"backends named {name!r} exist in namespaces {spaces}: give -n NAMESPACE"
        )
    return matches[0]


# --- the commands -----------------------------------------------------------------------------


@_guarded
def _backends(args: argparse.Namespace) -> None:
    client = connect(args)
    params = {"namespace": args.namespace} if args.namespace else None
    listed = client.get(f"{FED}/backends", params).get("backends", [])
    rows = []
    for backend in listed:
        backend["status"] = client.get(f"{FED}/backends/{backend['id']}/status")
        rows.append(backend)
    text = table(
        (
            "namespace",
            "name",
            "id",
            "type",
            "mode",
            "status",
            "synced",
            "conflicts",
            "last sync",
            "message",
        ),
        [
            (
                b["namespace"],
                b["name"],
                b["id"],
                b.get("type"),
                b.get("mode"),
                b["status"].get("status"),
                b["status"].get("secrets_synced"),
                b["status"].get("conflict_count"),
                age(b["status"].get("last_sync")),
                b["status"].get("message"),
            )
            for b in rows
        ],
    )
    _print(args, {"backends": rows}, text if rows else "no backends")


@_guarded
def _status(args: argparse.Namespace) -> None:
    client = connect(args)
    backend = find_backend(client, args.name, args.namespace)
    status = client.get(f"{FED}/backends/{backend['id']}/status")
    connection = status.get("connection") or {}
    latency = connection.get("latency_ms")
    duration = status.get("last_sync_duration_ms")
    last = status.get("last_sync")
    text = pairs(
        [
            ("Backend", f"{backend['namespace']}/{backend['name']}"),
            ("ID", backend["id"]),
            ("Type", backend.get("type")),
            ("Mode", backend.get("mode")),
            ("Interval", backend.get("sync_interval")),
            ("Status", status.get("status")),
            ("Message", status.get("message")),
            ("Last sync", f"{last} ({age(last)} ago)" if last else None),
            ("Duration", f"{duration} ms" if duration is not None else None),
            ("Secrets synced", status.get("secrets_synced")),
            ("Conflicts", status.get("conflict_count")),
            (
                "Connection",
                f"{connection.get('status', NONE)}"
                + (f", {latency} ms" if latency is not None else ""),
            ),
        ]
    )
    _print(args, status, text)


@_guarded
def _sync(args: argparse.Namespace) -> None:
    client = connect(args)
    backend = find_backend(client, args.name, args.namespace)
    body = {"paths": args.paths} if args.paths else None
    answer = client.post(f"{FED}/backends/{backend['id']}/sync", body)
    what = ", ".join(answer.get("paths") or []) or "everything"
    text = (
        f"sync of {backend['namespace']}/{backend['name']} requested at "
        f"{answer.get('sync_requested_at')}: {what}"
    )
    _print(args, answer, text)


@_guarded
def _conflicts(args: argparse.Namespace) -> None:
    client = connect(args)
    backend = find_backend(client, args.name, args.namespace)
    answer = client.get(f"{FED}/backends/{backend['id']}/conflicts")
    conflicts = answer.get("conflicts") or []
    text = table(
        ("path", "remote path", "reason", "since"),
        [
            (c.get("path"), c.get("remote_path"), c.get("reason"), age(c.get("detected_at")))
            for c in conflicts
        ],
    )
    where = f"{backend['namespace']}/{backend['name']}"
    _print(args, answer, text if conflicts else f"no conflicts in {where}")


def _sizes(answer: dict[str, Any]) -> dict[str, int]:
    sizes = {k: len(str(v).encode()) for k, v in (answer.get("data") or {}).items()}
    for key, value in (answer.get("data_base64") or {}).items():
        try:
            sizes[key] = len(base64.b64decode(value))
        except (binascii.Error, ValueError):
            sizes[key] = 0
    return dict(sorted(sizes.items()))


@_guarded
def _get(args: argparse.Namespace) -> None:
    client = connect(args)
    params = {"namespace": args.namespace} if args.namespace else None
    answer = client.get(f"/v1/secrets/{args.path}", params)
    sizes = _sizes(answer)
    head = pairs(
        [
            ("Path", answer.get("path")),
            ("Source", answer.get("source")),
            ("Backend", answer.get("backend_id")),
        ]
    )
    if args.show_values:
        values = {**(answer.get("data") or {}), **(answer.get("data_base64") or {})}
        binary = set(answer.get("data_base64") or {})
        rows = [
            (k, size(n), ("base64:" if k in binary else "") + cell(values.get(k)))
            for k, n in sizes.items()
        ]
        body = table(("key", "size", "value"), rows)
        doc = answer
    else:
        body = table(("key", "size"), [(k, size(n)) for k, n in sizes.items()])
        doc = {
            "path": answer.get("path"),
            "source": answer.get("source"),
            "backend_id": answer.get("backend_id"),
            "keys": {k: {"bytes": n} for k, n in sizes.items()},
        }
    _print(args, doc, head + "\n\n" + body)


def _leased(args: argparse.Namespace, key: str, what: tuple[str, str]) -> None:
    """List ``key`` (``leases`` or ``certificates``), soonest expiry first; ``what`` is
    the column naming what each one asks for: (header, field)."""
    client = connect(args)
    params = {"namespace": args.namespace} if args.namespace else None
    listed: list[dict[str, Any]] = client.get(f"{FED}/{key}", params).get(key, [])
    listed.sort(key=lambda one: (one.get("expires_at") is None, one.get("expires_at") or ""))
    headers = ["namespace", "name", "backend", what[0], "secret", "ready", "expires"]
    headers += ["next renewal", "rotations", "reason"]
    rows = [
        (
            one["namespace"],
            one["name"],
            one.get("backend_ref"),
            one.get(what[1]),
            one.get("secret_name"),
            one.get("ready"),
            until(one.get("expires_at")),
            until(one.get("next_renewal_at")),
            one.get("rotations"),
            one.get("reason"),
        )
        for one in listed
    ]
    _print(args, {key: listed}, table(headers, rows) if rows else f"no {key}")


@_guarded
def _leases(args: argparse.Namespace) -> None:
    _leased(args, "leases", ("path", "path"))


@_guarded
def _certificates(args: argparse.Namespace) -> None:
    _leased(args, "certificates", ("common name", "common_name"))
