"""spec.target against the real apiserver and the real servers: Secret types the
apiserver validates, templated metadata, whole files, no-op syncs, exact rewrites,
wildcards inside a segment, and bad input refused naming the field."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from scaivault_devenv.gsm import GoogleEmulator
from scaivault_devenv.moto import MotoServer
from scaivault_devenv.openbao import OpenBaoServer
from scaivault_federation.k8s.client import InvalidError
from scaivault_federation.labels import credentials_labels
from tests.backends.harness_aws import put_secret
from tests.backends.harness_google import put_value

from .helpers import Cluster, decoded, eventually

pytestmark = pytest.mark.e2e

CANARY = "e2e-target-canary-93ab7e"
DOCKER_CONFIG = json.dumps(
    {
        "auths": {
            "registry.example.com": {"auth": base64.b64encode(b"ci:" + CANARY.encode()).decode()}
        }
    }
)


def healthy(status: dict[str, Any]) -> bool:
    return status.get("status") == "healthy" and status.get("secretsSynced") is not None


def version(secret: dict[str, Any] | None) -> str:
    assert secret is not None
    return str(secret["metadata"]["resourceVersion"])


async def aws_backend(
    cluster: Cluster, moto: MotoServer, name: str, spec: dict[str, Any]
) -> dict[str, Any]:
    await cluster.put_credentials(
        "creds-aws",
        {"access_key_id": moto.access_key_id, "secret_access_key": moto.secret_access_key},
    )
    base = {
        "type": "aws-secrets-manager",
        "config": {
            "region": moto.region,
            "endpoint": moto.endpoint,
            "credentialsPath": "creds/aws",
        },
        "mode": "sync",
        "syncInterval": "10m",
    }
    return await cluster.create_backend(name, {**base, **spec})


async def vault_backend(
    cluster: Cluster, openbao: OpenBaoServer, name: str, spec: dict[str, Any]
) -> dict[str, Any]:
    await cluster.put_credentials("creds-vault", {"token": openbao.root_token})
    base = {
        "type": "hashicorp-vault",
        "config": {"endpoint": openbao.address, "authConfigPath": "creds/vault"},
        "mode": "sync",
        "syncInterval": "10m",
    }
    return await cluster.create_backend(name, {**base, **spec})


async def google_backend(
    cluster: Cluster, emulator: GoogleEmulator, name: str, credentials: str, spec: dict[str, Any]
) -> dict[str, Any]:
    base = {
        "type": "google-secret-manager",
        "config": {
            "project": emulator.project,
            "endpoint": emulator.endpoint,
            "credentialsPath": credentials,
        },
        "mode": "sync",
        "syncInterval": "10m",
    }
    return await cluster.create_backend(name, {**base, **spec})


def seed_vault(openbao: OpenBaoServer, path: str, data: dict[str, str]) -> None:
    openbao.request("POST", f"/v1/secret/data/{path}", {"data": data})


async def test_a_docker_config_from_aws_is_an_image_pull_secret(
    cluster: Cluster, moto_server: MotoServer
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    admin = moto_server.client("secretsmanager")
    put_secret(admin, f"{prefix}/registry/web", DOCKER_CONFIG)
    await aws_backend(
        cluster,
        moto_server,
        "pull",
        {
            "pathMapping": {"registry/*": f"{prefix}/registry/*"},
            "target": {
                "type": "kubernetes.io/dockerconfigjson",
                "labels": {"team": "payments", "app": "{{ captures[0] }}"},
                "annotations": {
                    "reloader.stakater.com/match": "true",
                    "example.com/source": "{{ remote_path }}",
                },
                "data": {"extract": "whole", "key": ".dockerconfigjson"},
            },
        },
    )
    status = await cluster.wait_status("pull", healthy)
    assert status["secretsSynced"] == 1, status
    secret = await cluster.secret("registry-web")
    assert secret is not None
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert decoded(secret) == {".dockerconfigjson": DOCKER_CONFIG}
    meta = secret["metadata"]
    assert meta["labels"]["team"] == "payments" and meta["labels"]["app"] == "web"
    assert meta["annotations"]["reloader.stakater.com/match"] == "true"
    assert meta["annotations"]["example.com/source"] == f"{prefix}/registry/web"

    # the apiserver validates this type itself: invalid JSON under the key is refused
    with pytest.raises(InvalidError) as refused:
        await cluster.kube.post(
            f"/api/v1/namespaces/{cluster.namespace}/secrets",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "not-a-docker-config"},
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": base64.b64encode(b"{not json").decode()},
            },
        )
    assert ".dockerconfigjson" in refused.value.detail

    # a label added by hand stays; a sync with nothing changed writes nothing
    url = f"/api/v1/namespaces/{cluster.namespace}/secrets/registry-web"
    await cluster.kube.merge_patch(url, {"metadata": {"labels": {"added-by": "hand"}}})
    before = version(await cluster.secret("registry-web"))
    await cluster.sync_now("pull")
    await cluster.sync_now("pull")
    after = await cluster.secret("registry-web")
    assert version(after) == before
    assert after is not None and after["metadata"]["labels"]["added-by"] == "hand"

    # a new remote value is written and the hand-added label still stays
    changed = DOCKER_CONFIG.replace("registry.example.com", "mirror.example.com")
    put_secret(admin, f"{prefix}/registry/web", changed)
    await cluster.sync_now("pull")
    after = await cluster.secret("registry-web")
    assert after is not None and decoded(after) == {".dockerconfigjson": changed}
    assert after["metadata"]["labels"]["added-by"] == "hand"
    assert after["metadata"]["labels"]["team"] == "payments"


async def test_a_tls_secret_from_two_vault_fields(cluster: Cluster, openbao: OpenBaoServer) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    seed_vault(openbao, f"{prefix}/web", {"cert": "CERT-PEM", "key": CANARY, "ttl": "24h"})
    seed_vault(openbao, f"{prefix}/plain", {"user": "u", "password": "p"})
    await vault_backend(
        cluster,
        openbao,
        "certs",
        {
            "pathMapping": {"apps/*": f"secret/data/{prefix}/*"},
            "target": {
                "rules": [
                    {
                        "path": "apps/web",
                        "type": "kubernetes.io/tls",
                        "data": {
                            "template": {"tls.crt": "{{ data.cert }}", "tls.key": "{{ data.key }}"}
                        },
                    }
                ]
            },
        },
    )
    await cluster.wait_status("certs", lambda s: healthy(s) and s["secretsSynced"] == 2)
    tls = await cluster.secret("apps-web")
    assert tls is not None and tls["type"] == "kubernetes.io/tls"
    assert decoded(tls) == {"tls.crt": "CERT-PEM", "tls.key": CANARY}
    plain = await cluster.secret("apps-plain")
    assert plain is not None and plain["type"] == "Opaque"
    assert decoded(plain) == {"user": "u", "password": "p"}

    # the type changes: the Secret is deleted and created again (types are immutable)
    old_uid = tls["metadata"]["uid"]
    patch = {"spec": {"target": {"rules": [{"path": "apps/web", "type": "Opaque"}]}}}
    await cluster.kube.merge_patch(cluster.backend_url("certs"), patch)

    async def recreated() -> dict[str, Any] | None:
        found = await cluster.secret("apps-web")
        return found if found is not None and found["type"] == "Opaque" else None

    again = await eventually(recreated, 20, "the Secret to be recreated as Opaque")
    assert again["metadata"]["uid"] != old_uid
    assert decoded(again) == {"cert": "CERT-PEM", "key": CANARY, "ttl": "24h"}


async def test_a_google_key_synced_whole_becomes_another_backends_credentials(
    cluster: Cluster, gsm_emulator: GoogleEmulator
) -> None:
    prefix = f"e2e{uuid.uuid4().hex[:8]}"
    put_value(gsm_emulator, f"{prefix}/keys/reader", gsm_emulator.key_json("reader"))
    put_value(gsm_emulator, f"{prefix}/apps/db", {"password": "pw"})
    await cluster.put_credentials("bootstrap-google", {"credentials.json": gsm_emulator.key_json()})
    await google_backend(
        cluster,
        gsm_emulator,
        "keys",
        "bootstrap/google",
        {
            "pathMapping": {"creds/*": f"{prefix}/keys/*"},
            "target": {
                "data": {"extract": "whole", "key": "credentials.json"},
                "labels": credentials_labels(),  # a backend may name it as credentials
            },
        },
    )
    await cluster.wait_status("keys", healthy)
    key = await cluster.secret("creds-reader")
    assert key is not None and list(key["data"]) == ["credentials.json"]
    assert json.loads(decoded(key)["credentials.json"])["type"] == "service_account"

    await google_backend(
        cluster,
        gsm_emulator,
        "apps",
        "creds/reader",
        {"pathMapping": {"apps/**": f"{prefix}/apps/**"}},
    )
    status = await cluster.wait_status("apps", healthy)
    assert status["secretsSynced"] == 1
    db = await cluster.secret("apps-db")
    assert db is not None and decoded(db) == {"password": "pw"}


async def test_a_changed_template_rewrites_exactly_the_secrets_whose_output_changed(
    cluster: Cluster, openbao: OpenBaoServer
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    for name in ("a", "b", "c"):
        seed_vault(openbao, f"{prefix}/{name}", {"user": name, "password": CANARY})
    tier = "{{ 'gold' if captures[0] == 'a' else 'basic' }}"
    await vault_backend(
        cluster,
        openbao,
        "tiers",
        {
            "pathMapping": {"db/*": f"secret/data/{prefix}/*"},
            "target": {"labels": {"tier": tier}, "annotations": {"owner": "{{ data.user }}"}},
        },
    )
    await cluster.wait_status("tiers", lambda s: healthy(s) and s["secretsSynced"] == 3)
    before = {n: version(await cluster.secret(f"db-{n}")) for n in "abc"}
    labels = {n: (await cluster.secret(f"db-{n}") or {})["metadata"]["labels"] for n in "abc"}
    assert [labels[n]["tier"] for n in "abc"] == ["gold", "basic", "basic"]

    await cluster.sync_now("tiers")  # nothing changed: nothing written
    assert {n: version(await cluster.secret(f"db-{n}")) for n in "abc"} == before

    changed = "{{ 'platinum' if captures[0] == 'a' else 'basic' }}"
    patch = {"spec": {"target": {"labels": {"tier": changed}}}}
    await cluster.kube.merge_patch(cluster.backend_url("tiers"), patch)
    generation = (await cluster.get_backend("tiers"))["metadata"]["generation"]
    await cluster.wait_status("tiers", lambda s: s.get("observedGeneration") == generation)
    after = {n: version(await cluster.secret(f"db-{n}")) for n in "abc"}
    assert after["a"] != before["a"]
    assert after["b"] == before["b"] and after["c"] == before["c"]
    secret_a = await cluster.secret("db-a")
    assert secret_a is not None and secret_a["metadata"]["labels"]["tier"] == "platinum"


async def test_google_flat_names_inside_a_segment(
    cluster: Cluster, gsm_emulator: GoogleEmulator
) -> None:
    # the issue's own example: "gcp/*": "prod-*" (no other test writes ids starting prod-)
    put_value(gsm_emulator, "prod-a", '{"v": "a"}')
    put_value(gsm_emulator, "prod-b", '{"v": "b"}')
    put_value(gsm_emulator, "dev-c", '{"v": "c"}')
    put_value(gsm_emulator, "prodx-d", '{"v": "d"}')
    put_value(gsm_emulator, "prod-/x", '{"v": "nested"}')  # id prod-__x: two segments
    await cluster.put_credentials("creds-google", {"credentials.json": gsm_emulator.key_json()})
    await google_backend(
        cluster,
        gsm_emulator,
        "flat",
        "creds/google",
        {"pathMapping": {"gcp/*": "prod-*"}},
    )
    status = await cluster.wait_status("flat", healthy)
    assert status["secretsSynced"] == 2, status
    a, b = await cluster.secret("gcp-a"), await cluster.secret("gcp-b")
    assert a is not None and decoded(a) == {"v": "a"}
    assert b is not None and decoded(b) == {"v": "b"}
    assert a["metadata"]["annotations"]["federation.scaivault.io/path"] == "gcp/a"
    assert a["metadata"]["annotations"]["federation.scaivault.io/remote-path"] == "prod-a"
    synced = await cluster.secrets("federation.scaivault.io/backend=flat")
    assert {s["metadata"]["name"] for s in synced} == {"gcp-a", "gcp-b"}


async def test_bad_input_is_refused_naming_the_field_and_nothing_is_lost(
    cluster: Cluster, openbao: OpenBaoServer, operator_log: Path
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    seed_vault(openbao, f"{prefix}/db", {"password": CANARY})
    mapping = {"pathMapping": {"db/*": f"secret/data/{prefix}/*"}}
    await vault_backend(cluster, openbao, "good", mapping)
    await cluster.wait_status("good", healthy)
    kept = await cluster.secret("db-db")
    assert kept is not None

    refusals = {
        "type": ({"type": "kubernetes.io/service-account-token"}, "spec.target.type"),
        "rename": ({"data": {"rename": {"password": "pass/word"}}}, "spec.target.data.rename"),
        "mapping": (None, "spec.pathMapping"),
    }
    for what, (target, field) in refusals.items():
        body: dict[str, Any] = {
            "type": "hashicorp-vault",
            "config": {"endpoint": openbao.address, "authConfigPath": "creds/vault"},
            "pathMapping": {"x/a**": "secret/data/a**"}
            if target is None
            else mapping["pathMapping"],
            "mode": "sync",
            "syncInterval": "10m",
        }
        if target is not None:
            body["target"] = target
        with pytest.raises(InvalidError) as caught:
            await cluster.create_backend(f"bad-{what}", body)
        assert field in caught.value.detail, caught.value.detail

    # a template that does not parse: the CRD cannot know, the operator says so in the status
    broken = {"spec": {"target": {"data": {"template": {"tls.crt": "{{ data.password "}}}}}
    await cluster.kube.merge_patch(cluster.backend_url("good"), broken)
    status = await cluster.wait_status("good", lambda s: s.get("status") == "error")
    assert "spec.target.data.template" in status["message"]
    assert "does not parse" in status["message"]
    assert CANARY not in json.dumps(status)
    assert await cluster.secret("db-db") == kept  # nothing lost

    # a template that fails for one value is an error of that path only
    seed_vault(openbao, f"{prefix}/other", {"user": "u"})
    template = {"tls.crt": None, "pw": "{{ data.password }}"}  # a merge patch: drop tls.crt
    per_path = {"spec": {"target": {"data": {"template": template}}}}
    await cluster.kube.merge_patch(cluster.backend_url("good"), per_path)
    status = await cluster.wait_status("good", lambda s: s.get("status") == "degraded")
    assert "db/other" in status["message"] and "no attribute 'password'" in status["message"]
    assert CANARY not in json.dumps(status)
    db = await cluster.secret("db-db")
    assert db is not None and decoded(db) == {"pw": CANARY}
    assert await cluster.secret("db-other") is None
    events = [e for e in await cluster.events() if e.get("reason") == "PartialSync"]
    assert events and all(CANARY not in json.dumps(e) for e in events)
    # the earlier tests of this module synced the canary too: the log never shows it
    assert CANARY not in await asyncio.to_thread(operator_log.read_text)


async def test_a_pinned_vault_version_ignores_new_versions_until_the_pin_changes(
    cluster: Cluster, openbao: OpenBaoServer
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    seed_vault(openbao, f"{prefix}/db", {"password": "v1"})
    seed_vault(openbao, f"{prefix}/db", {"password": "v2"})
    seed_vault(openbao, f"{prefix}/api", {"token": "t1"})
    pin = {"rules": [{"path": "db/db", "version": "1"}]}
    await vault_backend(
        cluster,
        openbao,
        "pinned",
        {"pathMapping": {"db/*": f"secret/data/{prefix}/*"}, "target": pin},
    )
    await cluster.wait_status("pinned", lambda s: healthy(s) and s["secretsSynced"] == 2)
    db = await cluster.secret("db-db")
    assert db is not None and decoded(db) == {"password": "v1"}
    assert db["metadata"]["annotations"]["federation.scaivault.io/remote-version"] == "1"

    seed_vault(openbao, f"{prefix}/db", {"password": "v3"})
    seed_vault(openbao, f"{prefix}/api", {"token": "t2"})
    await cluster.sync_now("pinned")
    assert version(await cluster.secret("db-db")) == version(db)  # the pin holds
    api = await cluster.secret("db-api")
    assert api is not None and decoded(api) == {"token": "t2"}  # unpinned paths move on

    patch = {"spec": {"target": {"rules": [{"path": "db/db", "version": "3"}]}}}
    await cluster.kube.merge_patch(cluster.backend_url("pinned"), patch)

    async def moved() -> bool:
        found = await cluster.secret("db-db")
        return found is not None and decoded(found) == {"password": "v3"}

    await eventually(moved, 20, "the new pin to be synced")
