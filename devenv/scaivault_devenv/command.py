"""The ``dev`` subcommand, added to ``scaivault-federation`` as a plugin.

The product's command line loads every ``scaivault_federation.commands`` entry
point and calls it with its subparsers; this one adds ``dev``. Importing it is
cheap: the environment itself is imported only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_STATE_DIR = Path(".state") / "dev"

DESCRIPTION = """\
Run a complete local development environment in the foreground: etcd and
kube-apiserver on free 127.0.0.1 ports (RBAC on, an admin token, TLS from a
throwaway CA), one server per backend type (OpenBao, moto, the Azure Key Vault
and Google Secret Manager emulators), the FederationBackend CRD, example
secrets with one sample FederationBackend per type in namespace scaivault-dev,
and the operator and HTTP API in this process. Once every sample is healthy it
writes STATE_DIR/dev.json (kubeconfig, API URL and tokens, and per backend its
endpoint, development credentials and sample name) and prints where. Ctrl-C
stops everything it started.
"""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dev`` to the product's subcommands."""
    dev = commands.add_parser(
        "dev",
        help="run a local cluster, backend servers and the operator for development",
        description=DESCRIPTION,
    )
    dev.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="where the servers keep their data and dev.json is written (default: %(default)s)",
    )
    dev.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    dev.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from .environment import run_dev

    state_dir: Path = args.state_dir
    return run_dev(state_dir)
