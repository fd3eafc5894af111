"""Google Secret Manager over the official async gRPC client.

Template paths are ``/``-separated (``apps/db/password``); Google secret ids
allow only ``[A-Za-z0-9_-]``, so a path maps to an id and back with the
reversible rule of :mod:`.naming` (``/`` becomes ``__``; ``google_name`` /
``google_path``). Secrets whose id the rule does not produce are not listed,
and a path without an id is an ``UnmappablePathError``.

Listing calls ``ListSecrets`` on ``projects/<project>`` at the API's largest
page size (25000), with a ``name:`` filter narrowing the server's answer to
ids containing the encoded prefix (a substring match), and keeps, on our
side, only ids that decode to paths under the prefix. One call per page.
Listings carry no version; a secret's ``expireTime`` (when Google deletes it)
is its expiry (``expires_at``), known from listings only (an access answers no
secret metadata).

A read is ``AccessSecretVersion`` on ``versions/latest``, which names the
most recently *created* version: when that version is disabled or
destroyed the API answers FAILED_PRECONDITION and the secret counts as not
found (an older enabled version is not used). The payload checksum is
verified; valid UTF-8 comes back as text (JSON objects are interpreted by the
sync layer), anything else as bytes. Google has no batch read, so
``get_many`` reads concurrently (bounded). Describing a path is that same access
of ``latest``, its value dropped (a metadata-only ``GetSecretVersion`` would need a
permission a secret accessor lacks).

Every call has a 10 s deadline and no client-side retries: the sync engine
backs off on its own. Connection and identity: see :mod:`.auth`.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from google.api_core import exceptions as api_exceptions
from google.cloud.secretmanager_v1 import SecretManagerServiceAsyncClient, types

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
    read_concurrently,
)
from ..errors import (
    AuthenticationError,
    BackendError,
    BackendUnavailableError,
    InvalidBackendConfigError,
    SecretNotFoundError,
    ThrottledError,
)
from ..factory import BackendEnvironment
from ..naming import UnmappablePathError
from .auth import ConnectionPlan, open_client, plan_connection
from .config import NAME, GoogleConfig
from .names import RULE, google_name, google_path
from .settings import GoogleSettings

MAX_PAGE_SIZE = 25000
#: the operations that access one secret's version (its absence is a missing secret)
_READS = frozenset({"read", "describe"})
_VERSION = re.compile(r"^[A-Za-z0-9_-]{1,63}$")  # a version number or an alias


class GoogleSecretManagerBackend:
    """``SecretBackend`` for Google Secret Manager (one project)."""

    backend_type: ClassVar[str] = NAME

    def __init__(
        self,
        config: GoogleConfig,
        credentials: Credentials,
        *,
        page_size: int = MAX_PAGE_SIZE,
        read_concurrency: int = 8,
        timeout: float = 10.0,
        settings: GoogleSettings | None = None,
    ) -> None:
        self.calls = CallCounter()
        self.project = config.project
        self.plan: ConnectionPlan = plan_connection(config, credentials, settings)
        self._parent = f"projects/{config.project}"
        self._page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        self._read_concurrency = max(1, read_concurrency)
        self._timeout = timeout
        self._client: SecretManagerServiceAsyncClient | None = None
        self._client_lock = asyncio.Lock()

    # -- SecretBackend ----------------------------------------------------------------

    async def list_secrets(self, prefix: str) -> list[RemoteSecretRef]:
        return await collected(self.list_pages(prefix))

    async def list_pages(self, prefix: str) -> AsyncIterator[list[RemoteSecretRef]]:
        request = types.ListSecretsRequest(
            parent=self._parent, page_size=self._page_size, filter=_name_filter(prefix)
        )
        while True:
            response = await self._call("list", self._parent, "list_secrets", request)
            page: list[RemoteSecretRef] = []
            for secret in response.secrets:
                path = google_path(str(secret.name).rsplit("/", 1)[-1])
                if path is not None and path.startswith(prefix):
                    page.append(RemoteSecretRef(path, expires_at=_expiry(secret)))
            yield page
            token = str(response.next_page_token or "")
            if not token:
                break
            request.page_token = token

    async def get_secret(self, path: str, version: str | None = None) -> RemoteSecret:
        return await self._access(path, version, "read")

    async def _access(self, path: str, version: str | None, operation: str) -> RemoteSecret:
        if version is not None and not _VERSION.match(version):
            raise InvalidBackendConfigError(
                f"version {version[:64]!r} of {path!r} is not a version number or alias"
            )
        name = f"{self._parent}/secrets/{google_name(path)}/versions/{version or 'latest'}"
        request = types.AccessSecretVersionRequest(name=name)
        response = await self._call(operation, path, "access_secret_version", request)
        payload = response.payload
        data = bytes(payload.data)
        if "data_crc32c" in payload and int(payload.data_crc32c) != crc32c(data):
            raise BackendUnavailableError(f"the payload of {path!r} failed its checksum")
        version = str(response.name).rsplit("/", 1)[-1] or None
        return RemoteSecret(path, _as_value(data), version)

    async def get_many(
        self, paths: Sequence[str], versions: Mapping[str, str] | None = None
    ) -> BatchResult:
        return await read_concurrently(self.get_secret, paths, self._read_concurrency, versions)

    async def describe_secrets(self, paths: Sequence[str]) -> Described:
        return await describe_concurrently(self._describe, paths, self._read_concurrency)

    async def _describe(self, path: str) -> RemoteSecretRef:
        """The ``latest`` version's number, by accessing it: ``GetSecretVersion`` would
        need ``secretmanager.versions.get``, which a reader (the secret accessor role)
        need not hold. The value is dropped."""
        try:
            return RemoteSecretRef(path, (await self._access(path, None, "describe")).version)
        except UnmappablePathError:
            raise SecretNotFoundError(f"no secret at {path!r} (no secret id)") from None

    async def probe(self) -> float:
        await self._ensure_client()
        request = types.ListSecretsRequest(parent=self._parent, page_size=1)
        started = time.perf_counter()
        await self._call("probe", self._parent, "list_secrets", request)
        return max((time.perf_counter() - started) * 1000.0, 0.001)

    async def release(self) -> None:
        return None  # the SDK client is kept: making it again costs more than it holds

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.transport.close()  # type: ignore[no-untyped-call]

    # -- calls --------------------------------------------------------------------------

    async def _ensure_client(self) -> SecretManagerServiceAsyncClient:
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    self._client = await open_client(self.plan)
        return self._client

    async def _call(self, operation: str, subject: str, method: str, request: Any) -> Any:
        """One counted RPC; errors become backend errors about ``subject``."""
        client = await self._ensure_client()
        keyless = self.plan.token
        token: str | None = None
        error: BaseException | None = None
        try:
            if keyless is not None:  # a refused exchange fails the call
                token = await keyless.access_token()
            metadata = (("authorization", f"Bearer {token}"),) if token is not None else ()
            return await getattr(client, method)(
                request=request, retry=None, timeout=self._timeout, metadata=metadata
            )
        except api_exceptions.GoogleAPICallError as exc:
            error = _map_error(exc, operation, subject)
            if keyless is not None and token is not None and _stale(exc):
                keyless.refused(token)
            raise error from None
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.calls.record(operation, call_result(_counted(error)))


async def create(
    config: BackendConfig, credentials: Credentials, environment: BackendEnvironment
) -> SecretBackend:
    if not isinstance(config, GoogleConfig):
        raise InvalidBackendConfigError("google-secret-manager needs a Google config")
    return GoogleSecretManagerBackend(
        config, credentials, settings=environment.settings_of(GoogleSettings)
    )


# -- helpers ------------------------------------------------------------------------------


def _counted(error: BaseException | None) -> BaseException | None:
    return None if isinstance(error, asyncio.CancelledError) else error


def _expiry(secret: types.Secret) -> datetime | None:
    """The secret's ``expireTime``, when it has one."""
    if "expire_time" not in secret:
        return None
    when: datetime = secret.expire_time
    return when


def _stale(exc: api_exceptions.GoogleAPICallError) -> bool:
    """Whether Google no longer took the access token (a denied permission is not that)."""
    code = exc.grpc_status_code
    return code is not None and code.name == "UNAUTHENTICATED"


def _map_error(
    exc: api_exceptions.GoogleAPICallError, operation: str, subject: str
) -> BackendError:
    code = exc.grpc_status_code
    name = code.name if code is not None else f"HTTP {exc.code}"
    what = f"Secret Manager {operation} of {subject!r}: {name}"
    if name in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return AuthenticationError(f"{what} (credentials rejected or lacking permission)")
    if name == "NOT_FOUND":
        if operation in _READS:
            return SecretNotFoundError(f"no secret at {subject!r}")
        return InvalidBackendConfigError(f"{what} (project not found)")
    if name == "FAILED_PRECONDITION" and operation in _READS:  # latest disabled or destroyed
        return SecretNotFoundError(f"no enabled latest version at {subject!r}")
    if name == "RESOURCE_EXHAUSTED":
        return ThrottledError(f"{what} (quota exceeded)", retry_after=_retry_after(exc))
    if name == "UNAVAILABLE" and _token_refused(str(exc.message or "")):
        return AuthenticationError(f"{what} (no access token for these credentials)")
    if name in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "ABORTED", "UNKNOWN"):
        return BackendUnavailableError(what)
    if name in ("INVALID_ARGUMENT", "OUT_OF_RANGE", "UNIMPLEMENTED", "FAILED_PRECONDITION"):
        return InvalidBackendConfigError(what)
    return BackendError(what)


# OAuth error codes (RFC 6749) a token endpoint answers when it refuses the credentials.
_OAUTH_REFUSALS = ("invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope")


def _token_refused(details: str) -> bool:
    """Whether gRPC's call-credentials failure says the token endpoint refused us."""
    return details.startswith("Getting metadata from plugin failed") and any(
        code in details for code in _OAUTH_REFUSALS
    )


def _retry_after(exc: api_exceptions.GoogleAPICallError) -> float | None:
    for detail in exc.details or ():
        delay = getattr(detail, "retry_delay", None)
        if delay is not None and hasattr(delay, "seconds"):
            return float(delay.seconds) + float(getattr(delay, "nanos", 0)) / 1e9
    return None


def _name_filter(prefix: str) -> str:
    """A ``name:`` filter (a substring match) that every id under ``prefix`` satisfies.

    The id of ``folder/x`` ends in ``__x``; what precedes it is the encoding of
    ``folder/`` that every path below the folder starts with (the naming rule
    looks at most three characters ahead, and ``__`` follows the folder). A
    prefix that ends inside a segment (``folder/prod-``) adds the characters of
    that segment's start the rule keeps as they are (letters, digits, ``-``).
    """
    folder, _, tail = prefix.rpartition("/")
    head = ""
    if folder:
        try:
            probe = google_name(f"{folder}/x")
        except UnmappablePathError:
            return ""  # no id below this folder fits: listing without a filter is still correct
        if not probe.endswith("__x"):
            return ""
        head = probe[:-1]
    text = head + "".join(itertools.takewhile(RULE.is_literal, tail))
    return f'name:"{text}"' if text else ""


def _as_value(data: bytes) -> str | bytes:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum Secret Manager keeps for payloads."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF
