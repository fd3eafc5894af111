"""crds/clusterfederationbackends...yaml: the ClusterFederationBackend CRD, derived
from the canonical FederationBackend CRD (its spec schema and CEL rules, plus
``namespaceSelector``; its status, plus per-namespace figures), so the two
never drift. ``hack/render-deploy.sh`` writes it; a chart test compares."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from .checkout import ROOT

NAMESPACED = "federationbackends.federation.scaivault.io"
CLUSTER = "clusterfederationbackends.federation.scaivault.io"
HEADER = (
    "# Generated from federationbackends.federation.scaivault.io.yaml by\n"
    "# hack/render-deploy.sh (scaivault_devenv.cluster_crd): do not edit.\n"
)
#: a Secret's owner label is "cluster_" + the name, at most 63 characters
MAX_NAME = 55

LABEL_SELECTOR: dict[str, Any] = {
    "type": "object",
    "description": (
        "The namespaces to sync into, by their labels (a standard label selector; "
        "{} selects every namespace)."
    ),
    "x-kubernetes-map-type": "atomic",
    "properties": {
        "matchLabels": {
            "type": "object",
            "additionalProperties": {"type": "string", "maxLength": 63},
            "maxProperties": 64,
        },
        "matchExpressions": {
            "type": "array",
            "maxItems": 64,
            "items": {
                "type": "object",
                "required": ["key", "operator"],
                "properties": {
                    "key": {"type": "string", "minLength": 1, "maxLength": 317},
                    "operator": {
                        "type": "string",
                        "enum": ["In", "NotIn", "Exists", "DoesNotExist"],
                    },
                    "values": {
                        "type": "array",
                        "maxItems": 256,
                        "items": {"type": "string", "maxLength": 63},
                    },
                },
                "x-kubernetes-validations": [
                    {
                        "rule": (
                            "!(self.operator in ['In', 'NotIn']) "
                            "|| (has(self.values) && self.values.size() > 0)"
                        ),
                        "message": (
                            "spec.namespaceSelector.matchExpressions: In and NotIn need values"
                        ),
                    },
                    {
                        "rule": (
                            "self.operator in ['In', 'NotIn'] "
                            "|| !has(self.values) || self.values.size() == 0"
                        ),
                        "message": (
                            "spec.namespaceSelector.matchExpressions: Exists and "
                            "DoesNotExist take no values"
                        ),
                    },
                ],
            },
        },
    },
}

NAMESPACES_STATUS: dict[str, Any] = {
    "type": "array",
    "description": "Per selected namespace: the Secrets synced there and its conflicts.",
    "items": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "maxLength": 63},
            "secretsSynced": {"type": "integer", "minimum": 0},
            "conflictCount": {"type": "integer", "minimum": 0},
        },
    },
}

COLUMNS: list[dict[str, Any]] = [
    {"name": "Type", "type": "string", "jsonPath": ".spec.type", "description": "Backend type."},
    {
        "name": "Status",
        "type": "string",
        "jsonPath": ".status.status",
        "description": "pending, healthy, degraded or error.",
    },
    {
        "name": "Synced",
        "type": "integer",
        "jsonPath": ".status.secretsSynced",
        "description": "Secrets written by the last sync, in all namespaces.",
    },
    {
        "name": "Conflicts",
        "type": "integer",
        "jsonPath": ".status.conflictCount",
        "description": "Paths in conflict, in all namespaces.",
    },
    {
        "name": "Namespaces",
        "type": "integer",
        "jsonPath": ".status.namespaceCount",
        "description": "Namespaces synced into (status.namespaces lists them).",
    },
    {
        "name": "Last Sync",
        "type": "date",
        "jsonPath": ".status.lastSync",
        "description": "When the last sync finished.",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def derive(namespaced: dict[str, Any]) -> dict[str, Any]:
    crd = copy.deepcopy(namespaced)
    crd["metadata"]["name"] = CLUSTER
    crd["spec"]["scope"] = "Cluster"
    crd["spec"]["names"] = {
        "kind": "ClusterFederationBackend",
        "listKind": "ClusterFederationBackendList",
        "plural": "clusterfederationbackends",
        "singular": "clusterfederationbackend",
        "shortNames": ["cfedb"],
        "categories": ["scaivault"],
    }
    (version,) = crd["spec"]["versions"]
    version["additionalPrinterColumns"] = COLUMNS
    root = version["schema"]["openAPIV3Schema"]
    root["description"] = (
        "ClusterFederationBackend federates secrets from an external secret store "
        "into ScaiVault paths of every namespace its namespaceSelector selects; "
        "'{namespace}' in a pathMapping key or value stands for each one. Its "
        "credentials Secrets are read in the operator's namespace."
    )
    root["x-kubernetes-validations"] = [
        {
            "rule": f"self.metadata.name.size() <= {MAX_NAME}",
            "message": f"metadata.name must be at most {MAX_NAME} characters",
        }
    ]
    spec = root["properties"]["spec"]
    spec["required"] = [*spec["required"], "namespaceSelector"]
    spec["properties"]["namespaceSelector"] = LABEL_SELECTOR
    config = spec["properties"]["config"]
    config["description"] = config["description"].replace(
        "in this namespace", "in the operator's namespace"
    )
    mapping = spec["properties"]["pathMapping"]
    mapping["description"] += " '{namespace}' stands for each selected namespace."
    status = root["properties"]["status"]["properties"]
    status["namespaces"] = NAMESPACES_STATUS
    status["namespaceCount"] = {"type": "integer", "minimum": 0}
    conflict = status["conflicts"]["items"]
    conflict["required"] = ["namespace", *conflict["required"]]
    conflict["properties"] = {
        "namespace": {"type": "string", "maxLength": 63},
        **conflict["properties"],
    }
    return crd


def render() -> str:
    namespaced = yaml.safe_load((ROOT / "crds" / f"{NAMESPACED}.yaml").read_text())
    body = yaml.safe_dump(derive(namespaced), sort_keys=False, width=100, allow_unicode=True)
    return HEADER + body


def write() -> None:
    (ROOT / "crds" / f"{CLUSTER}.yaml").write_text(render())
