"""Credentials and the boto3 client of the AWS Secrets Manager backend.

Where the credentials come from:

- the credentials Secret holds ``access_key_id`` and ``secret_access_key``
  (and optionally ``session_token``): they are used as they are;
- the credentials Secret is absent or empty: boto3's default chain (IRSA web
  identity, EKS pod identity, environment, instance metadata);
- ``roleArn`` in the config: the credentials above only call STS
  ``AssumeRole`` (session name ``scaivault-federation``, ``externalId`` when
  configured); the temporary credentials are replaced when less than five
  minutes of their lifetime remain, or after AWS rejected them.

One boto3 client serves every call of a backend (boto3 clients are
thread-safe); it is built lazily in a worker thread, because loading the
service model reads files. ``endpoint`` in the config, as the endpoint
parser normalised it, is used for Secrets Manager and STS alike. botocore
follows no redirect (it answers a 3xx of these services as an error).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import boto3
import botocore.session
from botocore.config import Config

from ..allowlist import endpoint_of
from ..base import CallCounter, Credentials, call_result
from ..errors import (
    AuthenticationError,
    BackendError,
    InvalidBackendConfigError,
    SecretNotFoundError,
)
from .config import AwsConfig
from .errors import map_error
from .keys import AwsKeys, static_aws_keys
from .timestamps import utc_timestamps

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sts import STSClient
    from mypy_boto3_sts.type_defs import AssumeRoleResponseTypeDef

SESSION_NAME = "scaivault-federation"
# Assumed-role credentials are replaced when less than this much lifetime is left.
RENEW_BEFORE = timedelta(minutes=5)


class AwsSession:
    """The Secrets Manager client of one backend, with its credentials kept fresh."""

    def __init__(
        self,
        config: AwsConfig,
        credentials: Credentials,
        calls: CallCounter,
        *,
        max_connections: int = 10,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        renew_before: timedelta = RENEW_BEFORE,
    ) -> None:
        endpoint = endpoint_of(config, "endpoint")
        self._endpoint_url = endpoint.url if endpoint is not None else None
        self._config = config
        self._calls = calls
        self._renew_before = renew_before
        self._base_keys = static_aws_keys(credentials)
        self._botocore_config = Config(
            region_name=config.region,
            retries={"mode": "standard", "max_attempts": 2},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=max(1, max_connections),
            user_agent_extra="scaivault-federation",
        )
        self._client: SecretsManagerClient | None = None
        self._sts: STSClient | None = None
        self._expires_at: datetime | None = None  # of assumed-role credentials
        self._lock = asyncio.Lock()

    async def client(self) -> SecretsManagerClient:
        """The client to call with now, building or renewing it when needed."""
        client = self._client
        if client is not None and not self._aging():
            return client
        async with self._lock:
            client = self._client
            if client is None or self._aging():
                client = await self._build()
                self._client = client
            return client

    def invalidate(self) -> None:
        """AWS rejected the current credentials: assume the role again before the next call."""
        if self._config.role_arn and self._client is not None:
            self._expires_at = datetime.now(UTC)

    async def close(self) -> None:
        for client in (self._client, self._sts):
            if client is not None:
                await asyncio.to_thread(client.close)
        self._client = None
        self._sts = None

    def _aging(self) -> bool:
        expires = self._expires_at
        return expires is not None and expires - datetime.now(UTC) < self._renew_before

    async def _build(self) -> SecretsManagerClient:
        keys = self._base_keys
        if self._config.role_arn:
            keys = await self._assume_role()
        return await asyncio.to_thread(self._new_client, keys)

    def _session(self, keys: AwsKeys | None) -> boto3.session.Session:
        core = utc_timestamps(botocore.session.get_session())
        if keys is None:
            return boto3.session.Session(region_name=self._config.region, botocore_session=core)
        return boto3.session.Session(
            aws_access_key_id=keys.access_key_id,
            aws_secret_access_key=keys.secret_access_key,
            aws_session_token=keys.session_token,
            region_name=self._config.region,
            botocore_session=core,
        )

    def _new_client(self, keys: AwsKeys | None) -> SecretsManagerClient:
        return self._session(keys).client(
            "secretsmanager", endpoint_url=self._endpoint_url, config=self._botocore_config
        )

    async def _assume_role(self) -> AwsKeys:
        role_arn = self._config.role_arn
        assert role_arn is not None
        where = f"AssumeRole {role_arn!r}"
        if self._sts is None:
            self._sts = await asyncio.to_thread(self._new_sts)
        sts = self._sts
        external_id = self._config.external_id

        def assume() -> AssumeRoleResponseTypeDef:
            if external_id:
                return sts.assume_role(
                    RoleArn=role_arn, RoleSessionName=SESSION_NAME, ExternalId=external_id
                )
            return sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME)

        error: BackendError | None = None
        try:
            answer = await asyncio.to_thread(assume)
        except Exception as exc:
            error = map_error(exc, where)
            if isinstance(error, InvalidBackendConfigError | SecretNotFoundError):
                error = AuthenticationError(f"cannot assume the role: {error.message}")
        self._calls.record("assume_role", call_result(error))
        if error is not None:
            raise error
        issued = answer["Credentials"]
        expiration = issued["Expiration"]
        self._expires_at = (
            expiration if expiration.tzinfo is not None else expiration.replace(tzinfo=UTC)
        )
        return AwsKeys(issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"])

    def _new_sts(self) -> STSClient:
        return self._session(self._base_keys).client(
            "sts", endpoint_url=self._endpoint_url, config=self._botocore_config
        )
