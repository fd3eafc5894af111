"""run_sync with spec.target: the real SecretStore over an in-memory apiserver stand-in."""

from __future__ import annotations

import base64
import json
from typing import Any, cast

from scaivault_federation.backends.fake import FakeBackend
from scaivault_federation.k8s.client import KubeClient
from scaivault_federation.k8s.secrets import SecretStore
from scaivault_federation.labels import DECLARED_ANNOTATION, SOURCE_MAC_ANNOTATION
from scaivault_federation.models.spec import BackendSpec
from scaivault_federation.sync.service import SyncContext, SyncOutcome, run_sync

from .memory_kube import MemoryKube

NS = "apps"
KEY = b"m" * 32
CANARY = "sync-target-canary-0c4b"
DOCKER = json.dumps({"auths": {"registry.example.com": {"auth": CANARY}}})


def spec(target: dict[str, Any] | None = None, **extra: Any) -> BackendSpec:
    raw: dict[str, Any] = {
        "type": "aws-secrets-manager",
        "config": {"region": "us-east-1"},
        "pathMapping": {"registry/*": "docker/*", "tls/*": "certs/*"},
        "mode": "sync",
        "syncInterval": "1m",
        **extra,
    }
    if target is not None:
        raw["target"] = target
    return BackendSpec.model_validate(raw)


class Env:
    def __init__(self, secrets: dict[str, Any]) -> None:
        self.kube = MemoryKube()
        self.store = SecretStore(cast(KubeClient, self.kube))
        self.backend = FakeBackend(secrets)

    async def sync(self, spec: BackendSpec, *, refetch: bool = False) -> SyncOutcome:
        ctx = SyncContext(NS, "aws", spec, self.backend, self.store, KEY, refetch=refetch)
        return await run_sync(ctx)

    def secret(self, name: str) -> dict[str, Any]:
        found = self.kube.secret(NS, name)
        assert found is not None, name
        return found

    def data(self, name: str) -> dict[str, bytes]:
        return {k: base64.b64decode(v) for k, v in self.secret(name)["data"].items()}

    def versions(self) -> dict[str, str]:
        return {
            key.rsplit("/", 1)[-1]: obj["metadata"]["resourceVersion"]
            for key, obj in self.kube.objects.items()
        }


DOCKER_TARGET: dict[str, Any] = {
    "type": "kubernetes.io/dockerconfigjson",
    "labels": {"team": "payments", "app": "{{ captures[0] }}"},
    "annotations": {"reloader.stakater.com/match": "true"},
    "data": {"extract": "whole", "key": ".dockerconfigjson"},
    "rules": [
        {
            "path": "tls/*",
            "type": "kubernetes.io/tls",
            "data": {"template": {"tls.crt": "{{ data.cert }}", "tls.key": "{{ data.key }}"}},
        }
    ],
}


async def test_shaped_secrets_and_a_second_sync_writes_nothing() -> None:
    env = Env({"docker/web": DOCKER, "certs/api": {"cert": "CERT", "key": CANARY}})
    outcome = await env.sync(spec(DOCKER_TARGET), refetch=True)
    assert outcome.written == 2 and not outcome.item_errors
    pull = env.secret("registry-web")
    assert pull["type"] == "kubernetes.io/dockerconfigjson"
    assert env.data("registry-web") == {".dockerconfigjson": DOCKER.encode()}
    assert pull["metadata"]["labels"]["team"] == "payments"
    assert pull["metadata"]["labels"]["app"] == "web"
    assert pull["metadata"]["annotations"]["reloader.stakater.com/match"] == "true"
    assert "." in pull["metadata"]["annotations"][SOURCE_MAC_ANNOTATION].split(":", 1)[1]
    tls = env.secret("tls-api")
    assert tls["type"] == "kubernetes.io/tls"
    assert env.data("tls-api") == {"tls.crt": b"CERT", "tls.key": CANARY.encode()}

    writes = sum(env.kube.writes.values())
    again = await env.sync(spec(DOCKER_TARGET), refetch=True)
    assert sum(env.kube.writes.values()) == writes and again.written == 0
    assert again.secrets_synced == 2
    env.backend.calls.reset()
    await env.sync(spec(DOCKER_TARGET))  # nothing changed and nothing forces a re-read
    assert env.backend.calls.get("read") == 0 and env.backend.calls.get("list") == 2


async def test_a_changed_template_rewrites_exactly_the_secrets_whose_output_changed() -> None:
    env = Env({"docker/a": DOCKER, "docker/b": DOCKER, "docker/c": DOCKER})
    first = {
        **DOCKER_TARGET,
        "annotations": {"tier": "{{ 'gold' if captures[0] == 'a' else 'basic' }}"},
    }
    await env.sync(spec(first), refetch=True)
    before = env.versions()
    second = {
        **DOCKER_TARGET,
        "annotations": {"tier": "{{ 'platinum' if captures[0] == 'a' else 'basic' }}"},
    }
    outcome = await env.sync(spec(second), refetch=True)
    after = env.versions()
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {"registry-a"}
    assert outcome.written == 1 and outcome.changed == []  # metadata only: no data change
    assert env.secret("registry-a")["metadata"]["annotations"]["tier"] == "platinum"


async def test_a_type_change_recreates_the_secret_and_hand_added_labels_stay() -> None:
    env = Env({"docker/web": DOCKER})
    opaque = {"data": {"extract": "whole", "key": ".dockerconfigjson"}, "labels": {"team": "a"}}
    await env.sync(spec(opaque), refetch=True)
    path = f"/api/v1/namespaces/{NS}/secrets/registry-web"
    await env.kube.merge_patch(path, {"metadata": {"labels": {"added-by": "hand"}}})
    outcome = await env.sync(
        spec({**opaque, "type": "kubernetes.io/dockerconfigjson"}), refetch=True
    )
    assert not outcome.item_errors
    assert outcome.changed == ["registry-web"]
    assert env.kube.writes["delete"] == 1
    secret = env.secret("registry-web")
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert secret["metadata"]["labels"]["added-by"] == "hand"
    assert secret["metadata"]["labels"]["team"] == "a"

    await env.sync(spec({**opaque, "labels": {"owner": "b"}}), refetch=True)
    labels = env.secret("registry-web")["metadata"]["labels"]
    assert labels["added-by"] == "hand" and labels["owner"] == "b" and "team" not in labels
    assert env.secret("registry-web")["type"] == "Opaque"

    await env.sync(spec(None))  # the target is gone: an Opaque Secret by today's rule
    secret = env.secret("registry-web")
    assert secret["type"] == "Opaque" and "team" not in secret["metadata"]["labels"]
    assert DECLARED_ANNOTATION not in secret["metadata"]["annotations"]
    assert env.data("registry-web") == {"value": DOCKER.encode()}


async def test_a_declared_label_edited_by_hand_is_restored() -> None:
    env = Env({"docker/web": DOCKER})
    target = {"labels": {"team": "payments"}}
    await env.sync(spec(target), refetch=True)
    path = f"/api/v1/namespaces/{NS}/secrets/registry-web"
    await env.kube.merge_patch(path, {"metadata": {"labels": {"team": "other"}}})
    outcome = await env.sync(spec(target))
    assert outcome.written == 1 and not outcome.conflicts
    assert env.secret("registry-web")["metadata"]["labels"]["team"] == "payments"


async def test_a_failing_template_fails_its_path_only_and_keeps_the_last_good_secret() -> None:
    env = Env({"certs/good": {"cert": "C", "key": "K"}, "certs/bad": {"cert": "C", "key": "K"}})
    target = {
        "rules": [
            {
                "path": "tls/*",
                "type": "kubernetes.io/tls",
                "data": {"template": {"tls.crt": "{{ data.cert }}", "tls.key": "{{ data.key }}"}},
            }
        ]
    }
    await env.sync(spec(target), refetch=True)
    kept = env.secret("tls-bad")
    env.backend.set("certs/bad", {"certificate": CANARY, "key": "K"})
    env.backend.set("certs/good", {"cert": "C2", "key": "K"})
    outcome = await env.sync(spec(target))
    assert list(outcome.item_errors) == ["tls/bad"]
    assert "no attribute 'cert'" in outcome.item_errors["tls/bad"]
    assert CANARY not in outcome.item_errors["tls/bad"]
    assert env.secret("tls-bad") == kept
    assert env.data("tls-good")["tls.crt"] == b"C2"
    assert outcome.orphaned == 0


async def test_created_once_creates_missing_secrets_and_never_updates_them() -> None:
    env = Env({"docker/a": DOCKER})
    target = {"refreshPolicy": "CreatedOnce"}
    await env.sync(spec(target), refetch=True)
    first = env.secret("registry-a")
    env.backend.set("docker/a", '{"changed": "yes"}')
    env.backend.set("docker/b", DOCKER)
    reads = env.backend.calls.get("read")
    outcome = await env.sync(spec(target), refetch=True)
    assert env.secret("registry-a") == first
    assert env.kube.secret(NS, "registry-b") is not None
    assert env.backend.calls.get("read") - reads == 1  # only the new one
    assert outcome.secrets_synced == 2


async def test_a_name_template_names_the_secret() -> None:
    env = Env({"docker/web": DOCKER})
    outcome = await env.sync(spec({"name": "{{ captures[0] }}-pull"}), refetch=True)
    assert outcome.written == 1
    assert env.kube.secret(NS, "web-pull") is not None
    again = await env.sync(spec({"name": "{{ captures[0] }}-pull"}), refetch=True)
    assert again.written == 0 and again.orphaned == 0
    renamed = await env.sync(spec({"name": "pull-{{ captures[0] }}"}), refetch=True)
    assert renamed.written == 1 and renamed.orphaned == 1  # the old name is left as an orphan
    assert (
        "federation.scaivault.io/orphaned-at" in env.secret("web-pull")["metadata"]["annotations"]
    )
    assert env.data("pull-web") == {"value": DOCKER.encode()}
    pruned = await env.sync(spec({"name": "pull-{{ captures[0] }}"}, prune=True))
    assert pruned.deleted == 1 and env.kube.secret(NS, "web-pull") is None


async def test_a_pinned_path_ignores_new_versions_until_the_pin_changes() -> None:
    env = Env({"docker/web": '{"v": "1"}'})
    env.backend.set("docker/web", '{"v": "2"}')
    pinned = {"rules": [{"path": "registry/web", "version": "1"}]}
    await env.sync(spec(pinned), refetch=True)
    assert env.data("registry-web") == {"v": b"1"}
    env.backend.set("docker/web", '{"v": "3"}')
    before = env.versions()
    reads = env.backend.calls.get("read")
    outcome = await env.sync(spec(pinned))
    assert env.versions() == before and outcome.written == 0
    assert env.backend.calls.get("read") == reads  # the pinned version is already there
    await env.sync(spec({"rules": [{"path": "registry/web", "version": "3"}]}), refetch=True)
    assert env.data("registry-web") == {"v": b"3"}


async def test_without_a_target_nothing_changes() -> None:
    env = Env({"docker/web": '{"user": "u", "password": "p"}'})
    await env.sync(spec(None))
    secret = env.secret("registry-web")
    assert secret["type"] == "Opaque"
    assert "." not in secret["metadata"]["annotations"][SOURCE_MAC_ANNOTATION].split(":", 1)[1]
    assert DECLARED_ANNOTATION not in secret["metadata"]["annotations"]


async def test_a_mapping_without_wildcards_syncs_its_one_path() -> None:
    env = Env({"docker/web": DOCKER, "docker/webx": DOCKER})
    literal = BackendSpec.model_validate(
        {
            "type": "aws-secrets-manager",
            "config": {"region": "us-east-1"},
            "pathMapping": {"pull/web": "docker/web"},
            "mode": "sync",
            "syncInterval": "1m",
        }
    )
    outcome = await env.sync(literal)
    assert outcome.written == 1 and sorted(env.versions()) == ["pull-web"]
