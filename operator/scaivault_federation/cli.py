"""Command line entry point: ``scaivault-federation run | api``, the commands for
people over the HTTP API (``backends``, ``status``, ``sync``, ``conflicts``,
``get``: :mod:`.console`), and commands of installed plugins, such as ``dev``
from the development environment package.

Flags and ``SCAIVAULT_*`` variables fill one :class:`~.settings.Settings`; a flag
that is not given leaves the variable's value (or the default) in place.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from .console import commands as console
from .k8s.config import KubeConfigError
from .settings import InvalidSettingsError, Settings

#: entry-point group of plugin commands: ``register(subparsers)`` adds a subcommand whose
#: parser has a ``handler`` default taking the parsed namespace and returning an exit code
COMMANDS_GROUP = "scaivault_federation.commands"
BUILTIN_COMMANDS = ("run", "api", *console.COMMANDS)

Handler = Callable[[argparse.Namespace], int]


def _kube_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kube-context", help="kubeconfig context to use (default: the current-context)"
    )


def _operator_flags(run: argparse.ArgumentParser) -> None:
    _kube_flags(run)
    run.add_argument(
        "-n",
        "--namespace",
        dest="watch_namespaces",
        action="append",
        default=None,
        help="watch only this namespace (repeatable; default: all)",
    )
    run.add_argument(
        "--standalone",
        action="store_const",
        const=True,
        help="act on every backend without a Lease (a single replica, dev)",
    )
    run.add_argument(
        "--peering", help="name of the group of replicas (default scaivault-federation)"
    )
    run.add_argument(
        "--sharding",
        action="store_const",
        const=True,
        help="spread backends over all live replicas",
    )
    run.add_argument("--lease-duration-seconds", type=float, help="takeover time (default 12)")
    run.add_argument("--liveness", help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("--metrics-port", type=int, help="operator /metrics port; 0 disables it")
    run.add_argument("--metrics-addr", help="address /metrics listens on")
    run.add_argument("--kube-write-qps", type=float, help="Kubernetes writes per second")
    run.add_argument("--kube-write-burst", type=int, help="Kubernetes write burst")
    run.add_argument("--max-concurrent-syncs", type=int, help="syncs running at once")
    run.add_argument("--operator-namespace", help="namespace of the operator's own Secrets")
    run.add_argument(
        "--allowed-endpoints", help="comma-separated host patterns backend endpoints must match"
    )


def _api_flags(api: argparse.ArgumentParser) -> None:
    _kube_flags(api)
    api.add_argument("--host", dest="api_host", help="listen address (default 0.0.0.0)")
    api.add_argument("--port", dest="api_port", type=int, help="listen port (default 8000)")
    api.add_argument(
        "--default-namespace",
        dest="api_default_namespace",
        help="namespace for bodies without one (default: the pod's or kubeconfig's)",
    )
    api.add_argument("--static-tokens", dest="api_static_tokens", help="YAML file of tokens")
    api.add_argument(
        "--tls-cert-file", dest="api_tls_cert_file", help="PEM certificate chain to serve HTTPS"
    )
    api.add_argument("--tls-key-file", dest="api_tls_key_file", help="its PEM private key")
    api.add_argument(
        "--token-audience",
        dest="api_token_audience",
        help="audience Kubernetes tokens must be issued for (default scaivault-federation)",
    )
    api.add_argument(
        "--allowed-endpoints", help="comma-separated host patterns backend endpoints must match"
    )


def _run(args: argparse.Namespace) -> int:
    from .runner import run_operator

    asyncio.run(run_operator(_settings(args)))
    return 0


def _api(args: argparse.Namespace) -> int:
    from .api.server import serve_api

    asyncio.run(serve_api(_settings(args)))
    return 0


SETTING_FLAGS = frozenset(Settings.model_fields)


def _settings(args: argparse.Namespace) -> Settings:
    given: dict[str, Any] = {k: v for k, v in vars(args).items() if k in SETTING_FLAGS}
    return Settings.load(**given)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scaivault-federation",
        description="Federate secrets from Vault, AWS, Azure and Google into Kubernetes.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="run the operator",
        description="Run the operator: sync every FederationBackend into Secrets.",
    )
    _operator_flags(run)
    run.add_argument("-v", "--verbose", action="store_const", const=True, help="debug logging")
    run.set_defaults(handler=_run)

    api = sub.add_parser(
        "api",
        help="serve the ScaiVault federation HTTP API",
        description="Serve the ScaiVault federation HTTP API over the FederationBackends.",
    )
    _api_flags(api)
    api.add_argument("-v", "--verbose", action="store_const", const=True, help="debug logging")
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
