"""What the operator does with a ClusterFederationBackend, run against a running
operator: credentials from its own namespace, a sync into labelled namespaces, a
namespace labelled and one unlabelled (Delete), the CR deleted."""

from __future__ import annotations

import time
import uuid

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao import OpenBaoServer

from .harness import API_GROUP, CR_API, Namespace, eventually, seed, unb64

COLLECTION = f"{CR_API}/clusterfederationbackends"
LABEL = "scaivault-rbac/cluster-secrets"


def cluster_backend_scenario(cp: ControlPlane, openbao: OpenBaoServer, home: str) -> None:
    began = time.monotonic()
    run = uuid.uuid4().hex[:8]
    prefix = f"rbac-cluster-{run}"
    seed(openbao, prefix, {"db": {"password": "pw-c"}})
    Namespace(cp, home).put_credentials(f"creds-cluster-{run}", {"token": openbao.root_token})
    a, b = Namespace(cp), Namespace(cp)
    a.merge_patch(f"/api/v1/namespaces/{a.name}", {"metadata": {"labels": {LABEL: run}}})
    name = f"platform-{run}"
    body = {
        "apiVersion": f"{API_GROUP}/v1alpha1",
        "kind": "ClusterFederationBackend",
        "metadata": {"name": name},
        "spec": {
            "type": "hashicorp-vault",
            "config": {
                "endpoint": openbao.address,
                "authMethod": "token",
                "authConfigPath": f"creds/cluster-{run}",
            },
            "namespaceSelector": {"matchLabels": {LABEL: run}},
            "pathMapping": {"cluster/{namespace}/**": f"secret/data/{prefix}/**"},
            "mode": "sync",
            "syncInterval": "10m",
            "deletionPolicy": "Delete",
        },
    }
    a.call("POST", COLLECTION, body)

    def synced_into(*names: str) -> bool:
        status = a.call("GET", f"{COLLECTION}/{name}").get("status") or {}
        listed = [n["name"] for n in status.get("namespaces", [])]
        return status.get("status") == "healthy" and listed == sorted(names)

    eventually(lambda: synced_into(a.name), 60, "the cluster backend's first sync")
    secret = a.secret(f"cluster-{a.name}-db")
    assert secret is not None and unb64(secret["data"]) == {"password": "pw-c"}

    # a namespace labelled (the namespace watch), the other unlabelled (Delete)
    b.merge_patch(f"/api/v1/namespaces/{b.name}", {"metadata": {"labels": {LABEL: run}}})
    eventually(lambda: b.secret(f"cluster-{b.name}-db"), 30, "the labelled namespace's sync")
    a.merge_patch(f"/api/v1/namespaces/{a.name}", {"metadata": {"labels": {LABEL: None}}})
    eventually(lambda: synced_into(b.name), 30, "the unlabelled namespace to be dropped")
    assert a.secret(f"cluster-{a.name}-db") is None

    # the CR deleted: its Secrets go (Delete) and the finalizer is released
    a.call("DELETE", f"{COLLECTION}/{name}")
    eventually(lambda: cp.request("GET", f"{COLLECTION}/{name}")[0] == 404, 30, "the deletion")
    assert b.secret(f"cluster-{b.name}-db") is None
    print(f"cluster backend as the ServiceAccount: {time.monotonic() - began:.1f}s")
