"""``aws``: Vault's IAM login. An ``sts:GetCallerIdentity`` request is signed here
with botocore (SigV4) and handed to Vault, which sends it to STS to learn who
signed it; the signing keys never leave the operator.

Keys come from the credentials Secret (``access_key_id``, ``secret_access_key``,
optionally ``session_token``) or, when it holds none, from botocore's default
chain (the platform identity: environment, web identity / IRSA, container or
instance role). ``stsRegion`` signs for the regional endpoint
``https://sts.<region>.amazonaws.com/`` (Vault's ``sts_endpoint`` and
``sts_region`` must match), otherwise the global ``https://sts.amazonaws.com/``
in us-east-1. ``iamServerIdHeader`` adds the signed
``X-Vault-AWS-IAM-Server-ID`` header a Vault mount may require. ``role`` names
Vault's role (Vault's default: the IAM principal's name). Login at
``auth/<authMount or aws>/login``.
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as AwsCredentials
from botocore.exceptions import BotoCoreError
from hvac import utils as hvac_utils

from ...aws.keys import static_aws_keys
from ...base import Credentials
from ...errors import InvalidBackendConfigError
from ..config import VaultAuthMethod, VaultConfig
from .base import AuthMethod, JwtProvider, LoginCall

STS_BODY = "Action=GetCallerIdentity&Version=2011-06-15"
GLOBAL_REGION = "us-east-1"
SERVER_ID_HEADER = "X-Vault-AWS-IAM-Server-ID"


def sts_url(region: str | None) -> str:
    return f"https://sts.{region}.amazonaws.com/" if region else "https://sts.amazonaws.com/"


def iam_login_body(
    keys: AwsCredentials, region: str | None, server_id: str | None, role: str | None
) -> dict[str, str]:
    """The body of Vault's IAM login: a SigV4-signed GetCallerIdentity, base64-encoded."""
    url = sts_url(region)
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    if server_id:
        headers[SERVER_ID_HEADER] = server_id
    request = AWSRequest(method="POST", url=url, data=STS_BODY, headers=headers)
    SigV4Auth(keys, "sts", region or GLOBAL_REGION).add_auth(request)
    signed = {name: str(value) for name, value in request.headers.items()}
    body = {
        "iam_http_request_method": "POST",
        "iam_request_url": _b64(url),
        "iam_request_body": _b64(STS_BODY),
        "iam_request_headers": _b64(json.dumps(signed, sort_keys=True)),
    }
    if role:
        body["role"] = role
    return body


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class AwsAuth(AuthMethod):
    method: ClassVar[VaultAuthMethod] = VaultAuthMethod.AWS
    default_mount: ClassVar[str] = "aws"

    def __init__(
        self, config: VaultConfig, credentials: Credentials, jwt_provider: JwtProvider | None
    ) -> None:
        super().__init__(config, credentials, jwt_provider)
        self._keys = _static_keys(credentials)
        self._region = config.sts_region
        self._server_id = config.iam_server_id_header
        self._role = config.role

    async def login_call(self) -> LoginCall:
        url = hvac_utils.format_url("/v1/auth/{mount}/login", mount=self.mount)

        def call(client: Any) -> Any:
            keys = self._keys or _default_chain_keys()
            body = iam_login_body(keys, self._region, self._server_id, self._role)
            return client.adapter.login(url, use_token=False, json=body)

        return call


def _static_keys(credentials: Credentials) -> AwsCredentials | None:
    """The keys in the credentials Secret; ``None``: use botocore's default chain."""
    keys = static_aws_keys(credentials, "aws auth")
    if keys is None:
        return None
    return AwsCredentials(keys.access_key_id, keys.secret_access_key, keys.session_token)


def _default_chain_keys() -> AwsCredentials:
    """Blocking: botocore's default chain (may ask the platform's credential endpoint)."""
    try:
        found = botocore.session.get_session().get_credentials()
        frozen = found.get_frozen_credentials() if found is not None else None
    except BotoCoreError as exc:
        raise InvalidBackendConfigError(
            f"aws auth: the platform identity gave no AWS credentials ({type(exc).__name__})"
        ) from None
    if frozen is None or not frozen.access_key or not frozen.secret_key:
        raise InvalidBackendConfigError(
            "aws auth: no credentials key 'access_key_id' and no platform identity found"
        )
    return AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token)
