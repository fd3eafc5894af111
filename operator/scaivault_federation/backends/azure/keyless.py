"""Keyless Entra ID credentials: the application a ServiceAccount of the backend's
namespace names.

A backend with ``serviceAccount`` logs in as the application whose client id the
account's annotation ``azure.workload.identity/client-id`` names (in the tenant
of ``azure.workload.identity/tenant-id``, else ``tenantId``, else the
operator's ``AZURE_TENANT_ID``), as AKS workload identity does for a pod: a
token of the account bound to ``api://AzureADTokenExchange``
(:mod:`..workload_identity`) is the client assertion azure-identity's
``ClientAssertionCredential`` sends to Entra ID's token endpoint, which must
match a federated identity credential of the application.

That endpoint is the authority of the operator's settings
(``AZURE_AUTHORITY_HOST``; by default Entra ID's public cloud), never anything a
backend's config names. The access token is kept in the process's exchange
cache per account, application, tenant and scope and renewed shortly before it
expires, so every backend and proxied read of the account shares one exchange
per token lifetime; :class:`FederatedCredential` hands the Key Vault client the
kept token.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

from ..errors import BackendError, BackendUnavailableError, TokenExchangeRefusedError
from ..workload_identity import Expiring, WorkloadIdentity

#: the audience of the client assertions (Entra ID's public cloud)
AUDIENCE = "api://AzureADTokenExchange"
#: an Entra ID error code, the one part of a refusal that is shown
_AADSTS = re.compile(r"AADSTS\d{4,8}")
_OAUTH_ERROR = re.compile(
    r"\b(invalid_client|invalid_grant|invalid_request|unauthorized_client|invalid_scope)\b"
)


class FederatedCredential:
    """An ``AsyncTokenCredential`` for the Key Vault client: the application's access
    token, exchanged for the ServiceAccount's token when the kept one is due."""

    def __init__(
        self,
        identity: WorkloadIdentity,
        tenant_id: str,
        client_id: str,
        *,
        authority: str | None = None,
        **transport: Any,
    ) -> None:
        self._identity = identity
        self._tenant_id = tenant_id
        self._client_id = client_id
        self._authority = authority
        self._transport = transport

    async def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        key = (
            "azure-client-assertion",
            self._tenant_id,
            self._client_id,
            self._authority or "",
            " ".join(sorted(scopes)),
        )
        return await self._identity.exchanged(key, lambda: self._exchange(scopes))

    async def _exchange(self, scopes: tuple[str, ...]) -> Expiring[AccessToken]:
        from azure.identity.aio import ClientAssertionCredential

        assertion = await self._identity.token(AUDIENCE)
        extra = dict(self._transport)
        if self._authority:
            extra["authority"] = self._authority
        credential = ClientAssertionCredential(
            self._tenant_id, self._client_id, lambda: assertion, **extra
        )
        error: BackendError | None = None
        try:
            async with credential:
                issued = await credential.get_token(*scopes)
        except ClientAuthenticationError as exc:
            error = self._refusal(exc)
        except ValueError:  # e.g. a tenant id that is not one
            error = TokenExchangeRefusedError(
                f"Entra ID: the tenant {self._tenant_id!r} or the authority is not valid"
            )
        if error is not None:
            raise error
        return Expiring(issued, datetime.fromtimestamp(issued.expires_on, UTC))

    def _refusal(self, exc: ClientAuthenticationError) -> BackendError:
        where = f"Entra ID's token endpoint for application {self._client_id!r}"
        if getattr(exc, "response", None) is None and isinstance(
            exc.__cause__, ServiceRequestError | OSError
        ):
            return BackendUnavailableError(f"cannot reach {where}")
        text = str(exc.message or "")
        codes = _AADSTS.findall(text) or _OAUTH_ERROR.findall(text)
        shown = codes[0] if codes else "refused"
        return TokenExchangeRefusedError(
            f"{where} refused the token of {self._identity.who} ({shown}); the application "
            f"needs a federated identity credential for the cluster's issuer, subject "
            f"{self._identity.subject} and audience {AUDIENCE}"
        )

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> FederatedCredential:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None
