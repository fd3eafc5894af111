"""Small async helpers for end-to-end tests against the real apiserver."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from scaivault_federation.k8s.client import KubeClient, NotFoundError
from scaivault_federation.labels import credentials_labels

T = TypeVar("T")


def _instant(stamp: str) -> datetime:
    """An RFC 3339 time of the status, as an aware datetime."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


API = "/apis/federation.scaivault.io/v1alpha1"
#: what a Secret carries to be read as a backend's credentials


async def eventually(
    probe: Callable[[], Awaitable[T | None]], timeout: float = 30, what: str = "condition"
) -> T:
    """Poll ``probe`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


@dataclass
class Cluster:
    kube: KubeClient
    namespace: str

    def backend_url(self, name: str | None = None) -> str:
        base = f"{API}/namespaces/{self.namespace}/federationbackends"
        return f"{base}/{name}" if name else base

    async def create_backend(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": "federation.scaivault.io/v1alpha1",
            "kind": "FederationBackend",
            "metadata": {"name": name},
            "spec": spec,
        }
        return await self.kube.post(self.backend_url(), body)

    async def get_backend(self, name: str) -> dict[str, Any]:
        return await self.kube.get(self.backend_url(name))

    async def status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = (await self.get_backend(name)).get("status") or {}
        return status

    async def wait_status(
        self, name: str, check: Callable[[dict[str, Any]], bool], timeout: float = 30
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            status = await self.status(name)
            return status if check(status) else None

        return await eventually(probe, timeout, f"status of {name} to match")

    async def request_sync(self, name: str) -> str:
        """Set the manual sync annotation; returns the status' lastSync before it."""
        before = (await self.status(name)).get("lastSync", "")
        stamp = datetime.now(UTC).isoformat()
        patch = {"metadata": {"annotations": {"federation.scaivault.io/sync-requested-at": stamp}}}
        await self.kube.merge_patch(self.backend_url(name), patch)
        return str(before)

    async def sync_now(self, name: str, timeout: float = 30) -> dict[str, Any]:
        """Trigger a sync and wait for the status of one that began after the request
        (``lastSync`` is when a sync began): one already running when it was asked for,
        say woken by a Secret edited just before, may have read the backend too early."""
        asked = datetime.now(UTC)
        before = await self.request_sync(name)

        def after_request(status: dict[str, Any]) -> bool:
            last = str(status.get("lastSync", ""))
            return last > before and _instant(last) >= asked

        return await self.wait_status(name, after_request, timeout=timeout)

    async def sync_now_failing(self, name: str, timeout: float = 30) -> dict[str, Any]:
        """Trigger a sync that is expected to fail; wait until the status reports it."""
        before = await self.status(name)
        since = next(
            (c["lastTransitionTime"] for c in before.get("conditions", []) if c["type"] == "Ready"),
            "",
        )
        checked = (before.get("connection") or {}).get("checkedAt", "")
        await self.request_sync(name)
        return await self.wait_status(
            name,
            lambda s: (
                (s.get("connection") or {}).get("checkedAt", "") > checked
                and s.get("status") in ("degraded", "error")
                and bool(since is not None)
            ),
            timeout=timeout,
        )

    async def secret(self, name: str) -> dict[str, Any] | None:
        try:
            return await self.kube.get(f"/api/v1/namespaces/{self.namespace}/secrets/{name}")
        except NotFoundError:
            return None

    async def secrets(self, selector: str | None = None) -> list[dict[str, Any]]:
        params = {"labelSelector": selector} if selector else None
        doc = await self.kube.get(f"/api/v1/namespaces/{self.namespace}/secrets", params)
        items: list[dict[str, Any]] = doc.get("items", [])
        return items

    async def put_secret(
        self, name: str, data: dict[str, str], kind: str = "Opaque", **meta: Any
    ) -> dict[str, Any]:
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": kind,
            "metadata": {"name": name, **meta},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }
        return await self.kube.post(f"/api/v1/namespaces/{self.namespace}/secrets", body)

    async def put_credentials(self, name: str, data: dict[str, str]) -> dict[str, Any]:
        """A credentials Secret: one labelled for backends to read."""
        return await self.put_secret(name, data, labels=credentials_labels())

    async def events(self) -> list[dict[str, Any]]:
        doc = await self.kube.get(f"/api/v1/namespaces/{self.namespace}/events")
        items: list[dict[str, Any]] = doc.get("items", [])
        return items


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def deployment(name: str, labels: dict[str, str]) -> dict[str, Any]:
    """A Deployment the apiserver keeps (no node runs it): its generation counts
    rollout restarts."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"pod": name}},
            "template": {
                "metadata": {"labels": {"pod": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.example.com/app:1"}]},
            },
        },
    }
