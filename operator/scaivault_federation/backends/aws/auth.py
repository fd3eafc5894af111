"""Credentials and the boto3 client of the AWS Secrets Manager backend.

Where the credentials come from:

- the credentials Secret holds ``access_key_id`` and ``secret_access_key``
  (and optionally ``session_token``): they are used as they are;
- ``serviceAccount`` in the config: the role that ServiceAccount names, by
  AssumeRoleWithWebIdentity with its token (keyless: :mod:`.keyless`);
- neither (a config naming no credentials Secret, in a namespace allowed it):
  boto3's default chain, the operator's own identity (IRSA web identity, EKS pod
  identity, environment, instance metadata);
- ``roleArn`` in the config: the credentials above only call STS
  ``AssumeRole`` (``externalId`` when configured); the temporary credentials are
  replaced when less than five minutes of their lifetime remain, or after AWS
  rejected them (a keyless backend's, kept in the exchange cache, when less
  than five minutes or a quarter of their lifetime remain, or after AWS said
  they expired).

One boto3 client serves every call of a backend (boto3 clients are
thread-safe) until its keys change; it is built in a worker thread, because
loading the service model reads files. ``endpoint`` in the config, as the
endpoint parser normalised it, is used for Secrets Manager, and for STS with
static keys or the operator's identity; a keyless backend's STS calls go to the
operator's STS endpoint instead (:mod:`.keyless`). botocore follows no redirect
(it answers a 3xx of these services as an error).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import boto3
import botocore.session
from botocore.config import Config

from ..allowlist import endpoint_of
from ..base import CallCounter, Credentials
from .config import AwsConfig
from .keyless import STALE_KEY_CODES, WebIdentityKeys
from .keys import AwsKeys, static_aws_keys
from .sts import assume_role, sts_client
from .timestamps import utc_timestamps

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sts import STSClient

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
        sts_endpoint: str | None = None,
    ) -> None:
        endpoint = endpoint_of(config, "endpoint")
        self._endpoint_url = endpoint.url if endpoint is not None else None
        self._config = config
        self._calls = calls
        self._renew_before = renew_before
        self._botocore_config = Config(
            region_name=config.region,
            retries={"mode": "standard", "max_attempts": 2},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=max(1, max_connections),
            user_agent_extra="scaivault-federation",
        )
        self._keyless: WebIdentityKeys | None = None
        self._base_keys: AwsKeys | None = None
        identity = credentials.workload_identity
        if identity is not None:
            self._keyless = WebIdentityKeys(
                identity, config, sts_endpoint=sts_endpoint, botocore_config=self._botocore_config
            )
        else:
            self._base_keys = static_aws_keys(credentials)
        self._client: SecretsManagerClient | None = None
        self._client_keys: AwsKeys | None = None
        self._sts: STSClient | None = None
        self._assumed: AwsKeys | None = None  # the roleArn's, from the keys above
        self._expires_at: datetime | None = None  # of the assumed-role credentials
        self._lock = asyncio.Lock()
        self._assume_lock = asyncio.Lock()

    async def client(self) -> SecretsManagerClient:
        """The client to call with now, building it again when its keys changed."""
        keys = await self._keys()
        client = self._client
        if client is not None and keys is self._client_keys:
            return client
        async with self._lock:
            client = self._client
            if client is None or keys is not self._client_keys:
                client = await asyncio.to_thread(self._new_client, keys)
                self._client, self._client_keys = client, keys
            return client

    def invalidate(self, code: str) -> None:
        """AWS rejected the current credentials (its error ``code``): assume the role or
        exchange the token again before the next call, where that can help."""
        if self._keyless is not None:
            if code in STALE_KEY_CODES and self._client_keys is not None:
                self._keyless.refused(self._client_keys)
        elif self._config.role_arn and self._assumed is not None:
            self._expires_at = datetime.now(UTC)

    async def close(self) -> None:
        for client in (self._client, self._sts):
            if client is not None:
                await asyncio.to_thread(client.close)
        self._client = None
        self._sts = None
        if self._keyless is not None:
            await self._keyless.close()

    async def _keys(self) -> AwsKeys | None:
        """The keys to call with now (``None``: the default chain's)."""
        if self._keyless is not None:
            return await self._keyless.keys()
        if not self._config.role_arn:
            return self._base_keys
        if self._assumed is not None and not self._aging():
            return self._assumed
        async with self._assume_lock:
            if self._assumed is None or self._aging():
                self._assumed = await self._assume_role()
            return self._assumed

    def _aging(self) -> bool:
        expires = self._expires_at
        return expires is not None and expires - datetime.now(UTC) < self._renew_before

    def _new_client(self, keys: AwsKeys | None) -> SecretsManagerClient:
        core = utc_timestamps(botocore.session.get_session())
        if keys is None:
            session = boto3.session.Session(region_name=self._config.region, botocore_session=core)
        else:
            session = boto3.session.Session(
                aws_access_key_id=keys.access_key_id,
                aws_secret_access_key=keys.secret_access_key,
                aws_session_token=keys.session_token,
                region_name=self._config.region,
                botocore_session=core,
            )
        return session.client(
            "secretsmanager", endpoint_url=self._endpoint_url, config=self._botocore_config
        )

    async def _assume_role(self) -> AwsKeys:
        role_arn = self._config.role_arn
        assert role_arn is not None
        if self._sts is None:
            self._sts = await asyncio.to_thread(
                sts_client,
                self._config.region,
                self._endpoint_url,
                self._botocore_config,
                self._base_keys,
            )
        issued = await assume_role(self._sts, role_arn, self._config.external_id, self._calls)
        self._expires_at = issued.expires_at
        return issued.value
