"""The STS calls of the AWS backend: temporary keys of a role, by AssumeRole (with keys
the backend holds) or AssumeRoleWithWebIdentity (with a ServiceAccount's token, no
keys: the call is unsigned), each counted on the backend's call counter and its
failure mapped to the link that failed."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC
from typing import TYPE_CHECKING, Any

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from ..base import CallCounter, call_result
from ..errors import (
    AuthenticationError,
    BackendError,
    BackendUnavailableError,
    InvalidBackendConfigError,
    SecretNotFoundError,
    TokenExchangeRefusedError,
)
from ..workload_identity import Expiring
from .errors import error_code, map_error
from .keys import AwsKeys

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient
    from mypy_boto3_sts.type_defs import CredentialsTypeDef

SESSION_NAME = "scaivault-federation"
#: STS's codes for a web identity token it does not accept (beyond denied access)
REFUSED_TOKEN_CODES = frozenset(
    {"InvalidIdentityToken", "ExpiredTokenException", "IDPRejectedClaim", "PackedPolicyTooLarge"}
)
#: what a role session name may hold (anything else becomes ``-``), and its length
_SESSION_CHARACTERS = re.compile(r"[^\w+=,.@-]")
SESSION_NAME_LENGTH = 64


def sts_client(
    region: str,
    endpoint_url: str | None,
    config: Config,
    keys: AwsKeys | None,
    *,
    unsigned: bool = False,
) -> STSClient:
    """Blocking: an STS client signing with ``keys`` (``None``: the default chain's, which
    only a backend allowed the operator's identity gets), or an unsigned one (for
    AssumeRoleWithWebIdentity), which never looks for credentials."""
    if unsigned:
        session = boto3.session.Session(region_name=region)
        config = config.merge(Config(signature_version=UNSIGNED))
    elif keys is None:
        session = boto3.session.Session(region_name=region)
    else:
        session = boto3.session.Session(
            aws_access_key_id=keys.access_key_id,
            aws_secret_access_key=keys.secret_access_key,
            aws_session_token=keys.session_token,
            region_name=region,
        )
    return session.client("sts", endpoint_url=endpoint_url, config=config)


def session_name(*parts: str) -> str:
    """A role session name (CloudTrail shows it) from ``parts``."""
    text = ".".join(("scaivault", *parts)) if parts else SESSION_NAME
    return _SESSION_CHARACTERS.sub("-", text)[:SESSION_NAME_LENGTH]


def temporary_keys(issued: CredentialsTypeDef) -> Expiring[AwsKeys]:
    expiration = issued["Expiration"]
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=UTC)
    keys = AwsKeys(issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"])
    return Expiring(keys, expiration)


async def assume_role(
    sts: STSClient,
    role_arn: str,
    external_id: str | None,
    calls: CallCounter | None,
    name: str = SESSION_NAME,
) -> Expiring[AwsKeys]:
    """AssumeRole ``role_arn``, counted on ``calls`` (``None``: keys shared by the backends
    of a ServiceAccount, whose exchanges the exchange cache counts); a refusal is the
    credentials' (AuthenticationError)."""
    args: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": name}
    if external_id:
        args["ExternalId"] = external_id
    error: BackendError | None = None
    try:
        answer = await asyncio.to_thread(lambda: sts.assume_role(**args))
    except Exception as exc:
        error = map_error(exc, f"AssumeRole {role_arn!r}")
        if isinstance(error, InvalidBackendConfigError | SecretNotFoundError):
            error = AuthenticationError(f"cannot assume the role: {error.message}")
    if calls is not None:
        calls.record("assume_role", call_result(error))
    if error is not None:
        raise error
    return temporary_keys(answer["Credentials"])


async def assume_role_with_web_identity(
    sts: STSClient, role_arn: str, token: str, *, name: str, who: str
) -> Expiring[AwsKeys]:
    """AssumeRoleWithWebIdentity ``role_arn`` with the token of ``who`` (an account, for
    messages); a refusal of the token is :class:`TokenExchangeRefusedError`."""
    where = f"AssumeRoleWithWebIdentity {role_arn!r}"
    error: BackendError | None = None
    try:
        answer = await asyncio.to_thread(
            lambda: sts.assume_role_with_web_identity(
                RoleArn=role_arn, RoleSessionName=name, WebIdentityToken=token
            )
        )
    except Exception as exc:
        error = exchange_error(exc, where, who)
    if error is not None:
        raise error
    return temporary_keys(answer["Credentials"])


def exchange_error(exc: Exception, where: str, who: str) -> BackendError:
    """The failure of an AssumeRoleWithWebIdentity, by the link that failed."""
    error = map_error(exc, where)
    if not isinstance(exc, ClientError):
        return error
    code, status = error_code(exc)
    if code == "IDPCommunicationError":  # STS could not fetch the issuer's keys
        return BackendUnavailableError(
            f"{where}: STS could not reach the cluster's token issuer ({code})"
        )
    refused = AuthenticationError | InvalidBackendConfigError | SecretNotFoundError
    if code in REFUSED_TOKEN_CODES or isinstance(error, refused):
        shown = f"{code or 'error'}" + (f", HTTP {status}" if status else "")
        return TokenExchangeRefusedError(
            f"{where}: STS refused the token of {who} ({shown}); the role's trust policy "
            "must admit the account's subject with audience sts.amazonaws.com, from an IAM "
            "OIDC provider of the cluster's issuer"
        )
    return error
