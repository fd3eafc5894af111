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
and Google Secret Manager emulators), PostgreSQL on a free 127.0.0.1 port with
OpenBao's database engine on it and OpenBao's PKI engine, the FederationBackend
CRD, example secrets with one sample FederationBackend per type in namespace
scaivault-dev, and the operator and HTTP API in this process. Once every sample
is healthy it writes STATE_DIR/dev.json (kubeconfig, API URL and tokens, per
backend its endpoint, development credentials and sample name, and under
"leases" the engines' paths and roles and PostgreSQL's address) and prints
where. Ctrl-C stops everything it started.
"""


DEFAULT_NODE_STATE_DIR = Path(".state") / "node"
NODE_DESCRIPTION = """\
Run the product as users run it, on a one-node cluster of this machine (needs
root): etcd and kube-apiserver, containerd with runc, the CNI bridge, kubelet,
kube-controller-manager, kube-scheduler, kube-proxy and a cluster DNS without
upstream; the operator image built from this checkout; OpenBao as a pod behind
a Service in namespace apps; and the chart installed with `helm install
--wait`. Prints the kubeconfig to use. Ctrl-C stops everything and puts the
machine back as it was (kernel settings, iptables, links, mounts, cgroups).
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
    node = commands.add_parser(
        "dev-node",
        help="run the chart on a real local node (root; for a manual tour)",
        description=NODE_DESCRIPTION,
    )
    node.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_NODE_STATE_DIR,
        help="where the control plane and the node keep their data (default: %(default)s)",
    )
    node.set_defaults(handler=_run_node)


def _run(args: argparse.Namespace) -> int:
    from .environment import run_dev

    state_dir: Path = args.state_dir
    return run_dev(state_dir)


def _run_node(args: argparse.Namespace) -> int:
    from .node_tour import run_node_tour

    state_dir: Path = args.state_dir
    return run_node_tour(state_dir)
