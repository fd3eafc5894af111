"""``scaivault-federation dev-node``: the product as pods on a real local node.

Starts a control plane set up for a kubelet, the node beside it (node.py),
builds the operator image from this checkout and loads it, runs OpenBao in dev
mode as a Deployment behind a Service in namespace ``apps`` and installs the
chart with ``helm install --wait``. Then it prints the kubeconfig to use and
waits; Ctrl-C uninstalls nothing, stops everything and puts the host back.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .binaries import find_bao
from .controlplane import ControlPlane
from .helm import CHART, find_helm, run
from .images import build_operator_image
from .node import NODE_NAME, Node
from .oci_images import BinaryImage, build_binary_image

TOUR_NAMESPACE = "apps"
RELEASE = "scaivault-federation"
RELEASE_NAMESPACE = "scaivault-system"


def openbao_manifests(namespace: str) -> list[dict[str, Any]]:
    """OpenBao in dev mode (root token ``root``) as a Deployment and Service ``openbao``."""
    labels = {"app": "openbao"}
    container = {
        "name": "openbao",
        "image": "localhost/openbao:local",
        "imagePullPolicy": "Never",
        "args": [
            *("server", "-dev", "-dev-root-token-id=root"),
            *("-dev-listen-address=0.0.0.0:8200", "-dev-no-store-token"),
        ],
        "env": [{"name": "HOME", "value": "/tmp"}],  # noqa: S108 - the pod's own /tmp
        "ports": [{"containerPort": 8200}],
        "readinessProbe": {"httpGet": {"path": "/v1/sys/health", "port": 8200}},
    }
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "openbao", "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "openbao", "namespace": namespace},
            "spec": {"selector": labels, "ports": [{"port": 8200, "targetPort": 8200}]},
        },
    ]


def load_openbao_image(node: Node) -> None:
    node.import_image(
        build_binary_image(BinaryImage("openbao", find_bao()), node.image_cache),
        "localhost/openbao",
    )


def run_node_tour(state_dir: Path) -> int:
    state_dir = state_dir.resolve()
    control_plane = ControlPlane(state_dir / "controlplane", node_name=NODE_NAME)
    node = Node(control_plane, state_dir / "node")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        image = build_operator_image()
        control_plane.start()
        node.start()
        node.import_image(image.archive, image.repository)
        load_openbao_image(node)
        node.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": TOUR_NAMESPACE}})
        for manifest in openbao_manifests(TOUR_NAMESPACE):
            node.apply(manifest)
        began = time.monotonic()
        run(
            [
                *(find_helm(), "install", RELEASE, CHART, "--namespace", RELEASE_NAMESPACE),
                *("--create-namespace", "--kubeconfig", control_plane.kubeconfig),
                *("--set", f"image.repository={image.repository}"),
                *("--set", f"image.tag={image.tag}", "--set", "image.pullPolicy=Never"),
                *("--wait", "--timeout", "5m"),
            ],
            timeout=600,
        )
        print(
            f"node up in {node.start_seconds:.1f} s ({node.timings}); "
            f"helm install --wait took {time.monotonic() - began:.1f} s\n"
            f"export KUBECONFIG={control_plane.kubeconfig}\n"
            f"OpenBao: http://openbao.{TOUR_NAMESPACE}.svc.cluster.local:8200 (token root)\n"
            "Ctrl-C stops the node and puts this machine back as it was.",
            flush=True,
        )
        while not stop.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        node.stop()
        control_plane.stop()
        if node.leftovers:
            print("left on this machine:\n" + "\n".join(node.leftovers), file=sys.stderr)
    return 1 if node.leftovers else 0
