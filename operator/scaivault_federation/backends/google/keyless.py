"""Keyless Google credentials: the Google service account a ServiceAccount of the
backend's namespace names.

A backend with ``serviceAccount`` reads as the Google service account the
account's annotation ``iam.gke.io/gcp-service-account`` names, through workload
identity federation: a token of the account bound to the pool provider's name
(``workloadIdentityProvider``, else the operator's
``google_workload_identity_provider`` setting; :mod:`..workload_identity`) is
exchanged at Google's Security Token Service for a federated token of the
principal ``…/subject/system:serviceaccount:<ns>:<name>``, which then
impersonates the Google service account (``generateAccessToken``; the principal
needs Workload Identity User on it). Both steps are google-auth's own
``identity_pool`` credentials, given the token by a subject token supplier.

Both endpoints are the operator's settings (``google_sts_url``,
``google_iam_credentials_url``; by default Google's), never the config's
``endpoint``, which a backend's author chooses. The access token is kept in the
process's exchange cache per account, provider and Google service account and
renewed shortly before it expires (google-auth's own refresh, which begins
3 min 45 s ahead, is not used), so every backend and proxied read of the account
shares one exchange per token lifetime.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any

from google.auth import exceptions as auth_exceptions
from google.auth import identity_pool
from google.auth.transport import requests as auth_requests

from ..errors import (
    AuthenticationError,
    BackendError,
    BackendUnavailableError,
    InvalidBackendConfigError,
    TokenExchangeRefusedError,
)
from ..workload_identity import Expiring, WorkloadIdentity
from .config import GSA_ANNOTATION
from .settings import GoogleSettings

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
#: a Google service account's email
_EMAIL = re.compile(r"^[a-z0-9][a-z0-9.-]{0,127}@[a-z0-9][a-z0-9.-]{0,253}$")
#: the one part of an STS refusal that is shown: its OAuth error code
_OAUTH_CODE = re.compile(r"^Error code ([a-z_]{1,64})")
_STATUS = re.compile(r"^[A-Z_]{1,64}$")


class _Supplier(identity_pool.SubjectTokenSupplier):
    """The ServiceAccount's token, requested before google-auth asks for it."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_subject_token(self, context: Any, request: Any) -> str:
        return self._token


class FederatedToken:
    """The Google service account's access token, from the exchange cache or anew."""

    def __init__(
        self,
        identity: WorkloadIdentity,
        provider: str | None,
        settings: GoogleSettings,
    ) -> None:
        provider = provider or settings.google_workload_identity_provider
        if provider is None:
            raise InvalidBackendConfigError(
                "config.workloadIdentityProvider: a keyless backend needs the workload "
                "identity pool provider, here or in the operator's "
                "google_workload_identity_provider setting"
            )
        email = identity.annotations[GSA_ANNOTATION]
        if not _EMAIL.match(email):
            raise InvalidBackendConfigError(
                f"config.serviceAccount: the annotation {GSA_ANNOTATION} of {identity.who} "
                "is not a Google service account's email"
            )
        self._identity = identity
        self._provider = provider
        self._email = email
        self._sts = settings.google_sts_url
        iam = settings.google_iam_credentials_url.rstrip("/")
        self._impersonation = f"{iam}/v1/projects/-/serviceAccounts/{email}:generateAccessToken"
        self._key = ("google-workload-identity", provider, email, self._sts, iam)

    async def access_token(self) -> str:
        return await self._identity.exchanged(self._key, self._exchange)

    def refused(self, token: str) -> None:
        """Google no longer accepts ``token``: exchange again at the next call."""
        self._identity.refused(self._key, token)

    async def _exchange(self) -> Expiring[str]:
        subject = await self._identity.token(self._provider)
        credentials = identity_pool.Credentials(  # type: ignore[no-untyped-call]
            audience=self._provider,
            subject_token_type=JWT_TOKEN_TYPE,
            token_url=self._sts,
            subject_token_supplier=_Supplier(subject),
            service_account_impersonation_url=self._impersonation,
            scopes=[CLOUD_PLATFORM],
        )
        error: BackendError | None = None
        try:
            await asyncio.to_thread(credentials.refresh, auth_requests.Request())
        except auth_exceptions.GoogleAuthError as exc:
            error = self._refusal(exc)
        if error is not None:
            raise error
        expiry = credentials.expiry
        if not isinstance(credentials.token, str) or not isinstance(expiry, datetime):
            raise BackendUnavailableError("Google's token exchange answered no access token")
        return Expiring(credentials.token, expiry.replace(tzinfo=UTC))

    def _refusal(self, exc: Exception) -> BackendError:
        who = self._identity.who
        if isinstance(exc, auth_exceptions.OAuthError):  # the STS answered with an error
            found = _OAUTH_CODE.match(str(exc.args[0]) if exc.args else "")
            code = found.group(1) if found else "refused"
            return TokenExchangeRefusedError(
                f"Google's STS refused the token of {who} for {self._provider} ({code}); the "
                "provider must trust the cluster's issuer with its own name as audience"
            )
        if isinstance(exc, auth_exceptions.RefreshError) and len(exc.args) > 1:
            status = _status(exc.args[1])
            return AuthenticationError(
                f"the federated principal of {who} may not impersonate {self._email} "
                f"({status}); it needs Workload Identity User on that service account"
            )
        return BackendUnavailableError(
            f"cannot reach Google's token exchange for {who} ({type(exc).__name__})"
        )


def _status(body: object) -> str:
    """The ``error.status`` of a Google API error answer (nothing else of it)."""
    try:
        status = json.loads(str(body))["error"]["status"]
    except (ValueError, KeyError, TypeError):
        return "refused"
    return status if isinstance(status, str) and _STATUS.match(status) else "refused"
