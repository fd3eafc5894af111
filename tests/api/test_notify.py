"""The cloud change receivers against the real apiserver: who may call them, what a
delivery writes (the per-path sync annotations of the backends that map the
secret, nothing else), Event Grid's handshakes, malformed bodies, redeliveries,
and Pub/Sub push OIDC tokens checked against keys served here."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from scaivault_devenv.aws_events import eventbridge_event
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.processes import free_port
from scaivault_federation.api.server import ApiServer
from scaivault_federation.settings import Settings
from tests.api_server import started_api

from ..e2e.fleet import Fleet
from .conftest import (
    API_NAMESPACE,
    CLUSTER_BACKENDS,
    CLUSTER_PREFIX,
    RESTRICTED_NAMESPACE,
    Namespace,
    Tokens,
)
from .helpers import (
    FED,
    ApiClient,
    OpenApiChecker,
    cluster_role_token,
    eventually,
    service_account_token,
)

pytestmark = pytest.mark.e2e

NOTIFY = f"{FED}/notify"
REQUESTED = "federation.scaivault.io/sync-requested-at"
PATHS = "federation.scaivault.io/sync-paths"
NOWHERE = "http://127.0.0.1:1"
REGION = "eu-west-3"
PROJECT = "notify-project"
FEDB = ("federation.scaivault.io", "federationbackends")
NOTIFY_RULE = ("federation.scaivault.io", "federationbackends/notify")
CLUSTER_NOTIFY_RULE = ("federation.scaivault.io", "clusterfederationbackends/notify")


def eventbridge(secret_id: str, name: str = "PutSecretValue", **extra: Any) -> dict[str, Any]:
    return eventbridge_event(secret_id, REGION, name, **extra)


def pubsub(secret_id: str, event_type: str = "SECRET_VERSION_ADD") -> dict[str, Any]:
    return {
        "message": {
            "attributes": {
                "eventType": event_type,
                "secretId": f"projects/{PROJECT}/secrets/{secret_id}",
                "dataFormat": "JSON_API_V1",
            },
            "data": base64.b64encode(b"{}").decode(),
            "messageId": str(uuid.uuid4().int)[:16],
            "publishTime": "2026-11-29T12:00:00Z",
        },
        "subscription": f"projects/{PROJECT}/subscriptions/scaivault",
    }


def event_grid(name: str, vault_url: str = "https://notify-vault.vault.azure.net") -> Any:
    return [
        {
            "id": str(uuid.uuid4()),
            "topic": "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v",
            "subject": name,
            "eventType": "Microsoft.KeyVault.SecretNewVersionCreated",
            "data": {
                "Id": f"{vault_url}/secrets/{name}/abc",
                "VaultName": "notify-vault",
                "ObjectType": "Secret",
                "ObjectName": name,
                "Version": "abc",
            },
            "dataVersion": "1",
            "metadataVersion": "1",
            "eventTime": "2026-11-29T12:00:00Z",
        }
    ]


async def aws_backend(api: ApiClient, namespace: str, prefix: str) -> dict[str, Any]:
    body = {
        "name": f"aws-{uuid.uuid4().hex[:6]}",
        "namespace": namespace,
        "type": "aws-secrets-manager",
        "config": {"region": REGION, "endpoint": NOWHERE},
        "path_mapping": {"external/aws/**": f"{prefix}/**"},
        "mode": "sync",
        "sync_interval": "1h",
    }
    reply = await api.post(f"{FED}/backends", json=body)
    assert reply.status == 201, reply.body
    created: dict[str, Any] = reply.body
    return created


async def notes_of(ns: Namespace, name: str) -> dict[str, str]:
    cr = await ns.kube.get(f"{ns.backends()}/{name}")
    notes: dict[str, str] = cr["metadata"].get("annotations") or {}
    return notes


async def test_a_change_requests_a_sync_of_its_path_once(api: ApiClient, ns: Namespace) -> None:
    prefix = f"n-{uuid.uuid4().hex[:6]}"
    backend = await aws_backend(api, ns.name, prefix)
    other = await aws_backend(api, ns.name, f"other-{prefix}")
    arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:{prefix}/db/password-Xy12Ab"
    event = eventbridge(arn)
    reply = await api.post(f"{NOTIFY}/aws", json=event)
    assert reply.status == 200, reply.body
    assert reply.body["events"] == [
        {"id": event["id"], "outcome": "sync_requested", "reason": None}
    ]
    [synced] = reply.body["synced"]
    assert (synced["id"], synced["name"], synced["namespace"]) == (
        backend["id"],
        backend["name"],
        ns.name,
    )
    assert synced["paths"] == ["external/aws/db/password"]
    notes = await notes_of(ns, backend["name"])
    assert notes[REQUESTED] == synced["sync_requested_at"]
    assert json.loads(notes[PATHS]) == {
        "requestedAt": synced["sync_requested_at"],
        "paths": ["external/aws/db/password"],
    }
    assert REQUESTED not in await notes_of(ns, other["name"])

    # the same event again (EventBridge retries): acknowledged, nothing requested
    again = await api.post(f"{NOTIFY}/aws", json=event)
    assert again.status == 200
    assert again.body["events"][0]["outcome"] == "duplicate"
    assert again.body["synced"] == []
    assert (await notes_of(ns, backend["name"]))[REQUESTED] == notes[REQUESTED]


async def test_a_burst_of_changes_of_one_backend_is_written_in_a_few_patches(
    api: ApiClient, ns: Namespace
) -> None:
    """Events delivered at once, one per request as EventBridge sends them: each is
    answered, none meets another's write, and they reach the backend together."""
    prefix = f"n-{uuid.uuid4().hex[:6]}"
    backend = await aws_backend(api, ns.name, prefix)
    few = [
        f"arn:aws:secretsmanager:{REGION}:123456789012:secret:{prefix}/s{i}-Xy12Ab"
        for i in range(30)
    ]
    replies = await asyncio.gather(*(api.post(f"{NOTIFY}/aws", json=eventbridge(a)) for a in few))
    assert all(r.status == 200 for r in replies), [r.body for r in replies if r.status != 200]
    stamps = {r.body["synced"][0]["sync_requested_at"] for r in replies}
    assert len(stamps) < len(few) / 3, len(stamps)
    notes = await notes_of(ns, backend["name"])
    assert notes[REQUESTED] == max(stamps)
    pending = json.loads(notes[PATHS])["paths"]  # merged: none is lost
    assert sorted(pending) == sorted(f"external/aws/s{i}" for i in range(30))

    # more than a per-path sync takes, at once: a full sync
    many = [
        f"arn:aws:secretsmanager:{REGION}:123456789012:secret:{prefix}/m{i}-Xy12Ab"
        for i in range(150)
    ]
    replies = await asyncio.gather(*(api.post(f"{NOTIFY}/aws", json=eventbridge(a)) for a in many))
    assert all(r.status == 200 for r in replies)
    notes = await notes_of(ns, backend["name"])
    if PATHS in notes:  # a request merged into a pending one names it and its own paths
        doc = json.loads(notes[PATHS])
        assert doc["requestedAt"] == notes[REQUESTED] and doc["paths"] is None
        assert doc["merged"] >= max(stamps) and 1 <= len(doc["added"]) <= 100


async def test_unmapped_and_other_events_write_nothing(api: ApiClient, ns: Namespace) -> None:
    prefix = f"n-{uuid.uuid4().hex[:6]}"
    backend = await aws_backend(api, ns.name, prefix)
    cases = [
        (eventbridge("somewhere-else/db"), "unmapped"),
        (eventbridge(f"{prefix}/db", "GetSecretValue"), "ignored"),
        (eventbridge(f"{prefix}/db", errorCode="ResourceNotFoundException"), "ignored"),
        ({**eventbridge(f"{prefix}/db"), "region": "ap-south-2"}, "unmapped"),
        ({**eventbridge(f"{prefix}/db"), "source": "aws.kms"}, "ignored"),
    ]
    for event, outcome in cases:
        reply = await api.post(f"{NOTIFY}/aws", json=event)
        assert reply.status == 200, reply.body
        assert reply.body["events"][0]["outcome"] == outcome, (event, reply.body)
        assert reply.body["events"][0]["reason"]
        assert reply.body["synced"] == []
    for body, outcome in (
        (pubsub("apps__db"), "unmapped"),
        (pubsub("apps__db", "SECRET_UPDATE"), "ignored"),
    ):
        reply = await api.post(f"{NOTIFY}/google", json=body)
        assert reply.status == 200 and reply.body["events"][0]["outcome"] == outcome
    reply = await api.post(f"{NOTIFY}/azure", json=event_grid("apps--db"))
    assert reply.status == 200 and reply.body["events"][0]["outcome"] == "unmapped"
    assert REQUESTED not in await notes_of(ns, backend["name"])


async def test_event_grid_handshakes(api: ApiClient) -> None:
    code = str(uuid.uuid4())
    validation = [
        {
            "id": str(uuid.uuid4()),
            "topic": "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v",
            "subject": "",
            "data": {
                "validationCode": code,
                "validationUrl": "https://rp-westus.eventgrid.azure.net/validate?code=x",
            },
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": "2026-11-29T12:00:00Z",
            "metadataVersion": "1",
            "dataVersion": "2",
        }
    ]
    reply = await api.post(f"{NOTIFY}/azure", json=validation)
    assert reply.status == 200
    assert reply.body == {"validationResponse": code}
    # CloudEvents schema: the OPTIONS handshake
    options = await api.call(
        "OPTIONS", f"{NOTIFY}/azure", headers={"WebHook-Request-Origin": "eventgrid.azure.net"}
    )
    assert options.status == 200
    assert options.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
    assert options.headers["WebHook-Allowed-Rate"] == "*"
    missing = await api.call("OPTIONS", f"{NOTIFY}/azure")
    assert missing.status == 400 and missing.error["field"] == "WebHook-Request-Origin"


async def test_cloudevents_deliveries(api: ApiClient, ns: Namespace) -> None:
    grid = event_grid("apps--db")[0]
    cloud = {
        "specversion": "1.0",
        "id": grid["id"],
        "type": grid["eventType"],
        "source": grid["topic"],
        "subject": grid["subject"],
        "time": grid["eventTime"],
        "data": grid["data"],
    }
    for media, body in (
        ("application/cloudevents+json", cloud),
        ("application/cloudevents-batch+json", [{**cloud, "id": str(uuid.uuid4())}]),
    ):
        reply = await api.post(
            f"{NOTIFY}/azure", data=json.dumps(body), headers={"Content-Type": media}
        )
        assert reply.status == 200, reply.body
        assert reply.body["events"][0]["outcome"] == "unmapped"


@pytest.mark.parametrize(
    ("receiver", "body", "field"),
    [
        ("aws", {"source": "aws.secretsmanager"}, "id"),
        ("aws", {**eventbridge("x"), "detail": []}, "detail"),
        ("aws", eventbridge("arn:aws:iam::1:role/x"), "detail.requestParameters.secretId"),
        ("aws", [], None),
        ("google", {"message": "x"}, "message"),
        ("google", {"message": {"attributes": {}}}, "message.messageId"),
        ("azure", [{"id": "1", "eventType": "Microsoft.KeyVault.SecretExpired"}], "[0].data"),
        ("azure", {"id": "1"}, "eventType"),
    ],
)
async def test_malformed_deliveries_are_400_naming_the_field(
    api: ApiClient, receiver: str, body: Any, field: str | None
) -> None:
    reply = await api.post(f"{NOTIFY}/{receiver}", json=body)
    assert reply.status == 400, reply.body
    assert reply.error.get("field") == field, reply.error


async def test_not_json(api: ApiClient) -> None:
    for receiver in ("aws", "google", "azure"):
        reply = await api.post(
            f"{NOTIFY}/{receiver}", data="{", headers={"Content-Type": "application/json"}
        )
        assert reply.status == 400
        reply = await api.post(
            f"{NOTIFY}/{receiver}", data="x=1", headers={"Content-Type": "text/plain"}
        )
        assert reply.status == 415


BODIES = {"aws": eventbridge("x"), "google": pubsub("x"), "azure": event_grid("x")}


async def every_receiver(api: ApiClient, *, query_token: str | None = None) -> list[int]:
    params = {"token": query_token} if query_token else None
    statuses = []
    for receiver, body in BODIES.items():
        reply = await api.post(f"{NOTIFY}/{receiver}", json=body, params=params)
        statuses.append(reply.status)
    options = await api.call(
        "OPTIONS",
        f"{NOTIFY}/azure",
        headers={"WebHook-Request-Origin": "eventgrid.azure.net"},
        params=params,
    )
    return [*statuses, options.status]


async def test_a_token_without_federation_notify_gets_403_everywhere(
    api: ApiClient, tok: Tokens, ns: Namespace
) -> None:
    for token in (tok.read_only, tok.fed_write, tok.secrets_rw):
        assert await every_receiver(api.with_token(token)) == [403] * 4
        assert await every_receiver(api.with_token(None), query_token=token) == [403] * 4
    reply = await api.with_token(tok.fed_write).post(f"{NOTIFY}/aws", json=BODIES["aws"])
    assert reply.error == {"code": "forbidden", "message": "federation:notify is required"}
    # a Kubernetes token that may do everything with FederationBackends but notify
    kube = await service_account_token(
        ns.kube, ns.name, {FEDB: ["get", "list", "create", "patch", "update", "delete"]}
    )
    assert await every_receiver(api.with_token(kube)) == [403] * 4
    # no token, or a bad one
    assert await every_receiver(api.with_token(None)) == [401] * 4
    assert await every_receiver(api.with_token("not-a-valid-token")) == [401] * 4
    assert await every_receiver(api.with_token(None), query_token="bad-token-x") == [401] * 4
    # with the scope, in the header or the query
    assert await every_receiver(api.with_token(tok.admin)) == [200] * 4
    assert await every_receiver(api.with_token(None), query_token=tok.admin) == [200] * 4


async def test_kubernetes_tokens_notify_where_rbac_allows(api: ApiClient, ns: Namespace) -> None:
    prefix = f"n-{uuid.uuid4().hex[:6]}"
    here = await aws_backend(api, ns.name, prefix)
    there = await aws_backend(api, API_NAMESPACE, prefix)
    kube = await service_account_token(ns.kube, ns.name, {NOTIFY_RULE: ["update"]})
    notifier = api.with_token(kube)
    reply = await notifier.post(f"{NOTIFY}/aws", json=eventbridge(f"{prefix}/db"))
    assert reply.status == 200, reply.body
    assert [s["id"] for s in reply.body["synced"]] == [here["id"]]
    assert REQUESTED in await notes_of(ns, here["name"])
    elsewhere = Namespace(API_NAMESPACE, ns.kube)
    assert REQUESTED not in await notes_of(elsewhere, there["name"])


async def test_cluster_backends_are_notified_with_cluster_rights(
    api: ApiClient, tok: Tokens, ns: Namespace, fleet: Fleet
) -> None:
    """A ClusterFederationBackend gets the request through each namespace it selects,
    and only for callers that may notify cluster backends (a review with no
    namespace); the namespaced backend beside it keeps its own rule."""
    prefix = f"n-{uuid.uuid4().hex[:6]}"
    a = (await fleet.namespace(True)).namespace
    b = (await fleet.namespace(True)).namespace
    outside = (await fleet.namespace(False)).namespace
    name = f"{CLUSTER_PREFIX}notify-{fleet.id}"
    body = {
        "name": name,
        "scope": "cluster",
        "type": "aws-secrets-manager",
        "config": {"region": REGION, "endpoint": NOWHERE},
        "namespace_selector": {"match_labels": fleet.match_labels},
        "path_mapping": {
            "team/**": f"{prefix}/{{namespace}}/**",
            "shared/**": f"{prefix}/shared/**",
        },
        "mode": "sync",
        "sync_interval": "1h",
    }
    reply = await api.post(f"{FED}/backends", json=body)
    assert reply.status == 201, reply.body
    created = reply.body
    own = await aws_backend(api, ns.name, f"{prefix}/{a}")  # maps a's secrets too
    cr_path = f"{CLUSTER_BACKENDS}/{name}"

    async def cluster_notes() -> dict[str, str]:
        cr = await ns.kube.get(cr_path)
        notes: dict[str, str] = cr["metadata"].get("annotations") or {}
        return notes

    try:

        async def routed() -> Any:
            reply = await api.post(f"{NOTIFY}/aws", json=eventbridge(f"{prefix}/{b}/db"))
            assert reply.status == 200, reply.body
            return reply if reply.body["synced"] else None

        reply = await eventually(routed, 30, "the API to see the selected namespaces")
        [synced] = reply.body["synced"]
        assert synced == {
            "id": created["id"],
            "name": name,
            "namespace": None,
            "scope": "cluster",
            "paths": ["team/db"],
            "sync_requested_at": synced["sync_requested_at"],
        }
        notes = await cluster_notes()
        assert notes[REQUESTED] == synced["sync_requested_at"]
        assert json.loads(notes[PATHS])["paths"] == ["team/db"]
        # a secret of both: the namespaced backend first, then the cluster one
        both = await api.post(f"{NOTIFY}/aws", json=eventbridge(f"{prefix}/{a}/db"))
        assert [(s["id"], s["scope"], s["paths"]) for s in both.body["synced"]] == [
            (own["id"], "namespace", ["external/aws/db"]),
            (created["id"], "cluster", ["team/db"]),
        ]
        shared = await api.post(f"{NOTIFY}/aws", json=eventbridge(f"{prefix}/shared/x"))
        assert [s["paths"] for s in shared.body["synced"]] == [["shared/x"]]  # once, for a and b
        unselected = await api.post(f"{NOTIFY}/aws", json=eventbridge(f"{prefix}/{outside}/db"))
        assert unselected.body["events"][0]["outcome"] == "unmapped"

        # rights to notify in a namespace reach no cluster backend
        before = (await cluster_notes())[REQUESTED]
        own_before = (await notes_of(ns, own["name"]))[REQUESTED]
        here = await service_account_token(ns.kube, ns.name, {NOTIFY_RULE: ["update"]})
        denied = await api.with_token(here).post(
            f"{NOTIFY}/aws", json=eventbridge(f"{prefix}/{b}/db")
        )
        assert denied.status == 200, denied.body
        assert denied.body["events"][0]["outcome"] == "unmapped"
        assert "may not notify" in denied.body["events"][0]["reason"]
        restricted = api.with_token(tok.restricted)
        denied = await restricted.post(f"{NOTIFY}/aws", json=eventbridge(f"{prefix}/{b}/db"))
        assert denied.body["synced"] == []
        assert (await cluster_notes())[REQUESTED] == before
        # cluster rights alone: the cluster backend, not the namespaced one
        cluster_token = await cluster_role_token(
            ns.kube, ns.name, {CLUSTER_NOTIFY_RULE: ["update"]}
        )
        notifier = api.with_token(cluster_token)
        reply = await notifier.post(f"{NOTIFY}/aws", json=eventbridge(f"{prefix}/{a}/db"))
        assert reply.status == 200, reply.body
        assert [s["id"] for s in reply.body["synced"]] == [created["id"]]
        assert (await cluster_notes())[REQUESTED] == reply.body["synced"][0]["sync_requested_at"]
        assert (await notes_of(ns, own["name"]))[REQUESTED] == own_before
    finally:
        await fleet.delete(name)


async def test_a_static_token_limited_to_a_namespace(
    api: ApiClient, tok: Tokens, ns: Namespace
) -> None:
    prefix = f"n-{uuid.uuid4().hex[:6]}"
    allowed = await aws_backend(api, RESTRICTED_NAMESPACE, prefix)
    other = await aws_backend(api, ns.name, prefix)
    reply = await api.with_token(tok.restricted).post(
        f"{NOTIFY}/aws", json=eventbridge(f"{prefix}/db")
    )
    assert reply.status == 200, reply.body
    assert [s["id"] for s in reply.body["synced"]] == [allowed["id"]]
    assert REQUESTED not in await notes_of(ns, other["name"])
    only_elsewhere = await api.with_token(tok.restricted).post(
        f"{NOTIFY}/aws", json=eventbridge(f"{prefix}-none/db")
    )
    assert only_elsewhere.body["events"][0]["outcome"] == "unmapped"


# --- Pub/Sub push OIDC tokens -------------------------------------------------------------

AUDIENCE = "https://scaivault.example/v1/federation/notify/google"
PUSHER = "pubsub-push@notify-project.iam.gserviceaccount.com"


class Signer:
    """An RSA key whose public half a local JWKS endpoint serves, as Google serves its own."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        self.fetches = 0

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": "https://accounts.google.com",
            "aud": AUDIENCE,
            "email": PUSHER,
            "email_verified": True,
            "iat": now,
            "exp": now + 3600,
            "sub": "1234567890",
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture(scope="module")
async def push_api(
    control_plane: ControlPlane, crd: None, tokens: tuple[Path, Tokens]
) -> AsyncIterator[tuple[ApiServer, Signer]]:
    """A second API configured for Pub/Sub push tokens, whose keys are served here."""
    signer = Signer()

    async def keys(request: web.Request) -> web.Response:
        signer.fetches += 1
        return web.json_response(signer.jwks())

    app = web.Application()
    app.router.add_get("/certs", keys)
    runner = web.AppRunner(app)
    await runner.setup()
    jwks_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", jwks_port).start()
    settings = Settings.load(
        api_host="127.0.0.1",
        api_port=free_port(),
        api_default_namespace=API_NAMESPACE,
        api_static_tokens=tokens[0],
        kubeconfig=str(control_plane.kubeconfig),
        api_google_push_audience=AUDIENCE,
        api_google_push_service_accounts=PUSHER,
        api_google_push_jwks_url=f"http://127.0.0.1:{jwks_port}/certs",
    )
    async with started_api(settings) as server:
        yield server, signer
    await runner.cleanup()


async def google_backend(api: ApiClient, namespace: str, prefix: str) -> dict[str, Any]:
    body = {
        "name": f"gsm-{uuid.uuid4().hex[:6]}",
        "namespace": namespace,
        "type": "google-secret-manager",
        "config": {"project": PROJECT, "endpoint": NOWHERE},
        "path_mapping": {"external/google/**": f"{prefix}/**"},
        "mode": "sync",
        "sync_interval": "1h",
    }
    reply = await api.post(f"{FED}/backends", json=body)
    assert reply.status == 201, reply.body
    created: dict[str, Any] = reply.body
    return created


async def test_pubsub_push_oidc_tokens(
    push_api: tuple[ApiServer, Signer],
    http_session: aiohttp.ClientSession,
    checker: OpenApiChecker,
    api: ApiClient,
    tok: Tokens,
    ns: Namespace,
) -> None:
    server, signer = push_api
    pusher = ApiClient(http_session, server.url, checker)
    prefix = f"g{uuid.uuid4().hex[:6]}"
    backend = await google_backend(api, ns.name, prefix)

    async def cached() -> bool:
        return server.cache.get(backend["id"]) is not None

    await eventually(cached, what="the backend in the second API's cache")
    reply = await pusher.post(
        f"{NOTIFY}/google", json=pubsub(f"{prefix}__db"), token=signer.token()
    )
    assert reply.status == 200, reply.body
    assert reply.body["synced"][0]["paths"] == ["external/google/db"]
    assert REQUESTED in await notes_of(ns, backend["name"])

    for claims, why in (
        ({"aud": "https://elsewhere.example"}, "another audience"),
        ({"email": "someone@evil.iam.gserviceaccount.com"}, "not allowed"),
        ({"email_verified": False}, "no verified service account"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"iss": "accounts.google.com", "aud": "x"}, "another audience"),
    ):
        denied = await pusher.post(
            f"{NOTIFY}/google", json=pubsub(f"{prefix}__db"), token=signer.token(**claims)
        )
        assert denied.status == 401, (claims, denied.body)
        assert why in denied.error["message"], denied.error
    forged = Signer()
    forged.kid = signer.kid  # same key id, another key
    denied = await pusher.post(f"{NOTIFY}/google", json=pubsub("x"), token=forged.token())
    assert denied.status == 401
    # a push token is good for the Google receiver only
    elsewhere = await pusher.post(f"{NOTIFY}/aws", json=eventbridge("x"), token=signer.token())
    assert elsewhere.status == 401
    listing = await pusher.get(f"{FED}/backends", token=signer.token())
    assert listing.status == 401
    # static tokens work beside push tokens; the keys were fetched once
    assert (await pusher.post(f"{NOTIFY}/google", json=pubsub("x"), token=tok.admin)).status == 200
    denied = await pusher.post(f"{NOTIFY}/google", json=pubsub("x"), token=tok.read_only)
    assert denied.status == 403
    assert signer.fetches == 1
