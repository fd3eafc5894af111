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
    run.add_argument("--liveness", default=None, help="e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("-v", "--verbose", action="store_true")

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
                liveness_endpoint=args.liveness,
            )
        )
        return 0
    from .dev.environment import run_dev

    return run_dev(args.state_dir)


if __name__ == "__main__":
    sys.exit(main())
