"""Keyless AWS credentials: the role a ServiceAccount of the backend's namespace names.

A backend with ``serviceAccount`` logs in as the role the account's annotation
``eks.amazonaws.com/role-arn`` names, as IRSA does for a pod: a token of the
account bound to ``sts.amazonaws.com`` (:mod:`..workload_identity`) is exchanged
with STS ``AssumeRoleWithWebIdentity`` for temporary keys of that role;
``roleArn``, when configured, is then assumed with those keys (``AssumeRole``,
with ``externalId``).

Both calls go to the STS endpoint of the operator's settings
(``aws_endpoint_url_sts``, the SDKs' ``AWS_ENDPOINT_URL_STS``; by default the
STS endpoint of the backend's region), never to the config's ``endpoint``: a
backend's author chooses that one, and AWS accepts the token for every role
whose trust admits the account.

The keys are kept in the process's exchange cache per account and role (the
chained ones per account, role, chained role and external id) and renewed
shortly before they expire, so every backend and proxied read of an account
shares one exchange per credential lifetime.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from botocore.config import Config

from ..errors import InvalidBackendConfigError
from ..workload_identity import Expiring, WorkloadIdentity
from .config import ROLE_ANNOTATION, AwsConfig
from .keys import AwsKeys
from .sts import assume_role, assume_role_with_web_identity, session_name, sts_client

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

#: the audience of the tokens exchanged (EKS's, which the IAM OIDC provider lists)
AUDIENCE = "sts.amazonaws.com"
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
#: the codes of a Secrets Manager answer that say the keys are no longer good (another
#: exchange may help; a denied permission would not)
STALE_KEY_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "InvalidToken",
        "UnrecognizedClientException",
    }
)


class WebIdentityKeys:
    """The keys a keyless backend calls with now: its account's role, then the chain."""

    def __init__(
        self,
        identity: WorkloadIdentity,
        config: AwsConfig,
        *,
        sts_endpoint: str | None,
        botocore_config: Config,
    ) -> None:
        role = identity.annotations[ROLE_ANNOTATION]
        if not ROLE_ARN.match(role):
            raise InvalidBackendConfigError(
                f"config.serviceAccount: the annotation {ROLE_ANNOTATION} of {identity.who} "
                "is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
            )
        self._identity = identity
        self._role = role
        self._region = config.region
        self._sts_endpoint = sts_endpoint
        self._botocore_config = botocore_config
        self._session_name = session_name(identity.namespace, identity.service_account)
        self._base = ("aws-web-identity", role, sts_endpoint or config.region)
        self._chain: tuple[str, ...] | None = None
        if config.role_arn:
            self._chain = (*self._base, "chain", config.role_arn, config.external_id or "")
        self._chain_role = config.role_arn
        self._external_id = config.external_id
        self._unsigned: STSClient | None = None

    async def keys(self) -> AwsKeys:
        base = await self._identity.exchanged(self._base, self._exchange)
        if self._chain is None:
            return base
        return await self._identity.exchanged(self._chain, lambda: self._assume(base))

    def refused(self, keys: AwsKeys) -> None:
        """AWS no longer accepts ``keys``: exchange again at the next call."""
        self._identity.refused(self._base, keys)
        if self._chain is not None:
            self._identity.refused(self._chain, keys)

    async def _exchange(self) -> Expiring[AwsKeys]:
        token = await self._identity.token(AUDIENCE)
        if self._unsigned is None:
            self._unsigned = await asyncio.to_thread(self._sts, None, True)
        return await assume_role_with_web_identity(
            self._unsigned, self._role, token, name=self._session_name, who=self._identity.who
        )

    async def _assume(self, base: AwsKeys) -> Expiring[AwsKeys]:
        assert self._chain_role is not None
        sts = await asyncio.to_thread(self._sts, base)
        try:
            return await assume_role(
                sts, self._chain_role, self._external_id, None, self._session_name
            )
        finally:
            await asyncio.to_thread(sts.close)

    def _sts(self, keys: AwsKeys | None, unsigned: bool = False) -> STSClient:
        return sts_client(
            self._region, self._sts_endpoint, self._botocore_config, keys, unsigned=unsigned
        )

    async def close(self) -> None:
        unsigned, self._unsigned = self._unsigned, None
        if unsigned is not None:
            await asyncio.to_thread(unsigned.close)
