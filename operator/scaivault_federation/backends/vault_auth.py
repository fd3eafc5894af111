"""The authenticated HTTP client of a Vault backend: one aiohttp session, the
token, and the mapping of Vault's answers to backend errors.

Three ways to a token, chosen by ``authMethod``:

- ``token``: the credentials Secret holds ``token``; it is used as is and
  never replaced, so a rejected token is an ``AuthenticationError``.
- ``approle``: ``role_id`` and ``secret_id`` from the credentials Secret,
  login at ``auth/<authMount or approle>/login``.
- ``kubernetes``: ``role`` from the config, the service-account JWT from the
  credentials key ``token`` or, when absent, from a ``jwt_provider`` callable
  (a TokenRequest in the operator); login at
  ``auth/<authMount or kubernetes>/login``.

Login-based tokens are fetched lazily on first use, replaced once their lease
is 80% used, and replaced once more when Vault answers 403 to them (revoked or
expired). Concurrent requests share one login.

Every HTTP request is counted in the backend's ``CallCounter``. Error messages
carry the API path, the status and a category, never Vault's response body.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
from yarl import URL

from ..models.config import VaultAuthMethod, VaultConfig
from .base import CallCounter, Credentials, call_result
from .errors import (
    AuthenticationError,
    BackendError,
    BackendUnavailableError,
    InvalidBackendConfigError,
    SecretNotFoundError,
    ThrottledError,
)

JwtProvider = Callable[[], Awaitable[str]]

# Share of the lease after which a login-based token is replaced.
_LEASE_USE = 0.8


class LoginTransport(Protocol):
    """POSTs a login body to an API path (below ``/v1/``) without a token."""

    async def __call__(self, api_path: str, body: Mapping[str, str]) -> dict[str, Any]: ...


class VaultAuth:
    """The current Vault token of one backend and the means to get a new one."""

    def __init__(
        self,
        config: VaultConfig,
        credentials: Credentials,
        jwt_provider: JwtProvider | None = None,
    ) -> None:
        self.method = config.auth_method
        self._static_token: str | None = None
        self._login_fields: dict[str, str] = {}
        self._jwt_provider: JwtProvider | None = None
        self.login_path: str | None = None
        mount = (config.auth_mount or "").strip("/")
        if self.method is VaultAuthMethod.TOKEN:
            self._static_token = credentials.require_text("token")
        elif self.method is VaultAuthMethod.APPROLE:
            self._login_fields = {
                "role_id": credentials.require_text("role_id"),
                "secret_id": credentials.require_text("secret_id"),
            }
            self.login_path = f"auth/{mount or 'approle'}/login"
        elif self.method is VaultAuthMethod.KUBERNETES:
            if not config.role:
                raise InvalidBackendConfigError("kubernetes auth needs 'role' in the config")
            self._login_fields = {"role": config.role}
            if credentials.get("token"):
                self._login_fields["jwt"] = credentials.require_text("token")
            elif jwt_provider is not None:
                self._jwt_provider = jwt_provider
            else:
                raise InvalidBackendConfigError(
                    "kubernetes auth needs a service-account JWT: credentials key 'token' "
                    "or a token provider"
                )
            self.login_path = f"auth/{mount or 'kubernetes'}/login"
        else:  # pragma: no cover - the enum is closed
            raise InvalidBackendConfigError(f"unsupported auth method {self.method!r}")
        self._token: str | None = self._static_token
        self._refresh_at: float | None = None
        self._lock = asyncio.Lock()

    @property
    def can_relogin(self) -> bool:
        return self.login_path is not None

    async def token(self, login: LoginTransport) -> str:
        """A token believed to be valid, logging in when there is none or it is aging."""
        token = self._current()
        if token is not None:
            return token
        async with self._lock:
            token = self._current()
            if token is not None:
                return token
            return await self._login(login)

    async def refresh(self, login: LoginTransport, rejected: str) -> str | None:
        """A new token after Vault rejected ``rejected``; ``None`` when the method cannot
        log in again (a static token)."""
        if not self.can_relogin:
            return None
        async with self._lock:
            if self._token is not None and self._token != rejected:
                return self._token  # another request already logged in again
            return await self._login(login)

    def _current(self) -> str | None:
        if self._token is None:
            return None
        if self._refresh_at is not None and time.monotonic() >= self._refresh_at:
            return None
        return self._token

    async def _login(self, login: LoginTransport) -> str:
        assert self.login_path is not None
        self._token = None
        body = dict(self._login_fields)
        if self._jwt_provider is not None:
            body["jwt"] = (await self._jwt_provider()).strip()
        started = time.monotonic()
        response = await login(self.login_path, body)
        auth = response.get("auth")
        token = auth.get("client_token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthenticationError(f"login at {self.login_path!r} returned no token")
        lease = auth.get("lease_duration") if isinstance(auth, dict) else None
        self._token = token
        self._refresh_at = (
            started + float(lease) * _LEASE_USE
            if isinstance(lease, int | float) and lease > 0
            else None
        )
        return token


class VaultClient:
    """Authenticated requests to one Vault server, below ``/v1/``."""

    def __init__(
        self,
        config: VaultConfig,
        credentials: Credentials,
        calls: CallCounter,
        *,
        jwt_provider: JwtProvider | None = None,
        connect_timeout: float = 5.0,
        total_timeout: float = 15.0,
    ) -> None:
        url = URL(config.endpoint.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.host:
            raise InvalidBackendConfigError("endpoint must be an http(s) URL")
        if url.path.rstrip("/").endswith("/v1"):
            url = url.with_path(url.path.rstrip("/")[: -len("/v1")])
        self._base = str(url.with_query(None).with_fragment(None)).rstrip("/")
        self.display = str(url.with_user(None).with_password(None).with_query(None))
        self._namespace = config.namespace
        self._auth = VaultAuth(config, credentials, jwt_provider)
        self._ssl = _ssl_setting(config, credentials)
        self._timeout = aiohttp.ClientTimeout(total=total_timeout, sock_connect=connect_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._calls = calls

    async def ensure_token(self) -> None:
        """Log in now if needed (so a timed request does not include the login)."""
        await self._auth.token(self._login)

    async def call(
        self,
        method: str,
        api_path: str,
        operation: str,
        *,
        listing: bool = False,
        relogin: bool = True,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """One authenticated request; a rejected login-based token is replaced once.

        Returns the JSON body (``None`` for 204) or raises a ``BackendError``.
        """
        token = await self._auth.token(self._login)
        send = functools.partial(self._send, method, api_path, operation, listing=listing)
        try:
            return await send(token=token, params=params)
        except AuthenticationError:
            if not relogin:
                raise
            fresh = await self._auth.refresh(self._login, token)
            if fresh is None:
                raise
            return await send(token=fresh, params=params)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _login(self, api_path: str, body: Mapping[str, str]) -> dict[str, Any]:
        response = await self._send("POST", api_path, "login", json=dict(body))
        if response is None:
            raise AuthenticationError(f"login at {api_path!r} returned no token")
        return response

    async def _send(
        self,
        method: str,
        api_path: str,
        operation: str,
        *,
        token: str | None = None,
        listing: bool = False,
        json: dict[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any] | None:
        url = URL(f"{self._base}/v1/{quote(api_path, safe='/')}", encoded=True)
        headers = {"X-Vault-Request": "true"}
        if token is not None:
            headers["X-Vault-Token"] = token
        if self._namespace:
            headers["X-Vault-Namespace"] = self._namespace
        error: BackendError | None = None
        body: dict[str, Any] | None = None
        try:
            async with self._get_session().request(
                method,
                url,
                headers=headers,
                params={"list": "true"} if listing else (dict(params) if params else None),
                json=json,
            ) as response:
                parsed = await _json(response)
                if response.status >= 400:
                    error = _status_error(
                        response.status, response.headers, parsed, api_path, operation
                    )
                elif isinstance(parsed, dict):
                    body = parsed
                elif response.status != 204:
                    error = BackendError(f"malformed response for {api_path!r}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = BackendUnavailableError(
                f"cannot reach {self.display} for {api_path!r} ({type(exc).__name__})"
            )
        self._calls.record(operation, call_result(error))
        if error is not None:
            raise error
        return body

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl),
                timeout=self._timeout,
                raise_for_status=False,
            )
        return self._session


def _ssl_setting(config: VaultConfig, credentials: Credentials) -> ssl.SSLContext | bool:
    if not config.tls_verify:
        return False
    pem = credentials.get("ca.crt")
    if not pem:
        return True
    try:
        return ssl.create_default_context(cadata=pem.decode("ascii"))
    except (ssl.SSLError, ValueError, UnicodeDecodeError):
        raise InvalidBackendConfigError("credentials key 'ca.crt' is not a PEM CA bundle") from None


async def _json(response: aiohttp.ClientResponse) -> object:
    try:
        return await response.json(content_type=None)
    except ValueError:
        return None


def _status_error(
    status: int, headers: Mapping[str, str], body: object, api_path: str, operation: str
) -> BackendError:
    where = f"{api_path!r} (HTTP {status})"
    if operation == "login" and status in (400, 401, 403):
        # Vault answers 400 to a wrong role or secret ID
        return AuthenticationError(f"login rejected at {where}")
    if status in (401, 403):
        return AuthenticationError(f"permission denied at {where}")
    if status == 404:
        return SecretNotFoundError(f"nothing at {where}")
    if status == 429:
        return ThrottledError(f"throttled at {where}", retry_after=_retry_after(headers))
    if status == 400:
        return InvalidBackendConfigError(f"invalid request for {where}")
    if status == 503 and _mentions(body, "sealed"):
        return BackendUnavailableError(f"Vault is sealed, at {where}")
    if status >= 500 or status == 412:
        return BackendUnavailableError(f"server error at {where}")
    return BackendError(f"unexpected answer at {where}")


def _mentions(body: object, word: str) -> bool:
    errors = body.get("errors") if isinstance(body, dict) else None
    return isinstance(errors, list) and any(word in str(e).lower() for e in errors)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
