"""A small typed asyncio client for the few Kubernetes API calls the project makes.

API failures are converted into :class:`KubeApiError` subclasses here, once, so
callers branch on types rather than status codes. The apiserver protects
itself (API Priority and Fairness): a 429 is retried after the
``Retry-After`` it names, a few times, before it is raised. Writes may also
pass a client-side token bucket, off by default (``write_qps`` 0).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

import aiohttp

from .. import conditions as c
from ..errors import FederationError
from .config import Credentials, KubeConnection
from .ratelimit import TokenBucket

JSON = dict[str, Any]
#: how often one request is retried after a 429, and the longest wait between
MAX_THROTTLE_RETRIES = 5
MAX_THROTTLE_WAIT = 30.0
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class KubeApiError(FederationError):
    """The apiserver refused or failed one of our calls.

    ``message`` (status and reason) is safe anywhere; ``detail`` is the
    apiserver's own explanation (for a 422, the schema or CEL message naming
    the field), shown to the API caller who sent the object.
    """

    reason: ClassVar[str] = c.KUBERNETES_ERROR
    http_code: ClassVar[str] = "internal_error"

    def __init__(self, status: int, reason: str, detail: str, fields: tuple[str, ...] = ()) -> None:
        super().__init__(f"Kubernetes API: {status} {reason}")
        self.status = status
        self.status_reason = reason
        self.detail = detail
        #: the fields the apiserver's answer names (``details.causes[].field``)
        self.fields = fields

    def __str__(self) -> str:
        return f"{self.status} {self.status_reason}: {self.detail}"


class NotFoundError(KubeApiError):
    http_status = 404
    http_code = "not_found"


class ConflictError(KubeApiError):
    """409: already exists, or a stale resourceVersion."""

    http_status = 409
    http_code = "conflict"


class UnauthorizedError(KubeApiError):
    """401: the apiserver did not accept our credentials (expired or revoked)."""


class ForbiddenError(KubeApiError):
    pass


class InvalidError(KubeApiError):
    """422: rejected by the schema or CEL."""

    http_status = 400
    http_code = "invalid_request"


class TooManyRequestsError(KubeApiError):
    """429: API Priority and Fairness asks us to come back later."""

    retryable = True
    http_status = 503
    http_code = "unavailable"

    def __init__(self, status: int, reason: str, detail: str, retry_after: float | None) -> None:
        super().__init__(status, reason, detail)
        self._retry_after = retry_after

    @property
    def retry_after(self) -> float | None:
        return self._retry_after


_ERRORS: dict[int, type[KubeApiError]] = {
    401: UnauthorizedError,
    404: NotFoundError,
    409: ConflictError,
    403: ForbiddenError,
    422: InvalidError,
}


class KubeClient:
    def __init__(
        self,
        connection: KubeConnection,
        *,
        write_qps: float = 0.0,
        write_burst: int = 100,
        timeout: float = 30.0,
        max_throttle_retries: int = MAX_THROTTLE_RETRIES,
    ) -> None:
        self.connection = connection
        self.write_limiter = TokenBucket(write_qps, write_burst) if write_qps > 0 else None
        self.max_throttle_retries = max_throttle_retries
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=10)
        self._session: aiohttp.ClientSession | None = None
        self._session_tls: tuple[object, ...] | None = None
        #: requests made, by HTTP method (tests and benchmarks read it)
        self.requests: Counter[str] = Counter()
        #: 429 answers the apiserver gave, retried or not
        self.throttled = 0

    async def session_for(self, credentials: Credentials) -> aiohttp.ClientSession:
        """The session for ``credentials``: made afresh when their TLS material changed
        (an exec plugin may hand out new client certificates)."""
        session = self._session
        if session is not None and not session.closed and self._session_tls == credentials.tls:
            return session
        connector = aiohttp.TCPConnector(ssl=credentials.ssl_context(), limit=32)
        fresh = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        self._session, self._session_tls = fresh, credentials.tls
        if session is not None:  # swapped first, closed after: no caller sees it half-made
            await session.close()
        return fresh

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        accept: str | None = None,
    ) -> JSON:
        attempt = 0
        while True:
            try:
                return await self._request_once(method, path, body, params, content_type, accept)
            except TooManyRequestsError as exc:
                self.throttled += 1
                attempt += 1
                if attempt > self.max_throttle_retries:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else float(attempt)
                await asyncio.sleep(min(MAX_THROTTLE_WAIT, wait) * random.uniform(1.0, 1.2))  # noqa: S311

    async def _request_once(
        self,
        method: str,
        path: str,
        body: Any,
        params: Mapping[str, str] | None,
        content_type: str,
        accept: str | None,
    ) -> JSON:
        if self.write_limiter is not None and method not in ("GET", "HEAD"):
            await self.write_limiter.acquire()
        credentials = await self.connection.current()
        try:
            return await self._send(credentials, method, path, body, params, content_type, accept)
        except UnauthorizedError:
            # expired or revoked early: fetch the credentials again and try once more
            fresh = await self.connection.refresh(stale=credentials)
            if fresh.same_login(credentials):
                raise
            return await self._send(fresh, method, path, body, params, content_type, accept)

    async def _send(
        self,
        credentials: Credentials,
        method: str,
        path: str,
        body: Any,
        params: Mapping[str, str] | None,
        content_type: str,
        accept: str | None,
    ) -> JSON:
        self.requests[method] += 1
        headers = {"Accept": accept or "application/json", **credentials.headers()}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        session = await self.session_for(credentials)
        url = credentials.server + path
        async with session.request(
            method,
            url,
            data=data,
            params=params,
            headers=headers,
            server_hostname=credentials.tls_server_name,
        ) as resp:
            raw = await resp.read()
            if resp.status >= 400:
                text = raw.decode("utf-8", "replace")
                raise _error_from(resp.status, text, resp.headers.get("Retry-After"))
            result: JSON = json.loads(raw) if raw else {}
            return result

    def total_requests(self) -> int:
        return sum(self.requests.values())

    def write_requests(self) -> int:
        return sum(n for method, n in self.requests.items() if method not in ("GET", "HEAD"))

    async def get(
        self, path: str, params: Mapping[str, str] | None = None, accept: str | None = None
    ) -> JSON:
        return await self.request("GET", path, params=params, accept=accept)

    async def post(self, path: str, body: JSON, params: Mapping[str, str] | None = None) -> JSON:
        return await self.request("POST", path, body=body, params=params)

    async def put(self, path: str, body: JSON) -> JSON:
        return await self.request("PUT", path, body=body)

    async def merge_patch(self, path: str, body: JSON) -> JSON:
        return await self.request("PATCH", path, body=body, content_type=MERGE_PATCH)

    async def json_patch(self, path: str, ops: list[JSON]) -> JSON:
        return await self.request("PATCH", path, body=ops, content_type=JSON_PATCH)

    async def delete(self, path: str, body: JSON | None = None) -> JSON:
        return await self.request("DELETE", path, body=body)


def _error_from(status: int, text: str, retry_after: str | None = None) -> KubeApiError:
    reason, message = "Unknown", text[:500]
    fields: tuple[str, ...] = ()
    try:
        doc = json.loads(text)
        reason = str(doc.get("reason", reason))
        message = str(doc.get("message", message))
        causes = (doc.get("details") or {}).get("causes") or []
        fields = tuple(str(c["field"]) for c in causes if isinstance(c, dict) and c.get("field"))
    except (ValueError, AttributeError):
        pass
    if status == 429:
        seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
        return TooManyRequestsError(status, reason, message, seconds)
    error = _ERRORS.get(status, KubeApiError)(status, reason, message, fields)
    if status >= 500:
        error.retryable = True
    return error
