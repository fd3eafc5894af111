"""What syncing does the same way for every backend type, end to end: the operator reads
each type's real server (OpenBao, moto, the Key Vault and Secret Manager emulators,
through the type's harness in ``tests/backends``) and writes Secrets of the real
apiserver. What only one type does is in ``test_sync_<type>.py``."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scaivault_federation.models.status import backend_id
from tests.backends.harness import AnyHarness, Value

from .helpers import Cluster, decoded, eventually
from .scrape import Sample, series

pytestmark = pytest.mark.e2e

BLOB = bytes(range(256)) + b"\x00\xff"
SYNC = {"mode": "sync", "syncInterval": "10m"}
MANAGED = "app.kubernetes.io/managed-by=scaivault-federation"
EXPIRY = "scaivault_secret_expiry_timestamp_seconds"


def healthy(status: dict[str, Any]) -> bool:
    return status.get("status") == "healthy" and status.get("secretsSynced") is not None


async def create_backend(
    cluster: Cluster,
    harness: AnyHarness,
    role: str,
    prefix: str | None = None,
    *,
    bad_credentials: bool = False,
    mode: dict[str, str] = SYNC,
) -> str:
    """A FederationBackend named ``<type>-<role>`` mapping ``external/<type>/**`` to
    everything under ``prefix`` (a fresh prefix holding one secret if none is given);
    returns its name."""
    if prefix is None:
        prefix = harness.new_prefix()
        harness.put(f"{prefix}x", {"v": "1"})
    await cluster.put_credentials(
        f"creds-{harness.short}", harness.credentials(bad=bad_credentials)
    )
    spec = {
        "type": harness.backend_type,
        "config": harness.spec_config(f"creds/{harness.short}"),
        "pathMapping": {f"external/{harness.short}/**": f"{prefix}**"},
        **mode,
    }
    name = f"{harness.short}-{role}"
    await cluster.create_backend(name, spec)
    return name


def secret_name(harness: AnyHarness, sub: str) -> str:
    """The Secret the backend path ``<prefix><sub>`` syncs to."""
    return f"external-{harness.short}-{sub.replace('/', '-')}"


def text_or_map(harness: AnyHarness, text: str) -> tuple[Value, dict[str, str]]:
    """A plain text value where the store holds text, else a map; and the Secret data
    it syncs to."""
    if "string" in harness.value_kinds:
        return text, {"value": text}
    return {"token": text}, {"token": text}


async def resource_versions(cluster: Cluster, name: str) -> dict[str, str]:
    selector = f"federation.scaivault.io/backend={name}"
    return {
        s["metadata"]["name"]: s["metadata"]["resourceVersion"]
        for s in await cluster.secrets(selector)
    }


async def assert_log_clean(
    operator_log: Path, cluster: Cluster, name: str, values: list[str]
) -> None:
    """The operator runs with -v (DEBUG): its log, SDK request and response dumps
    included, names the sync but carries no value and no credential."""

    async def logged() -> str | None:
        log = await asyncio.to_thread(operator_log.read_text)
        return log if f"synced {cluster.namespace}/{name}" in log else None

    log = await eventually(logged, what=f"the operator to log the sync of {name}")
    for value in values:
        assert value not in log


async def test_secrets_appear_with_data_labels_and_status(
    cluster: Cluster, harness: AnyHarness, operator_log: Path
) -> None:
    prefix = harness.new_prefix()
    canary = f"pw-canary-{uuid.uuid4().hex[:8]}"
    token = f"plain-token-{uuid.uuid4().hex[:8]}"
    db = {"username": "app", "password": canary}
    seeded: dict[str, tuple[Value, dict[str, str] | bytes]] = {
        "payments/db": (db, db),
        "payments/replica/db": ({"password": "pw-2"}, {"password": "pw-2"}),
        "api-token": text_or_map(harness, token),
    }
    if "binary" in harness.value_kinds:
        seeded["web/tls/bundle"] = (BLOB, BLOB)
    for sub, (value, _) in seeded.items():
        harness.put(f"{prefix}{sub}", value)
    # a secret switched off before the first sync is never synced
    harness.put(f"{prefix}payments/old", {"v": "retired"})
    harness.switch_off(f"{prefix}payments/old")
    harness.put(harness.outside(prefix), {"v": "not under the mapping"})
    name = await create_backend(cluster, harness, "a", prefix)
    status = await cluster.wait_status(name, healthy)

    cr = await cluster.get_backend(name)
    assert status["id"] == backend_id(cr["metadata"]["uid"])
    assert status["secretsSynced"] == len(seeded)
    assert status["lastSyncDurationMs"] > 0
    assert status["lastSync"].endswith("Z")
    # the next sync is due after the interval (10m) with at most 10 % jitter
    last = datetime.fromisoformat(status["lastSync"])
    due = datetime.fromisoformat(status["nextSyncAt"])
    assert timedelta(minutes=9) - timedelta(seconds=2) <= due - last <= timedelta(minutes=11)
    assert status["connection"]["status"] == "connected"
    assert status["connection"]["latencyMs"] >= 1
    assert status["observedGeneration"] == cr["metadata"]["generation"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Synced"]["status"] == "True"
    assert conditions["Ready"]["reason"] == "SyncSucceeded"

    written = {s["metadata"]["name"]: s for s in await cluster.secrets(MANAGED)}
    assert set(written) == {secret_name(harness, sub) for sub in seeded}
    for sub, (_, data) in seeded.items():
        secret = written[secret_name(harness, sub)]
        if isinstance(data, bytes):
            assert list(secret["data"]) == ["value"]
            assert base64.b64decode(secret["data"]["value"]) == data
        else:
            assert decoded(secret) == data
        meta = secret["metadata"]
        assert meta["labels"]["federation.scaivault.io/backend"] == name
        assert meta["annotations"]["federation.scaivault.io/path"] == (
            f"external/{harness.short}/{sub}"
        )
        assert meta["annotations"]["federation.scaivault.io/remote-path"] == f"{prefix}{sub}"
        assert meta["annotations"]["federation.scaivault.io/source-mac"].startswith("hmac-sha256:")
    assert await cluster.secret(secret_name(harness, "payments/old")) is None

    values = [canary, "retired", token, harness.credential_canary]
    await assert_log_clean(operator_log, cluster, name, values)


async def test_a_second_sync_writes_nothing_and_a_change_rewrites_only_its_secret(
    cluster: Cluster, harness: AnyHarness, operator_log: Path
) -> None:
    prefix = harness.new_prefix()
    items = {f"svc{i}": {"token": f"t-{i}-{uuid.uuid4().hex[:6]}"} for i in range(4)}
    token = f"plain-token-{uuid.uuid4().hex[:8]}"
    for sub, value in items.items():
        harness.put(f"{prefix}{sub}", value)
    harness.put(f"{prefix}api-token", text_or_map(harness, token)[0])
    name = await create_backend(cluster, harness, "b", prefix)
    await cluster.wait_status(name, lambda s: s.get("secretsSynced") == 5)
    before = await resource_versions(cluster, name)
    assert len(before) == 5

    status = await cluster.sync_now(name)
    assert status["secretsSynced"] == 5
    assert await resource_versions(cluster, name) == before

    # a new current value (a map, as JSON text where the store keeps text) reaches its
    # Secret on the next sync; the others stay untouched
    rotated = f"rotated-{uuid.uuid4().hex[:8]}"
    harness.put(f"{prefix}api-token", {"token": rotated})
    await cluster.sync_now(name)
    after = await resource_versions(cluster, name)
    moved = sorted(n for n, version in after.items() if version != before[n])
    assert moved == [secret_name(harness, "api-token")]
    changed = await cluster.secret(secret_name(harness, "api-token"))
    assert changed is not None and decoded(changed) == {"token": rotated}

    # a secret switched off, or deleted, reads as gone: the last good copy stays (no prune)
    harness.switch_off(f"{prefix}svc1")
    harness.delete(f"{prefix}svc2")
    await cluster.sync_now(name)
    for sub in ("svc1", "svc2"):
        kept = await cluster.secret(secret_name(harness, sub))
        assert kept is not None and decoded(kept) == items[sub]
        assert "federation.scaivault.io/orphaned-at" in kept["metadata"]["annotations"]
    untouched = await resource_versions(cluster, name)
    assert untouched[secret_name(harness, "svc0")] == before[secret_name(harness, "svc0")]

    values = [token, rotated, *(item["token"] for item in items.values())]
    await assert_log_clean(operator_log, cluster, name, [*values, harness.credential_canary])


async def test_an_expiry_the_store_keeps_is_its_secret_s_metric_until_the_backend_goes(
    cluster: Cluster, harness: AnyHarness, operator_metrics_port: int
) -> None:
    prefix = harness.new_prefix()
    for sub in ("rotating", "plain"):
        harness.put(f"{prefix}{sub}", {"v": sub})
    held = harness.expire(f"{prefix}rotating", days=2)
    name = await create_backend(cluster, harness, "expiry", prefix)
    await cluster.wait_status(name, lambda s: s.get("secretsSynced") == 2)
    mine = {"namespace": cluster.namespace, "kind": "FederationBackend", "resource": name}

    async def expiries() -> dict[str, float]:
        found = await series(operator_metrics_port, EXPIRY, **mine)
        return {sample.labels["secret"]: sample.value for sample in found}

    async def recorded() -> list[Sample]:  # set with the expiries, just before them
        synced = "scaivault_secrets_synced"
        return await series(
            operator_metrics_port, synced, namespace=mine["namespace"], backend=name
        )

    await eventually(recorded, what="the sync's metrics")
    expected = {} if held is None else {secret_name(harness, "rotating"): held.timestamp()}
    assert await expiries() == expected  # none where the store keeps none
    await cluster.kube.delete(cluster.backend_url(name))
    await eventually(lambda: _none(expiries), what="the series gone with the backend")


async def _none(probe: Callable[[], Awaitable[dict[str, float]]]) -> bool:
    return not await probe()


async def test_wrong_credentials_are_an_error_and_write_nothing(
    cluster: Cluster, harness: AnyHarness
) -> None:
    name = await create_backend(cluster, harness, "bad", bad_credentials=True)
    status = await cluster.wait_status(name, lambda s: s.get("status") == "error")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "AuthenticationFailed"
    for value in (harness.bad_credential, *harness.credentials(bad=True).values()):
        assert value not in str(status)
    assert await cluster.secrets(f"federation.scaivault.io/backend={name}") == []


async def test_proxy_mode_probes_and_writes_no_secret(
    cluster: Cluster, harness: AnyHarness
) -> None:
    name = await create_backend(cluster, harness, "proxy", mode={"mode": "proxy"})
    status = await cluster.wait_status(
        name, lambda s: s.get("connection", {}).get("status") == "connected"
    )
    assert status["status"] == "healthy"
    assert status["connection"]["latencyMs"] >= 1
    assert await cluster.secrets(MANAGED) == []


async def test_throttling_keeps_secrets_and_honours_retry_after(
    cluster: Cluster, throttling_harness: AnyHarness
) -> None:
    harness = throttling_harness
    prefix = harness.new_prefix()
    for i in range(3):
        harness.put(f"{prefix}s{i}", {"v": str(i)})
    name = await create_backend(cluster, harness, "throttled", prefix)
    await cluster.wait_status(name, lambda s: s.get("secretsSynced") == 3)
    before = {s["metadata"]["name"]: s for s in await cluster.secrets(MANAGED)}

    most = await harness.throttle()
    status = await cluster.sync_now_failing(name)
    assert status["status"] == "degraded"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "Throttled"
    assert status["connection"]["status"] == "connected"  # reachable, just slowed down
    # the next try waits as long as the server asked, not the shortest backoff (5 s ±20 %)
    checked = datetime.fromisoformat(status["connection"]["checkedAt"])
    retry = datetime.fromisoformat(status["nextSyncAt"]) - checked
    assert timedelta(seconds=10) < retry <= timedelta(seconds=most + 2)
    after = {s["metadata"]["name"]: s for s in await cluster.secrets(MANAGED)}
    assert after == before
    assert "Throttled" in [e["reason"] for e in await cluster.events()]
