"""core/v1 Events about our own objects. Posting one never fails the caller."""

from __future__ import annotations

import logging

import aiohttp

from ..labels import CLUSTER_KIND, GROUP, KIND, VERSION
from ..models.resource import ObjectMeta
from .client import JSON, KubeApiError, KubeClient
from .secrets import now_rfc3339

log = logging.getLogger(__name__)

COMPONENT = "scaivault-federation"
MAX_MESSAGE = 1024
CLUSTER_EVENTS_NAMESPACE = "default"


class EventRecorder:
    def __init__(self, client: KubeClient, kind: str | None = None) -> None:
        self.client = client
        #: the kind of the objects its Events are about (None: a backend of either kind)
        self.kind = kind

    async def record(
        self, about: ObjectMeta, *, reason: str, message: str, warning: bool = False
    ) -> None:
        """An Event on the object ``about`` (a FederationBackend, unless the recorder was
        made for another kind); failures are logged only."""
        now = now_rfc3339()
        # a ClusterFederationBackend (no namespace): its Events go to "default"
        namespace = about.namespace or CLUSTER_EVENTS_NAMESPACE
        event: JSON = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{about.name}.", "namespace": namespace},
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": self.kind or (KIND if about.namespace else CLUSTER_KIND),
                "name": about.name,
                "namespace": about.namespace or None,
                "uid": about.uid or None,
            },
            "reason": reason,
            "message": message[:MAX_MESSAGE],
            "type": "Warning" if warning else "Normal",
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self.client.post(f"/api/v1/namespaces/{namespace}/events", event)
        except KubeApiError as exc:
            log.warning("could not post event %s: %s", reason, exc.status_reason)
        except (aiohttp.ClientError, TimeoutError) as exc:  # never fail the caller
            log.warning("could not post event %s: %s", reason, type(exc).__name__)
