"""Command line entry point: ``scaivault-federation run | dev``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path


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

    dev = sub.add_parser("dev", help="local control plane, backends and operator")
    dev.add_argument("--state-dir", type=Path, required=True)
    dev.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .runner import configure_logging

    configure_logging(args.verbose)
    if args.command == "run":
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
    if args.command == "api":
        from .api.server import ApiSettings, serve_api

        settings = ApiSettings(
            host=args.host,
            port=args.port,
            default_namespace=args.default_namespace,
            static_tokens=args.static_tokens,
        )
        asyncio.run(serve_api(settings))
        return 0
    from .dev.environment import run_dev

    return run_dev(args.state_dir)


if __name__ == "__main__":
    sys.exit(main())
