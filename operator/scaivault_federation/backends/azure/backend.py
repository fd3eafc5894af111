"""Azure Key Vault secrets through the async ``azure-keyvault-secrets`` client.

Template paths are ``/``-separated; each names one Key Vault secret by the
rule in :mod:`~scaivault_federation.backends.naming` (``apps/db/password`` is
the secret ``apps--db--password``). Key Vault has no folders and no server-side
name filter, so a listing pages through every secret of the vault (at most 25
per page, one counted ``list`` call per page), maps names back to paths, and
keeps those under the prefix. Names the rule does not produce are skipped, and
so are secrets that are disabled, expired (``exp`` in the past) or not yet
valid (``nbf`` in the future); reading such a secret raises
``SecretNotFoundError`` as well. Listed versions are ``None`` (Key Vault lists
no versions); reads return the current version ID. A secret's ``exp`` is its
expiry (``expires_at``) in listings, descriptions and reads alike.

Values are strings. A secret whose content type is ``application/octet-stream``
holds base64 and is returned as bytes (write binary values that way).

Credentials: see :mod:`.auth`. There is no
batch read, so ``get_many`` reads concurrently (bounded); nor a metadata-only read
of a secret's current version, so describing a path reads it and keeps its
properties. The SDK retries a
failed connection once and never retries an error status: throttling (429,
with its ``Retry-After``) and server errors surface at once, so the sync
engine's backoff decides.

TLS: the system trust store, or the PEM bundle of the operator's
``azure_ca_bundle`` setting (``SCAIVAULT_AZURE_CA_BUNDLE``; the CR has no key
for it). A vault on a loopback address is assumed to be a local emulator: the
client does not insist that the authentication challenge names a resource in
the vault's own domain (for any other host it does, as the SDK does by default).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from ...models.config import BackendConfig
from ..allowlist import endpoint_of
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
    InvalidSecretValueError,
    SecretNotFoundError,
    ThrottledError,
)
from ..factory import BackendEnvironment
from ..naming import UnmappablePathError
from .auth import build_credential, choose_credential
from .config import NAME, AzureConfig
from .names import azure_name, azure_path
from .settings import AzureSettings

CA_BUNDLE_ENV = "SCAIVAULT_AZURE_CA_BUNDLE"
BINARY_CONTENT_TYPE = "application/octet-stream"
MAX_PAGE_SIZE = 25


class AzureKeyVaultBackend:
    """``SecretBackend`` for the secrets of one Azure Key Vault."""

    backend_type: ClassVar[str] = NAME

    def __init__(
        self,
        config: AzureConfig,
        credentials: Credentials,
        *,
        connection_verify: str | bool = True,
        env: Mapping[str, str] | None = None,
        credential: Any = None,
        page_size: int = MAX_PAGE_SIZE,
        read_concurrency: int = 8,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
    ) -> None:
        from azure.keyvault.secrets.aio import SecretClient

        self.calls = CallCounter()
        url = endpoint_of(config, "vault_url")
        if url is None or url.scheme != "https":
            raise InvalidBackendConfigError("vaultUrl must be an https URL")
        self.display = f"https://{url.netloc}"
        transport: dict[str, Any] = {
            "connection_verify": connection_verify,
            "connection_timeout": connect_timeout,
            "read_timeout": read_timeout,
            "retry_total": 1,
            "retry_status": 0,
        }
        self.credential_choice = choose_credential(config, credentials, env)
        self._credential = credential or build_credential(
            self.credential_choice, credentials, **transport
        )
        self._client = SecretClient(
            self.display,
            self._credential,
            verify_challenge_resource=not _is_loopback(url.host),
            # a redirect would carry the bearer token's request past the endpoint policy
            permit_redirects=False,
            **transport,
        )
        self._page_size = max(1, min(MAX_PAGE_SIZE, page_size))
        self._read_concurrency = max(1, read_concurrency)

    # -- SecretBackend ----------------------------------------------------------------

    async def list_secrets(self, prefix: str) -> list[RemoteSecretRef]:
        return await collected(self.list_pages(prefix))

    async def list_pages(self, prefix: str) -> AsyncIterator[list[RemoteSecretRef]]:
        now = datetime.now(UTC)
        pages = self._client.list_properties_of_secrets(max_page_size=self._page_size).by_page()
        while True:
            items: list[Any] = []
            error: BackendError | None = None
            try:
                page = await anext(pages)
                items = [item async for item in page]
            except StopAsyncIteration:
                break
            except Exception as exc:
                error = self._error(exc, "list", None)
            self.calls.record("list", call_result(error))
            if error is not None:
                raise error
            refs: list[RemoteSecretRef] = []
            for props in items:
                path = azure_path(props.name or "")
                if path is None or not path.startswith(prefix) or not _live(props, now):
                    continue
                refs.append(
                    RemoteSecretRef(path, props.version, props.updated_on, props.expires_on)
                )
            yield refs

    async def get_secret(self, path: str, version: str | None = None) -> RemoteSecret:
        secret = await self._live_secret(path, version, "read")
        props = secret.properties
        value = _value(secret.value, props.content_type, path)
        return RemoteSecret(path, value, props.version, props.expires_on)

    async def _live_secret(self, path: str, version: str | None, operation: str) -> Any:
        """The SDK's secret at ``path``, counted as one ``operation`` call;
        ``SecretNotFoundError`` when it is absent or not live."""
        name = azure_name(path)
        error: BackendError | None = None
        secret: Any = None
        try:
            secret = await self._client.get_secret(name, version)
        except Exception as exc:
            error = self._error(exc, operation, path)
        self.calls.record(operation, call_result(error))
        if error is not None:
            raise error
        if not _live(secret.properties, datetime.now(UTC)):
            raise SecretNotFoundError(
                f"no live secret at {path!r} (disabled, expired or not yet valid)"
            )
        return secret

    async def get_many(
        self, paths: Sequence[str], versions: Mapping[str, str] | None = None
    ) -> BatchResult:
        return await read_concurrently(self.get_secret, paths, self._read_concurrency, versions)

    async def describe_secrets(self, paths: Sequence[str]) -> Described:
        return await describe_concurrently(self._describe, paths, self._read_concurrency)

    async def _describe(self, path: str) -> RemoteSecretRef:
        """The secret's properties: Key Vault has no metadata-only read of the current
        version, so this is the read itself, its value dropped."""
        try:
            props = (await self._live_secret(path, None, "describe")).properties
        except UnmappablePathError:
            raise SecretNotFoundError(f"no secret at {path!r} (no Key Vault name)") from None
        return RemoteSecretRef(path, props.version, props.updated_on, props.expires_on)

    async def probe(self) -> float:
        """The first page (one item) of the secret listing: authenticated and cheap."""
        pages = self._client.list_properties_of_secrets(max_page_size=1).by_page()
        started = time.perf_counter()
        error: BackendError | None = None
        try:
            page = await anext(pages)
            _ = [item async for item in page]
        except StopAsyncIteration:
            pass
        except Exception as exc:
            error = self._error(exc, "probe", None)
        self.calls.record("probe", call_result(error))
        if error is not None:
            raise error
        return max((time.perf_counter() - started) * 1000.0, 0.001)

    async def release(self) -> None:
        return None  # the SDK client is kept: making it again costs more than it holds

    async def close(self) -> None:
        await self._client.close()
        close = getattr(self._credential, "close", None)
        if close is not None:
            await close()

    # -- errors -------------------------------------------------------------------------

    def _error(self, exc: Exception, operation: str, path: str | None) -> BackendError:
        """The typed error of an SDK failure; never the SDK's message (it may quote data)."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        where = f"{path!r}" if path is not None else "the vault"
        if isinstance(exc, BackendError):
            return exc
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if isinstance(exc, ResourceNotFoundError):
            return SecretNotFoundError(f"no secret at {where} (HTTP 404)")
        if isinstance(exc, ClientAuthenticationError):
            if status is None and isinstance(exc.__cause__, ServiceRequestError | OSError):
                return BackendUnavailableError(
                    f"cannot reach the token endpoint for {operation} of {where}"
                )
            suffix = f" (HTTP {status})" if status else ""
            return AuthenticationError(f"authentication failed for {operation} of {where}{suffix}")
        if isinstance(exc, ServiceRequestError | ServiceResponseError | OSError | TimeoutError):
            return BackendUnavailableError(
                f"cannot reach {self.display} for {operation} of {where} ({type(exc).__name__})"
            )
        if isinstance(exc, HttpResponseError) and status is not None:
            label = f"{where} (HTTP {status})"
            if status == 403 and "SecretDisabled" in _error_codes(exc):
                return SecretNotFoundError(f"secret at {where} is disabled")
            if status in (401, 403):
                return AuthenticationError(f"permission denied for {operation} of {label}")
            if status == 429:
                return ThrottledError(f"throttled at {label}", retry_after=_retry_after(exc))
            if status >= 500 or status == 408:
                return BackendUnavailableError(f"server error at {label}")
            if status == 400:
                return InvalidBackendConfigError(f"invalid request for {label}")
            return BackendError(f"unexpected answer for {operation} of {label}")
        if isinstance(exc, ValueError):  # e.g. the challenge named another resource
            return InvalidBackendConfigError(
                f"the vault at {self.display} refused the client setup"
            )
        return BackendError(f"{operation} of {where} failed ({type(exc).__name__})")


async def create(
    config: BackendConfig, credentials: Credentials, environment: BackendEnvironment
) -> SecretBackend:
    if not isinstance(config, AzureConfig):
        raise InvalidBackendConfigError("azure-key-vault needs an Azure config")
    settings = environment.settings_of(AzureSettings)
    bundle = settings.azure_ca_bundle
    return AzureKeyVaultBackend(
        config,
        credentials,
        connection_verify=str(bundle) if bundle else True,
        env=settings.identity(),
    )


# -- helpers ------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _live(props: Any, now: datetime) -> bool:
    if props.enabled is False:
        return False
    expires, not_before = props.expires_on, props.not_before
    if expires is not None and expires <= now:
        return False
    return not (not_before is not None and not_before > now)


def _value(raw: str | None, content_type: str | None, path: str) -> str | bytes:
    if raw is None:
        raise InvalidSecretValueError(f"secret at {path!r} has no value")
    if (content_type or "").split(";")[0].strip().lower() != BINARY_CONTENT_TYPE:
        return raw
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecretValueError(
            f"secret at {path!r} is marked {BINARY_CONTENT_TYPE} but is not base64"
        ) from None


def _error_codes(exc: Any) -> set[str]:
    codes: set[str] = set()
    error = getattr(exc, "error", None)
    while error is not None:
        code = getattr(error, "code", None)
        if isinstance(code, str):
            codes.add(code)
        inner = getattr(error, "innererror", None)
        if isinstance(inner, dict):
            if isinstance(inner.get("code"), str):
                codes.add(inner["code"])
            break
        error = inner
    return codes


def _retry_after(exc: Any) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    raw = headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None
