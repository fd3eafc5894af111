"""A small typed asyncio client for the few Kubernetes API calls the project makes.

API failures are converted into :class:`KubeApiError` subclasses here, once, so
callers branch on types rather than status codes. Writes pass a token bucket.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

import aiohttp

from .config import KubeConnection
from .ratelimit import TokenBucket

JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class KubeApiError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class NotFoundError(KubeApiError):
    pass


class ConflictError(KubeApiError):
    """409: already exists, or a stale resourceVersion."""


class ForbiddenError(KubeApiError):
    pass


class InvalidError(KubeApiError):
    """422: rejected by the schema or CEL."""


_ERRORS: dict[int, type[KubeApiError]] = {
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
        write_qps: float = 50.0,
        write_burst: int = 100,
        timeout: float = 30.0,
    ) -> None:
        self.connection = connection
        self.write_limiter = TokenBucket(write_qps, write_burst)
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=10)
        self._session: aiohttp.ClientSession | None = None
        #: requests made, by HTTP method (tests and benchmarks read it)
        self.requests: Counter[str] = Counter()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.connection.ssl_context(), limit=32)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

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
    ) -> JSON:
        self.requests[method] += 1
        if method not in ("GET", "HEAD"):
            await self.write_limiter.acquire()
        headers = {"Accept": "application/json"}
        token = self.connection.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        session = self._get_session()
        url = self.connection.server + path
        async with session.request(method, url, data=data, params=params, headers=headers) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise _error_from(resp.status, text)
            result: JSON = json.loads(text) if text else {}
            return result

    def total_requests(self) -> int:
        return sum(self.requests.values())

    def write_requests(self) -> int:
        return sum(n for method, n in self.requests.items() if method not in ("GET", "HEAD"))

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> JSON:
        return await self.request("GET", path, params=params)

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


def _error_from(status: int, text: str) -> KubeApiError:
    reason, message = "Unknown", text[:500]
    try:
        doc = json.loads(text)
        reason = str(doc.get("reason", reason))
        message = str(doc.get("message", message))
    except ValueError:
        pass
    return _ERRORS.get(status, KubeApiError)(status, reason, message)
