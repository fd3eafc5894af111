"""The Argo CD health check and resource actions, run by a real Lua 5.1 (Argo CD's dialect)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from lupa import lua51

from scaivault_devenv.helm import DEPLOY

from .tools import ROOT

ARGOCD = DEPLOY / "argocd"
ANNOTATION = "federation.scaivault.io/sync-requested-at"


def to_python(value: Any) -> Any:
    if lua51.lua_type(value) == "table":
        items = dict(value.items())
        if items and all(isinstance(k, int) for k in items):
            return [to_python(items[k]) for k in sorted(items)]
        return {k: to_python(v) for k, v in items.items()}
    return value


def run_lua(script: str, obj: dict[str, Any]) -> Any:
    """Run one of the Lua files with the global ``obj``, as Argo CD does."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    return to_python(lua.execute((ARGOCD / script).read_text()))


def backend(
    status: dict[str, Any] | None = None, generation: int = 2, **spec: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "federation.scaivault.io/v1alpha1",
        "kind": "FederationBackend",
        "metadata": {"name": "vault", "namespace": "payments", "generation": generation},
        "spec": {"type": "hashicorp-vault", "mode": "sync", **spec},
    }
    if status is not None:
        obj["status"] = status
    return obj


READY = {"type": "Ready", "status": "True", "reason": "SyncSucceeded", "message": "ok"}


@pytest.mark.parametrize(
    ("obj", "health", "message"),
    [
        (
            backend({"status": "healthy", "observedGeneration": 2, "message": "3 synced"}),
            "Healthy",
            "3 synced",
        ),
        (
            backend({"status": "healthy", "observedGeneration": 3}, generation=3),
            "Healthy",
            "Healthy",
        ),
        (
            backend({"status": "healthy", "observedGeneration": 1}),
            "Progressing",
            "Waiting for the operator to observe generation 2",
        ),
        (
            backend({"status": "healthy"}),
            "Progressing",
            "Waiting for the operator to observe generation 2",
        ),
        (backend(None), "Progressing", "Waiting for the operator to report a status"),
        (backend({}), "Progressing", "Waiting for the operator to report a status"),
        (
            backend({"status": "pending", "observedGeneration": 2}),
            "Progressing",
            "Waiting for the first sync",
        ),
        (
            backend({"status": "degraded", "observedGeneration": 2, "message": "2 paths failed"}),
            "Degraded",
            "2 paths failed",
        ),
        (
            backend(
                {
                    "status": "error",
                    "observedGeneration": 2,
                    "conditions": [
                        {**READY, "type": "Synced", "message": "not this one"},
                        {**READY, "status": "False", "message": "permission denied by Vault"},
                    ],
                }
            ),
            "Degraded",
            "permission denied by Vault",
        ),
        (backend({"status": "error", "observedGeneration": 2}), "Degraded", "Backend is error"),
        (
            backend({"status": "error", "observedGeneration": 2}, suspend=True),
            "Suspended",
            "spec.suspend is true: no sync and no probe",
        ),
        (
            backend({"status": "sideways", "observedGeneration": 2}),
            "Unknown",
            "Unknown status sideways",
        ),
    ],
)
def test_health(obj: dict[str, Any], health: str, message: str) -> None:
    assert run_lua("health.lua", obj) == {"status": health, "message": message}


@pytest.mark.parametrize(
    ("spec", "disabled"),
    [
        ({}, False),
        ({"mode": "proxy"}, True),
        ({"suspend": True}, True),
        ({"suspend": False}, False),
    ],
)
def test_refresh_action_is_offered_for_active_sync_backends(
    spec: dict[str, Any], disabled: bool
) -> None:
    obj = backend({"status": "healthy"})
    obj["spec"].update(spec)
    assert run_lua("actions/discovery.lua", obj) == {"refresh": {"disabled": disabled}}


@pytest.mark.parametrize("annotations", [None, {"team": "payments"}, {ANNOTATION: "old"}])
def test_refresh_action_sets_the_sync_annotation(annotations: dict[str, str] | None) -> None:
    obj = backend({"status": "healthy", "observedGeneration": 2})
    if annotations is not None:
        obj["metadata"]["annotations"] = dict(annotations)
    before = copy.deepcopy(obj)
    result = run_lua("actions/refresh.lua", obj)

    stamp = result["metadata"]["annotations"].pop(ANNOTATION)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - when).total_seconds()) < 5
    expected = dict(annotations or {})
    expected.pop(ANNOTATION, None)
    assert result["metadata"]["annotations"] == expected
    result["metadata"].pop("annotations")
    before["metadata"].pop("annotations", None)
    assert result == before  # nothing else changes


def test_readme_names_the_argocd_keys() -> None:
    readme = (ARGOCD / "README.md").read_text()
    key = "federation.scaivault.io_FederationBackend"
    assert f"resource.customizations.health.{key}" in readme
    assert f"resource.customizations.actions.{key}" in readme
    assert ANNOTATION in readme


def test_readme_patch_command_builds_the_configmap_data() -> None:
    """The README's one-liner produces both keys, the Lua files unchanged inside."""
    readme = (ARGOCD / "README.md").read_text()
    match = re.search(r"python3 - <<'EOF'\n(.*?)\nEOF\n", readme, re.DOTALL)
    assert match is not None
    result = subprocess.run(
        [sys.executable, "-"],
        input=match.group(1),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    data = json.loads(result.stdout)["data"]
    key = "federation.scaivault.io_FederationBackend"
    assert data[f"resource.customizations.health.{key}"] == (ARGOCD / "health.lua").read_text()
    actions = yaml.safe_load(data[f"resource.customizations.actions.{key}"])
    assert actions["discovery.lua"] == (ARGOCD / "actions" / "discovery.lua").read_text()
    assert actions["definitions"] == [
        {"name": "refresh", "action.lua": (ARGOCD / "actions" / "refresh.lua").read_text()}
    ]
