"""TokenReview and SubjectAccessReview: who a bearer token is, and what it may do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .client import JSON, KubeClient

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


async def review_token(
    client: KubeClient, token: str, audiences: Sequence[str] = ()
) -> dict[str, Any]:
    """The TokenReview status of ``token`` (``authenticated``, ``user``, ``audiences``):
    valid for one of ``audiences``, or (none given) for the apiserver's own."""
    spec: JSON = {"token": token}
    if audiences:
        spec["audiences"] = list(audiences)
    body: JSON = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
    doc = await client.post(TOKEN_REVIEWS, body)
    status: dict[str, Any] = doc.get("status") or {}
    return status


async def review_access(client: KubeClient, spec: JSON) -> bool:
    """Whether the SubjectAccessReview ``spec`` (user, groups, resourceAttributes) is allowed."""
    body: JSON = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": spec,
    }
    doc = await client.post(ACCESS_REVIEWS, body)
    return bool((doc.get("status") or {}).get("allowed"))
