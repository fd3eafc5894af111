"""Plain-text output for people: column tables as kubectl prints them, key/value
blocks, and short ages ("12s", "5m", "3h", "2d"). Pure: strings in, strings out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

NONE = "-"


def cell(value: Any) -> str:
    """A value as a table cell: ``-`` for nothing, one line always."""
    if value is None or value == "":
        return NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    return " ".join(str(value).split())


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns separated by three spaces, headers upper-cased, no trailing blanks."""
    lines = [[h.upper() for h in headers], *([cell(v) for v in row] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    out = []
    for line in lines:
        padded = [text.ljust(width) for text, width in zip(line, widths, strict=True)]
        out.append("   ".join(padded).rstrip())
    return "\n".join(out)


def pairs(items: Sequence[tuple[str, Any]]) -> str:
    """``Key:   value`` lines, the values aligned."""
    width = max((len(key) for key, _ in items), default=0) + 1
    return "\n".join(f"{(key + ':').ljust(width)}  {cell(value)}" for key, value in items)


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def age(value: Any, now: datetime | None = None) -> str:
    """How long ago ``value`` (an RFC 3339 time) was: ``45s``, ``12m``, ``5h``, ``3d``;
    ``-`` for none. A time in the future reads ``in 12m``."""
    stamp = parse_time(value)
    if stamp is None:
        return NONE
    seconds = int(((now or datetime.now(UTC)) - stamp).total_seconds())
    ahead = seconds < 0
    seconds = abs(seconds)
    if seconds < 120:
        text = f"{seconds}s"
    elif seconds < 7200:
        text = f"{seconds // 60}m"
    elif seconds < 172800:
        text = f"{seconds // 3600}h"
    else:
        text = f"{seconds // 86400}d"
    return f"in {text}" if ahead else text


def until(value: Any, now: datetime | None = None) -> str:
    """When ``value`` (an RFC 3339 time) comes: ``in 5h`` ahead, ``3m ago`` past; ``-``
    for none."""
    text = age(value, now)
    if text == NONE or text.startswith("in "):
        return text
    return f"{text} ago"


def size(length: int) -> str:
    """A value's size, never the value: ``12 bytes``."""
    return f"{length} byte" + ("" if length == 1 else "s")
