"""A secret rotated in AWS, Google or Azure reaches its Secret within seconds, not at the
next hourly sync: the provider's change event, posted to the API's receiver,
syncs exactly that path through the operator (its own process), against moto,
the Secret Manager emulator and the Key Vault emulator."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from scaivault_devenv.aws_events import eventbridge_event
from scaivault_devenv.gsm import GoogleEmulator
from scaivault_devenv.keyvault import KeyVaultServer
from scaivault_devenv.moto import MotoServer
from scaivault_federation.backends.azure.names import azure_name
from scaivault_federation.backends.google.names import google_name
from tests.backends.harness_aws import put_secret
from tests.backends.harness_azure import put_value as put_azure
from tests.backends.harness_google import put_value as put_google

from .backend_calls import backend_calls, settled_calls
from .conftest import FederationApi
from .fleet import Fleet
from .helpers import Cluster, decoded, eventually

pytestmark = pytest.mark.e2e

WITHIN = 3.0  # seconds from the event to the updated Secret


def versions(secrets: list[dict[str, Any]]) -> dict[str, str]:
    return {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in secrets}


async def post(api: FederationApi, receiver: str, body: Any, token: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{api.url}/v1/federation/notify/{receiver}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        ) as resp,
    ):
        return resp.status, await resp.json()


async def changed_within(
    cluster: Cluster,
    backend: str,
    secret: str,
    expected: dict[str, str],
    started: float,
    before: dict[str, str],
) -> float:
    """``secret`` holds ``expected`` within :data:`WITHIN` seconds of ``started``, and no
    other Secret of ``backend`` moved."""

    async def updated() -> bool:
        found = await cluster.secret(secret)
        return found is not None and decoded(found) == expected

    await eventually(updated, timeout=10, what=f"{secret} to be updated")
    elapsed = time.monotonic() - started
    assert elapsed < WITHIN, f"{elapsed:.2f}s"
    after = versions(await cluster.secrets(f"federation.scaivault.io/backend={backend}"))
    assert sorted(n for n, rv in after.items() if rv != before[n]) == [secret]
    print(f"{secret} updated {elapsed:.2f}s after the event")
    return elapsed


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def test_an_eventbridge_event_syncs_exactly_that_secret(
    cluster: Cluster,
    moto_server: MotoServer,
    federation_api: FederationApi,
    operator_metrics_port: int,
) -> None:
    prefix = f"ntf-{uuid.uuid4().hex[:8]}"
    admin = moto_server.client("secretsmanager")
    for name in ("db", "api", "web"):
        put_secret(admin, f"{prefix}/{name}", {"v": "1"})
    put_secret(admin, f"unmapped-{prefix}/db", {"v": "1"})
    await cluster.put_credentials(
        "creds-aws",
        {
            "access_key_id": moto_server.access_key_id,
            "secret_access_key": moto_server.secret_access_key,
        },
    )
    await cluster.create_backend(
        "aws-hourly",
        {
            "type": "aws-secrets-manager",
            "config": {
                "region": moto_server.region,
                "endpoint": moto_server.endpoint,
                "credentialsPath": "creds/aws",
            },
            "pathMapping": {"external/aws/**": f"{prefix}/**"},
            "mode": "sync",
            "syncInterval": "1h",
        },
    )
    first = await cluster.wait_status("aws-hourly", lambda s: s.get("secretsSynced") == 3)
    before = versions(await cluster.secrets("federation.scaivault.io/backend=aws-hourly"))
    calls = await backend_calls(operator_metrics_port, "aws-secrets-manager")

    put_secret(admin, f"{prefix}/db", {"v": "rotated-2"})
    put_secret(admin, f"{prefix}/api", {"v": "2"})  # changed too, but no event for it
    arn = admin.describe_secret(SecretId=f"{prefix}/db")["ARN"]
    event = eventbridge_event(arn, moto_server.region)
    started = time.monotonic()
    status, answer = await post(federation_api, "aws", event, federation_api.notifier)
    assert status == 200, answer
    assert answer["events"] == [{"id": event["id"], "outcome": "sync_requested", "reason": None}]
    assert answer["synced"][0]["paths"] == ["external/aws/db"]
    await changed_within(
        cluster, "aws-hourly", "external-aws-db", {"v": "rotated-2"}, started, before
    )
    moved = await settled_calls(operator_metrics_port, "aws-secrets-manager", calls, "batch_read")
    # the path read, which tells it exists: no probe, no listing
    assert moved == {("batch_read", "ok"): 1}
    status_after = await cluster.status("aws-hourly")
    # the hourly sync stays when it was due
    moved_by = parse(status_after["nextSyncAt"]) - parse(first["nextSyncAt"])
    assert abs(moved_by.total_seconds()) <= 1, moved_by

    # the same event again: acknowledged, nothing synced
    lastsync = status_after["lastSync"]
    status, answer = await post(federation_api, "aws", event, federation_api.notifier)
    assert status == 200 and answer["events"][0]["outcome"] == "duplicate"
    # an event for a secret no backend maps writes nothing
    other = admin.describe_secret(SecretId=f"unmapped-{prefix}/db")["ARN"]
    put_secret(admin, f"unmapped-{prefix}/db", {"v": "2"})
    status, answer = await post(
        federation_api, "aws", eventbridge_event(other, moto_server.region), federation_api.notifier
    )
    assert status == 200 and answer["events"][0]["outcome"] == "unmapped"
    assert answer["synced"] == []
    await asyncio.sleep(1.5)
    assert (await cluster.status("aws-hourly"))["lastSync"] == lastsync
    after = versions(await cluster.secrets("federation.scaivault.io/backend=aws-hourly"))
    assert sorted(n for n, rv in after.items() if rv != before[n]) == ["external-aws-db"]


async def test_a_pubsub_push_syncs_exactly_that_secret(
    cluster: Cluster,
    gsm_emulator: GoogleEmulator,
    federation_api: FederationApi,
    operator_metrics_port: int,
) -> None:
    prefix = f"ntf-{uuid.uuid4().hex[:8]}"
    for name in ("db", "api"):
        put_google(gsm_emulator, f"{prefix}/{name}", {"v": "1"})
    await cluster.put_credentials("creds-google", {"credentials.json": gsm_emulator.key_json()})
    await cluster.create_backend(
        "google-hourly",
        {
            "type": "google-secret-manager",
            "config": {
                "project": gsm_emulator.project,
                "endpoint": gsm_emulator.endpoint,
                "credentialsPath": "creds/google",
            },
            "pathMapping": {"external/google/**": f"{prefix}/**"},
            "mode": "sync",
            "syncInterval": "1h",
        },
    )
    await cluster.wait_status("google-hourly", lambda s: s.get("secretsSynced") == 2)
    before = versions(await cluster.secrets("federation.scaivault.io/backend=google-hourly"))
    calls = await backend_calls(operator_metrics_port, "google-secret-manager")

    version = put_google(gsm_emulator, f"{prefix}/db", {"v": "rotated-2"})
    put_google(gsm_emulator, f"{prefix}/api", {"v": "2"})
    secret = f"projects/{gsm_emulator.project_number}/secrets/{google_name(f'{prefix}/db')}"
    push = {
        "message": {
            "attributes": {
                "dataFormat": "JSON_API_V1",
                "eventType": "SECRET_VERSION_ADD",
                "secretId": secret,
                "versionId": f"{secret}/versions/{version}",
            },
            "data": "e30=",
            "messageId": str(uuid.uuid4().int)[:16],
            "publishTime": "2026-11-29T12:00:00.000Z",
        },
        "subscription": f"projects/{gsm_emulator.project}/subscriptions/scaivault",
    }
    started = time.monotonic()
    status, answer = await post(federation_api, "google", push, federation_api.notifier)
    assert status == 200, answer
    assert answer["synced"][0]["paths"] == ["external/google/db"]
    await changed_within(
        cluster, "google-hourly", "external-google-db", {"v": "rotated-2"}, started, before
    )
    moved = await settled_calls(operator_metrics_port, "google-secret-manager", calls, "read")
    assert moved.get(("read", "ok")) == 1, moved


async def test_an_event_grid_event_syncs_exactly_that_secret(
    cluster: Cluster,
    keyvault_server: KeyVaultServer,
    federation_api: FederationApi,
    operator_metrics_port: int,
) -> None:
    prefix = f"ntf-{uuid.uuid4().hex[:8]}"
    for name in ("db", "api"):
        put_azure(keyvault_server, f"{prefix}/{name}", {"v": "1"})
    await cluster.put_credentials("creds-azure", {"client_secret": keyvault_server.client_secret})
    await cluster.create_backend(
        "azure-hourly",
        {
            "type": "azure-key-vault",
            "config": {
                "vaultUrl": keyvault_server.vault_url,
                "tenantId": keyvault_server.tenant_id,
                "clientId": keyvault_server.client_id,
                "credentialsPath": "creds/azure",
            },
            "pathMapping": {"external/azure/**": f"{prefix}/**"},
            "mode": "sync",
            "syncInterval": "1h",
        },
    )
    await cluster.wait_status("azure-hourly", lambda s: s.get("secretsSynced") == 2)
    before = versions(await cluster.secrets("federation.scaivault.io/backend=azure-hourly"))
    calls = await backend_calls(operator_metrics_port, "azure-key-vault")

    # the subscription's validation handshake first
    code = str(uuid.uuid4())
    status, answer = await post(
        federation_api,
        "azure",
        [
            {
                "id": str(uuid.uuid4()),
                "topic": "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v",
                "subject": "",
                "data": {"validationCode": code, "validationUrl": "https://example.invalid/x"},
                "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                "eventTime": "2026-11-29T12:00:00Z",
                "metadataVersion": "1",
                "dataVersion": "2",
            }
        ],
        federation_api.notifier,
    )
    assert (status, answer) == (200, {"validationResponse": code})

    put_azure(keyvault_server, f"{prefix}/db", {"v": "rotated-2"})
    put_azure(keyvault_server, f"{prefix}/api", {"v": "2"})
    name = azure_name(f"{prefix}/db")
    event = [
        {
            "id": str(uuid.uuid4()),
            "topic": "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v",
            "subject": name,
            "eventType": "Microsoft.KeyVault.SecretNewVersionCreated",
            "data": {
                "Id": f"{keyvault_server.vault_url}/secrets/{name}/0123456789abcdef",
                "VaultName": "emulated",
                "ObjectType": "Secret",
                "ObjectName": name,
                "Version": "0123456789abcdef",
            },
            "dataVersion": "1",
            "metadataVersion": "1",
            "eventTime": "2026-11-29T12:00:00Z",
        }
    ]
    started = time.monotonic()
    status, answer = await post(federation_api, "azure", event, federation_api.notifier)
    assert status == 200, answer
    assert answer["synced"][0]["paths"] == ["external/azure/db"]
    await changed_within(
        cluster, "azure-hourly", "external-azure-db", {"v": "rotated-2"}, started, before
    )
    moved = await settled_calls(operator_metrics_port, "azure-key-vault", calls, "read")
    assert moved.get(("read", "ok")) == 1, moved


async def test_receivers_refuse_a_token_without_federation_notify(
    federation_api: FederationApi,
) -> None:
    for receiver, body in (("aws", {}), ("google", {}), ("azure", [])):
        status, answer = await post(federation_api, receiver, body, federation_api.reader)
        assert status == 403, answer
        assert answer["error"]["message"] == "federation:notify is required"


async def test_an_event_syncs_that_path_in_each_namespace_a_cluster_backend_selects(
    fleet: Fleet, moto_server: MotoServer, federation_api: FederationApi
) -> None:
    prefix = f"ntf-c-{uuid.uuid4().hex[:8]}"
    a, b = await fleet.namespace(True), await fleet.namespace(True)
    admin = moto_server.client("secretsmanager")
    for tenant in (a, b):
        for name in ("db", "api"):
            put_secret(admin, f"{prefix}/{tenant.namespace}/{name}", {"v": "1"})
    creds = await fleet.put_credentials(
        {
            "access_key_id": moto_server.access_key_id,
            "secret_access_key": moto_server.secret_access_key,
        }
    )
    name = f"e2e-notify-{fleet.id}"
    await fleet.post(
        name,
        {
            "type": "aws-secrets-manager",
            "config": {
                "region": moto_server.region,
                "endpoint": moto_server.endpoint,
                "credentialsPath": creds,
            },
            "pathMapping": {"team/**": f"{prefix}/{{namespace}}/**"},
            "mode": "sync",
            "syncInterval": "1h",
        },
    )
    try:
        first = await fleet.wait_namespaces(name, a, b)
        assert first["secretsSynced"] == 4
        before = {t.namespace: versions(await t.secrets()) for t in (a, b)}

        put_secret(admin, f"{prefix}/{a.namespace}/db", {"v": "rotated-2"})
        put_secret(admin, f"{prefix}/{b.namespace}/api", {"v": "2"})  # no event for it
        arn = admin.describe_secret(SecretId=f"{prefix}/{a.namespace}/db")["ARN"]
        started = time.monotonic()
        status, answer = await post(
            federation_api,
            "aws",
            eventbridge_event(arn, moto_server.region),
            federation_api.notifier,
        )
        assert status == 200, answer
        [synced] = answer["synced"]
        assert (synced["name"], synced["scope"], synced["namespace"]) == (name, "cluster", None)
        assert synced["paths"] == ["team/db"]

        async def updated() -> bool:
            found = await a.secret("team-db")
            return found is not None and decoded(found) == {"v": "rotated-2"}

        await eventually(updated, timeout=10, what="team-db in the first namespace")
        print(f"team-db updated {time.monotonic() - started:.2f}s after the event")
        # only that Secret moved: b's team-db was read again (unchanged), team-api of b
        # waits for the hourly sync
        await asyncio.sleep(1.0)
        after = {t.namespace: versions(await t.secrets()) for t in (a, b)}
        moved = sorted(
            (ns, n) for ns, items in after.items() for n, rv in items.items() if rv != before[ns][n]
        )
        assert moved == [(a.namespace, "team-db")]
        assert decoded(await b.secret("team-api") or {}) == {"v": "1"}
        status_after = await fleet.status(name)
        assert status_after["secretsSynced"] == 4
        # the hourly sync stays when it was due
        moved_by = parse(status_after["nextSyncAt"]) - parse(first["nextSyncAt"])
        assert abs(moved_by.total_seconds()) <= 1, moved_by
    finally:
        await fleet.delete(name)
