"""Deployments, StatefulSets and DaemonSets, restarted the way ``kubectl rollout restart``
does it: a new annotation on the pod template makes their controller roll the pods."""

from __future__ import annotations

from ..labels import RESTARTED_AT_ANNOTATION
from ..models.rollout import WorkloadKind
from .client import JSON, KubeClient


class WorkloadStore:
    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def restart(
        self,
        namespace: str,
        kind: WorkloadKind,
        *,
        name: str | None,
        selector: str | None,
        stamp: str,
    ) -> list[str]:
        """Annotate the pod template of the named workload, or of every one the label
        selector matches; returns the names patched. A missing named workload raises
        ``NotFoundError``."""
        base = f"/apis/apps/v1/namespaces/{namespace}/{kind.resource}"
        if name is not None:
            await self.client.get(f"{base}/{name}")
            names = [name]
        else:
            doc = await self.client.get(base, params={"labelSelector": selector or ""})
            names = sorted(str(item["metadata"]["name"]) for item in doc.get("items", []))
        patch: JSON = {
            "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: stamp}}}}
        }
        for each in names:
            await self.client.merge_patch(f"{base}/{each}", patch)
        return names
