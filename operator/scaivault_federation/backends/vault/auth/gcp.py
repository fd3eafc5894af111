"""``gcp``: Vault's Google Cloud login with ``role`` from the config, at
``auth/<authMount or gcp>/login``. Two ways to the signed JWT Vault checks,
chosen by ``gcpAuthType``:

- ``iam`` (the default): a JWT signed here with the service-account key in
  the credentials key ``credentials.json`` (``sub`` the account's email,
  ``aud`` ``vault/<role>``, valid for 15 minutes, ``kid`` the key id). Vault
  verifies it against the account's public keys; nothing is sent to Google
  from the operator.
- ``gce``: the instance identity token of the GCE metadata server
  (``audience=vault/<role>``, ``format=full``). The metadata server is asked
  only when this is configured.
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

import requests
from google.auth import crypt as google_crypt
from google.auth import jwt as google_jwt

from ...base import Credentials
from ...errors import AuthenticationError, BackendUnavailableError, InvalidBackendConfigError
from ..config import GcpAuthType, VaultAuthMethod, VaultConfig
from .base import AuthMethod, JwtProvider, LoginCall, require_role

KEY_FILE = "credentials.json"
JWT_LIFETIME = 900  # seconds; Vault's default max_jwt_exp for iam logins
METADATA_URL = "http://metadata.google.internal"
IDENTITY_PATH = "/computeMetadata/v1/instance/service-accounts/default/identity"


def signed_iam_jwt(info: dict[str, str], role: str, now: float | None = None) -> str:
    """A JWT for Vault's iam login, signed with the service-account key ``info``."""
    issued = int(time.time() if now is None else now)
    signer = google_crypt.RSASigner.from_service_account_info(info)  # type: ignore[no-untyped-call]
    payload = {
        "sub": info["client_email"],
        "aud": f"vault/{role}",
        "iat": issued,
        "exp": issued + JWT_LIFETIME,
    }
    encode = google_jwt.encode
    token = encode(signer, payload, key_id=info.get("private_key_id"))  # type: ignore[no-untyped-call]
    return token.decode("ascii") if isinstance(token, bytes) else str(token)


class GcpAuth(AuthMethod):
    method: ClassVar[VaultAuthMethod] = VaultAuthMethod.GCP
    default_mount: ClassVar[str] = "gcp"

    def __init__(
        self,
        config: VaultConfig,
        credentials: Credentials,
        jwt_provider: JwtProvider | None,
        *,
        metadata_url: str = METADATA_URL,
    ) -> None:
        super().__init__(config, credentials, jwt_provider)
        self._role = require_role(config, self.method)
        self._gce = config.gcp_auth_type is GcpAuthType.GCE
        self._metadata_url = metadata_url.rstrip("/")
        self._info: dict[str, str] = {}
        if not self._gce:
            self._info = _service_account_key(credentials)
        elif not credentials.ambient:
            raise InvalidBackendConfigError(
                "gcp auth with gcpAuthType gce uses the operator's own identity, which this "
                "backend may not use"
            )

    async def login_call(self) -> LoginCall:
        role, mount = self._role, self.mount

        def call(client: Any) -> Any:
            jwt = self._metadata_jwt() if self._gce else signed_iam_jwt(self._info, role)
            return client.auth.gcp.login(role, jwt, use_token=False, mount_point=mount)

        return call

    def _metadata_jwt(self) -> str:
        """Blocking: the instance identity token for ``vault/<role>``."""
        with requests.Session() as session:
            session.trust_env = False  # the metadata server is never reached through a proxy
            try:
                answer = session.get(
                    self._metadata_url + IDENTITY_PATH,
                    params={"audience": f"vault/{self._role}", "format": "full"},
                    headers={"Metadata-Flavor": "Google"},
                    timeout=(2.0, 5.0),
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                raise BackendUnavailableError(
                    f"gcp auth: cannot reach the GCE metadata server ({type(exc).__name__})"
                ) from None
        if answer.status_code != 200 or not answer.text.strip():
            raise AuthenticationError(
                f"gcp auth: the GCE metadata server gave no identity token "
                f"(HTTP {answer.status_code})"
            )
        return answer.text.strip()


def _service_account_key(credentials: Credentials) -> dict[str, str]:
    problem = f"credentials key {KEY_FILE!r} is not a service-account key JSON document"
    try:
        info = json.loads(credentials.require(KEY_FILE).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidBackendConfigError(problem) from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise InvalidBackendConfigError(problem)
    fields = ("client_email", "private_key")
    if not all(isinstance(info.get(f), str) and info[f] for f in fields):
        raise InvalidBackendConfigError(f"{problem} (it needs client_email and private_key)")
    try:
        google_crypt.RSASigner.from_service_account_info(info)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError):
        raise InvalidBackendConfigError(f"{problem} (its private_key does not load)") from None
    return {str(k): str(v) for k, v in info.items() if isinstance(v, str)}
