"""The chart's alert rules, checked and unit-tested by promtool (built by the checkout's
``hack/build-promtool.sh``): each alert fires on series that should raise it, with
its labels and annotations, and stays quiet on series that should not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scaivault_devenv.helm import run
from scaivault_devenv.promtool import find_promtool

from .rule_tests import UP, firing, rule_file, rules_of, run_rule_tests, selector, steady
from .test_monitoring import ALERTS

STEPS = 60  # each input series lasts an hour, at one value a minute
LEASE = {"namespace": "team-a", "kind": "FederationLease", "resource": "db"}
SYNCED = {"namespace": "team-a", "kind": "FederationBackend", "resource": "aws"}
EXPIRY = "scaivault_secret_expiry_timestamp_seconds"
FAILING = "scaivault_lease_renewal_failing"


@pytest.fixture(scope="module")
def promtool() -> Path:
    return find_promtool()


@pytest.fixture(scope="module")
def rules(helm: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rule_file(helm, tmp_path_factory.mktemp("rules"))


def test_the_rendered_rules_pass_promtool_s_check(promtool: Path, rules: Path) -> None:
    out = run([promtool, "check", "rules", "--lint=all", "--lint-fatal", rules])
    assert f"SUCCESS: {len(ALERTS)} rules found" in out, out


def cases(rules: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One test group per alert: its input series and when it fires, when not."""
    renewal = rules["ScaiVaultSecretExpiringRenewalFailing"]
    failed = rules["ScaiVaultLeaseRenewalFailed"]
    soon = rules["ScaiVaultSyncedSecretExpiringSoon"]
    unhealthy = rules["ScaiVaultBackendUnhealthy"]
    backend = {"namespace": "team-a", "backend": "vault", "type": "hashicorp-vault"}
    return [
        {  # renewal failing from minute 3, for: 5m; expiry at 10 h (in), at 55 h (not)
            "interval": "1m",
            "input_series": [
                steady(EXPIRY, {**LEASE, "secret": "db-creds"}, 36000, STEPS),
                steady(FAILING, LEASE, 0, 2) | {"values": "0 0 0 1x57"},
                steady(EXPIRY, {**LEASE, "resource": "far", "secret": "far"}, 200000, STEPS),
                steady(FAILING, {**LEASE, "resource": "far"}, 1, STEPS),
            ],
            "alert_rule_test": [
                {"eval_time": "6m", "alertname": renewal["alert"], "exp_alerts": []},
                {
                    "eval_time": "10m",
                    "alertname": renewal["alert"],
                    "exp_alerts": [
                        firing(renewal, {**LEASE, "secret": "db-creds"}, "9h 50m 0s"),
                    ],
                },
            ],
        },
        {  # one failure at minute 3: the alert lasts the window (15m), then clears; a
            # reason's first failure makes its series at 1 (minute 40), and raises it too
            "interval": "1m",
            "input_series": [
                steady(
                    "scaivault_lease_renewal_failures_total",
                    {**LEASE, "reason": "RenewalRefused"},
                    0,
                    2,
                )
                | {"values": "0 0 0 1x57"},
                {
                    "series": selector(
                        "scaivault_lease_renewal_failures_total",
                        {**LEASE, "reason": "LeaseNotFound"},
                    ),
                    "values": " ".join(["_"] * 40 + ["1"] * 20),
                },
                steady("scaivault_lease_renewals_total", LEASE, 0, 2) | {"values": "0+1x59"},
            ],
            "alert_rule_test": [
                {"eval_time": "2m", "alertname": failed["alert"], "exp_alerts": []},
                {
                    "eval_time": "5m",
                    "alertname": failed["alert"],
                    "exp_alerts": [firing(failed, {**LEASE, "reason": "RenewalRefused"})],
                },
                {"eval_time": "30m", "alertname": failed["alert"], "exp_alerts": []},
                {
                    "eval_time": "45m",
                    "alertname": failed["alert"],
                    "exp_alerts": [firing(failed, {**LEASE, "reason": "LeaseNotFound"})],
                },
            ],
        },
        {  # synced: 27 h 46 m 40 s left (in 72 h), 11 days (not); a lease's Secret: not
            "interval": "1m",
            "input_series": [
                steady(EXPIRY, {**SYNCED, "secret": "app-db"}, 100000, STEPS),
                steady(EXPIRY, {**SYNCED, "secret": "app-api"}, 1000000, STEPS),
                steady(EXPIRY, {**LEASE, "secret": "db-creds"}, 36000, STEPS),
                steady(FAILING, LEASE, 0, STEPS),
            ],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": soon["alert"], "exp_alerts": []},
                {
                    "eval_time": "20m",
                    "alertname": soon["alert"],
                    "exp_alerts": [firing(soon, {**SYNCED, "secret": "app-db"}, "1d 3h 26m 40s")],
                },
                {"eval_time": "20m", "alertname": renewal["alert"], "exp_alerts": []},
            ],
        },
        {  # the earlier alerts: one case each that fires, and the quiet ones
            "interval": "1m",
            "input_series": [
                steady("scaivault_backend_status", {**backend, "status": "degraded"}, 1, STEPS),
                steady("scaivault_backend_status", {**backend, "status": "healthy"}, 0, STEPS),
                steady("scaivault_conflicts", backend, 2, STEPS),
                steady("scaivault_sync_errors_total", {**backend, "reason": "Throttled"}, 0, STEPS)
                | {"values": "0+1x59"},
                steady(
                    "scaivault_backend_calls_total",
                    {"type": "hashicorp-vault", "operation": "list", "result": "throttled"},
                    0,
                    STEPS,
                )
                | {"values": "0+1x59"},
                steady("up", UP, 1, 20) | {"values": "1x20 0x39"},
            ],
            "alert_rule_test": [
                {"eval_time": "5m", "alertname": unhealthy["alert"], "exp_alerts": []},
                {
                    "eval_time": "15m",
                    "alertname": unhealthy["alert"],
                    "exp_alerts": [firing(unhealthy, {**backend, "status": "degraded"})],
                },
                {
                    "eval_time": "20m",
                    "alertname": "ScaiVaultSyncsFailing",
                    "exp_alerts": [
                        firing(rules["ScaiVaultSyncsFailing"], {**backend, "reason": "Throttled"})
                    ],
                },
                {
                    "eval_time": "20m",
                    "alertname": "ScaiVaultConflicts",
                    "exp_alerts": [firing(rules["ScaiVaultConflicts"], backend, "2")],
                },
                {
                    "eval_time": "25m",
                    "alertname": "ScaiVaultBackendThrottled",
                    "exp_alerts": [
                        firing(rules["ScaiVaultBackendThrottled"], {"type": "hashicorp-vault"})
                    ],
                },
                {"eval_time": "15m", "alertname": "ScaiVaultOperatorDown", "exp_alerts": []},
                # before their `for:` has passed
                {"eval_time": "5m", "alertname": "ScaiVaultSyncsFailing", "exp_alerts": []},
                {"eval_time": "10m", "alertname": "ScaiVaultConflicts", "exp_alerts": []},
                {"eval_time": "5m", "alertname": "ScaiVaultBackendThrottled", "exp_alerts": []},
                {
                    "eval_time": "30m",
                    "alertname": "ScaiVaultOperatorDown",
                    "exp_alerts": [firing(rules["ScaiVaultOperatorDown"], {})],
                },
            ],
        },
    ]


def test_every_alert_fires_when_it_should_and_not_otherwise(
    promtool: Path, rules: Path, tmp_path: Path
) -> None:
    found = rules_of(rules)
    groups = cases(found)
    tested = {case["alertname"] for group in groups for case in group["alert_rule_test"]}
    assert tested == set(found) == ALERTS
    fires = {c["alertname"] for g in groups for c in g["alert_rule_test"] if c["exp_alerts"]}
    quiet = {c["alertname"] for g in groups for c in g["alert_rule_test"] if not c["exp_alerts"]}
    assert fires == ALERTS, ALERTS - fires
    assert quiet == ALERTS, ALERTS - quiet
    out = run_rule_tests(promtool, rules, groups, tmp_path)
    assert "SUCCESS" in out, out


def test_a_wrong_expectation_fails(promtool: Path, rules: Path, tmp_path: Path) -> None:
    """The runner is not vacuous: an alert expected where none fires is a failure."""
    renewal = rules_of(rules)["ScaiVaultSecretExpiringRenewalFailing"]
    group = {
        "interval": "1m",
        "input_series": [steady(EXPIRY, {**LEASE, "secret": "db-creds"}, 36000, STEPS)],
        "alert_rule_test": [
            {
                "eval_time": "10m",
                "alertname": renewal["alert"],
                "exp_alerts": [firing(renewal, {**LEASE, "secret": "db-creds"}, "9h 50m 0s")],
            }
        ],
    }
    with pytest.raises(Exception, match="FAILED"):
        run_rule_tests(promtool, rules, [group], tmp_path)
