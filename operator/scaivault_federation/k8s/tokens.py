"""ServiceAccounts through the apiserver: their annotations, short-lived tokens
(TokenRequest; never stored), and which one the operator itself is: from its own
token's ``sub`` claim when it presents a JWT (a ServiceAccount token, in cluster),
else by asking (SelfSubjectReview)."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Mapping, Sequence

from ..models.token import IssuedToken
from .client import JSON, KubeClient, NotFoundError

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_USER_PREFIX = "system:serviceaccount:"
JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


class ServiceAccountStore:
    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def annotations(self, namespace: str, name: str) -> Mapping[str, str] | None:
        try:
            found = await self.client.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}")
        except NotFoundError:
            return None
        return dict((found.get("metadata") or {}).get("annotations") or {})

    async def request_token(
        self, namespace: str, name: str, audiences: Sequence[str], seconds: int, *, dry_run: bool
    ) -> IssuedToken | None:
        spec: JSON = {"expirationSeconds": seconds}
        if audiences:
            spec["audiences"] = list(audiences)
        body: JSON = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": spec,
        }
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
        try:
            issued = await self.client.post(
                path, body, params={"dryRun": "All"} if dry_run else None
            )
        except NotFoundError:
            return None
        token = (issued.get("status") or {}).get("token")
        bound = (issued.get("spec") or {}).get("audiences") or []
        return IssuedToken(token if isinstance(token, str) else "", tuple(str(a) for a in bound))

    async def own_account(self) -> tuple[str, str] | None:
        credentials = await self.client.connection.current()
        scheme, token = credentials.scheme_and_token()
        if scheme == "Bearer" and token and JWT_SHAPE.match(token):
            return service_account_of(token)
        return await own_service_account(self.client)


def service_account_of(token: str) -> tuple[str, str] | None:
    """The (namespace, name) a ServiceAccount token is for (its ``sub`` claim), read
    from the operator's own token without checking it; ``None`` for any other JWT."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    subject = str(claims.get("sub", "")) if isinstance(claims, dict) else ""
    return _account_of(subject)


def _account_of(username: str) -> tuple[str, str] | None:
    if not username.startswith(SERVICE_ACCOUNT_USER_PREFIX):
        return None
    namespace, _, name = username[len(SERVICE_ACCOUNT_USER_PREFIX) :].partition(":")
    return (namespace, name) if namespace and name and ":" not in name else None


async def own_service_account(client: KubeClient) -> tuple[str, str] | None:
    """The (namespace, name) of the ServiceAccount the client acts as (SelfSubjectReview,
    for a credential that is not a JWT), or ``None`` when it acts as another kind of
    user. Any other failure than the API being absent is raised (and the question
    asked again later)."""
    body: JSON = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        review = await client.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", body)
    except NotFoundError:
        log.warning(
            "the apiserver serves no SelfSubjectReview: the operator's own "
            "ServiceAccount is not known"
        )
        return None
    username = str(((review.get("status") or {}).get("userInfo") or {}).get("username", ""))
    return _account_of(username)
