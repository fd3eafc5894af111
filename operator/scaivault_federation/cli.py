"""Command line entry point: ``scaivault-federation run | api``, the commands for
people over the HTTP API (``backends``, ``status``, ``sync``, ``conflicts``,
``get``: :mod:`.console`), and commands of installed plugins, such as ``dev``
from the development environment package.

Flags and ``SCAIVAULT_*`` variables fill one :class:`~.settings.Settings`; the flags
are generated from the settings that carry a :class:`~.flags.Flag` marker, and a flag
that is not given leaves the variable's value (or the default) in place.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from importlib.metadata import entry_points

from .backends.registry import TYPES
from .console import commands as console
from .flags import Program, add_flags, given
from .k8s.config import KubeConfigError
from .settings import FLAG_FIELDS, SETTINGS, InvalidSettingsError, Settings

#: entry-point group of plugin commands: ``register(subparsers)`` adds a subcommand whose
#: parser has a ``handler`` default taking the parsed namespace and returning an exit code
COMMANDS_GROUP = "scaivault_federation.commands"
BUILTIN_COMMANDS = ("run", "api", *console.COMMANDS)

Handler = Callable[[argparse.Namespace], int]


def _run(args: argparse.Namespace) -> int:
    from .runner import run_operator

    asyncio.run(run_operator(_settings(args)))
    return 0


def _api(args: argparse.Namespace) -> int:
    from .api.server import serve_api

    asyncio.run(serve_api(_settings(args)))
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(**given(args, SETTINGS))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scaivault-federation",
        description=f"Federate secrets from {', '.join(t.title for t in TYPES)} into Kubernetes.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="run the operator",
        description="Run the operator: sync every FederationBackend into Secrets.",
    )
    add_flags(run, Program.OPERATOR, FLAG_FIELDS)
    run.set_defaults(handler=_run)

    api = sub.add_parser(
        "api",
        help="serve the ScaiVault federation HTTP API",
        description="Serve the ScaiVault federation HTTP API over the FederationBackends.",
    )
    add_flags(api, Program.API, FLAG_FIELDS)
    api.set_defaults(handler=_api)

    console.register(sub)
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .runner import configure_logging

    configure_logging(bool(getattr(args, "verbose", False)))
    handler: Handler = args.handler
    try:
        return handler(args)
    except (InvalidSettingsError, KubeConfigError) as exc:
        print(f"scaivault-federation {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
