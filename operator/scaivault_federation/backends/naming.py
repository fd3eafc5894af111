"""Backend paths <-> secret names of stores with flat, restricted names.

Some stores have no folders: a secret has one name from a small alphabet.
Backend paths (the right-hand side of a ``pathMapping``) are ``/``-separated
like everywhere else, so each such store gets one reversible rule between a
path and a name (:class:`NameRule`, one per type, in its package). The rules
are one scheme with a store's own *structural* character ``S``, alphabet and
length limit; below, ``S`` is ``-`` and the alphabet ``[0-9a-zA-Z-]``.

Encoding a path:

1. ``/`` between segments becomes ``SS`` (``apps/db/password`` ->
   ``apps--db--password``).
2. Characters kept as is are copied.
3. ``S`` itself is copied as a single ``S`` when it stands between two
   characters that are kept as is, inside one segment, and what follows it in
   the name does not begin with two upper-case hex digits and ``S`` (so
   ``db-password`` stays ``db-password``).
4. Every other character, including ``S`` where rule 3 does not apply, is
   written as its UTF-8 bytes, each as ``S`` + two upper-case hex digits +
   ``S``: ``tls.crt`` -> ``tls-2E-crt``, ``é`` -> ``-C3--A9-``,
   ``a--b`` -> ``a-2D--2D-b``.

Decoding reads the name from the left: ``SS`` is a ``/``; ``S`` followed by
two upper-case hex digits and ``S`` is one escaped byte; any other ``S`` is a
literal ``S``. A name is accepted only if it is exactly what the rule makes of
the path it decodes to, so the two directions are inverse functions between
valid paths and the names the rule produces; any other name in the store
(``a-2D-b``, a lower-case escape, a trailing ``-``) decodes to ``None`` and is
not visible through the operator.

A valid path has non-empty segments other than ``.`` and ``..`` and no
control characters or lone surrogates. A path that is invalid or whose name would exceed the
store's length limit raises :class:`UnmappablePathError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidBackendConfigError

# C0 controls, DEL, C1 controls and lone surrogates (as in scaivault_federation.paths).
_INVALID_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class UnmappablePathError(InvalidBackendConfigError):
    """A path that has no secret name in a store's naming rule."""


@dataclass(frozen=True)
class NameRule:
    """One store's path <-> name rule (see the module docstring)."""

    store: str
    structural: str
    extra_literals: str
    max_length: int

    def is_literal(self, char: str) -> bool:
        return char.isascii() and (char.isalnum() or char in self.extra_literals)

    def __post_init__(self) -> None:
        escape = re.compile(rf"[0-9A-F]{{2}}{re.escape(self.structural)}")
        object.__setattr__(self, "_escape", escape)

    def _escape_ahead(self) -> re.Pattern[str]:
        """Matches the part of an escape after its leading structural character."""
        escape: re.Pattern[str] = self.__dict__["_escape"]
        return escape

    def name(self, path: str) -> str:
        """The secret name of ``path``; ``UnmappablePathError`` when there is none."""
        check_path(path, self.store)
        s = self.structural
        escape_ahead = self._escape_ahead()
        out: list[str] = []  # the name, built from its end, reversed
        length = 0
        for index in range(len(path) - 1, -1, -1):
            char = path[index]
            if char == "/":
                part = s + s
            elif self.is_literal(char) or (
                char == s and self._plain(path, index, out, escape_ahead)
            ):
                part = char
            else:
                part = "".join(f"{s}{byte:02X}{s}" for byte in char.encode("utf-8"))
            out.append(part)
            length += len(part)
            if length > self.max_length:
                raise UnmappablePathError(
                    f"{self.store} secret name for this path would be longer than "
                    f"{self.max_length} characters"
                )
        return "".join(reversed(out))

    def _plain(self, path: str, index: int, out: list[str], escape_ahead: re.Pattern[str]) -> bool:
        """Whether the structural character at ``path[index]`` may be written as itself."""
        if index == 0 or index == len(path) - 1:
            return False
        before, after = path[index - 1], path[index + 1]
        if not (self.is_literal(before) and self.is_literal(after)):
            return False
        ahead = "".join(reversed(out[-3:]))  # the next three (or more) characters of the name
        return escape_ahead.match(ahead) is None

    def path(self, name: str) -> str | None:
        """The path whose name is ``name``; ``None`` for names the rule does not produce."""
        if not name or len(name) > self.max_length:
            return None
        s = self.structural
        escape_ahead = self._escape_ahead()
        segments: list[str] = []
        current = bytearray()
        i = 0
        while i < len(name):
            char = name[i]
            if char == s:
                if name.startswith(s, i + 1):
                    segment = _utf8(current)
                    if not segment:
                        return None
                    segments.append(segment)
                    current = bytearray()
                    i += 2
                    continue
                if escape_ahead.match(name, i + 1):
                    current.append(int(name[i + 1 : i + 3], 16))
                    i += 4
                    continue
                current.append(ord(s))
                i += 1
                continue
            if not self.is_literal(char):
                return None
            current.append(ord(char))
            i += 1
        segment = _utf8(current)
        if not segment:
            return None
        segments.append(segment)
        path = "/".join(segments)
        try:
            canonical = self.name(path)
        except UnmappablePathError:
            return None
        return path if canonical == name else None


def _utf8(raw: bytearray) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def check_path(path: str, store: str = "backend") -> None:
    """``UnmappablePathError`` unless ``path`` is a valid ``/``-separated path."""
    if not path:
        raise UnmappablePathError(f"empty {store} path")
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise UnmappablePathError(f"invalid {store} path: empty, '.' or '..' segment")
    if _INVALID_CHARS.search(path):
        raise UnmappablePathError(f"invalid {store} path: control character or lone surrogate")
