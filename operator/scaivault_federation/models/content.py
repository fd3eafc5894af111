"""Remote values -> Kubernetes Secret data, in one place.

A JSON object of scalar values becomes one data key per field; anything else
is stored whole under ``value``. Binary values stay bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import ClassVar

from .. import conditions as c
from ..errors import FederationError
from .secret import RemoteValue

VALUE_KEY = "value"
MAX_SECRET_BYTES = 1024 * 1024
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


class InvalidContentError(FederationError):
    """A remote value that cannot become a Secret; the message names no value."""

    reason: ClassVar[str] = c.BACKEND_ERROR
    reachable: ClassVar[bool] = True
    http_status: ClassVar[int] = 502
    http_code: ClassVar[str] = "backend_value_invalid"

    def api_message(self) -> str:
        return f"the backend's value: {self.message}"


def _scalar_text(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    if value is None:
        return ""
    return None


def _as_fields(obj: Mapping[str, object]) -> dict[str, bytes] | None:
    fields: dict[str, bytes] = {}
    for key, value in obj.items():
        text = _scalar_text(value)
        if text is None:
            return None
        fields[key] = text.encode()
    return fields


def to_secret_data(value: RemoteValue) -> dict[str, bytes]:
    """Convert and validate; raise :class:`InvalidContentError` naming the problem."""
    data: dict[str, bytes] | None = None
    if isinstance(value, dict):
        data = _as_fields(value)
        if data is None:
            data = {VALUE_KEY: json.dumps(value, sort_keys=True).encode()}
    elif isinstance(value, bytes):
        data = {VALUE_KEY: value}
    else:
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed:
            data = _as_fields(parsed)
        if data is None:
            data = {VALUE_KEY: value.encode()}
    validate_secret_data(data)
    return data


def is_valid_data_key(key: str) -> bool:
    """A Secret data key: letters, digits, ``-``, ``_`` and ``.``, at most 253, not ``.``/``..``."""
    return bool(_KEY.match(key)) and len(key) <= 253 and key not in (".", "..")


def validate_secret_data(data: Mapping[str, bytes]) -> None:
    for key in data:
        if not is_valid_data_key(key):
            raise InvalidContentError(
                f"key {key[:64]!r} is not a valid Secret data key "
                "(letters, digits, '-', '_' and '.' only)"
            )
    size = sum(len(k) + len(v) for k, v in data.items())
    if size > MAX_SECRET_BYTES:
        raise InvalidContentError(f"value is {size} bytes, over the 1 MiB Secret limit")
