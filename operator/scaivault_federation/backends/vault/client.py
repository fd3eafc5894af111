"""The authenticated HTTP client of a Vault backend: the token, TLS, call
counting and error mapping.

Reads, listings, mount lookups, probes and the token's revocation go over one
aiohttp session per backend, at most ``concurrency`` requests at once (its
connection pool is of the same size; proxies and ``.netrc`` from the
environment are ignored). Connecting times out after 5 s, a whole request after
15 s. Lists are sent as ``GET ?list=true``. Redirects (a standby node's to the
active one) are followed by hand, and only where :mod:`.redirects` allows: the
endpoint's own origin, or an origin the operator's allowlist names; the token
never goes anywhere else. The session is made on first use and dropped by
:meth:`release`.

Logins go through hvac, which knows every auth method's request: the blocking
hvac call runs in a worker thread of a shared pool, on an hvac client that
carries no token, over a ``requests`` session made for logins only (no
retries, same TLS context, same timeouts, the same redirect rule, so a login
body is never re-sent to another origin). Secret traffic does not use hvac:
an hvac read costs about seven times the CPU of the same read over aiohttp,
which a sync of thousands of secrets pays in full.

The token comes from the auth method (:mod:`.auth`): a configured one is
used as is; a login-based one is fetched lazily on first use, replaced once
its lease is 80% used, and replaced once more when Vault answers 403 to it
(revoked or expired). Concurrent requests share one login. On
:meth:`VaultClient.close`, a token obtained by a login is revoked
(``auth/token/revoke-self``); a configured token is left alone, and so is a
login token once leases were issued with it (:meth:`VaultClient.hold_token`):
Vault revokes every lease with the token that asked for it. A replaced login
token is never revoked, for the same reason; it expires with its own lease.

TLS: both sessions use one ``ssl.SSLContext``: the system's trust store, or
the PEM bundle under the credentials key ``ca.crt``, or no verification with
``tlsVerify: false``; for ``cert`` auth it also holds the client certificate
(see :func:`_load_client_certificate`). Backends with neither a CA bundle nor a
client certificate share one context (loading the system's CA store takes
most of a MiB per context).

Every HTTP request is counted in the backend's ``CallCounter`` under its
operation. Error messages carry the API path, the status and a category,
never Vault's response body (see :mod:`.errors`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
import hvac
import requests
import requests.adapters
from requests.models import PreparedRequest
from yarl import URL

from ..allowlist import endpoint_of
from ..base import CallCounter, Credentials, call_result
from ..errors import AuthenticationError, BackendError, InvalidBackendConfigError
from ..redirects import MAX_REDIRECTS, REDIRECT_STATUSES, RedirectPolicy, RedirectRefusedError
from .auth import AuthMethod, ClientCertificate, JwtProvider, auth_method_for
from .config import VaultConfig
from .errors import VaultAdapter, answer_error, backend_error, transport_error

if TYPE_CHECKING:
    from requests.adapters import _HostParams, _PoolKwargs

# Share of the lease after which a login-based token is replaced.
_LEASE_USE = 0.8
# How long closing waits for Vault to revoke the token.
_REVOKE_TIMEOUT = 3.0

#: Worker threads for hvac logins, shared by every Vault backend.
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="vault-login")


class VaultAuth:
    """The current Vault token of one backend and the means to get a new one."""

    def __init__(self, method: AuthMethod) -> None:
        self.method = method
        self._token: str | None = method.initial_token
        self._refresh_at: float | None = None
        self._lock = asyncio.Lock()

    @property
    def can_relogin(self) -> bool:
        return self.method.can_login

    @property
    def login_path(self) -> str:
        return self.method.login_path

    @property
    def logged_in_token(self) -> str | None:
        """The current token when a login obtained it (so it is ours to revoke)."""
        return self._token if self.method.can_login else None

    async def token(self, login: Callable[[AuthMethod], Any]) -> str:
        """A token believed to be valid, logging in when there is none or it is aging."""
        token = self._current()
        if token is not None:
            return token
        async with self._lock:
            token = self._current()
            if token is not None:
                return token
            return await self._login(login)

    async def refresh(self, login: Callable[[AuthMethod], Any], rejected: str) -> str | None:
        """A new token after Vault rejected ``rejected``; ``None`` when the method cannot
        log in again (a configured token)."""
        if not self.can_relogin:
            return None
        async with self._lock:
            if self._token is not None and self._token != rejected:
                return self._token  # another request already logged in again
            return await self._login(login)

    def forget(self) -> None:
        if self.method.can_login:
            self._token = None
        self._refresh_at = None

    def _current(self) -> str | None:
        if self._token is None:
            return None
        if self._refresh_at is not None and time.monotonic() >= self._refresh_at:
            return None
        return self._token

    async def _login(self, login: Callable[[AuthMethod], Any]) -> str:
        if not self.method.can_login:
            raise AuthenticationError("the configured Vault token was rejected")
        self._token = None
        started = time.monotonic()
        response = await login(self.method)
        auth = response.get("auth") if isinstance(response, dict) else None
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
    """Authenticated calls to one Vault server."""

    def __init__(
        self,
        config: VaultConfig,
        credentials: Credentials,
        calls: CallCounter,
        *,
        jwt_provider: JwtProvider | None = None,
        concurrency: int = 8,
        connect_timeout: float = 5.0,
        total_timeout: float = 15.0,
        allowed_endpoints: tuple[str, ...] = (),
    ) -> None:
        endpoint = endpoint_of(config, "endpoint")
        if endpoint is None or not endpoint.scheme:
            raise InvalidBackendConfigError("endpoint must be an http(s) URL")
        url = URL(endpoint.url.rstrip("/"), encoded=True)
        if url.path.rstrip("/").endswith("/v1"):
            url = url.with_path(url.path.rstrip("/")[: -len("/v1")], encoded=True)
        base = str(url).rstrip("/")
        self._base = base
        self.display = str(url)
        self._redirects = RedirectPolicy(endpoint, allowed_endpoints)
        method = auth_method_for(config, credentials, jwt_provider)
        slots = max(1, concurrency)
        self._context = _tls_context(config, credentials, method.client_certificate)
        self._namespace = config.namespace
        self._timeout = aiohttp.ClientTimeout(total=total_timeout, sock_connect=connect_timeout)
        self._hvac_options: dict[str, Any] = {
            "url": base,
            "namespace": config.namespace,
            "timeout": (connect_timeout, total_timeout),
            "adapter": VaultAdapter,
            "strict_http": True,
        }
        # made on first use and dropped by release()
        self._http: aiohttp.ClientSession | None = None
        self._login_session: requests.Session | None = None
        self._hvac_login: Any = None  # never carries a token
        self._auth = VaultAuth(method)
        self._slot_count = slots
        self._slots = asyncio.Semaphore(slots)
        self._in_flight = 0
        self._calls = calls
        self._closed = False
        self._hold_token = False
        #: the expiry of the tokens leases were issued with (``None``: never)
        self._token_expiry: dict[str, datetime | None] = {}

    async def ensure_token(self) -> None:
        """Log in now if needed (so a timed request does not include the login)."""
        await self._auth.token(self._login)

    async def request(
        self,
        method: str,
        api_path: str,
        operation: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, object] | None = None,
        relogin: bool = True,
    ) -> dict[str, Any] | None:
        """``method`` on ``/v1/<api_path>`` with a valid token (and ``body`` as JSON);
        a rejected login-based token is replaced once. ``api_path`` also names the
        request in errors.

        Returns the JSON body (``None`` for 204) or raises a ``BackendError``.
        """
        token = await self._auth.token(self._login)
        try:
            return await self._send(method, api_path, operation, params, token, body)
        except AuthenticationError:
            if not relogin:
                raise
            renewed = await self._auth.refresh(self._login, token)
            if renewed is None:
                raise
            return await self._send(method, api_path, operation, params, renewed, body)

    def hold_token(self) -> None:
        """Leases were issued with the current token: never revoke it on close (Vault
        would revoke the leases with it)."""
        self._hold_token = True

    async def token_expires_at(self, operation: str) -> datetime | None:
        """When the current token expires (``None``: never), from
        ``auth/token/lookup-self`` once per token, counted under ``operation``."""
        token = await self._auth.token(self._login)
        if token in self._token_expiry:
            return self._token_expiry[token]
        body = await self.request("GET", "auth/token/lookup-self", operation)
        token = await self._auth.token(self._login)  # the one that answered, if replaced
        data = body.get("data") if body else None
        expires_at = timestamp(data.get("expire_time") if isinstance(data, dict) else None)
        self._token_expiry = {token: expires_at}  # only the current token matters
        return expires_at

    async def release(self) -> None:
        """Drop the HTTP sessions and their connections (not while requests are in
        flight); the token stays, and the next request makes them again."""
        if self._in_flight:
            return
        http, self._http = self._http, None
        login, self._login_session = self._login_session, None
        self._hvac_login = None
        if login is not None:
            login.close()
        if http is not None:
            await http.close()

    async def close(self) -> None:
        """Revoke a token obtained by a login, then drop the connections."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._auth.logged_in_token is not None and not self._hold_token:
                await self._revoke()
        finally:
            self._auth.forget()
            await self.release()

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            headers = {"X-Vault-Request": "true"}
            if self._namespace:
                headers["X-Vault-Namespace"] = self._namespace
            connector = aiohttp.TCPConnector(limit=self._slot_count, ssl=self._context)
            self._http = aiohttp.ClientSession(
                connector=connector, headers=headers, timeout=self._timeout, trust_env=False
            )
        return self._http

    # -- requests --------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """One of the backend's request slots, counted as in flight (see release())."""
        async with self._slots:
            self._in_flight += 1
            try:
                yield
            finally:
                self._in_flight -= 1

    async def _login(self, method: AuthMethod) -> dict[str, Any]:
        login = await method.login_call()
        if self._hvac_login is None:
            if self._login_session is None:
                session = _LoginSession(self._redirects)
                session.trust_env = False
                transport = _ContextAdapter(self._context, 2)
                session.mount("https://", transport)
                session.mount("http://", transport)
                self._login_session = session
            self._hvac_login = hvac.Client(session=self._login_session, **self._hvac_options)
        loop = asyncio.get_running_loop()
        error: BackendError | None = None
        response: dict[str, Any] | None = None
        async with self._slot():
            try:
                answer = await loop.run_in_executor(_POOL, partial(login, self._hvac_login))
            except Exception as exc:
                error = backend_error(exc, method.login_path, "login", self.display)
            else:
                try:
                    response = _body(answer, method.login_path)
                except BackendError as bad:
                    error = bad
            self._calls.record("login", call_result(error))
        if error is not None:
            raise error
        if response is None:
            raise AuthenticationError(f"login at {method.login_path!r} returned no token")
        return response

    async def _revoke(self) -> None:
        token = self._auth.logged_in_token
        if token is None:
            return
        # on failure the token still expires with its lease
        with contextlib.suppress(BackendError, TimeoutError):
            await asyncio.wait_for(
                self._send("POST", "auth/token/revoke-self", "revoke", None, token),
                _REVOKE_TIMEOUT,
            )

    async def _send(
        self,
        method: str,
        api_path: str,
        operation: str,
        params: Mapping[str, str] | None,
        token: str,
        payload: Mapping[str, object] | None = None,
    ) -> dict[str, Any] | None:
        url = URL(f"{self._base}/v1/{quote(api_path, safe='/')}", encoded=True)
        error: BackendError | None = None
        body: dict[str, Any] | None = None
        async with self._slot():
            try:
                status, raw, retry_after = await self._exchange(method, url, params, token, payload)
            except RedirectRefusedError as exc:
                error = exc
            except Exception as exc:
                error = transport_error(exc, api_path, self.display)
            else:
                if status >= 400:
                    error = answer_error(status, raw, retry_after, api_path, operation)
                elif status == 204:
                    body = None
                elif status != 200:
                    error = BackendError(f"unexpected answer at {api_path!r} (HTTP {status})")
                else:
                    try:
                        body = _json_object(raw, api_path)
                    except BackendError as bad:
                        error = bad
            self._calls.record(operation, call_result(error))
        if error is not None:
            raise error
        return body

    async def _exchange(
        self,
        method: str,
        url: URL,
        params: Mapping[str, str] | None,
        token: str,
        payload: Mapping[str, object] | None = None,
    ) -> tuple[int, bytes, str | None]:
        """One request, following the redirects :mod:`.redirects` allows by hand:
        (status, body, ``Retry-After``). A 307/308 sends ``payload`` again (to an
        origin the policy allows), a 301-303 drops it with the method."""
        session = self._session()
        for _ in range(MAX_REDIRECTS + 1):
            async with session.request(
                method,
                url,
                params=params,
                json=payload,
                headers={"X-Vault-Token": token},
                allow_redirects=False,
            ) as response:
                location = response.headers.get("Location")
                if response.status not in REDIRECT_STATUSES or location is None:
                    raw = await response.read()
                    return response.status, raw, response.headers.get("Retry-After")
                status = response.status
            url = URL(self._redirects.follow(str(url), location), encoded=True)
            params = None  # the Location carries the query
            if status not in (307, 308) and method != "HEAD":
                method = "GET"
                payload = None
        raise RedirectRefusedError(f"{self.display} redirected more than {MAX_REDIRECTS} times")


class _LoginSession(requests.Session):
    """The login session: a redirect is followed only where :mod:`.redirects` allows
    (requests re-sends the body of a 307/308 login)."""

    def __init__(self, redirects: RedirectPolicy) -> None:
        super().__init__()
        self._redirects = redirects
        self.max_redirects = MAX_REDIRECTS

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        location = super().get_redirect_target(resp)
        if location is None:
            return None
        return self._redirects.follow(resp.url, location)


def check_path(path: str) -> None:
    """Refuse an API path with empty, ``.`` or ``..`` segments or unprintable text."""
    segments = path.rstrip("/").split("/")
    if not path or any(s in ("", ".", "..") for s in segments) or not path.isprintable():
        raise InvalidBackendConfigError(f"invalid Vault path {path!r}")


def timestamp(raw: object) -> datetime | None:
    """Vault's RFC 3339 time (nanoseconds and all); ``None`` when absent or unreadable."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        return None


def _json_object(raw: bytes, api_path: str) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise BackendError(f"malformed response for {api_path!r}")
    return parsed


def _body(answer: object, api_path: str) -> dict[str, Any] | None:
    """hvac's JSON adapter answers a dict for a 200 with JSON, else the response."""
    if isinstance(answer, dict):
        return answer
    if isinstance(answer, requests.Response):
        if answer.status_code == 204:
            return None
        try:
            parsed = answer.json()
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    raise BackendError(f"malformed response for {api_path!r}")


class _ContextAdapter(requests.adapters.HTTPAdapter):
    """A requests transport whose TLS settings all come from one ``SSLContext``
    (requests alone only takes file paths for CA bundles and client keys)."""

    def __init__(self, context: ssl.SSLContext, connections: int) -> None:
        self._context = context
        super().__init__(pool_connections=2, pool_maxsize=connections, max_retries=0)

    def build_connection_pool_key_attributes(
        self,
        request: PreparedRequest,
        verify: bool | str,
        cert: str | tuple[str, str] | None = None,
    ) -> tuple[_HostParams, _PoolKwargs]:
        host_params, _ = super().build_connection_pool_key_attributes(request, verify, None)
        required = self._context.verify_mode != ssl.CERT_NONE
        return host_params, {
            "ssl_context": self._context,
            "cert_reqs": "CERT_REQUIRED" if required else "CERT_NONE",
        }

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        return None  # verification and the client certificate are the context's


@functools.cache
def _shared_context(verify: bool) -> ssl.SSLContext:
    """The context of every backend with neither a CA bundle nor a client certificate:
    the system's trust store, or no verification. One context holding the system's CA
    store costs most of a MiB, so thousands of backends must not each load their own;
    nothing changes a shared context after it is made."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _tls_context(
    config: VaultConfig, credentials: Credentials, client: ClientCertificate | None
) -> ssl.SSLContext:
    pem = credentials.get("ca.crt") if config.tls_verify else None
    if client is None and not pem:
        return _shared_context(config.tls_verify)
    if not config.tls_verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        try:
            context = ssl.create_default_context(cadata=pem.decode("ascii") if pem else None)
        except (ssl.SSLError, ValueError, UnicodeDecodeError):
            raise InvalidBackendConfigError(
                "credentials key 'ca.crt' is not a PEM CA bundle"
            ) from None
    if client is not None:
        _load_client_certificate(context, client)
    return context


def _load_client_certificate(context: ssl.SSLContext, client: ClientCertificate) -> None:
    """Put the client certificate into ``context``.

    ``SSLContext.load_cert_chain`` only reads files, so the PEMs are written to a
    private directory (0700, memory-backed ``/dev/shm`` where there is one), loaded
    and removed at once.
    """
    shm = "/dev/shm"  # noqa: S108 - a private directory below it, removed right away
    where = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="vault-cert-", dir=where) as folder:
        cert_file = os.path.join(folder, "tls.crt")
        key_file = os.path.join(folder, "tls.key")
        for path, data in ((cert_file, client.chain), (key_file, client.key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
        try:
            # an encrypted key fails instead of prompting on a terminal
            context.load_cert_chain(cert_file, key_file, password=_no_password)
        except (ssl.SSLError, OSError, ValueError):
            raise InvalidBackendConfigError(
                "credentials keys 'tls.crt' and 'tls.key' are not a PEM certificate "
                "and its unencrypted key"
            ) from None


def _no_password() -> bytes:
    return b""
