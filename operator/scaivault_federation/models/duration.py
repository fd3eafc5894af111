"""Go-style durations (``15m``, ``1h30m``, ``10s``) as used by ``syncInterval``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$")

MIN_SYNC_INTERVAL = timedelta(seconds=10)


class InvalidDurationError(ValueError):
    pass


def parse_duration(text: str) -> timedelta:
    """Parse a positive Go duration; raise :class:`InvalidDurationError` otherwise."""
    if not _WHOLE.match(text):
        raise InvalidDurationError(f"{text!r} is not a duration such as 30s, 15m or 1h30m")
    seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))
    return timedelta(seconds=seconds)


def check_duration(value: str | None) -> str | None:
    """A model's duration field: ``value`` when it parses (or is unset), else a
    ``ValueError`` a validator reports against the field."""
    if value is not None:
        try:
            parse_duration(value)
        except InvalidDurationError as exc:
            raise ValueError(str(exc)) from None
    return value


def format_duration(value: timedelta) -> str:
    """The shortest Go-style spelling of a whole number of seconds."""
    total = int(value.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{seconds}s" if seconds else "",
    ]
    return "".join(parts) or "0s"
