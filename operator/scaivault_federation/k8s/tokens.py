"""Short-lived ServiceAccount tokens through TokenRequest (never stored)."""

from __future__ import annotations

from .client import JSON, KubeClient, NotFoundError


class ServiceAccountTokens:
    def __init__(self, client: KubeClient, *, expiration_seconds: int = 600) -> None:
        self.client = client
        self.expiration_seconds = expiration_seconds

    async def issue(
        self, namespace: str, service_account: str, audience: str | None = None
    ) -> str | None:
        """A fresh token of ``service_account``, for ``audience`` when given (else the
        apiserver's own audiences); ``None`` when the account does not exist or the
        apiserver issued none."""
        spec: JSON = {"expirationSeconds": self.expiration_seconds}
        if audience:
            spec["audiences"] = [audience]
        body: JSON = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": spec,
        }
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token"
        try:
            issued = await self.client.post(path, body)
        except NotFoundError:
            return None
        token = issued.get("status", {}).get("token")
        return token if isinstance(token, str) and token else None
