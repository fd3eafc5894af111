"""Command line entry point: ``scaivault-federation run | api``, plus plugin commands.

A distribution can add subcommands through the ``scaivault_federation.commands``
entry point group: each entry point is a callable taking the subparsers; it
adds its parser and sets ``handler`` (a function of the parsed arguments that
returns the exit code) as a parser default. The development environment adds
``dev`` this way; without it installed there is no ``dev`` command.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from importlib.metadata import entry_points
from pathlib import Path

COMMANDS_GROUP = "scaivault_federation.commands"
BUILTIN_COMMANDS = ("run", "api")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scaivault-federation")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the operator")
    run.add_argument("-n", "--namespace", action="append", default=[], help="watch only these")
    run.add_argument("--standalone", action="store_true", help="no peering (single replica)")
    run.add_argument(
        "--peering", default="scaivault-federation", help="kopf peering name for HA replicas"
    )
    run.add_argument("--liveness", default=None, help="e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("--metrics-port", type=int, default=9090, help="0 disables /metrics")
    run.add_argument("--metrics-addr", default="0.0.0.0")  # noqa: S104  (scraped in a pod)
    run.add_argument("-v", "--verbose", action="store_true")
    run.set_defaults(handler=_run)

    api = sub.add_parser("api", help="serve the ScaiVault federation HTTP API")
    api.add_argument("--host", default="0.0.0.0")  # noqa: S104  (a pod's sidecar)
    api.add_argument("--port", type=int, default=8000)
    api.add_argument(
        "--default-namespace",
        default=None,
        help="namespace for bodies without one (default: the pod's or kubeconfig's)",
    )
    api.add_argument("--static-tokens", type=Path, default=None, help="YAML file of static tokens")
    api.add_argument("-v", "--verbose", action="store_true")
    api.set_defaults(handler=_api)

    _add_plugin_commands(sub)
    return parser


def _add_plugin_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Let every ``scaivault_federation.commands`` entry point add its subcommand."""
    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        if entry.name in BUILTIN_COMMANDS:
            continue
        try:
            register = entry.load()
            register(sub)
        except Exception as exc:  # a broken plugin must not take `run` down with it
            print(
                f"scaivault-federation: ignoring command {entry.name!r} "
                f"({entry.value}): {type(exc).__name__}: {exc}",
                file=sys.stderr,
            )


def _run(args: argparse.Namespace) -> int:
    from .runner import run_operator

    asyncio.run(
        run_operator(
            namespaces=args.namespace,
            standalone=args.standalone,
            peering_name=args.peering,
            liveness_endpoint=args.liveness,
            metrics_port=args.metrics_port,
            metrics_addr=args.metrics_addr,
        )
    )
    return 0


def _api(args: argparse.Namespace) -> int:
    from .api.server import ApiSettings, serve_api

    settings = ApiSettings(
        host=args.host,
        port=args.port,
        default_namespace=args.default_namespace,
        static_tokens=args.static_tokens,
    )
    asyncio.run(serve_api(settings))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .runner import configure_logging

    configure_logging(getattr(args, "verbose", False))
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
