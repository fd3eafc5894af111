"""The Helm chart, rendered: lint, every switch, the schema, security, RBAC shape."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaivault_devenv import cluster_crd, lease_crd
from scaivault_devenv.helm import CHART, ToolError, render_text, run
from scaivault_federation.cli import _parser, _settings
from scaivault_federation.settings import settings_table

from .tools import ROOT, find, render

CRD = "federationbackends.federation.scaivault.io.yaml"
CLUSTER_CRD = "clusterfederationbackends.federation.scaivault.io.yaml"
LEASE_CRDS = (f"{lease_crd.LEASES}.yaml", f"{lease_crd.CERTIFICATES}.yaml")
IMAGE = "ghcr.io/scaivault/scaivault-federation"


def chart_meta() -> dict[str, Any]:
    meta: dict[str, Any] = yaml.safe_load((CHART / "Chart.yaml").read_text())
    return meta


OPERATOR = "scaivault-federation"
API = "scaivault-federation-api"  # the API's Deployment, ServiceAccount and RBAC


def containers(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The containers of both Deployments (the operator's and the API's), by name."""
    return {
        c["name"]: c
        for deployment in find(docs, "Deployment")
        for c in deployment["spec"]["template"]["spec"]["containers"]
    }


def deployment_of(docs: list[dict[str, Any]], name: str = OPERATOR) -> dict[str, Any]:
    (deployment,) = find(docs, "Deployment", name)
    return deployment


def pod_spec(docs: list[dict[str, Any]], name: str = OPERATOR) -> dict[str, Any]:
    spec: dict[str, Any] = deployment_of(docs, name)["spec"]["template"]["spec"]
    return spec


def rules_of(docs: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, name, rule) of every rule of every Role and ClusterRole."""
    return [
        (d["kind"], d["metadata"]["name"], rule)
        for d in docs
        if d.get("kind") in ("Role", "ClusterRole")
        for rule in d.get("rules") or []
    ]


def granted(docs: list[dict[str, Any]], kind: str, name: str) -> set[tuple[str, str, str]]:
    (role,) = [d for d in find(docs, kind, name)]
    return {
        (g, r, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "replicas-3": {"replicaCount": 3},
    "replicas-3-namespaced": {
        "replicaCount": 3,
        "watchNamespaces": ["team-a", "team-b"],
        "rbac": {"namespaced": True},
    },
    "sharding": {"sharding": {"enabled": True}},
    "replicas-3-sharding": {"replicaCount": 3, "sharding": {"enabled": True}},
    "namespaced-rbac": {"watchNamespaces": ["team-a"], "rbac": {"namespaced": True}},
    "watch-namespaces-cluster-rbac": {"watchNamespaces": ["team-a"]},
    "monitoring-and-network-policy": {
        "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}},
        "networkPolicy": {
            "enabled": True,
            "apiFrom": [{"namespaceSelector": {"matchLabels": {"team": "platform"}}}],
        },
    },
    "static-tokens": {
        "api": {"staticTokens": {"enabled": True, "tokens": "tokens: []\n"}},
    },
    "no-api": {"api": {"enabled": False}},
    "dashboards-and-alerts": {
        "grafanaDashboard": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "serviceMonitor": {"enabled": True},
    },
    "rollout-restarts": {"rbac": {"rolloutRestarts": True}},
    "service-account-tokens": {
        "rbac": {
            "serviceAccountTokens": True,
            "serviceAccountTokenNamespaces": {"payments": ["vault-auth"], "infra": []},
        }
    },
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest, helm: Path) -> list[dict[str, Any]]:
    return render(helm, values=VARIANTS[request.param])


def test_chart_metadata() -> None:
    meta = chart_meta()
    assert meta["name"] == "scaivault-federation"
    assert meta["appVersion"] == "0.1.0"
    assert meta["apiVersion"] == "v2"


def test_helm_lint_is_clean(helm: Path) -> None:
    out = run([helm, "lint", CHART, "--strict"])
    assert "0 chart(s) failed" in out
    assert "[WARNING]" not in out and "[ERROR]" not in out


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_helm_lint_with_each_variant(helm: Path, name: str) -> None:
    values = [a for k, v in VARIANTS[name].items() for a in ("--set-json", f"{k}={json.dumps(v)}")]
    out = run([helm, "lint", CHART, "--strict", *values])
    assert "0 chart(s) failed" in out, out


@pytest.mark.parametrize("crd", [CRD, CLUSTER_CRD, *LEASE_CRDS])
def test_chart_crd_is_identical_to_the_canonical_one(crd: str) -> None:
    chart_copy, canonical = CHART / "crds" / crd, ROOT / "crds" / crd
    assert chart_copy.read_bytes() == canonical.read_bytes(), (
        f"{chart_copy.relative_to(ROOT)} differs from {canonical.relative_to(ROOT)}: "
        "run hack/render-deploy.sh"
    )


def test_cluster_crd_is_derived_from_the_namespaced_one() -> None:
    """Its spec schema and CEL rules are the FederationBackend's, plus namespaceSelector."""
    assert (ROOT / "crds" / CLUSTER_CRD).read_text() == cluster_crd.render(), (
        "run hack/render-deploy.sh"
    )
    namespaced = yaml.safe_load((ROOT / "crds" / CRD).read_text())
    cluster = yaml.safe_load((ROOT / "crds" / CLUSTER_CRD).read_text())
    spec, cluster_spec = (
        d["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        for d in (namespaced, cluster)
    )
    assert cluster["spec"]["scope"] == "Cluster"
    assert cluster["spec"]["names"]["shortNames"] == ["cfedb"]
    assert cluster_spec["x-kubernetes-validations"] == spec["x-kubernetes-validations"]
    assert set(cluster_spec["properties"]) - set(spec["properties"]) == {"namespaceSelector"}
    assert cluster_spec["required"] == [*spec["required"], "namespaceSelector"]


def test_lease_crds_take_the_synced_secrets_target_and_rollouts() -> None:
    """A lease's Secret is shaped as a synced one: the same target and rollout schemas."""
    namespaced = yaml.safe_load((ROOT / "crds" / CRD).read_text())
    backend = namespaced["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for crd in LEASE_CRDS:
        name = crd.removesuffix(".yaml")
        assert (ROOT / "crds" / crd).read_text() == lease_crd.render(name), (
            "run hack/render-deploy.sh"
        )
        doc = yaml.safe_load((ROOT / "crds" / crd).read_text())
        spec = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        rollouts = spec["properties"]["rolloutRestartTargets"]
        assert rollouts["items"] == backend["properties"]["rolloutRestartTargets"]["items"]
    lease = yaml.safe_load((ROOT / "crds" / LEASE_CRDS[0]).read_text())
    spec = lease["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    target = backend["properties"]["target"]
    assert spec["properties"]["target"]["properties"] == target["properties"]


def test_chart_ships_the_backend_and_leasing_crds() -> None:
    """Replicas coordinate through Leases: no kopf peering CRDs any more."""
    shipped = sorted(p.name for p in (CHART / "crds").iterdir())
    assert shipped == sorted([CLUSTER_CRD, CRD, *LEASE_CRDS])
    for crd in (CRD, CLUSTER_CRD, *LEASE_CRDS):
        docs = list(yaml.safe_load_all((CHART / "crds" / crd).read_text()))
        assert [d["metadata"]["name"] for d in docs] == [crd.removesuffix(".yaml")]


def test_no_kopf_peering_in_any_variant(variant: list[dict[str, Any]]) -> None:
    assert not [d for d in variant if d["apiVersion"].startswith("kopf.dev/")]
    assert not [r for r in rules_of(variant) if "kopf.dev" in r[2]["apiGroups"]]


def test_default_render(default_docs: list[dict[str, Any]]) -> None:
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in default_docs)
    assert kinds == [
        ("ClusterRole", "scaivault-federation-api"),
        ("ClusterRole", "scaivault-federation-operator"),
        ("ClusterRoleBinding", "scaivault-federation-api"),
        ("ClusterRoleBinding", "scaivault-federation-operator"),
        ("Deployment", "scaivault-federation"),
        ("Deployment", "scaivault-federation-api"),
        ("Service", "scaivault-federation"),
        ("ServiceAccount", "scaivault-federation"),
        ("ServiceAccount", "scaivault-federation-api"),
    ]
    for doc in default_docs:
        if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == "scaivault-system"
        name = API if doc["metadata"]["name"] == API else OPERATOR
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == name
        assert doc["metadata"]["labels"]["app.kubernetes.io/version"] == "0.1.0"
    operator = containers(default_docs)["operator"]
    assert operator["image"] == f"{IMAGE}:{chart_meta()['appVersion']}"
    assert operator["args"] == [
        "run",
        "--liveness=http://0.0.0.0:8080/healthz",
        "--metrics-port=9090",
        "--standalone",
    ]
    env = {e["name"]: e for e in operator["env"]}
    assert env["SCAIVAULT_OPERATOR_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    assert {k: env[k]["value"] for k in env if "value" in env[k]} == {
        "SCAIVAULT_KUBE_WRITE_QPS": "0",
        "SCAIVAULT_KUBE_WRITE_BURST": "100",
        "SCAIVAULT_MAX_CONCURRENT_SYNCS": "8",
        # no backend gets a token of either of the release's own accounts
        "SCAIVAULT_PROTECTED_SERVICE_ACCOUNTS": (
            "scaivault-system/scaivault-federation,scaivault-system/scaivault-federation-api"
        ),
    }
    assert [k for k in env if "value" not in env[k]] == ["SCAIVAULT_OPERATOR_NAMESPACE"]
    api = containers(default_docs)["api"]
    assert api["args"] == ["api", "--port=8000", "--default-namespace=scaivault-system"]
    deployment = deployment_of(default_docs)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert [c["name"] for c in pod_spec(default_docs)["containers"]] == ["operator"]
    assert [c["name"] for c in pod_spec(default_docs, API)["containers"]] == ["api"]


def test_the_api_runs_as_its_own_service_account(default_docs: list[dict[str, Any]]) -> None:
    """The network-facing API never holds the operator's rights, nor the reverse."""
    assert pod_spec(default_docs)["serviceAccountName"] == OPERATOR
    assert pod_spec(default_docs, API)["serviceAccountName"] == API
    for binding, account in (("scaivault-federation-operator", OPERATOR), (API, API)):
        (found,) = find(default_docs, "ClusterRoleBinding", binding)
        assert [s["name"] for s in found["subjects"]] == [account]
    api = granted(default_docs, "ClusterRole", API)
    operator = granted(default_docs, "ClusterRole", "scaivault-federation-operator")
    # the API writes no status, no events, never lists or watches Secrets
    assert not {g for g in api if g[1].endswith("/status") or g[1] == "events"}
    assert not {g for g in api if g[1] == "secrets" and g[2] in ("list", "watch", "patch")}
    # nor may the operator review tokens or access
    assert not {g for g in operator if g[0].startswith(("authentication.", "authorization."))}
    # two Deployments whose selectors never match each other's pods
    selectors = [
        deployment_of(default_docs, n)["spec"]["selector"]["matchLabels"] for n in (OPERATOR, API)
    ]
    labels = [
        deployment_of(default_docs, n)["spec"]["template"]["metadata"]["labels"]
        for n in (OPERATOR, API)
    ]
    assert not selectors[0].items() <= labels[1].items()
    assert not selectors[1].items() <= labels[0].items()
    # one Service for both, as before: each port reaches the pods that have it
    (service,) = find(default_docs, "Service")
    assert service["spec"]["selector"].items() <= labels[0].items()
    assert service["spec"]["selector"].items() <= labels[1].items()


def test_default_render_grants_no_service_account_tokens(helm: Path) -> None:
    for values in ({}, VARIANTS["namespaced-rbac"], VARIANTS["replicas-3"]):
        tokens = [
            r
            for r in rules_of(render(helm, values=values))
            if "serviceaccounts/token" in r[2]["resources"]
        ]
        assert tokens == [], values


def test_service_account_tokens_are_granted_per_namespace_and_account(helm: Path) -> None:
    docs = render(helm, values=VARIANTS["service-account-tokens"])
    tokens = [r for r in rules_of(docs) if "serviceaccounts/token" in r[2]["resources"]]
    assert all(kind == "Role" for kind, _, _ in tokens)  # never cluster-wide
    roles = {
        r["metadata"]["namespace"]: r["rules"]
        for r in find(docs, "Role", "scaivault-federation-tokens")
    }
    # the token, and the account itself to read its opt-in annotation
    assert roles == {
        "payments": [
            {
                "apiGroups": [""],
                "resources": ["serviceaccounts/token"],
                "resourceNames": ["vault-auth"],
                "verbs": ["create"],
            },
            {
                "apiGroups": [""],
                "resources": ["serviceaccounts"],
                "resourceNames": ["vault-auth"],
                "verbs": ["get"],
            },
        ],
        "infra": [
            {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get"]},
        ],
    }
    for binding in find(docs, "RoleBinding", "scaivault-federation-tokens"):
        assert [s["name"] for s in binding["subjects"]] == [OPERATOR, API]
    without_api = render(
        helm, values={**VARIANTS["service-account-tokens"], "api": {"enabled": False}}
    )
    for binding in find(without_api, "RoleBinding", "scaivault-federation-tokens"):
        assert [s["name"] for s in binding["subjects"]] == [OPERATOR]


LEASE_RULES = [
    {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "verbs": ["list", "create", "patch", "delete"],
    }
]
SUBJECTS = [
    {"kind": "ServiceAccount", "name": "scaivault-federation", "namespace": "scaivault-system"}
]


def assert_lease_role(docs: list[dict[str, Any]]) -> None:
    """Exactly one Role with the Lease rules, in the release namespace, bound to the SA."""
    (role,) = find(docs, "Role", "scaivault-federation-leases")
    assert role["metadata"]["namespace"] == "scaivault-system"
    assert role["rules"] == LEASE_RULES
    (binding,) = find(docs, "RoleBinding", "scaivault-federation-leases")
    assert binding["metadata"]["namespace"] == "scaivault-system"
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "scaivault-federation-leases",
    }
    assert binding["subjects"] == SUBJECTS
    elsewhere = [r for r in rules_of(docs) if r[1] != "scaivault-federation-leases"]
    assert not [r for r in elsewhere if "coordination.k8s.io" in r[2]["apiGroups"]]


def lease_env(docs: list[dict[str, Any]]) -> dict[str, Any]:
    env = {e["name"]: e for e in containers(docs)["operator"]["env"]}
    return {
        k: env[k].get("value", env[k].get("valueFrom"))
        for k in ("HOSTNAME", "SCAIVAULT_LEASE_DURATION_SECONDS")
        if k in env
    }


def test_default_render_has_no_lease_rbac(default_docs: list[dict[str, Any]]) -> None:
    assert not find(default_docs, "Role") and not find(default_docs, "RoleBinding")
    assert not [r for r in rules_of(default_docs) if "coordination.k8s.io" in r[2]["apiGroups"]]
    assert lease_env(default_docs) == {}
    assert not find(default_docs, "PodDisruptionBudget")
    assert "affinity" not in pod_spec(default_docs)
    assert "affinity" not in pod_spec(default_docs, API)


def test_replicas_coordinate_through_leases_with_a_disruption_budget(helm: Path) -> None:
    docs = render(helm, values=VARIANTS["replicas-3"])
    assert containers(docs)["operator"]["args"] == [
        "run",
        "--liveness=http://0.0.0.0:8080/healthz",
        "--metrics-port=9090",
        "--peering=scaivault-federation",
    ]
    assert lease_env(docs) == {
        "HOSTNAME": {"fieldRef": {"fieldPath": "metadata.name"}},
        "SCAIVAULT_LEASE_DURATION_SECONDS": "12",
    }
    assert_lease_role(docs)
    (pdb,) = find(docs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    deployment = deployment_of(docs)
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert "podAntiAffinity" in pod_spec(docs)["affinity"]
    assert granted(docs, "ClusterRole", "scaivault-federation-operator") == granted(
        render(helm), "ClusterRole", "scaivault-federation-operator"
    )


def test_sharding_uses_leases_even_with_one_replica(helm: Path) -> None:
    docs = render(helm, values=VARIANTS["sharding"])
    assert containers(docs)["operator"]["args"] == [
        "run",
        "--liveness=http://0.0.0.0:8080/healthz",
        "--metrics-port=9090",
        "--peering=scaivault-federation",
        "--sharding",
    ]
    assert lease_env(docs)["SCAIVAULT_LEASE_DURATION_SECONDS"] == "12"
    assert_lease_role(docs)
    deployment = deployment_of(docs)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"  # Leases hand over
    assert not find(docs, "PodDisruptionBudget")  # one pod: a budget would block draining
    assert "affinity" not in pod_spec(docs)

    several = render(helm, values=VARIANTS["replicas-3-sharding"])
    args = containers(several)["operator"]["args"]
    assert args[-2:] == ["--peering=scaivault-federation", "--sharding"]
    assert "--standalone" not in args
    assert_lease_role(several)
    assert find(several, "PodDisruptionBudget")
    assert "podAntiAffinity" in pod_spec(several)["affinity"]


def test_lease_duration_and_group_name(helm: Path) -> None:
    docs = render(helm, values={"replicaCount": 2, "leaseDurationSeconds": 30})
    assert lease_env(docs)["SCAIVAULT_LEASE_DURATION_SECONDS"] == "30"
    dotted = render(helm, values={"replicaCount": 2}, release="team.prod")
    args = containers(dotted)["operator"]["args"]
    assert "--peering=team-prod-scaivault-federation" in args  # a DNS label
    standalone = render(helm, values={"leaseDurationSeconds": 30})
    assert "--standalone" in containers(standalone)["operator"]["args"]
    assert lease_env(standalone) == {}


def test_lease_role_follows_rbac_create(helm: Path) -> None:
    docs = render(helm, values={"replicaCount": 2, "rbac": {"create": False}})
    assert not find(docs, "Role") and not find(docs, "RoleBinding")
    assert "--peering=scaivault-federation" in containers(docs)["operator"]["args"]


def test_namespaced_operator_with_replicas_keeps_its_leases_in_the_release_namespace(
    helm: Path,
) -> None:
    docs = render(helm, values=VARIANTS["replicas-3-namespaced"])
    args = containers(docs)["operator"]["args"]
    assert "--namespace=team-a" in args and "--namespace=team-b" in args
    assert "--peering=scaivault-federation" in args
    assert_lease_role(docs)
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in find(docs, "Role")}
    assert roles == {
        ("team-a", "scaivault-federation"),
        ("team-a", API),
        ("team-b", "scaivault-federation"),
        ("team-b", API),
        ("scaivault-system", "scaivault-federation-mac-key"),
        ("scaivault-system", "scaivault-federation-leases"),
    }
    bindings = {
        (b["metadata"]["namespace"], b["roleRef"]["name"]) for b in find(docs, "RoleBinding")
    }
    assert bindings == roles


def test_namespaced_rbac(helm: Path) -> None:
    docs = render(helm, values=VARIANTS["namespaced-rbac"])
    # the operator has nothing cluster-wide to do: no ClusterRole of its own
    assert sorted(d["metadata"]["name"] for d in find(docs, "ClusterRole")) == [
        "scaivault-federation-api-cluster",
    ]
    assert not [g for g in granted(docs, "ClusterRole", API + "-cluster") if g[1] == "secrets"]
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in find(docs, "Role")}
    assert roles == {
        ("team-a", "scaivault-federation"),
        ("team-a", API),
        ("scaivault-system", "scaivault-federation-mac-key"),
    }
    bindings = {
        (b["metadata"]["namespace"], b["roleRef"]["name"]) for b in find(docs, "RoleBinding")
    }
    assert bindings == roles
    for binding in find(docs, "RoleBinding") + find(docs, "ClusterRoleBinding"):
        account = API if binding["roleRef"]["name"].startswith(API) else OPERATOR
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account, "namespace": "scaivault-system"}
        ]
    (mac,) = find(docs, "Role", "scaivault-federation-mac-key")
    reads = [r for r in mac["rules"] if "get" in r["verbs"]]
    assert reads == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["scaivault-federation-mac-key"],
            "verbs": ["get"],
        }
    ]


def test_rollout_restarts_add_only_get_list_patch_of_three_workload_kinds(helm: Path) -> None:
    apps = {
        ("apps", kind, verb)
        for kind in ("deployments", "statefulsets", "daemonsets")
        for verb in ("get", "list", "patch")
    }
    default = granted(render(helm), "ClusterRole", "scaivault-federation-operator")
    assert not {g for g in default if g[0] == "apps"}
    docs = render(helm, values=VARIANTS["rollout-restarts"])
    operator = granted(docs, "ClusterRole", "scaivault-federation-operator")
    assert operator - default == apps
    api = granted(docs, "ClusterRole", "scaivault-federation-api")
    assert not {g for g in api if g[0] == "apps"}
    namespaced = render(
        helm,
        values={
            "watchNamespaces": ["team-a"],
            "rbac": {"namespaced": True, "rolloutRestarts": True},
        },
    )
    role = granted(namespaced, "Role", "scaivault-federation")
    assert apps <= role


def test_servicemonitor_and_network_policy(helm: Path) -> None:
    docs = render(helm, values=VARIANTS["monitoring-and-network-policy"])
    (monitor,) = find(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics", "http"]
    assert all(e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])
    (service,) = find(docs, "Service")
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
        "http": 8000,
        "metrics": 9090,
    }
    operator, api = (find(docs, "NetworkPolicy", n)[0] for n in (OPERATOR, API))
    for policy, name in ((operator, OPERATOR), (api, API)):
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        pods = deployment_of(docs, name)["spec"]["template"]["metadata"]["labels"]
        assert policy["spec"]["podSelector"]["matchLabels"].items() <= pods.items()
    (api_rule,) = api["spec"]["ingress"]
    assert api_rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert api_rule["from"] == [{"namespaceSelector": {"matchLabels": {"team": "platform"}}}]
    (metrics_rule,) = operator["spec"]["ingress"]
    assert metrics_rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert "from" not in metrics_rule


def test_static_tokens_are_mounted(helm: Path) -> None:
    docs = render(helm, values=VARIANTS["static-tokens"])
    (secret,) = find(docs, "Secret")
    assert secret["metadata"]["name"] == "scaivault-federation-static-tokens"
    api = containers(docs)["api"]
    assert "--static-tokens=/etc/scaivault/tokens.yaml" in api["args"]
    assert {"name": "static-tokens", "mountPath": "/etc/scaivault", "readOnly": True} in api[
        "volumeMounts"
    ]
    volume = next(v for v in pod_spec(docs, API)["volumes"] if v["name"] == "static-tokens")
    assert volume["secret"]["secretName"] == "scaivault-federation-static-tokens"
    assert "static-tokens" not in [m["name"] for m in containers(docs)["operator"]["volumeMounts"]]

    existing = render(
        helm, values={"api": {"staticTokens": {"enabled": True, "existingSecret": "mine"}}}
    )
    assert not find(existing, "Secret")
    volume = next(v for v in pod_spec(existing, API)["volumes"] if v["name"] == "static-tokens")
    assert volume["secret"]["secretName"] == "mine"


def test_the_api_serves_tls_from_a_secret_with_its_audience_and_limits(helm: Path) -> None:
    def env_of(docs: list[dict[str, Any]]) -> dict[str, str]:
        return {e["name"]: e.get("value") for e in containers(docs)["api"].get("env") or []}

    plain = render(helm)
    api = containers(plain)["api"]
    assert not [a for a in api["args"] if a.startswith("--tls")]
    assert api["readinessProbe"]["httpGet"]["scheme"] == "HTTP"
    assert env_of(plain)["SCAIVAULT_API_TOKEN_AUDIENCE"] == "scaivault-federation"
    assert "SCAIVAULT_API_TOKEN_APISERVER_AUDIENCE" not in env_of(plain)
    assert {k: env_of(plain)[k] for k in env_of(plain) if "TIMEOUT" in k or "CONNECTIONS" in k} == {
        "SCAIVAULT_API_REQUEST_HEAD_TIMEOUT_SECONDS": "10",
        "SCAIVAULT_API_REQUEST_BODY_TIMEOUT_SECONDS": "30",
        "SCAIVAULT_API_MAX_CONNECTIONS": "1000",
    }

    values = {
        "api": {
            "tls": {"secretName": "api-tls", "reloadSeconds": 5},
            "tokenAudience": "federation.example",
            "acceptApiserverTokens": True,
            "limits": {"maxConnections": 50},
        },
        "serviceMonitor": {"enabled": True},
    }
    docs = render(helm, values=values)
    api = containers(docs)["api"]
    assert "--tls-cert-file=/etc/scaivault-tls/tls.crt" in api["args"]
    assert "--tls-key-file=/etc/scaivault-tls/tls.key" in api["args"]
    assert {"name": "tls", "mountPath": "/etc/scaivault-tls", "readOnly": True} in api[
        "volumeMounts"
    ]
    volume = next(v for v in pod_spec(docs, API)["volumes"] if v["name"] == "tls")
    assert volume["secret"]["secretName"] == "api-tls"
    assert {i["key"] for i in volume["secret"]["items"]} == {"tls.crt", "tls.key"}
    for probe in ("livenessProbe", "readinessProbe"):
        assert api[probe]["httpGet"]["scheme"] == "HTTPS"
    env = env_of(docs)
    assert env["SCAIVAULT_API_TOKEN_AUDIENCE"] == "federation.example"
    assert env["SCAIVAULT_API_TOKEN_APISERVER_AUDIENCE"] == "true"
    assert env["SCAIVAULT_API_MAX_CONNECTIONS"] == "50"
    assert env["SCAIVAULT_API_TLS_RELOAD_SECONDS"] == "5"
    (monitor,) = find(docs, "ServiceMonitor")
    scraped = {e["port"]: e for e in monitor["spec"]["endpoints"]}
    assert scraped["http"]["scheme"] == "https"
    assert "scheme" not in scraped["metrics"]
    assert "tls" not in [m["name"] for m in containers(docs)["operator"]["volumeMounts"]]
    with pytest.raises(ToolError):
        render(helm, values={"api": {"limits": {"maxConnections": 0}}})


def test_the_endpoint_allowlist_is_set_once_for_both_containers(helm: Path) -> None:
    def allowlist(docs: list[dict[str, Any]], container: str) -> str | None:
        env = containers(docs)[container].get("env") or []
        return next((e["value"] for e in env if e["name"] == "SCAIVAULT_ALLOWED_ENDPOINTS"), None)

    docs = render(helm, values={"allowedEndpoints": ["vault.internal", "*.vault.azure.net"]})
    assert allowlist(docs, "operator") == "vault.internal,*.vault.azure.net"
    assert allowlist(docs, "api") == "vault.internal,*.vault.azure.net"
    plain = render(helm)
    assert allowlist(plain, "operator") is None and allowlist(plain, "api") is None
    with pytest.raises(ToolError):
        render(helm, values={"allowedEndpoints": ["a,b"]})


def test_tenancy_settings_reach_both_containers(helm: Path) -> None:
    values = {
        "tenancy": {
            "ambientIdentityNamespaces": ["platform", "infra"],
            "ambientIdentityNamespaceSelector": "tenancy.example/ambient=yes",
            "remotePrefixes": {"payments": {"aws-secrets-manager": ["payments/"]}},
        }
    }
    docs = render(helm, values=values)
    for container in ("operator", "api"):
        env = {e["name"]: e.get("value") for e in containers(docs)[container].get("env") or []}
        assert env["SCAIVAULT_AMBIENT_IDENTITY_NAMESPACES"] == "platform,infra"
        assert env["SCAIVAULT_AMBIENT_IDENTITY_NAMESPACE_SELECTOR"] == "tenancy.example/ambient=yes"
        assert json.loads(env["SCAIVAULT_REMOTE_PREFIXES"]) == {
            "payments": {"aws-secrets-manager": ["payments/"]}
        }
    for role in ("scaivault-federation-operator", "scaivault-federation-api"):
        assert ("", "namespaces", "get") in granted(docs, "ClusterRole", role)
        assert ("", "namespaces", "get") not in granted(render(helm), "ClusterRole", role)
    with pytest.raises(ToolError):
        render(helm, values={"tenancy": {"ambientIdentityNamespaceSelector": "no-equals"}})


def test_api_can_be_disabled(helm: Path) -> None:
    docs = render(helm, values=VARIANTS["no-api"])
    assert list(containers(docs)) == ["operator"]
    assert [d["metadata"]["name"] for d in find(docs, "ClusterRole")] == [
        "scaivault-federation-operator"
    ]
    (service,) = find(docs, "Service")
    assert [p["name"] for p in service["spec"]["ports"]] == ["metrics"]


def test_image_tag_and_digest(helm: Path) -> None:
    tagged = render(helm, values={"image": {"tag": "0.2.0-rc.1"}})
    assert containers(tagged)["operator"]["image"] == f"{IMAGE}:0.2.0-rc.1"
    digest = "sha256:" + "a" * 64
    pinned = render(helm, values={"image": {"digest": digest}})
    assert {c["image"] for c in containers(pinned).values()} == {f"{IMAGE}@{digest}"}


def test_security_context(variant: list[dict[str, Any]]) -> None:
    for deployment in find(variant, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 65532
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is True
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
    for container in containers(variant).values():
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]  # noqa: S108
        assert container["resources"]["requests"]["memory"]
        assert container["resources"]["limits"]["memory"]
        assert container["imagePullPolicy"] == "IfNotPresent"


def _flag(args: list[str], name: str) -> str:
    (value,) = [a.split("=", 1)[1] for a in args if a.startswith(f"--{name}=")]
    return value


def test_probes_match_the_ports_the_processes_listen_on(variant: list[dict[str, Any]]) -> None:
    for container in containers(variant).values():
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in ("livenessProbe", "readinessProbe"):
            check = container[probe]["httpGet"]
            assert check["path"] == "/healthz"
            assert check["port"] in ports
            assert container[probe]["periodSeconds"] >= 5
        args = container["args"]
        if container["name"] == "operator":
            liveness = _flag(args, "liveness")
            assert liveness == f"http://0.0.0.0:{ports['health']}/healthz"
            assert _flag(args, "metrics-port") == str(ports["metrics"])
        else:
            assert _flag(args, "port") == str(ports["http"])
    (service,) = find(variant, "Service")
    names = {p["name"] for c in containers(variant).values() for p in c["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= names


def test_each_container_s_arguments_and_environment_are_valid_settings(
    variant: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the chart gives each process parses into the settings: every argument is a
    flag of its command, every SCAIVAULT_ variable names a setting."""
    variables = {row.variable for row in settings_table()}
    for container in containers(variant).values():
        for name in [n for n in os.environ if n.startswith("SCAIVAULT_")]:
            monkeypatch.delenv(name)
        env = {e["name"]: e.get("value", "from-the-pod") for e in container.get("env") or []}
        for name, value in env.items():
            assert name in variables or not name.startswith("SCAIVAULT_"), name
            monkeypatch.setenv(name, value)
        args = _parser().parse_args(container["args"])
        _settings(args)  # raises naming the setting


def test_no_wildcards_in_rbac(variant: list[dict[str, Any]]) -> None:
    rules = rules_of(variant)
    assert rules
    for kind, name, rule in rules:
        for field in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert "*" not in rule.get(field, []), (kind, name, rule)
            assert not any("*" in item for item in rule.get(field, [])), (kind, name, rule)
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"]), (kind, name)
        assert "nonResourceURLs" not in rule


def test_no_secret_values_and_service_account_token_is_projected(
    variant: list[dict[str, Any]],
) -> None:
    for sa in find(variant, "ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False  # only the pod mounts it
    for container in containers(variant).values():
        for item in container.get("env", []):
            assert "secretKeyRef" not in item.get("valueFrom", {})


BAD_VALUES: list[tuple[str, dict[str, Any], str]] = [
    ("replicas-as-text", {"replicaCount": "three"}, "replicaCount"),
    ("negative-replicas", {"replicaCount": -1}, "replicaCount"),
    ("unknown-key", {"replicas": 2}, "replicas"),
    ("unknown-nested-key", {"rbac": {"clusterWide": True}}, "clusterWide"),
    ("pull-policy", {"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
    ("digest", {"image": {"digest": "sha256:xyz"}}, "digest"),
    ("namespaced-as-text", {"rbac": {"namespaced": "yes"}}, "namespaced"),
    ("namespace-name", {"watchNamespaces": ["Bad_NS"]}, "watchNamespaces"),
    ("port-range", {"service": {"apiPort": 70000}}, "apiPort"),
    ("interval", {"serviceMonitor": {"interval": "thirty"}}, "interval"),
    ("qps", {"operator": {"kubeWriteQps": -1}}, "kubeWriteQps"),
    ("resources", {"operator": {"resources": {"limits": {"memory": "lots"}}}}, "memory"),
    ("service-type", {"service": {"type": "Ingress"}}, "type"),
    ("strategy", {"updateStrategy": {"type": "BlueGreen"}}, "type"),
    ("lease-duration-short", {"leaseDurationSeconds": 2}, "leaseDurationSeconds"),
    ("lease-duration-long", {"leaseDurationSeconds": 301}, "leaseDurationSeconds"),
    ("lease-duration-as-text", {"leaseDurationSeconds": "12s"}, "leaseDurationSeconds"),
    ("lease-duration-fraction", {"leaseDurationSeconds": 12.5}, "leaseDurationSeconds"),
    ("sharding-as-text", {"sharding": {"enabled": "yes"}}, "enabled"),
    ("sharding-unknown-key", {"sharding": {"shards": 3}}, "shards"),
]


@pytest.mark.parametrize(
    ("values", "field"), [c[1:] for c in BAD_VALUES], ids=[c[0] for c in BAD_VALUES]
)
def test_schema_rejects_bad_values(helm: Path, values: dict[str, Any], field: str) -> None:
    with pytest.raises(ToolError) as caught:
        render_text(helm, values=values)
    message = str(caught.value)
    assert "values don't meet the specifications of the schema" in message, message
    assert field in message


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"rbac": {"namespaced": True}}, "rbac.namespaced requires watchNamespaces"),
        (
            {"api": {"staticTokens": {"enabled": True}}},
            "api.staticTokens.enabled needs api.staticTokens.existingSecret",
        ),
        ({"serviceAccount": {"create": False}}, "serviceAccount.name is required"),
    ],
)
def test_render_fails_on_inconsistent_values(
    helm: Path, values: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ToolError, match=expected):
        render_text(helm, values=values)


def _documented(lines: list[str], index: int) -> bool:
    """A comment right above the line, or above one of its parent keys."""
    indent = len(lines[index]) - len(lines[index].lstrip())
    if index and lines[index - 1].strip().startswith("#"):
        return True
    for j in range(index - 1, -1, -1):
        line = lines[j]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parent_indent = len(line) - len(line.lstrip())
        if parent_indent < indent:
            return _documented(lines, j)
    return False


def test_values_yaml_documents_every_value() -> None:
    """Every value of values.yaml is commented in place and known to values.schema.json."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    text = (CHART / "values.yaml").read_text()

    def walk(node: dict[str, Any], props: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            assert key in props, f"{prefix}{key} is missing from values.schema.json"
            if isinstance(value, dict) and value and "properties" in props[key]:
                walk(value, props[key]["properties"], f"{prefix}{key}.")

    walk(yaml.safe_load(text), schema["properties"], "")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "- ")) or ":" not in stripped:
            continue
        if not stripped.partition(":")[2].strip():
            continue  # a section such as `image:`; its values carry the comments
        assert _documented(lines, i), f"values.yaml:{i + 1} `{stripped}` has no comment"


def test_install_docs_list_every_value() -> None:
    """docs/install.md's value table names every value of values.yaml, and no other."""
    opaque = {"resources", "livenessProbe", "readinessProbe", "podSecurityContext"}
    opaque |= {"securityContext", "updateStrategy"}

    def leaves(node: dict[str, Any], prefix: str = "") -> set[str]:
        out: set[str] = set()
        for key, value in node.items():
            if isinstance(value, dict) and value and key not in opaque:
                out |= leaves(value, f"{prefix}{key}.")
            else:
                out.add(f"{prefix}{key}")
        return out

    values = leaves(yaml.safe_load((CHART / "values.yaml").read_text()))
    table = (ROOT / "docs" / "install.md").read_text().split("### Chart values", 1)[1]
    documented = set(re.findall(r"^\| `([\w.]+)` \|", table, re.MULTILINE))
    assert documented == values, (sorted(values - documented), sorted(documented - values))
