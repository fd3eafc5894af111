"""The real-node suite: the product run as users run it, as pods from its image,
installed by its chart on a one-node cluster of this machine (devenv's Node).

The cluster is this package's own (a control plane set up for a kubelet, and
the node beside it), started once for the package and stopped after it; when
it stops, the host must be exactly as before (a failure in teardown says what
was left).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.helm import find_helm
from scaivault_devenv.images import OperatorImage, build_operator_image
from scaivault_devenv.node import NODE_NAME, Node
from scaivault_devenv.node_tour import load_openbao_image

from .cluster import NodeCluster


@pytest.fixture(scope="package")
def operator_image() -> OperatorImage:
    """The operator image built from this checkout (cached by its inputs)."""
    return build_operator_image()


@pytest.fixture(scope="package")
def node_cluster(
    tmp_path_factory: pytest.TempPathFactory, operator_image: OperatorImage
) -> Iterator[NodeCluster]:
    state = tmp_path_factory.mktemp("node")
    control_plane = ControlPlane(state / "controlplane", node_name=NODE_NAME)
    node = Node(control_plane, state / "node")
    try:
        control_plane.start()
        node.start()
        node.import_image(operator_image.archive, operator_image.repository)
        load_openbao_image(node)
        cluster = NodeCluster(control_plane, node, find_helm(), state)
        print(f"\nnode start-up: {node.timings}")
        yield cluster
    finally:
        node.stop()
        control_plane.stop()
    assert not node.leftovers, "the node left the host changed:\n" + "\n".join(node.leftovers)


@pytest.fixture(scope="package")
def state_dir(node_cluster: NodeCluster) -> Path:
    return node_cluster.state_dir
