"""ScaiVault paths, path patterns, mappings and Secret names.

A ScaiVault path is a ``/``-separated list of non-empty segments such as
``external/payments/db/password``. ``.`` and ``..`` segments, control characters
and wildcards are invalid in a path; Unicode letters are fine.

A path pattern is a path whose segments may also hold ``*`` (one or more
characters within a segment: ``*``, ``db-*``, ``app-*-prod``) or be exactly
``**`` (zero or more segments). A mapping pairs a local pattern (ScaiVault
side) with a remote template (backend side) that has the same wildcards in
the same order; captures are substituted positionally.

Everything here is pure: no I/O, no Kubernetes client.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "DOUBLE_STAR",
    "MAX_DOUBLE_STARS",
    "MAX_PATH_LENGTH",
    "MAX_SCOPE_PATTERNS",
    "MAX_SECRET_NAME_LENGTH",
    "STAR",
    "InvalidPathError",
    "PathMapping",
    "PathPattern",
    "PathScope",
    "is_valid_secret_name",
    "parse_mapping",
    "parse_mappings",
    "paths_named",
    "secret_name_for_path",
    "validate_path",
]

MAX_PATH_LENGTH = 1024
"""Longest accepted path or pattern, in characters."""

MAX_DOUBLE_STARS = 4
"""Most ``**`` segments one pattern may hold."""

MAX_SECRET_NAME_LENGTH = 253
"""Longest Kubernetes Secret name (a DNS-1123 subdomain)."""

MAX_SCOPE_PATTERNS = 100
"""Most paths or patterns one per-path sync may name."""

STAR = "*"
DOUBLE_STAR = "**"

# C0 controls, DEL and C1 controls.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")
# Lone UTF-16 surrogates cannot be encoded and never come from valid JSON.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_HASH_LENGTH = 10
_NAME_BUDGET = 240  # longest derived name, leaving room below the 253 limit
_NAME_INVALID_RE = re.compile(r"[^a-z0-9-]")
_DASH_RUN_RE = re.compile(r"-{2,}")
_RECOVERABLE_RE = re.compile(r"[a-z0-9/-]+")
_DNS_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class InvalidPathError(ValueError):
    """A path, pattern or mapping is not well-formed.

    The message names the problem and quotes at most the offending input.
    """


def _quote(text: str) -> str:
    """``text`` for an error message: escaped, and shortened when very long."""
    if len(text) > 80:
        return repr(text[:77] + "...")
    return repr(text)


def _check_common(text: str, what: str) -> list[str]:
    """Checks shared by paths and patterns; returns the segments."""
    if not text:
        raise InvalidPathError(f"{what} must not be empty")
    if len(text) > MAX_PATH_LENGTH:
        raise InvalidPathError(f"{what} {_quote(text)} is longer than {MAX_PATH_LENGTH} characters")
    if _CONTROL_RE.search(text):
        raise InvalidPathError(f"{what} {_quote(text)} contains a control character")
    if _SURROGATE_RE.search(text):
        raise InvalidPathError(f"{what} {_quote(text)} contains a lone surrogate")
    if text.startswith("/"):
        raise InvalidPathError(f"{what} {_quote(text)} must not start with '/'")
    if text.endswith("/"):
        raise InvalidPathError(f"{what} {_quote(text)} must not end with '/'")
    segments = text.split("/")
    for segment in segments:
        if not segment:
            raise InvalidPathError(f"{what} {_quote(text)} contains an empty segment")
        if segment in (".", ".."):
            raise InvalidPathError(f"{what} {_quote(text)} contains a {segment!r} segment")
    return segments


def validate_path(path: str) -> str:
    """Return ``path`` unchanged if it is a well-formed concrete ScaiVault path.

    Raises :class:`InvalidPathError` for an empty path, a leading or trailing
    ``/``, an empty, ``.`` or ``..`` segment, a control character (C0, DEL or
    C1), a lone surrogate, a ``*`` (wildcards belong in patterns only) or more than
    :data:`MAX_PATH_LENGTH` characters.
    """
    if not isinstance(path, str):
        raise InvalidPathError("path must be a string")
    _check_common(path, "path")
    if "*" in path:
        raise InvalidPathError(f"path {_quote(path)} must not contain a wildcard '*'")
    return path


@dataclass(frozen=True)
class _Segment:
    """One pattern segment: literal text, ``**``, or literal parts around ``*``.

    ``parts`` are the literal texts between the ``*`` of the segment (one more
    than the number of ``*``): ``db-*`` is ``("db-", "")``, ``*`` is
    ``("", "")``, ``app-*-prod`` is ``("app-", "-prod")``. A literal segment
    has one part, ``**`` none.
    """

    text: str
    parts: tuple[str, ...]

    @property
    def is_double_star(self) -> bool:
        return not self.parts

    @property
    def stars(self) -> int:
        return max(0, len(self.parts) - 1)

    def match(self, segment: str) -> tuple[str, ...] | None:
        """The ``*`` captures of ``segment`` (each non-empty), or None.

        Each ``*`` but the last ends where the literal text after it first
        occurs (leftmost, shortest): placing every literal as early as possible
        finds a match whenever one exists, in linear time.
        """
        parts = self.parts
        if len(parts) == 1:
            return () if segment == parts[0] else None
        first, last = parts[0], parts[-1]
        if len(segment) < len(first) + len(last) + self.stars or not segment.startswith(first):
            return None
        if not segment.endswith(last):
            return None
        end = len(segment) - len(last)
        cursor = len(first)
        captures: list[str] = []
        for literal in parts[1:-1]:
            found = segment.find(literal, cursor + 1, end - 1)
            if found < 0:
                return None
            captures.append(segment[cursor:found])
            cursor = found + len(literal)
        if cursor >= end:
            return None
        captures.append(segment[cursor:end])
        return tuple(captures)

    def expand(self, captures: Sequence[str]) -> str:
        out = [self.parts[0]]
        for capture, literal in zip(captures, self.parts[1:], strict=True):
            if not capture or "/" in capture:
                raise InvalidPathError(
                    f"capture {_quote(capture)} for '*' must be exactly one segment"
                )
            out.extend((capture, literal))
        return "".join(out)


def _parse_segment(pattern: str, segment: str) -> _Segment:
    if segment == DOUBLE_STAR:
        return _Segment(segment, ())
    if "**" in segment:
        raise InvalidPathError(
            f"pattern {_quote(pattern)}: segment {_quote(segment)} has two wildcards with "
            "nothing between them, so its captures could be split in more than one way "
            "('**' must be a whole segment)"
        )
    return _Segment(segment, tuple(segment.split(STAR)))


@dataclass(frozen=True)
class _Chunk:
    """A run of fixed-width segments (literals and ``*`` globs) between ``**``."""

    segments: tuple[_Segment, ...]

    def matches_at(self, parts: Sequence[str], start: int) -> bool:
        return self.captures_at(parts, start) is not None

    def captures_at(self, parts: Sequence[str], start: int) -> list[str] | None:
        if start + len(self.segments) > len(parts):
            return None
        captures: list[str] = []
        for offset, expected in enumerate(self.segments):
            found = expected.match(parts[start + offset])
            if found is None:
                return None
            captures.extend(found)
        return captures

    def find(self, parts: Sequence[str], start: int, stop: int) -> int:
        """Leftmost index in ``[start, stop]`` where the chunk fits, or -1."""
        width = len(self.segments)
        for index in range(start, stop - width + 1):
            if self.matches_at(parts, index):
                return index
        return -1


class PathPattern:
    """A path pattern: segments that are literal, ``**``, or text with ``*`` in it.

    ``*`` matches one or more characters within one segment: as a whole
    segment it matches any one segment, inside one (``db-*``, ``*-creds``,
    ``app-*-prod``) the rest of the segment must match its literal text.
    ``**`` matches zero or more segments and must be a whole segment. Two
    wildcards with nothing between them (``a**b``, ``***``) are rejected: the
    split of their captures would be arbitrary, so the way back would be
    ambiguous. A pattern holds at most :data:`MAX_DOUBLE_STARS` ``**`` and two
    ``**`` may not be adjacent. Matching runs in O(segments x pattern length):
    when a path can be split in several ways, each ``**`` takes as few
    segments as possible, left to right, and each ``*`` inside a segment stops
    at the first occurrence of the text after it.

    ``PathPattern(text)`` raises :class:`InvalidPathError` if ``text`` is
    malformed. Instances are immutable, hashable and compare by their text.
    """

    __slots__ = ("_chunks", "_parsed", "_pattern", "_segments")

    _pattern: str
    _segments: tuple[str, ...]
    _parsed: tuple[_Segment, ...]
    _chunks: tuple[_Chunk, ...]

    def __init__(self, pattern: str) -> None:
        if not isinstance(pattern, str):
            raise InvalidPathError("pattern must be a string")
        segments = _check_common(pattern, "pattern")
        parsed = tuple(_parse_segment(pattern, segment) for segment in segments)
        if segments.count(DOUBLE_STAR) > MAX_DOUBLE_STARS:
            raise InvalidPathError(
                f"pattern {_quote(pattern)} has more than {MAX_DOUBLE_STARS} '**' segments"
            )
        for left, right in itertools.pairwise(segments):
            if left == DOUBLE_STAR and right == DOUBLE_STAR:
                raise InvalidPathError(f"pattern {_quote(pattern)} has adjacent '**' segments")
        chunks: list[_Chunk] = []
        current: list[_Segment] = []
        for segment in parsed:
            if segment.is_double_star:
                chunks.append(_Chunk(tuple(current)))
                current = []
            else:
                current.append(segment)
        chunks.append(_Chunk(tuple(current)))
        object.__setattr__(self, "_pattern", pattern)
        object.__setattr__(self, "_segments", tuple(segments))
        object.__setattr__(self, "_parsed", parsed)
        object.__setattr__(self, "_chunks", tuple(chunks))

    @classmethod
    def parse(cls, pattern: str) -> PathPattern:
        """Same as ``PathPattern(pattern)``."""
        return cls(pattern)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PathPattern):
            return NotImplemented
        return self._pattern == other._pattern

    def __hash__(self) -> int:
        return hash(self._pattern)

    def __repr__(self) -> str:
        return f"PathPattern({self._pattern!r})"

    def __str__(self) -> str:
        return self._pattern

    @property
    def pattern(self) -> str:
        """The pattern text."""
        return self._pattern

    @property
    def segments(self) -> tuple[str, ...]:
        """The segments, wildcards included."""
        return self._segments

    @property
    def wildcards(self) -> tuple[str, ...]:
        """The wildcards (``*`` / ``**``) in order, one ``*`` per ``*`` in a segment."""
        out: list[str] = []
        for segment in self._parsed:
            out.extend([DOUBLE_STAR] if segment.is_double_star else [STAR] * segment.stars)
        return tuple(out)

    @property
    def is_literal(self) -> bool:
        """True when the pattern has no wildcard (it matches one path)."""
        return not self.wildcards

    @property
    def literal_segment_count(self) -> int:
        """How many segments hold no wildcard (used to order mappings)."""
        return sum(1 for s in self._parsed if len(s.parts) == 1)

    @property
    def partial_literal_length(self) -> int:
        """Characters of literal text inside segments that hold a ``*``."""
        return sum(len("".join(s.parts)) for s in self._parsed if len(s.parts) > 1)

    @property
    def literal_prefix(self) -> str:
        """The literal text before the first wildcard, up to and including the
        last ``/`` before it, followed by any literal start of the segment that
        holds it.

        ``prod/db/**`` gives ``prod/db/``, ``prod/db-*`` gives ``prod/db-``,
        ``prod-*`` gives ``prod-``; empty when the pattern starts with a
        wildcard. For a pattern without wildcards this is the whole pattern
        plus ``/``; check :attr:`is_literal` to fetch such a path directly
        instead of listing.
        """
        prefix: list[str] = []
        for segment in self._parsed:
            if len(segment.parts) == 1:
                prefix.append(segment.text)
                continue
            head = "/".join(prefix) + "/" if prefix else ""
            return head + (segment.parts[0] if segment.parts else "")
        return "/".join(prefix) + "/" if prefix else ""

    def match(self, path: str) -> tuple[str, ...] | None:
        """Captures for ``path`` in wildcard order, or None if it does not match.

        A ``*`` capture is part (or all) of one segment, never empty; a ``**``
        capture is the joined sub-path, possibly empty. Raises
        :class:`InvalidPathError` if ``path`` is not a well-formed concrete path.
        """
        parts = validate_path(path).split("/")
        chunks = self._chunks
        if len(chunks) == 1:
            only = chunks[0]
            if len(only.segments) != len(parts):
                return None
            found = only.captures_at(parts, 0)
            return None if found is None else tuple(found)

        first, last = chunks[0], chunks[-1]
        fixed = sum(len(c.segments) for c in chunks)
        if fixed > len(parts):
            return None
        if not first.matches_at(parts, 0):
            return None
        tail_start = len(parts) - len(last.segments)
        if not last.matches_at(parts, tail_start):
            return None

        # Place each middle chunk at its leftmost fit; greedy leftmost placement
        # finds a match whenever one exists and keeps earlier ``**`` shortest.
        positions = [0]
        cursor = len(first.segments)
        for chunk in chunks[1:-1]:
            index = chunk.find(parts, cursor, tail_start)
            if index < 0:
                return None
            positions.append(index)
            cursor = index + len(chunk.segments)
        positions.append(tail_start)

        captures: list[str] = []
        for number, chunk in enumerate(chunks):
            start = positions[number]
            if number > 0:
                gap_start = positions[number - 1] + len(chunks[number - 1].segments)
                captures.append("/".join(parts[gap_start:start]))
            found = chunk.captures_at(parts, start)
            assert found is not None  # placed where it fits
            captures.extend(found)
        return tuple(captures)

    def expand(self, captures: Sequence[str]) -> str:
        """Substitute ``captures`` for the wildcards, in order.

        An empty ``**`` capture disappears together with its separator. Raises
        :class:`InvalidPathError` when the number of captures is wrong, a
        ``*`` capture is empty or holds a ``/``, a ``**`` capture is not a
        well-formed path (or empty), or the result is not a valid path.
        """
        wildcards = self.wildcards
        if len(captures) != len(wildcards):
            raise InvalidPathError(
                f"pattern {_quote(self.pattern)} takes {len(wildcards)} captures, "
                f"got {len(captures)}"
            )
        remaining = list(captures)
        out: list[str] = []
        for segment in self._parsed:
            if segment.is_double_star:
                value = remaining.pop(0)
                if value:
                    out.extend(validate_path(value).split("/"))
                continue
            taken, remaining = remaining[: segment.stars], remaining[segment.stars :]
            text = segment.expand(taken)
            if segment.stars:
                validate_path(text)
            out.append(text)
        if not out:
            raise InvalidPathError(f"pattern {_quote(self.pattern)} expands to an empty path")
        return validate_path("/".join(out))


@dataclass(frozen=True)
class PathMapping:
    """A local (ScaiVault) pattern and its remote (backend) template.

    Both sides carry the same wildcards in the same order. Translation is
    checked to be reversible: a path whose translation would map back to a
    different path (possible with patterns that can split one path in more
    than one way) has no counterpart and yields None.
    """

    local: PathPattern
    remote: PathPattern

    def __post_init__(self) -> None:
        if self.local.wildcards != self.remote.wildcards:
            raise InvalidPathError(
                f"pattern {_quote(self.local.pattern)} and template "
                f"{_quote(self.remote.pattern)} must have the same wildcards in the "
                f"same order ({_describe(self.local.wildcards)} vs "
                f"{_describe(self.remote.wildcards)})"
            )

    @staticmethod
    def _translate(source: PathPattern, target: PathPattern, path: str) -> str | None:
        captures = source.match(path)
        if captures is None:
            return None
        try:
            return target.expand(captures)
        except InvalidPathError:
            return None

    @functools.cached_property
    def _subtree(self) -> tuple[str, str] | None:
        """Both sides' literal prefixes when the mapping keeps a subtree: a path below one
        is then the other's prefix and the same rest (a sync maps thousands)."""
        if not self._keeps_subtree():
            return None
        return self.local.literal_prefix, self.remote.literal_prefix

    @staticmethod
    def _moved(path: str, source: str, target: str) -> str | None:
        """``path`` below ``source`` as the same rest below ``target``; None when the path
        is not strictly below ``source`` (or the result is not a path)."""
        validate_path(path)
        if len(path) <= len(source) or not path.startswith(source):
            return None
        try:
            return validate_path(target + path[len(source) :])
        except InvalidPathError:
            return None

    def to_remote(self, local_path: str) -> str | None:
        """The backend path for ``local_path``, or None if it is not mapped.

        Raises :class:`InvalidPathError` if ``local_path`` is malformed.
        """
        subtree = self._subtree
        if subtree is not None and (moved := self._moved(local_path, *subtree)) is not None:
            return moved
        remote = self._translate(self.local, self.remote, local_path)
        if remote is None or self._translate(self.remote, self.local, remote) != local_path:
            return None
        return remote

    def to_local(self, remote_path: str) -> str | None:
        """The ScaiVault path for ``remote_path``, or None if it is not mapped.

        Raises :class:`InvalidPathError` if ``remote_path`` is malformed.
        """
        subtree = self._subtree
        if subtree is not None and (moved := self._moved(remote_path, *subtree[::-1])) is not None:
            return moved
        local = self._translate(self.remote, self.local, remote_path)
        if local is None or self._translate(self.local, self.remote, local) != remote_path:
            return None
        return local

    def remote_prefix_for(self, entry: PathPattern) -> str | None:
        """The remote prefix to list for the local paths ``entry`` matches that this
        mapping maps (both with wildcards); None when it maps none of them.

        Every such local path starts with both sides' literal prefixes, so a mapping
        whose own prefix and the entry's disagree maps none. When the mapping keeps a
        subtree (literal segments and one trailing ``**`` on both sides, ``app/**`` ->
        ``prod/**``), the entry's prefix below it carries over (``app/web/**`` lists
        ``prod/web/``); otherwise the mapping's own prefix is listed."""
        wanted, own = entry.literal_prefix, self.local.literal_prefix
        if not (wanted.startswith(own) or own.startswith(wanted)):
            return None
        if wanted.startswith(own) and self._keeps_subtree():
            return self.remote.literal_prefix + wanted[len(own) :]
        return self.remote.literal_prefix

    def _keeps_subtree(self) -> bool:
        return all(
            side.wildcards == (DOUBLE_STAR,) and side.segments[-1] == DOUBLE_STAR
            for side in (self.local, self.remote)
        )

    def specificity_key(self) -> tuple[int, int, int, int, str, str]:
        """Sort key: more literal segments first, then more literal text beside
        ``*`` in a segment, then fewer ``**``, fewer ``*``."""
        wildcards = self.local.wildcards
        return (
            -self.local.literal_segment_count,
            -self.local.partial_literal_length,
            wildcards.count(DOUBLE_STAR),
            wildcards.count(STAR),
            self.local.pattern,
            self.remote.pattern,
        )


def _describe(wildcards: tuple[str, ...]) -> str:
    return "[" + ", ".join(wildcards) + "]" if wildcards else "none"


def parse_mapping(local: str, remote: str) -> PathMapping:
    """Build a :class:`PathMapping`; raise :class:`InvalidPathError` if malformed."""
    return PathMapping(PathPattern(local), PathPattern(remote))


def parse_mappings(mappings: Mapping[str, str]) -> list[PathMapping]:
    """Parse a whole ``pathMapping``, most specific local pattern first.

    The order is deterministic (see :meth:`PathMapping.specificity_key`), so
    the first mapping that matches a path is the one to use.
    """
    parsed = [parse_mapping(local, remote) for local, remote in mappings.items()]
    return sorted(parsed, key=PathMapping.specificity_key)


def _path_hash(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8")).hexdigest()[:_HASH_LENGTH]


def _is_recoverable(path: str) -> bool:
    """True when the plain derived name spells ``path`` with ``/`` as ``-``."""
    if not _RECOVERABLE_RE.fullmatch(path) or "--" in path:
        return False
    return all(
        segment and not segment.startswith("-") and not segment.endswith("-")
        for segment in path.split("/")
    )


@functools.lru_cache(maxsize=4096)  # a sync names each path a few times, close together
def secret_name_for_path(path: str) -> str:
    """A deterministic Kubernetes Secret name for the ScaiVault ``path``.

    ASCII letters are lower-cased; every other character outside
    ``[a-z0-9-]`` (``/``, ``.``, ``_``, any non-ASCII character, which is not
    case-folded so that names never depend on Unicode tables) becomes ``-``;
    runs of ``-`` collapse and leading/trailing ``-`` go. When that lost
    information (the path held anything but ``[a-z0-9/-]``, upper case
    included, a ``--``, or a segment starting or ending with ``-``) or the
    name would exceed 240 characters (it is then truncated), ``-`` and the
    first 10 hex digits of SHA-256(UTF-8 path) are appended. The result is a
    DNS-1123 subdomain of at most 240 characters; a path of at most 52
    characters gives at most 63.

    The mapping is not injective: paths without a suffix can still collide
    (``a-b`` and ``a/b`` both give ``a-b``), and a hash suffix may collide
    with a name that merely looks like one. The exact path therefore lives in
    the Secret's ``federation.scaivault.io/path`` annotation, and every lookup
    must compare that annotation with the path it wanted.

    Raises :class:`InvalidPathError` if ``path`` is not a well-formed path.
    """
    validate_path(path)
    base = _NAME_INVALID_RE.sub("-", path.translate(_ASCII_LOWER))
    base = _DASH_RUN_RE.sub("-", base).strip("-")
    if _is_recoverable(path) and len(base) <= _NAME_BUDGET:
        return base
    suffix = _path_hash(path)
    room = _NAME_BUDGET - _HASH_LENGTH - 1
    base = base[:room].rstrip("-")
    return f"{base}-{suffix}" if base else suffix


_HASHED_RE = re.compile(r"(^|-)[0-9a-f]{10}$")


def paths_named(name: str, most: int = 64) -> list[str] | None:
    """Every path :func:`secret_name_for_path` names ``name``, when they can be told: the
    spellings of it with each ``-`` kept or made a ``/`` that give it back. ``None``
    when a path may also be named so through the hash (the name ends like a hash
    suffix), or when it has more than ``most`` spellings to try."""
    if _HASHED_RE.search(name):
        return None
    pieces = name.split("-")
    if 2 ** (len(pieces) - 1) > most:
        return None
    if len(name) > _NAME_BUDGET:
        return None
    found: list[str] = []
    for separators in itertools.product(("-", "/"), repeat=len(pieces) - 1):
        spelled = pieces[0] + "".join(s + p for s, p in zip(separators, pieces[1:], strict=True))
        if _is_recoverable(spelled):  # named by its spelling: ``/`` as ``-``, that is ``name``
            found.append(spelled)
    return found


def is_valid_secret_name(name: str) -> bool:
    """True when ``name`` is a valid Secret name (DNS-1123 subdomain, <= 253)."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= MAX_SECRET_NAME_LENGTH
        and _DNS_SUBDOMAIN_RE.fullmatch(name) is not None
    )


class PathScope:
    """The ScaiVault paths a per-path sync covers: concrete paths and patterns.

    ``PathScope(["external/payments/db", "external/payments/web/**"])`` matches exactly
    ``external/payments/db`` and everything under ``external/payments/web``. Raises
    :class:`InvalidPathError` for an empty list, more than
    :data:`MAX_SCOPE_PATTERNS` entries, or a malformed entry (the message
    names its index).
    """

    __slots__ = ("_literals", "_patterns", "_wildcards")

    _patterns: tuple[PathPattern, ...]
    _literals: frozenset[str]
    _wildcards: tuple[PathPattern, ...]

    def __init__(self, patterns: Sequence[str]) -> None:
        if isinstance(patterns, str) or not patterns:
            raise InvalidPathError("at least one path or pattern is required")
        if len(patterns) > MAX_SCOPE_PATTERNS:
            raise InvalidPathError(f"at most {MAX_SCOPE_PATTERNS} paths or patterns are allowed")
        parsed: dict[str, PathPattern] = {}
        for index, text in enumerate(patterns):
            try:
                parsed.setdefault(text, PathPattern(text))
            except InvalidPathError as exc:
                raise InvalidPathError(f"[{index}]: {exc}") from None
        object.__setattr__(self, "_patterns", tuple(parsed.values()))
        literals = frozenset(p.pattern for p in self._patterns if p.is_literal)
        object.__setattr__(self, "_literals", literals)
        wildcards = tuple(p for p in self._patterns if not p.is_literal)
        object.__setattr__(self, "_wildcards", wildcards)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PathScope) and set(self.texts) == set(other.texts)

    def __hash__(self) -> int:
        return hash(frozenset(self.texts))

    def __repr__(self) -> str:
        return f"PathScope({list(self.texts)!r})"

    @property
    def patterns(self) -> tuple[PathPattern, ...]:
        return self._patterns

    @property
    def concrete(self) -> bool:
        """Whether every entry is a path (no pattern)."""
        return not self._wildcards

    @property
    def texts(self) -> tuple[str, ...]:
        """The entries as given, duplicates dropped, in their first order."""
        return tuple(p.pattern for p in self._patterns)

    def matches(self, path: str) -> bool:
        """Whether ``path`` is one of the paths or matches one of the patterns (a
        malformed path matches nothing)."""
        if path in self._literals:
            return True
        try:
            return any(p.match(path) is not None for p in self._wildcards)
        except InvalidPathError:
            return False

    def union(self, other: PathScope) -> PathScope:
        """Both scopes' entries, each once (:class:`InvalidPathError` beyond
        :data:`MAX_SCOPE_PATTERNS`)."""
        return PathScope(list(dict.fromkeys([*self.texts, *other.texts])))
