"""AWS Secrets Manager over boto3.

Template paths are secret names (``prod/db/password``); a listing prefix is
a literal name prefix. Listing uses ``ListSecrets`` with a ``name`` filter
(a prefix match on AWS) at the largest page size, checks the prefix again
on our side, and leaves out secrets scheduled for deletion. A secret's
version is the id of its ``AWSCURRENT`` version.

Reads of many secrets use ``BatchGetSecretValue``, 20 names per call, so
reading N secrets costs ceil(N / 20) calls. Describing a secret without listing
is a ``DescribeSecret`` of its name (no value). A value is returned as AWS holds
it: ``SecretString`` as text (JSON objects are interpreted by the sync
layer), ``SecretBinary`` as bytes. A secret with rotation turned on lists and
describes its ``NextRotationDate`` as its expiry (``expires_at``); a batch read
does not answer it.

boto3 is synchronous: every call runs in a worker thread, a few at a time,
through one client per backend (see :mod:`.auth` for credentials).
Botocore retries once (``standard`` mode); connections time out after 5 s,
reads after 15 s.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from botocore.exceptions import ClientError

from ...models.config import BackendConfig
from ..base import (
    BatchResult,
    CallCounter,
    Credentials,
    Described,
    RemoteSecret,
    RemoteSecretRef,
    SecretBackend,
    call_result,
    collected,
    describe_concurrently,
    gather_or_raise,
    read_concurrently,
)
from ..errors import (
    AuthenticationError,
    BackendError,
    BackendUnavailableError,
    InvalidBackendConfigError,
    InvalidSecretValueError,
    SecretNotFoundError,
    ThrottledError,
)
from ..factory import BackendEnvironment
from .auth import RENEW_BEFORE, AwsSession
from .config import NAME, AwsConfig
from .errors import error_code, error_for_code, map_error
from .settings import AwsSettings

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_secretsmanager.type_defs import (
        BatchGetSecretValueResponseTypeDef,
        DescribeSecretResponseTypeDef,
        GetSecretValueResponseTypeDef,
        ListSecretsResponseTypeDef,
        SecretListEntryTypeDef,
        SecretValueEntryTypeDef,
    )

T = TypeVar("T")

MAX_PAGE_SIZE = 100  # ListSecrets' largest page
BATCH_SIZE = 20  # BatchGetSecretValue's largest SecretIdList
CURRENT_STAGE = "AWSCURRENT"
_VERSION_ID = re.compile(r"^[0-9a-fA-F-]{32,64}$")


class AwsSecretsManagerBackend:
    """``SecretBackend`` for AWS Secrets Manager (and servers speaking its API)."""

    backend_type: ClassVar[str] = NAME

    def __init__(
        self,
        config: AwsConfig,
        credentials: Credentials,
        *,
        page_size: int = MAX_PAGE_SIZE,
        concurrency: int = 8,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        renew_before: timedelta = RENEW_BEFORE,
        sts_endpoint: str | None = None,
    ) -> None:
        self.calls = CallCounter()
        self._page_size = min(MAX_PAGE_SIZE, max(1, page_size))
        self._concurrency = max(1, concurrency)
        self._slots = asyncio.Semaphore(self._concurrency)
        self._session = AwsSession(
            config,
            credentials,
            self.calls,
            max_connections=max(1, concurrency),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            renew_before=renew_before,
            sts_endpoint=sts_endpoint,
        )

    # -- SecretBackend ----------------------------------------------------------------

    async def list_secrets(self, prefix: str) -> list[RemoteSecretRef]:
        return await collected(self.list_pages(prefix))

    async def list_pages(self, prefix: str) -> AsyncIterator[list[RemoteSecretRef]]:
        token: str | None = None
        while True:
            page = await self._call(
                "list", f"ListSecrets {prefix!r}", self._list_page(prefix, token)
            )
            refs = (_ref(entry, prefix) for entry in page.get("SecretList", []))
            yield [ref for ref in refs if ref is not None]
            token = page.get("NextToken") or None
            if token is None:
                break

    async def get_secret(self, path: str, version: str | None = None) -> RemoteSecret:
        """A ``version`` that looks like a version id (a UUID, or 32 to 64 hex digits and
        dashes) is read by ``VersionId``, anything else is a staging label."""
        _check_path(path)
        args: dict[str, str] = {"SecretId": path}
        if version is not None:
            args["VersionId" if _VERSION_ID.match(version) else "VersionStage"] = version
        answer = await self._call(
            "read",
            f"GetSecretValue {path!r}",
            lambda client: client.get_secret_value(**args),
        )
        return _secret(path, answer)

    async def get_many(
        self, paths: Sequence[str], versions: Mapping[str, str] | None = None
    ) -> BatchResult:
        """Current values in batches of 20; each pinned path with a read of its own."""
        pinned = [p for p in dict.fromkeys(paths) if p in (versions or {})]
        if pinned:
            assert versions is not None
            read = await read_concurrently(self.get_secret, pinned, len(pinned), versions)
            rest = await self._get_current([p for p in paths if p not in versions])
            rest.found.update(read.found)
            rest.failed.update(read.failed)
            rest.missing.extend(read.missing)
            return rest
        return await self._get_current(paths)

    async def _get_current(self, paths: Sequence[str]) -> BatchResult:
        result = BatchResult(found={}, missing=[], failed={})
        unique = list(dict.fromkeys(paths))
        for path in unique:
            try:
                _check_path(path)
            except InvalidBackendConfigError as error:
                result.failed[path] = error
        valid = [p for p in unique if p not in result.failed]
        chunks = [valid[i : i + BATCH_SIZE] for i in range(0, len(valid), BATCH_SIZE)]
        stop: list[BackendError] = []  # once AWS is down or throttling, stop asking

        async def read(chunk: list[str]) -> None:
            if stop:
                result.failed.update(dict.fromkeys(chunk, stop[0]))
                return
            try:
                await self._read_chunk(chunk, result)
            except (BackendUnavailableError, ThrottledError) as error:
                stop.append(error)
                result.failed.update((p, error) for p in chunk if not _settled(p, result))
            except BackendError as error:
                result.failed.update((p, error) for p in chunk if not _settled(p, result))

        await gather_or_raise(read(chunk) for chunk in chunks)
        missing = set(result.missing)
        result.missing = [path for path in unique if path in missing]
        return result

    async def describe_secrets(self, paths: Sequence[str]) -> Described:
        return await describe_concurrently(self._describe, paths, self._concurrency)

    async def _describe(self, path: str) -> RemoteSecretRef:
        _check_path(path)
        answer = await self._call(
            "describe",
            f"DescribeSecret {path!r}",
            lambda client: client.describe_secret(SecretId=path),
        )
        ref = _described(path, answer)
        if ref is None:
            raise SecretNotFoundError(f"no current value at {path!r}")
        return ref

    async def probe(self) -> float:
        try:  # build the client (and assume the role) untimed
            await self._session.client()
        except BackendError as error:  # counted as the probe it failed
            self.calls.record("probe", call_result(error))
            raise
        started = time.perf_counter()
        await self._call("probe", "ListSecrets", lambda client: client.list_secrets(MaxResults=1))
        return max((time.perf_counter() - started) * 1000.0, 0.001)

    async def release(self) -> None:
        return None  # boto3's client is kept: making it again costs more CPU than it holds

    async def close(self) -> None:
        await self._session.close()

    # -- calls --------------------------------------------------------------------------

    async def _call(self, operation: str, where: str, fn: Callable[[SecretsManagerClient], T]) -> T:
        """``fn(client)`` in a worker thread, counted as one ``operation`` call."""
        async with self._slots:
            error: BackendError | None = None
            code = ""
            try:
                client = await self._session.client()  # a refused exchange fails the call
                value = await asyncio.to_thread(fn, client)
            except Exception as exc:
                error = map_error(exc, where)
                code = error_code(exc)[0] if isinstance(exc, ClientError) else ""
            self.calls.record(operation, call_result(error))
        if error is not None:
            if isinstance(error, AuthenticationError):
                self._session.invalidate(code)
            raise error
        return value

    def _list_page(
        self, prefix: str, token: str | None
    ) -> Callable[[SecretsManagerClient], ListSecretsResponseTypeDef]:
        def call(client: SecretsManagerClient) -> ListSecretsResponseTypeDef:
            args: dict[str, Any] = {"MaxResults": self._page_size}
            if prefix:
                args["Filters"] = [{"Key": "name", "Values": [prefix]}]
            if token:
                args["NextToken"] = token
            return client.list_secrets(**args)

        return call

    async def _read_chunk(self, chunk: list[str], result: BatchResult) -> None:
        where = f"BatchGetSecretValue {chunk[0]!r} (+{len(chunk) - 1})"
        token: str | None = None
        while True:
            page = await self._call("batch_read", where, _batch_page(chunk, token))
            for entry in page.get("SecretValues", []):
                name = entry.get("Name")
                if isinstance(name, str) and name in chunk and not _settled(name, result):
                    try:
                        result.found[name] = _secret(name, entry)
                    except BackendError as bad:
                        result.failed[name] = bad
            for failure in page.get("Errors", []):
                name = failure.get("SecretId")
                if not isinstance(name, str) or name not in chunk or _settled(name, result):
                    continue
                problem = error_for_code(
                    str(failure.get("ErrorCode") or ""),
                    None,
                    f"BatchGetSecretValue {name!r}",
                    str(failure.get("Message") or ""),
                )
                if isinstance(problem, SecretNotFoundError):
                    result.missing.append(name)
                else:
                    result.failed[name] = problem
            token = page.get("NextToken") or None
            if token is None:
                break
        for name in chunk:
            if not _settled(name, result):
                result.failed[name] = BackendError(f"BatchGetSecretValue {name!r}: no answer")


async def create(
    config: BackendConfig, credentials: Credentials, environment: BackendEnvironment
) -> SecretBackend:
    if not isinstance(config, AwsConfig):
        raise InvalidBackendConfigError("aws-secrets-manager needs an AWS config")
    settings = environment.settings_of(AwsSettings)
    return AwsSecretsManagerBackend(config, credentials, sts_endpoint=settings.aws_endpoint_url_sts)


# -- helpers ------------------------------------------------------------------------------


def _batch_page(
    chunk: list[str], token: str | None
) -> Callable[[SecretsManagerClient], BatchGetSecretValueResponseTypeDef]:
    def call(client: SecretsManagerClient) -> BatchGetSecretValueResponseTypeDef:
        if token:
            return client.batch_get_secret_value(SecretIdList=chunk, NextToken=token)
        return client.batch_get_secret_value(SecretIdList=chunk)

    return call


def _settled(path: str, result: BatchResult) -> bool:
    return path in result.found or path in result.failed or path in result.missing


def _check_path(path: str) -> None:
    if not path or path.endswith("/") or not path.isprintable():
        raise InvalidBackendConfigError(f"invalid secret name {path!r}")


def _ref(entry: SecretListEntryTypeDef, prefix: str) -> RemoteSecretRef | None:
    """The listing entry as a ref, or ``None`` when it is outside ``prefix`` or not live."""
    name = entry.get("Name")
    if not isinstance(name, str) or not name.startswith(prefix) or name.endswith("/"):
        return None
    return _live(name, entry, entry.get("SecretVersionsToStages"))


def _described(path: str, answer: DescribeSecretResponseTypeDef) -> RemoteSecretRef | None:
    """A ``DescribeSecret`` answer as a ref, or ``None`` when it is of another name (an id
    read as a partial ARN) or not live."""
    if answer.get("Name") != path:
        return None
    return _live(path, answer, answer.get("VersionIdsToStages"))


def _live(
    name: str,
    entry: SecretListEntryTypeDef | DescribeSecretResponseTypeDef,
    stages: Mapping[str, Sequence[str]] | None,
) -> RemoteSecretRef | None:
    """The ref of a secret's metadata, ``None`` when a read would find nothing: it is
    scheduled for deletion or has no current version."""
    if entry.get("DeletedDate") is not None:
        return None
    version: str | None = None
    if isinstance(stages, Mapping):
        current = [v for v, labels in stages.items() if CURRENT_STAGE in (labels or [])]
        if not current:
            return None
        version = str(current[0])
    changed = entry.get("LastChangedDate")
    rotation = entry.get("NextRotationDate")
    return RemoteSecretRef(
        name,
        version,
        changed if isinstance(changed, datetime) else None,
        rotation if isinstance(rotation, datetime) else None,
    )


def _secret(
    path: str, answer: GetSecretValueResponseTypeDef | SecretValueEntryTypeDef
) -> RemoteSecret:
    version = answer.get("VersionId")
    version = str(version) if version else None
    text = answer.get("SecretString")
    if isinstance(text, str):
        return RemoteSecret(path, text, version)
    blob = answer.get("SecretBinary")
    if isinstance(blob, bytes | bytearray):
        return RemoteSecret(path, bytes(blob), version)
    raise InvalidSecretValueError(f"secret {path!r} has neither a string nor a binary value")
