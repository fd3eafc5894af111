"""API errors: one exception type, one JSON shape, one middleware.

Every failure leaves as ``{"error": {"code", "message"[, "field"]}}`` with its
HTTP status. Anything unexpected becomes a generic 500; only the exception's
type is logged, because a message or traceback could quote request data.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web

from ..errors import FederationError
from ..k8s.client import KubeApiError
from ..models.api import FieldError, api_field

log = logging.getLogger(__name__)

JSON_TYPES = frozenset({"application/json", "application/merge-patch+json"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CODES = {
    400: "invalid_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


def bad_request(exc: FieldError) -> ApiError:
    return ApiError(400, exc.message, field=exc.field)


def unavailable(message: str, retry_after: float, code: str = "unavailable") -> ApiError:
    return retry_later(503, message, retry_after, code)


def retry_later(status: int, message: str, retry_after: float, code: str | None = None) -> ApiError:
    """A 503 or 429 with ``Retry-After`` (whole seconds, at least one)."""
    seconds = max(1, int(retry_after + 0.999))
    return ApiError(status, message, code=code, headers={"Retry-After": str(seconds)})


#: Retry-After of a 503 whose cause named no wait
DEFAULT_RETRY_AFTER = 5.0


def from_failure(exc: FederationError) -> ApiError:
    """A failure, answered the way its type says (status, code, message)."""
    if exc.http_status == 503:
        return unavailable(exc.api_message(), exc.retry_after or DEFAULT_RETRY_AFTER, exc.http_code)
    return ApiError(exc.http_status, exc.api_message(), code=exc.http_code)


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    detail: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        detail["field"] = field
    return web.json_response({"error": detail}, status=status, headers=headers)


def kube_error(exc: KubeApiError, what: str) -> ApiError:
    """An apiserver answer to one of our own calls, in API terms."""
    if exc.status == 404:
        return ApiError(404, f"{what} not found")
    if exc.status == 409:
        return ApiError(409, f"{what}: {exc.status_reason}", code="already_exists")
    if exc.status in (400, 422):
        field = next(filter(None, (api_field(f) for f in exc.fields)), None)
        field = field or api_field("", exc.detail)
        return ApiError(400, f"rejected by Kubernetes: {exc.detail[:500]}", field=field)
    if exc.status == 429 or exc.status >= 500:
        return unavailable("the Kubernetes API is busy or unavailable", 5)
    log.error("Kubernetes API answered %s %s for %s", exc.status, exc.status_reason, what)
    return ApiError(500, "the API could not complete the request")


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object: 415 for another media type, 400 if malformed."""
    if request.content_type not in JSON_TYPES:
        raise ApiError(
            415,
            "the body must be JSON (Content-Type: application/json)",
        )
    raw = await request.read()
    try:
        body: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)
    except FieldError as exc:
        return error_response(400, _CODES[400], exc.message, exc.field)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        if exc.status == 405:
            message = f"method {request.method} is not allowed here"
        elif exc.status == 404:
            message = "no such endpoint"
        else:
            message = exc.reason
        code = _CODES.get(exc.status, "error")
        return error_response(exc.status, code, message, headers=headers)
    except KubeApiError as exc:
        err = kube_error(exc, "resource")
        return error_response(err.status, err.code, err.message, headers=err.headers)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("upstream call failed: %s", type(exc).__name__)
        return error_response(
            503,
            "unavailable",
            "an upstream service is unavailable",
            headers={"Retry-After": "5"},
        )
    except Exception as exc:
        log.error(
            "unhandled %s in %s %s", type(exc).__name__, request.method, route_template(request)
        )
        return error_response(500, "internal_error", "internal error")


def route_template(request: web.Request) -> str:
    """The matched route's template (``/v1/secrets/{path}``), never the raw path."""
    info = request.match_info
    route = info.route if info is not None else None
    resource = route.resource if route is not None else None
    if resource is None:
        return "unmatched"
    return resource.canonical
