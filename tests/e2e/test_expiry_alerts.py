"""The chart's alert rules on a real operator's metrics: a scrape of its ``/metrics``,
taken as promtool's input series from the moment of the scrape on, runs the rule
tests. A Secret whose backend says it expires within the chart's window raises
the synced-secret alert, for each backend type that keeps an expiry; nothing else
fires on a healthy backend. A FederationLease whose lease is revoked behind the
operator's back fails its next renewal: the scrapes before and after raise the
renewal-failed alert, which clears once the window has passed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from scaivault_devenv.helm import find_helm
from scaivault_devenv.processes import ManagedProcess
from scaivault_devenv.promtool import find_promtool
from scaivault_federation.k8s.client import KubeClient
from tests.backends.harness import AnyHarness
from tests.backends.harness_leases import LeaseServers
from tests.chart.rule_tests import (
    Scraped,
    firing,
    humanize_duration,
    rule_file,
    rules_of,
    run_rule_tests,
    scrapes_as_series,
)

from .helpers import Cluster, eventually
from .leasing import create_lease, lease_namespace, lease_url, wait_lease
from .scrape import scrape, series
from .test_sync_common import create_backend, secret_name

pytestmark = pytest.mark.e2e

STEPS = 60  # the scrape held for an hour, as if every scrape after it said the same
QUIET = (
    "ScaiVaultBackendUnhealthy",
    "ScaiVaultOperatorDown",
    "ScaiVaultSecretExpiringRenewalFailing",
    "ScaiVaultLeaseRenewalFailed",
)


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rule_file(find_helm(), tmp_path_factory.mktemp("rules"))


async def scraped(port: int, namespace: str) -> tuple[list[Scraped], int]:
    """The operator's samples of ``namespace`` and of no namespace (other tests' backends
    left out), and the whole second they were scraped at."""
    at = int(time.time())
    samples = await scrape(port)
    mine = [s for s in samples if s.labels.get("namespace", namespace) == namespace]
    return [Scraped(s.name, s.labels, s.value) for s in mine], at


async def test_a_synced_secret_expiring_soon_raises_its_alert_from_a_real_scrape(
    cluster: Cluster,
    harness: AnyHarness,
    operator_metrics_port: int,
    rules: Path,
    tmp_path: Path,
) -> None:
    prefix = harness.new_prefix()
    for sub in ("rotating", "plain"):
        harness.put(f"{prefix}{sub}", {"v": sub})
    held = harness.expire(f"{prefix}rotating", days=2)  # within the default 72 hours
    name = await create_backend(cluster, harness, "alerts", prefix)
    await cluster.wait_status(name, lambda s: s.get("secretsSynced") == 2)

    async def recorded() -> list[Any]:  # the sync's metrics, set with its expiries
        return await series(
            operator_metrics_port,
            "scaivault_secrets_synced",
            namespace=cluster.namespace,
            backend=name,
        )

    await eventually(recorded, what="the sync's metrics")
    samples, at = await scraped(operator_metrics_port, cluster.namespace)

    alerts = rules_of(rules)
    soon = alerts["ScaiVaultSyncedSecretExpiringSoon"]
    expected: list[dict[str, Any]] = []
    if held is not None:
        left = int(held.timestamp()) - at - 20 * 60  # at 20 minutes
        labels = {
            "namespace": cluster.namespace,
            "kind": "FederationBackend",
            "resource": name,
            "secret": secret_name(harness, "rotating"),
        }
        expected.append(firing(soon, labels, humanize_duration(left)))
    group = {
        "interval": "1m",
        "start_timestamp": str(at),
        "input_series": scrapes_as_series([(samples, STEPS)]),
        "alert_rule_test": [
            {"eval_time": "10m", "alertname": soon["alert"], "exp_alerts": []},  # `for: 15m`
            {"eval_time": "20m", "alertname": soon["alert"], "exp_alerts": expected},
            *({"eval_time": "20m", "alertname": quiet, "exp_alerts": []} for quiet in QUIET),
        ],
    }
    out = run_rule_tests(find_promtool(), rules, [group], tmp_path)
    assert "SUCCESS" in out, out


async def test_a_renewal_made_to_fail_raises_the_renewal_failed_alert_from_real_scrapes(
    kube: KubeClient,
    operator: ManagedProcess,
    lease_engines: LeaseServers,
    operator_metrics_port: int,
    rules: Path,
    tmp_path: Path,
) -> None:
    role = lease_engines.database_role(default_ttl=20, max_ttl=120)
    cluster = await lease_namespace(kube, lease_engines, "alerts")
    await create_lease(cluster, "db", {"path": lease_engines.engines.creds_path(role.name)})
    status = await wait_lease(cluster, "db", lambda s: s.get("leaseId"), what="the lease issued")
    mine = {"namespace": cluster.namespace, "kind": "FederationLease", "resource": "db"}
    failures = "scaivault_lease_renewal_failures_total"
    before, first = await scraped(operator_metrics_port, cluster.namespace)
    assert not [s for s in before if s.name == failures], before

    # the lease revoked behind the operator's back: its next renewal fails
    lease_engines.bao.request("PUT", "/v1/sys/leases/revoke", {"lease_id": status["leaseId"]})

    async def failed() -> list[Any]:
        return await series(operator_metrics_port, failures, **mine)

    (failure,) = await eventually(failed, 60, "a failed renewal in the metrics")
    after, _ = await scraped(operator_metrics_port, cluster.namespace)
    await cluster.kube.delete(lease_url(cluster, "db"))  # revoked, its user dropped

    alert = rules_of(rules)["ScaiVaultLeaseRenewalFailed"]
    group = {
        "interval": "1m",
        "start_timestamp": str(first),
        # the first scrape for five minutes, then the second one's for the rest of the hour
        "input_series": scrapes_as_series([(before, 5), (after, STEPS - 5)]),
        "alert_rule_test": [
            {"eval_time": "3m", "alertname": alert["alert"], "exp_alerts": []},
            {
                "eval_time": "8m",
                "alertname": alert["alert"],
                "exp_alerts": [firing(alert, {**mine, "reason": failure.labels["reason"]})],
            },
            {"eval_time": "40m", "alertname": alert["alert"], "exp_alerts": []},
        ],
    }
    out = run_rule_tests(find_promtool(), rules, [group], tmp_path)
    assert "SUCCESS" in out, out
