"""A small synchronous client of the ScaiVault federation HTTP API (stdlib only).

Every failure becomes one :class:`ApiCallError` whose message is one line a
person can act on: the API's own error message for an answer, or what could
not be reached. The token is sent in the ``Authorization`` header and never
appears in a message.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT = 30.0
HINTS = {
    401: " (give a token: --token, SCAIVAULT_API_TOKEN or dev.json)",
}


class ApiCallError(Exception):
    """A call that did not succeed; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class FederationClient:
    def __init__(self, url: str, token: str | None, *, timeout: float = TIMEOUT) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ApiCallError(0, f"the API URL must be http(s)://host[:port], not {url!r}")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._tls = ssl.create_default_context()

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """The decoded JSON answer of ``method path`` (``None`` for an empty one)."""
        url = self.url + urllib.parse.quote(path, safe="/")
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data, headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(  # noqa: S310  (http or https only, checked above)
                request, timeout=self.timeout, context=self._tls
            ) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            raise _answer_error(err.code, err.read()) from None
        except urllib.error.URLError as err:
            raise ApiCallError(0, f"cannot reach the API at {self.url}: {err.reason}") from None
        except (TimeoutError, OSError) as err:
            raise ApiCallError(
                0, f"cannot reach the API at {self.url}: {type(err).__name__}"
            ) from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiCallError(
                0, f"the API at {self.url} answered something that is not JSON"
            ) from None

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self.call("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, body=body)


def _answer_error(status: int, raw: bytes) -> ApiCallError:
    code: str | None = None
    message = ""
    try:
        detail = json.loads(raw)["error"]
        code, message = str(detail.get("code") or ""), str(detail.get("message") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    message = message or f"the API answered HTTP {status}"
    return ApiCallError(status, message + HINTS.get(status, ""), code or None)
