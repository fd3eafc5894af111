"""Static bearer tokens for clients outside the cluster.

The file is YAML::

    tokens:
      - name: ci-reader
        token_sha256: 9f86d081...          # or `token: <plain text>`
        scopes: [federation:read, secrets:read]
        namespaces: [payments]             # optional; absent = every namespace

Only SHA-256 digests are kept in memory. The file is re-read when it changes
(a mounted Secret rotates), at most every few seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..models.api import field_error

RELOAD_CHECK_SECONDS = 5.0


class Scope(StrEnum):
    FEDERATION_READ = "federation:read"
    FEDERATION_WRITE = "federation:write"
    SECRETS_READ = "secrets:read"
    SECRETS_WRITE = "secrets:write"
    #: the cloud change receivers (``/v1/federation/notify/...``)
    FEDERATION_NOTIFY = "federation:notify"


class StaticTokenError(ValueError):
    """The static token file cannot be used; the message quotes no token."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    token: str | None = Field(default=None, min_length=16, repr=False)
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    scopes: list[Scope] = Field(min_length=1)
    namespaces: list[str] | None = None

    @model_validator(mode="after")
    def _one_token(self) -> _Entry:
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError("exactly one of token and token_sha256 is required")
        return self


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: list[_Entry] = Field(default_factory=list)


@dataclass(frozen=True)
class StaticToken:
    name: str
    digest: str
    scopes: frozenset[Scope]
    namespaces: frozenset[str] | None  # None: every namespace

    def allows(self, scope: Scope, namespace: str) -> bool:
        return scope in self.scopes and (self.namespaces is None or namespace in self.namespaces)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).hexdigest()


def parse_static_tokens(text: str) -> dict[str, StaticToken]:
    """digest -> token; raise :class:`StaticTokenError` for a malformed file."""
    try:
        raw = yaml.safe_load(text) or {}
        doc = _File.model_validate(raw)
    except yaml.YAMLError:
        raise StaticTokenError("static token file is not valid YAML") from None
    except ValidationError as exc:
        raise StaticTokenError("static token file: " + field_error(exc).message) from None
    result: dict[str, StaticToken] = {}
    for entry in doc.tokens:
        digest = (entry.token_sha256 or token_digest(entry.token or "")).lower()
        if digest in result:
            raise StaticTokenError(f"static token {entry.name!r} duplicates another token")
        namespaces = frozenset(entry.namespaces) if entry.namespaces is not None else None
        result[digest] = StaticToken(entry.name, digest, frozenset(entry.scopes), namespaces)
    return result


class StaticTokens:
    """The tokens of one file, reloaded when the file changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._tokens: dict[str, StaticToken] = {}
        self._mtime: float | None = None
        self._checked = 0.0
        if path is not None:
            self._load()

    def _load(self) -> None:
        assert self.path is not None
        stat = os.stat(self.path)
        self._tokens = parse_static_tokens(self.path.read_text())
        self._mtime = stat.st_mtime

    def _maybe_reload(self) -> None:
        if self.path is None:
            return
        now = time.monotonic()
        if now - self._checked < RELOAD_CHECK_SECONDS:
            return
        self._checked = now
        try:
            if os.stat(self.path).st_mtime != self._mtime:
                self._load()
        except (OSError, StaticTokenError):
            pass  # keep the last good set

    def lookup(self, token: str) -> StaticToken | None:
        self._maybe_reload()
        digest = token_digest(token)
        found = self._tokens.get(digest)
        if found is not None and hmac.compare_digest(found.digest, digest):
            return found
        return None


def write_static_tokens(path: Path, entries: Iterable[tuple[str, str, Iterable[Scope]]]) -> None:
    """Write ``(name, token, scopes)`` entries as digests only, readable by the owner."""
    doc = {
        "tokens": [
            {"name": name, "token_sha256": token_digest(token), "scopes": [str(s) for s in scopes]}
            for name, token, scopes in entries
        ]
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)


def write_dev_tokens(path: Path) -> dict[str, str]:
    """A token file for ``dev``: ``admin`` (every scope) and ``read_only``
    (``federation:read``). Returns the plain tokens; the file holds digests."""
    tokens = {
        "admin": "svf-admin-" + secrets.token_urlsafe(24),
        "read_only": "svf-read-" + secrets.token_urlsafe(24),
    }
    write_static_tokens(
        path,
        [
            ("admin", tokens["admin"], list(Scope)),
            ("read_only", tokens["read_only"], [Scope.FEDERATION_READ]),
        ],
    )
    return tokens
