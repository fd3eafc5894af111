"""The chart's Grafana dashboard and PrometheusRule: off by default, rendered when asked
for, and every metric name, label and label value they use is one the operator or
the API really exports (read from the metric objects the product registers)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.metrics import MetricWrapperBase

import scaivault_federation.api.observability as api_metrics
import scaivault_federation.api.proxy as proxy_metrics
import scaivault_federation.expiry_metrics as expiry_metrics
import scaivault_federation.sync.metrics as sync_metrics
from scaivault_devenv.helm import CHART, ToolError, run
from scaivault_federation.backends.errors import CallResult
from scaivault_federation.conditions import THROTTLED
from scaivault_federation.labels import CERTIFICATE_KIND, LEASE_KIND
from scaivault_federation.models.kind import CLUSTER_FEDERATION_BACKEND, FEDERATION_BACKEND
from scaivault_federation.models.status import Health

from .tools import find, render

DASHBOARD = CHART / "dashboards" / "scaivault-federation.json"
ON = {"grafanaDashboard": {"enabled": True}, "prometheusRule": {"enabled": True}}
ALERTS = {
    "ScaiVaultBackendUnhealthy",
    "ScaiVaultSyncsFailing",
    "ScaiVaultConflicts",
    "ScaiVaultBackendThrottled",
    "ScaiVaultOperatorDown",
    "ScaiVaultSecretExpiringRenewalFailing",
    "ScaiVaultLeaseRenewalFailed",
    "ScaiVaultSyncedSecretExpiringSoon",
}
#: labels Prometheus adds to a scraped target's series; only its own `up` series is used
TARGET_LABELS = frozenset({"job", "namespace", "endpoint", "instance", "pod", "service"})
#: the values some labels take, from the product's own types: (metric or "*", label)
LABEL_VALUES: dict[tuple[str, str], set[str]] = {
    ("scaivault_backend_status", "status"): {h.value for h in Health},
    ("*", "result"): set(CallResult.__args__),  # type: ignore[attr-defined]
    ("*", "action"): {"written", "deleted", "orphaned"},
    ("*", "reason"): {THROTTLED},  # the only reason the dashboard and rules single out
    # the kinds that manage a Secret with an expiry: backends that sync it, leasing kinds
    ("scaivault_secret_expiry_timestamp_seconds", "kind"): {
        str(kind) for kind in (FEDERATION_BACKEND, CLUSTER_FEDERATION_BACKEND)
    }
    | {LEASE_KIND, CERTIFICATE_KIND},
}
PROMQL_WORDS = frozenset(
    {
        "sum",
        "max",
        "min",
        "avg",
        "count",
        "rate",
        "irate",
        "increase",
        "histogram_quantile",
        "topk",
        "sort",
        "absent",
        "time",
        "vector",
        "by",
        "without",
        "on",
        "ignoring",
        "bool",
        "and",
        "or",
        "unless",
    }
)


def exported() -> dict[str, set[str]]:
    """Series name -> label names, of every metric the operator and the API define."""
    series: dict[str, set[str]] = {}
    for module in (sync_metrics, api_metrics, proxy_metrics, expiry_metrics):
        for metric in vars(module).values():
            if not isinstance(metric, MetricWrapperBase):
                continue
            name, kind = metric._name, metric._type
            labels = set(metric._labelnames)
            if kind == "counter":
                series[f"{name}_total"] = labels
            elif kind == "histogram":
                series[f"{name}_bucket"] = labels | {"le"}
                series[f"{name}_sum"] = series[f"{name}_count"] = labels
            else:
                series[name] = labels
    return series


@dataclass
class Used:
    """What one PromQL expression refers to."""

    metrics: set[str] = field(default_factory=set)
    matchers: list[tuple[str, str, str, str]] = field(default_factory=list)  # metric, label, op, v
    grouping: set[str] = field(default_factory=set)


#: an aggregation's grouping, or the labels a binary operation matches on
GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def analyse(expr: str) -> Used:
    used = Used()
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors, [$__rate_interval] included
    expr = re.sub(r"\boffset\s+\w+", "", expr)  # offset modifiers
    label_values = re.fullmatch(r"\s*label_values\((.*),\s*([a-zA-Z_]\w*)\s*\)\s*", expr)
    if label_values:
        expr = label_values.group(1)
        used.grouping.add(label_values.group(2))
    for selector in SELECTOR.finditer(expr):
        metric, body = selector.groups()
        used.metrics.add(metric)
        rest = MATCHER.sub("", body).replace(",", "").strip()
        assert not rest, f"cannot read the matchers {body!r}"
        for matcher in MATCHER.finditer(body):
            label, op, value = matcher.groups()
            used.matchers.append((metric, label, op, value))
    bare = SELECTOR.sub(" ", expr)
    for clause in re.finditer(GROUPING, bare):
        used.grouping |= {part.strip() for part in clause.group(1).split(",") if part.strip()}
    bare = re.sub(GROUPING, " ", bare)
    for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare):
        if word not in PROMQL_WORDS:
            used.metrics.add(word)
    return used


def dashboard_queries(doc: dict[str, Any]) -> list[str]:
    queries = [
        target["expr"]
        for panel in doc["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    for variable in doc["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            queries.append(query["query"] if isinstance(query, dict) else query)
    return queries


@pytest.fixture(scope="module")
def monitoring(helm: Path) -> list[dict[str, Any]]:
    return render(helm, values=ON)


def rule_queries(docs: list[dict[str, Any]]) -> dict[str, str]:
    (rule,) = find(docs, "PrometheusRule")
    return {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}


def test_off_by_default(default_docs: list[dict[str, Any]]) -> None:
    assert find(default_docs, "PrometheusRule") == []
    assert [
        d for d in find(default_docs, "ConfigMap") if "dashboard" in d["metadata"]["name"]
    ] == []


def test_the_dashboard_and_the_rules_render(monitoring: list[dict[str, Any]], helm: Path) -> None:
    (config_map,) = [
        d for d in find(monitoring, "ConfigMap") if "dashboard" in d["metadata"]["name"]
    ]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads(config_map["data"]["scaivault-federation.json"])
    assert shipped == json.loads(DASHBOARD.read_text())
    titles = {p["title"] for p in shipped["panels"]}
    for wanted in (
        "Backend health",
        "Sync duration (p50, p95; slowest last syncs)",
        "Backend calls by operation and result",
        "Secret writes",
        "Conflicts per backend",
        "Throttling",
        "Proxy read latency (p50, p95)",
        "Time until expiry (soonest first)",
        "Renewals, rotations and renewal failures",
    ):
        assert wanted in titles, wanted
    assert len({p["id"] for p in shipped["panels"]}) == len(shipped["panels"])
    (rule,) = find(monitoring, "PrometheusRule")
    rules = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(rules) == ALERTS
    assert rules["ScaiVaultBackendUnhealthy"]["for"] == "10m"
    assert "< 86400)" in rules["ScaiVaultSecretExpiringRenewalFailing"]["expr"]
    assert rules["ScaiVaultSyncedSecretExpiringSoon"]["expr"].endswith("< 259200")
    assert "[15m]" in rules["ScaiVaultLeaseRenewalFailed"]["expr"]
    (expiry,) = [p for p in shipped["panels"] if p["title"].startswith("Time until expiry")]
    assert expiry["type"] == "table"
    assert expiry["options"]["sortBy"] == [{"displayName": "Expires in", "desc": False}]
    assert expiry["targets"][0]["expr"].startswith("sort(scaivault_secret_expiry_timestamp")
    assert all(r["labels"]["severity"] in ("info", "warning", "critical") for r in rules.values())
    assert all(r["annotations"]["summary"] for r in rules.values())
    down = rules["ScaiVaultOperatorDown"]["expr"]
    assert 'job="scaivault-federation", namespace="scaivault-system"' in down
    (monitor,) = find(
        render(helm, values={**ON, "serviceMonitor": {"enabled": True}}), "ServiceMonitor"
    )
    assert all(e["honorLabels"] is True for e in monitor["spec"]["endpoints"])


def test_values_shape_them(helm: Path) -> None:
    docs = render(
        helm,
        values={
            "grafanaDashboard": {
                "enabled": True,
                "namespace": "monitoring",
                "sidecarLabel": "dashboards",
                "sidecarLabelValue": "scaivault",
                "annotations": {"grafana_folder": "ScaiVault"},
            },
            "prometheusRule": {
                "enabled": True,
                "labels": {"release": "prom"},
                "unhealthyFor": "30m",
                "operatorUpSelector": 'job="custom"',
                "expiringRenewalFailingHours": 6,
                "renewalFailedWindow": "1h",
                "syncedExpiringHours": 168,
            },
        },
    )
    (config_map,) = [d for d in find(docs, "ConfigMap") if "dashboard" in d["metadata"]["name"]]
    assert config_map["metadata"]["namespace"] == "monitoring"
    assert config_map["metadata"]["labels"]["dashboards"] == "scaivault"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "ScaiVault"}
    (rule,) = find(docs, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prom"
    exprs = rule_queries(docs)
    assert exprs["ScaiVaultOperatorDown"] == 'absent(up{job="custom"} == 1)'
    rules = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert rules["ScaiVaultBackendUnhealthy"]["for"] == "30m"
    assert "< 21600)" in exprs["ScaiVaultSecretExpiringRenewalFailing"]
    assert (
        "within 6 hours"
        in rules["ScaiVaultSecretExpiringRenewalFailing"]["annotations"]["description"]
    )
    assert "[1h]" in exprs["ScaiVaultLeaseRenewalFailed"]
    assert exprs["ScaiVaultSyncedSecretExpiringSoon"].endswith("< 604800")
    with pytest.raises(ToolError, match="syncedExpiringHours"):
        render(helm, values={"prometheusRule": {"enabled": True, "syncedExpiringHours": "3d"}})


def test_helm_lint_with_them_is_clean(helm: Path) -> None:
    argv: list[str | Path] = [helm, "lint", CHART, "--strict"]
    for key, value in ON.items():
        argv += ["--set-json", f"{key}={json.dumps(value)}"]
    out = run(argv)
    assert "0 chart(s) failed" in out


def test_every_metric_and_label_used_is_exported(monitoring: list[dict[str, Any]]) -> None:
    series = exported()
    queries = dashboard_queries(json.loads(DASHBOARD.read_text()))
    queries += list(rule_queries(monitoring).values())
    assert len(queries) > 20
    problems: list[str] = []
    used_metrics: set[str] = set()
    for query in queries:
        used = analyse(query)
        labels_here: set[str] = set()
        for metric in used.metrics:
            if metric == "up":  # the scrape's own series: target labels only
                labels_here |= TARGET_LABELS
                continue
            if metric not in series:
                problems.append(f"{metric} is not exported ({query})")
                continue
            used_metrics.add(metric)
            labels_here |= series[metric]
        for metric, label, op, value in used.matchers:
            allowed = TARGET_LABELS if metric == "up" else series.get(metric, set())
            if label not in allowed:
                problems.append(f"{metric} has no label {label} ({query})")
            known = LABEL_VALUES.get((metric, label), LABEL_VALUES.get(("*", label)))
            if known is not None and op in ("=", "=~", "!=") and "$" not in value:
                for part in value.split("|") if op == "=~" else [value]:
                    if part not in known:
                        problems.append(f"{label}={part!r} is never exported ({query})")
        for label in used.grouping - labels_here:
            problems.append(f"grouping by {label}, which none of its metrics has ({query})")
    assert not problems, "\n".join(problems)
    # and nothing the operator exports about backends is left out of the dashboard
    missing = {
        name
        for name in series
        if name.startswith("scaivault_") and not name.endswith(("_sum", "_count"))
    } - used_metrics
    assert not missing, missing


def test_the_metric_check_catches_mistakes() -> None:
    series = exported()
    used = analyse('sum by (typo) (rate(scaivault_backend_calls_total{resutl="ok"}[5m]))')
    assert used.metrics == {"scaivault_backend_calls_total"}
    assert used.grouping == {"typo"} and used.matchers[0][1] == "resutl"
    assert "typo" not in series["scaivault_backend_calls_total"]
    assert analyse("scaivault_conflict > 0").metrics == {"scaivault_conflict"}
    assert "scaivault_conflict" not in series
    picked = analyse('label_values(scaivault_backend_status{namespace=~"$namespace"}, backend)')
    assert picked.metrics == {"scaivault_backend_status"} and picked.grouping == {"backend"}


def test_google_push_values_reach_the_api_container(helm: Path) -> None:
    docs = render(
        helm,
        values={
            "api": {
                "googlePush": {
                    "audience": "https://scaivault.example/v1/federation/notify/google",
                    "serviceAccounts": ["push@p.iam.gserviceaccount.com", "b@p.iam"],
                }
            }
        },
    )
    (deployment,) = find(docs, "Deployment", "scaivault-federation-api")
    (api,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in api["env"]}
    assert env["SCAIVAULT_API_GOOGLE_PUSH_AUDIENCE"].endswith("/notify/google")
    assert (
        env["SCAIVAULT_API_GOOGLE_PUSH_SERVICE_ACCOUNTS"]
        == "push@p.iam.gserviceaccount.com,b@p.iam"
    )
    with pytest.raises(ToolError, match=r"api\.googlePush\.serviceAccounts"):
        render(helm, values={"api": {"googlePush": {"audience": "https://x"}}})
