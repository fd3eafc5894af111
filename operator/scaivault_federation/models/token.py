"""A ServiceAccount token as the apiserver issued it (held in memory only)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class IssuedToken:
    token: str = field(repr=False)
    #: the audiences the apiserver bound it to
    audiences: tuple[str, ...]
