"""The README's Secret shapes, applied as written against the real servers.

Each ``<!-- example: NAME -->`` block of the README is a ``kubectl apply`` of a
heredoc; this test applies exactly those manifests (with the shell variables
the README sets from ``dev.json`` filled in from the test's servers), seeds what
``make dev`` seeds, and checks that every ``<!-- result: NAME -->`` block is
part of what the apiserver then holds (``<any>`` stands for a value that
varies). With ``SCAIVAULT_README_RESULTS=<file>`` it also writes the live
objects there, as the README shows them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaivault_devenv.gsm import GoogleEmulator
from scaivault_devenv.moto import MotoServer
from scaivault_devenv.openbao import OpenBaoServer
from scaivault_devenv.samples_google import GOOGLE_EXAMPLES
from scaivault_devenv.samples_shapes import seed_shapes
from scaivault_federation.backends.google.names import google_name

from .helpers import Cluster, eventually

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
ANY = "<any>"
OURS = ("federation.scaivault.io/synced-at", "federation.scaivault.io/source-mac")
#: the shell variables the README sets from dev.json, here from the test's servers
VARIABLES: dict[str, str] = {}


def healthy(status: dict[str, Any]) -> bool:
    return status.get("status") == "healthy"


def blocks(kind: str) -> dict[str, str]:
    """``NAME -> the fenced block after <!-- kind: NAME -->``."""
    text = README.read_text(encoding="utf-8")
    found = re.finditer(rf"<!-- {kind}: ([a-z-]+) -->\n```[a-z]*\n(.*?)\n```", text, re.S)
    return {m.group(1): m.group(2) for m in found}


def manifests(name: str, variables: dict[str, str]) -> list[dict[str, Any]]:
    block = blocks("example")[name]
    body = block.split("<<EOF\n", 1)[1].rsplit("\nEOF", 1)[0]
    for key, value in variables.items():
        body = body.replace("${" + key + "}", value)
    assert "${" not in body, body
    return [doc for doc in yaml.safe_load_all(body) if doc]


def expected(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(blocks("result")[name]) if doc]


def is_part(want: Any, have: Any) -> bool:
    if want == ANY:
        return have is not None
    if isinstance(want, dict):
        return isinstance(have, dict) and all(
            k in have and is_part(v, have[k]) for k, v in want.items()
        )
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(is_part(w, h) for w, h in zip(want, have, strict=True))
        )
    return bool(want == have)


def url(cluster: Cluster, kind: str, name: str | None = None) -> str:
    ns = cluster.namespace
    base = {
        "Secret": f"/api/v1/namespaces/{ns}/secrets",
        "Event": f"/api/v1/namespaces/{ns}/events",
        "Deployment": f"/apis/apps/v1/namespaces/{ns}/deployments",
        "FederationBackend": cluster.backend_url(),
    }[kind]
    return f"{base}/{name}" if name else base


async def live(cluster: Cluster, want: dict[str, Any]) -> dict[str, Any] | None:
    if want["kind"] == "Event":
        events = await cluster.kube.get(url(cluster, "Event"))
        items = [{"apiVersion": "v1", "kind": "Event", **e} for e in events.get("items", [])]
        return next((e for e in items if is_part(want, e)), None)
    try:
        return await cluster.kube.get(url(cluster, want["kind"], want["metadata"]["name"]))
    except Exception:
        return None


def shown(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as the README shows it: no uids, times or resourceVersions."""
    meta = obj["metadata"]
    out: dict[str, Any] = {"apiVersion": obj.get("apiVersion", "v1"), "kind": obj["kind"]}
    keep = {k: meta[k] for k in ("name", "labels", "annotations", "generation") if k in meta}
    annotations = {k: v for k, v in (keep.get("annotations") or {}).items() if k not in OURS}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if annotations:
        keep["annotations"] = annotations
    else:
        keep.pop("annotations", None)
    out["metadata"] = keep
    if obj["kind"] == "Deployment":
        out["spec"] = {"template": {"metadata": obj["spec"]["template"]["metadata"]}}
    if obj["kind"] == "Event":
        return {**out, **{k: obj[k] for k in ("involvedObject", "reason", "message", "type")}}
    for key in ("type", "data", "status"):
        if key in obj:
            out[key] = obj[key]
    return out


async def check(cluster: Cluster, name: str, record: list[str]) -> None:
    recording = bool(os.environ.get("SCAIVAULT_README_RESULTS"))
    if recording:  # writing the README's results: let the example settle, then show it
        for doc in manifests(name, VARIABLES):
            if doc["kind"] == "FederationBackend":
                await cluster.wait_status(doc["metadata"]["name"], healthy)
    for want in expected(name):

        async def matching(want: dict[str, Any] = want) -> dict[str, Any] | None:
            have = await live(cluster, want)
            return have if have is not None and is_part(want, have) else None

        try:
            if recording:
                have = await live(cluster, want)
            else:
                have = await eventually(matching, 30, f"the {name} result {want['kind']}")
        finally:
            current = await live(cluster, want)
            if current is not None:
                record.append(f"# {name}\n" + yaml.safe_dump(shown(current), sort_keys=False))
        assert have is not None


async def apply(cluster: Cluster, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        await cluster.kube.post(url(cluster, doc["kind"]), doc)


async def test_the_readme_shapes(
    cluster: Cluster,
    openbao: OpenBaoServer,
    moto_server: MotoServer,
    gsm_emulator: GoogleEmulator,
) -> None:
    seed_shapes(openbao, moto_server, gsm_emulator)
    for path, value in GOOGLE_EXAMPLES.items():
        gsm_emulator.put(google_name(path), value)
    await cluster.put_credentials("dev-hashicorp-token", {"token": openbao.root_token})
    await cluster.put_credentials(
        "dev-aws-credentials",
        {
            "access_key_id": moto_server.access_key_id,
            "secret_access_key": moto_server.secret_access_key,
        },
    )
    await cluster.put_credentials(
        "dev-google-credentials", {"credentials.json": gsm_emulator.key_json()}
    )
    VARIABLES.update(
        BAO=openbao.address,
        AWS=moto_server.endpoint,
        AWS_REGION=moto_server.region,
        GSM=gsm_emulator.endpoint,
        GSM_PROJECT=gsm_emulator.project,
    )
    record: list[str] = []
    try:
        for name in ("image-pull", "tls", "whole-file", "basic-auth", "argocd", "rollout"):
            await apply(cluster, manifests(name, VARIABLES))
            if name == "rollout":
                await cluster.wait_status("api-creds", lambda s: s.get("status") == "healthy")
                step = blocks("step")["rollout"]
                assert "dev-only-api-token-2" in step and "shapes/api-token" in step
                openbao.request(
                    "POST",
                    "/v1/secret/data/shapes/api-token",
                    {"data": {"token": "dev-only-api-token-2"}},
                )
                await cluster.sync_now("api-creds")
            await check(cluster, name, record)
    finally:
        target = os.environ.get("SCAIVAULT_README_RESULTS")
        if target:
            await asyncio.to_thread(Path(target).write_text, "\n".join(record), "utf-8")
    secret = await cluster.secret("keys-reader")
    assert secret is not None
    key = json.loads(base64.b64decode(secret["data"]["credentials.json"]))
    assert key["type"] == "service_account"
