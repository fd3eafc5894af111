"""HMAC of synced data: skips no-op writes and detects hand edits, never a plain digest."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

PREFIX = "hmac-sha256:"


def compute_mac(key: bytes, path: str, data: Mapping[str, bytes]) -> str:
    """MAC over the path and the sorted, length-prefixed data items."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in (path.encode(), *(x for k in sorted(data) for x in (k.encode(), data[k]))):
        mac.update(len(part).to_bytes(8, "big"))
        mac.update(part)
    return PREFIX + mac.hexdigest()


def mac_matches(key: bytes, path: str, data: Mapping[str, bytes], expected: str | None) -> bool:
    if not expected:
        return False
    return hmac.compare_digest(compute_mac(key, path, data), expected)
