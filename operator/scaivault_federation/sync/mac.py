"""HMAC of synced output: skips no-op writes and detects hand edits, never a plain digest.

The ``source-mac`` annotation is ``hmac-sha256:<data>`` for a backend without a
target: an HMAC over the path and the sorted, length-prefixed data items. With
a target that sets a type, labels, annotations or ``immutable``, a second HMAC
over the path and those follows after a ``.``: ``hmac-sha256:<data>.<shape>``.
So the annotation covers type, keys, values and the declared metadata, while a
hand edit of the data alone can still be told from a change of the spec.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping

PREFIX = "hmac-sha256:"
_SEPARATOR = "."


def _digest(key: bytes, parts: Iterable[bytes]) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        mac.update(len(part).to_bytes(8, "big"))
        mac.update(part)
    return mac.hexdigest()


def compute_mac(
    key: bytes,
    path: str,
    data: Mapping[str, bytes],
    shape: Mapping[str, object] | None = None,
) -> str:
    """MAC over the path and the data, and over ``shape`` (type and metadata) if given."""
    items = (x for k in sorted(data) for x in (k.encode(), data[k]))
    text = PREFIX + _digest(key, (path.encode(), *items))
    if shape:
        canonical = json.dumps(shape, sort_keys=True, separators=(",", ":")).encode()
        text += _SEPARATOR + _digest(key, (path.encode(), b"shape", canonical))
    return text


def mac_matches(key: bytes, path: str, data: Mapping[str, bytes], expected: str | None) -> bool:
    """Whether ``data`` is what was written at ``path`` (the data part of ``expected``)."""
    if not expected:
        return False
    data_part = expected.split(_SEPARATOR, 1)[0]
    return hmac.compare_digest(compute_mac(key, path, data), data_part)
