"""A Google Secret Manager protocol emulator: the v1 gRPC API, in memory.

This is not Google's server: it is a gRPC server speaking the
``google.cloud.secretmanager.v1.SecretManagerService`` protocol, built from
the request and response messages that ``google-cloud-secret-manager`` ships,
and it follows the API reference for what the operator relies on:

- ``versions/latest`` is the most recently created version, whatever its
  state, so reading it fails with FAILED_PRECONDITION when that version is
  disabled or destroyed; version aliases resolve too.
- Resource names in answers carry the project *number*
  (``projects/123456789012/secrets/x``) like the real service; requests may
  use the project id or the number. Another project is PERMISSION_DENIED.
- ``ListSecrets`` / ``ListSecretVersions``: results sorted by name,
  ``page_size`` capped at 25000 (negative: INVALID_ARGUMENT), opaque page
  tokens bound to the filter, ``total_size`` 0 when a filter is set. Filters
  follow the documented subset of the list filter language: ``name:text``
  (substring, ``*`` wildcards), ``labels.k=v``, ``labels.k:*``,
  ``create_time<RFC3339`` (and ``<= > >= = !=``), ``state:ENABLED`` on
  versions, ``AND`` / ``OR`` / ``NOT`` / ``-`` and parentheses.
- Secret ids are ``[A-Za-z0-9_-]{1,255}``; payloads up to 64 KiB, with
  ``data_crc32c`` checked when sent and always returned.
- Authentication: ``Authorization: Bearer <JWT>`` holding a self-signed
  service-account JWT (what Google's client libraries send for key-file
  credentials), RS256-verified against the public keys in ``--trust`` files.
  A missing or invalid token is UNAUTHENTICATED (without a token the caller
  is an admin when ``--allow-anonymous``); each trusted key carries a set of
  IAM permissions (``secretmanager.secrets.list``, ``...versions.access``,
  ...), and a call lacking its permission is PERMISSION_DENIED. Access tokens
  of service accounts impersonated through workload identity federation
  (:mod:`~scaivault_devenv.gsm_federation`, served over HTTP on
  ``--http-port``) carry their account's permissions, limited to the secret
  ids under its prefixes.

- Expiry: a secret's ``expire_time`` or ``ttl`` (set at creation, or by
  ``UpdateSecret`` with an update mask of ``expire_time`` or ``ttl``) is
  answered as its ``expire_time``; once that time has passed the secret is
  gone, as Google deletes it. ``UpdateSecret`` also takes ``labels`` and
  ``annotations``; other fields in its mask are INVALID_ARGUMENT.

Not emulated: IAM policies, regional secrets (``locations/``), replication
settings beyond echoing them, rotation, Pub/Sub topics, CMEK,
etags on updates, OAuth access tokens other than those of
workload identity federation, and the REST transport. It serves plaintext gRPC
on loopback with gRPC "local" credentials, so clients may use an insecure
channel or local channel credentials (which carry call credentials).

Run: ``python -m scaivault_devenv.gsm_emulator --port N --project P
--trust trust.json [--http-port M]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import signal
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web
from google.auth import exceptions as auth_exceptions
from google.auth import jwt
from google.cloud.secretmanager_v1 import types

from .gsm_federation import ACCESS_TOKEN_PREFIX, WorkloadIdentityFederation

SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
AUDIENCE = "https://secretmanager.googleapis.com/"
MAX_PAGE_SIZE = 25000
DEFAULT_PAGE_SIZE = 1000
MAX_PAYLOAD = 64 * 1024
_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")

#: every permission a call of this emulator may need
ALL_PERMISSIONS = frozenset(
    {
        "secretmanager.secrets.list",
        "secretmanager.secrets.get",
        "secretmanager.secrets.create",
        "secretmanager.secrets.delete",
        "secretmanager.secrets.update",
        "secretmanager.versions.list",
        "secretmanager.versions.get",
        "secretmanager.versions.add",
        "secretmanager.versions.access",
        "secretmanager.versions.enable",
        "secretmanager.versions.disable",
        "secretmanager.versions.destroy",
    }
)

State = types.SecretVersion.State


class RpcFailure(Exception):
    """Ends a call with a gRPC status."""

    def __init__(self, code: Any, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), bit by bit: slow, simple and independent of the client's."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


# -- state ---------------------------------------------------------------------------------


@dataclass
class _Version:
    number: int
    data: bytes
    created: datetime
    state: Any = State.ENABLED
    destroyed: datetime | None = None


@dataclass
class _Secret:
    secret_id: str
    created: datetime
    labels: dict[str, str]
    annotations: dict[str, str]
    replication: Any
    versions: list[_Version] = field(default_factory=list)
    aliases: dict[str, int] = field(default_factory=dict)
    #: when Google deletes it (``expire_time``, or creation or update plus ``ttl``)
    expires: datetime | None = None


@dataclass(frozen=True)
class Principal:
    email: str
    permissions: frozenset[str]
    #: the secret ids (prefixes) it may touch; ``None``: every secret
    secret_prefixes: tuple[str, ...] | None = None

    def may_touch(self, resource: str) -> bool:
        match = re.match(r"^projects/[^/]+/secrets/([^/]+)", resource)
        if match is None or self.secret_prefixes is None:
            return True
        return match[1].startswith(self.secret_prefixes)


@dataclass(frozen=True)
class TrustedKey:
    """A service-account key whose self-signed JWTs are accepted."""

    client_email: str
    key_id: str
    public_key_pem: str
    permissions: frozenset[str]


def load_trust(path: Path) -> list[TrustedKey]:
    """Keys from a JSON list of ``{client_email, private_key_id, public_key, permissions}``."""
    raw = json.loads(path.read_text())
    return [
        TrustedKey(
            str(item["client_email"]),
            str(item["private_key_id"]),
            str(item["public_key"]),
            frozenset(item.get("permissions") or ALL_PERMISSIONS),
        )
        for item in raw
    ]


class Authenticator:
    """Bearer self-signed JWT, or access token of ``federation`` -> principal."""

    def __init__(
        self,
        trusted: Sequence[TrustedKey],
        allow_anonymous: bool,
        federation: WorkloadIdentityFederation | None = None,
    ) -> None:
        self._by_kid = {key.key_id: key for key in trusted}
        self._allow_anonymous = allow_anonymous
        self._federation = federation

    def principal(self, metadata: Iterable[tuple[str, Any]]) -> Principal:
        header = next((str(v) for k, v in metadata if k.lower() == "authorization"), None)
        if header is None:
            if self._allow_anonymous:
                return Principal("anonymous", ALL_PERMISSIONS)
            raise RpcFailure(
                grpc.StatusCode.UNAUTHENTICATED,
                "Request is missing required authentication credential.",
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _invalid_credentials()
        if self._federation is not None and token.startswith(ACCESS_TOKEN_PREFIX):
            grant = self._federation.grant(token)
            if grant is None:
                raise _invalid_credentials()
            return Principal(grant.member, grant.permissions, grant.secret_prefixes)
        try:
            kid = jwt.decode_header(token).get("kid")  # type: ignore[no-untyped-call]
        except (ValueError, auth_exceptions.GoogleAuthError):
            raise _invalid_credentials() from None
        key = self._by_kid.get(str(kid))
        if key is None:
            raise _invalid_credentials()
        try:
            claims = jwt.decode(  # type: ignore[no-untyped-call]
                token, certs={key.key_id: key.public_key_pem}, clock_skew_in_seconds=10
            )
        except (ValueError, auth_exceptions.GoogleAuthError):
            raise _invalid_credentials() from None
        scopes = str(claims.get("scope") or "").split()
        if claims.get("iss") != key.client_email or not (
            CLOUD_PLATFORM_SCOPE in scopes or claims.get("aud") == AUDIENCE
        ):
            raise _invalid_credentials()
        return Principal(key.client_email, key.permissions)


def _invalid_credentials() -> RpcFailure:
    return RpcFailure(
        grpc.StatusCode.UNAUTHENTICATED,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential.",
    )


# -- filters ---------------------------------------------------------------------------------

_TOKEN = re.compile(r'\s*(\(|\)|"(?:[^"\\]|\\.)*"|<=|>=|!=|[:=<>]|[^\s()"<>=!:]+)')
Predicate = Callable[[dict[str, Any]], bool]


class _FilterParser:
    """A small AIP-160 subset: restrictions joined by AND (or juxtaposition), OR, NOT/-."""

    def __init__(self, text: str) -> None:
        self.tokens: list[str] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None:
                raise _bad_filter(text)
            self.tokens.append(match.group(1))
            pos = match.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        self.text = text
        self.pos = 0

    def parse(self) -> Predicate:
        predicate = self._expression()
        if self.pos != len(self.tokens):
            raise _bad_filter(self.text)
        return predicate

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise _bad_filter(self.text)
        self.pos += 1
        return token

    def _expression(self) -> Predicate:  # AND binds looser than OR (AIP-160)
        parts = [self._disjunction()]
        while (token := self._peek()) is not None and token != ")":
            if token == "AND":
                self._take()
            parts.append(self._disjunction())
        return lambda obj: all(p(obj) for p in parts)

    def _disjunction(self) -> Predicate:
        parts = [self._term()]
        while self._peek() == "OR":
            self._take()
            parts.append(self._term())
        return lambda obj: any(p(obj) for p in parts)

    def _term(self) -> Predicate:
        token = self._peek()
        if token == "NOT":
            self._take()
            inner = self._term()
            return lambda obj: not inner(obj)
        if token is not None and token.startswith("-") and len(token) > 1:
            self.tokens[self.pos] = token[1:]
            inner = self._term()
            return lambda obj: not inner(obj)
        if token == "(":
            self._take()
            inner = self._expression()
            if self._take() != ")":
                raise _bad_filter(self.text)
            return inner
        return self._restriction()

    def _restriction(self) -> Predicate:
        left = self._take()
        if left in ("(", ")", ":", "=", "!=", "<", "<=", ">", ">="):
            raise _bad_filter(self.text)
        op = self._peek()
        if op not in (":", "=", "!=", "<", "<=", ">", ">="):
            literal = _unquote(left)  # a bare value searches the name
            return lambda obj: _has(obj.get("name"), literal)
        self._take()
        right = _unquote(self._take())
        field_name = left
        return lambda obj: _compare(_field(obj, field_name, self.text), op, right, self.text)


def _unquote(token: str) -> str:
    if len(token) >= 2 and token.startswith('"') and token.endswith('"'):
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def _bad_filter(text: str) -> RpcFailure:
    return RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid filter: {text!r}")


def _field(obj: dict[str, Any], name: str, text: str) -> Any:
    if name.startswith("labels."):
        labels = obj.get("labels")
        return labels.get(name[len("labels.") :]) if isinstance(labels, dict) else None
    if name in obj:
        return obj[name]
    raise RpcFailure(
        grpc.StatusCode.INVALID_ARGUMENT, f"Invalid filter: unknown field {name!r} in {text!r}"
    )


def _has(value: Any, pattern: str) -> bool:
    if value is None:
        return False
    if pattern == "*":
        return True
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.search(regex, str(value)) is not None


def _compare(value: Any, op: str, right: str, text: str) -> bool:
    if op == ":":
        return _has(value, right)
    if isinstance(value, datetime):
        try:
            other: Any = datetime.fromisoformat(right.replace("Z", "+00:00"))
        except ValueError:
            raise _bad_filter(text) from None
    else:
        value = None if value is None else str(value)
        other = right
    if value is None:
        return op == "!="
    if op == "=":
        return bool(value == other)
    if op == "!=":
        return bool(value != other)
    try:
        return bool(
            {"<": value < other, "<=": value <= other, ">": value > other, ">=": value >= other}[op]
        )
    except TypeError:
        raise _bad_filter(text) from None


def compile_filter(text: str) -> Predicate:
    if not text.strip():
        return lambda obj: True
    return _FilterParser(text).parse()


# -- the service -----------------------------------------------------------------------------


class SecretManagerEmulator:
    """The in-memory service behind the gRPC handlers."""

    def __init__(
        self,
        project: str,
        project_number: str,
        authenticator: Authenticator,
    ) -> None:
        self.project = project
        self.project_number = project_number
        self.auth = authenticator
        self.secrets: dict[str, _Secret] = {}

    # names

    def _project(self, name: str) -> None:
        if name not in (f"projects/{self.project}", f"projects/{self.project_number}"):
            if not re.fullmatch(r"projects/[^/]+", name):
                raise RpcFailure(
                    grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource name {name!r}"
                )
            raise RpcFailure(
                grpc.StatusCode.PERMISSION_DENIED,
                f"Permission denied on resource project {name.split('/', 1)[1]}.",
            )

    def _split_secret(self, name: str) -> str:
        parts = name.split("/")
        if len(parts) != 4 or parts[2] != "secrets" or not parts[3]:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource name {name!r}")
        self._project("/".join(parts[:2]))
        return parts[3]

    def _secret(self, name: str) -> _Secret:
        secret_id = self._split_secret(name)
        secret = self.secrets.get(secret_id)
        if secret is None:
            raise RpcFailure(
                grpc.StatusCode.NOT_FOUND, f"Secret [{self._secret_name(secret_id)}] not found."
            )
        return secret

    def _version(self, name: str) -> tuple[_Secret, _Version]:
        head, sep, ref = name.rpartition("/versions/")
        if not sep or not ref:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource name {name!r}")
        secret = self._secret(head)
        if ref == "latest":
            if not secret.versions:
                raise RpcFailure(
                    grpc.StatusCode.NOT_FOUND,
                    f"Secret [{self._secret_name(secret.secret_id)}] has no versions.",
                )
            return secret, secret.versions[-1]
        if ref.isdigit():
            number = int(ref)
        elif ref in secret.aliases:
            number = secret.aliases[ref]
        else:
            raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"Secret Version [{name}] not found.")
        for version in secret.versions:
            if version.number == number:
                return secret, version
        raise RpcFailure(
            grpc.StatusCode.NOT_FOUND,
            f"Secret Version [{self._secret_name(secret.secret_id)}/versions/{ref}] not found.",
        )

    def _secret_name(self, secret_id: str) -> str:
        return f"projects/{self.project_number}/secrets/{secret_id}"

    def _require(self, principal: Principal, permission: str, resource: str) -> None:
        if permission not in principal.permissions or not principal.may_touch(resource):
            raise RpcFailure(
                grpc.StatusCode.PERMISSION_DENIED,
                f"Permission '{permission}' denied for resource '{resource}' "
                "(or it may not exist).",
            )

    # messages

    def _secret_message(self, secret: _Secret) -> Any:
        message = types.Secret(
            name=self._secret_name(secret.secret_id),
            create_time=secret.created,
            labels=secret.labels,
            annotations=secret.annotations,
            replication=secret.replication,
            version_aliases=secret.aliases,
            etag=f'"{int(secret.created.timestamp() * 1e6):x}"',
        )
        if secret.expires is not None:
            message.expire_time = secret.expires
        return message

    def sweep(self) -> None:
        """Delete the secrets whose expiry has passed (Google does it on its own)."""
        now = datetime.now(UTC)
        for secret_id, secret in list(self.secrets.items()):
            if secret.expires is not None and secret.expires <= now:
                del self.secrets[secret_id]

    def _version_message(self, secret: _Secret, version: _Version) -> Any:
        message = types.SecretVersion(
            name=f"{self._secret_name(secret.secret_id)}/versions/{version.number}",
            create_time=version.created,
            state=version.state,
            client_specified_payload_checksum=True,
        )
        if version.destroyed is not None:
            message.destroy_time = version.destroyed
        return message

    # RPCs: each takes (principal, request) and returns the response message

    def list_secrets(self, who: Principal, request: Any) -> Any:
        self._project(request.parent)
        self._require(who, "secretmanager.secrets.list", request.parent)
        matches = compile_filter(request.filter)
        rows = [
            (self._secret_name(s.secret_id), s)
            for s in self.secrets.values()
            if matches(
                {
                    "name": self._secret_name(s.secret_id),
                    "labels": s.labels,
                    "create_time": s.created,
                    "replication.automatic": "automatic" if "automatic" in s.replication else None,
                    "replication.user_managed": "user_managed"
                    if "user_managed" in s.replication
                    else None,
                }
            )
        ]
        page, token = _paginate(sorted(rows, key=lambda r: r[0]), request)
        return types.ListSecretsResponse(
            secrets=[self._secret_message(s) for _, s in page],
            next_page_token=token,
            total_size=0 if request.filter else len(rows),
        )

    def create_secret(self, who: Principal, request: Any) -> Any:
        self._project(request.parent)
        self._require(who, "secretmanager.secrets.create", request.parent)
        if not _SECRET_ID.match(request.secret_id):
            raise RpcFailure(
                grpc.StatusCode.INVALID_ARGUMENT,
                "Secret id must be 1-255 characters of [A-Za-z0-9_-].",
            )
        if request.secret_id in self.secrets:
            raise RpcFailure(
                grpc.StatusCode.ALREADY_EXISTS,
                f"Secret [{self._secret_name(request.secret_id)}] already exists.",
            )
        replication = request.secret.replication
        if not ("automatic" in replication or "user_managed" in replication):
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "Secret.replication is required.")
        secret = _Secret(
            request.secret_id,
            datetime.now(UTC),
            dict(request.secret.labels),
            dict(request.secret.annotations),
            replication,
        )
        secret.expires = _expiry_of(request.secret, ("expire_time", "ttl"))
        self.secrets[secret.secret_id] = secret
        return self._secret_message(secret)

    def update_secret(self, who: Principal, request: Any) -> Any:
        name = request.secret.name
        self._split_secret(name)
        self._require(who, "secretmanager.secrets.update", name)
        secret = self._secret(name)
        paths = list(request.update_mask.paths)
        unknown = sorted(set(paths) - _UPDATABLE)
        if not paths or unknown:
            raise RpcFailure(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"update_mask must name some of {sorted(_UPDATABLE)}, not {unknown or paths}.",
            )
        if "labels" in paths:
            secret.labels = dict(request.secret.labels)
        if "annotations" in paths:
            secret.annotations = dict(request.secret.annotations)
        if "expire_time" in paths or "ttl" in paths:
            secret.expires = _expiry_of(request.secret, paths)
        return self._secret_message(secret)

    def get_secret(self, who: Principal, request: Any) -> Any:
        self._split_secret(request.name)
        self._require(who, "secretmanager.secrets.get", request.name)
        return self._secret_message(self._secret(request.name))

    def delete_secret(self, who: Principal, request: Any) -> Any:
        self._split_secret(request.name)
        self._require(who, "secretmanager.secrets.delete", request.name)
        secret = self._secret(request.name)
        del self.secrets[secret.secret_id]
        return None  # google.protobuf.Empty

    def add_secret_version(self, who: Principal, request: Any) -> Any:
        self._split_secret(request.parent)
        self._require(who, "secretmanager.versions.add", request.parent)
        secret = self._secret(request.parent)
        data = bytes(request.payload.data)
        if len(data) > MAX_PAYLOAD:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "Secret payload exceeds 64 KiB.")
        if "data_crc32c" in request.payload and request.payload.data_crc32c != crc32c(data):
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "Checksum mismatch.")
        number = max((v.number for v in secret.versions), default=0) + 1
        version = _Version(number, data, datetime.now(UTC))
        secret.versions.append(version)
        return self._version_message(secret, version)

    def list_secret_versions(self, who: Principal, request: Any) -> Any:
        self._split_secret(request.parent)
        self._require(who, "secretmanager.versions.list", request.parent)
        secret = self._secret(request.parent)
        matches = compile_filter(request.filter)
        rows = [
            (f"{10**12 - v.number:012d}", v)  # newest first, like the service
            for v in secret.versions
            if matches(
                {
                    "name": f"{self._secret_name(secret.secret_id)}/versions/{v.number}",
                    "state": State(v.state).name,
                    "create_time": v.created,
                }
            )
        ]
        page, token = _paginate(sorted(rows, key=lambda r: r[0]), request)
        return types.ListSecretVersionsResponse(
            versions=[self._version_message(secret, v) for _, v in page],
            next_page_token=token,
            total_size=0 if request.filter else len(rows),
        )

    def get_secret_version(self, who: Principal, request: Any) -> Any:
        self._require(who, "secretmanager.versions.get", request.name)
        return self._version_message(*self._version(request.name))

    def access_secret_version(self, who: Principal, request: Any) -> Any:
        self._require(who, "secretmanager.versions.access", request.name)
        secret, version = self._version(request.name)
        name = f"{self._secret_name(secret.secret_id)}/versions/{version.number}"
        if version.state != State.ENABLED:
            raise RpcFailure(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"Secret Version [{name}] is in {State(version.state).name} state.",
            )
        payload = types.SecretPayload(data=version.data, data_crc32c=crc32c(version.data))
        return types.AccessSecretVersionResponse(name=name, payload=payload)

    def _set_state(self, who: Principal, request: Any, permission: str, state: Any) -> Any:
        self._require(who, permission, request.name)
        secret, version = self._version(request.name)
        if version.state == State.DESTROYED:
            raise RpcFailure(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"Secret Version [{request.name}] is in DESTROYED state.",
            )
        version.state = state
        if state == State.DESTROYED:
            version.data = b""
            version.destroyed = datetime.now(UTC)
        return self._version_message(secret, version)

    def disable_secret_version(self, who: Principal, request: Any) -> Any:
        return self._set_state(who, request, "secretmanager.versions.disable", State.DISABLED)

    def enable_secret_version(self, who: Principal, request: Any) -> Any:
        return self._set_state(who, request, "secretmanager.versions.enable", State.ENABLED)

    def destroy_secret_version(self, who: Principal, request: Any) -> Any:
        return self._set_state(who, request, "secretmanager.versions.destroy", State.DESTROYED)


#: the fields ``UpdateSecret`` changes
_UPDATABLE = frozenset({"labels", "annotations", "expire_time", "ttl"})


def _expiry_of(secret: Any, fields: Sequence[str]) -> datetime | None:
    """The expiry ``secret`` asks for in ``fields``: its ``expire_time``, or now plus
    its ``ttl``; None for neither."""
    if "expire_time" in fields and "expire_time" in secret:
        when: datetime = secret.expire_time
        return when.astimezone(UTC)
    if "ttl" in fields and "ttl" in secret:
        ttl: timedelta = secret.ttl
        return datetime.now(UTC) + ttl
    return None


def _paginate(rows: list[tuple[str, Any]], request: Any) -> tuple[list[tuple[str, Any]], str]:
    if request.page_size < 0:
        raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "page_size must not be negative.")
    size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    start = 0
    if request.page_token:
        try:
            cursor = json.loads(base64.urlsafe_b64decode(request.page_token.encode()))
            after, bound_filter = str(cursor["after"]), str(cursor["filter"])
        except (ValueError, KeyError, TypeError):
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "Invalid page token.") from None
        if bound_filter != request.filter:
            raise RpcFailure(
                grpc.StatusCode.INVALID_ARGUMENT, "The page token does not match the request."
            )
        start = next((i for i, (key, _) in enumerate(rows) if key > after), len(rows))
    page = rows[start : start + size]
    token = ""
    if start + size < len(rows):
        cursor = {"after": page[-1][0], "filter": request.filter}
        token = base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode()
    return page, token


# -- gRPC wiring -----------------------------------------------------------------------------

_METHODS: dict[str, tuple[str, Any, Any]] = {
    "ListSecrets": ("list_secrets", types.ListSecretsRequest, types.ListSecretsResponse),
    "CreateSecret": ("create_secret", types.CreateSecretRequest, types.Secret),
    "GetSecret": ("get_secret", types.GetSecretRequest, types.Secret),
    "UpdateSecret": ("update_secret", types.UpdateSecretRequest, types.Secret),
    "DeleteSecret": ("delete_secret", types.DeleteSecretRequest, None),
    "AddSecretVersion": ("add_secret_version", types.AddSecretVersionRequest, types.SecretVersion),
    "ListSecretVersions": (
        "list_secret_versions",
        types.ListSecretVersionsRequest,
        types.ListSecretVersionsResponse,
    ),
    "GetSecretVersion": ("get_secret_version", types.GetSecretVersionRequest, types.SecretVersion),
    "AccessSecretVersion": (
        "access_secret_version",
        types.AccessSecretVersionRequest,
        types.AccessSecretVersionResponse,
    ),
    "DisableSecretVersion": (
        "disable_secret_version",
        types.DisableSecretVersionRequest,
        types.SecretVersion,
    ),
    "EnableSecretVersion": (
        "enable_secret_version",
        types.EnableSecretVersionRequest,
        types.SecretVersion,
    ),
    "DestroySecretVersion": (
        "destroy_secret_version",
        types.DestroySecretVersionRequest,
        types.SecretVersion,
    ),
}


def _handler(
    service: SecretManagerEmulator, method: Callable[[Principal, Any], Any]
) -> Callable[[Any, Any], Awaitable[Any]]:
    async def handle(request: Any, context: Any) -> Any:
        try:
            principal = service.auth.principal(context.invocation_metadata() or ())
            service.sweep()
            return method(principal, request)
        except RpcFailure as failure:
            await context.abort(failure.code, failure.message)

    return handle


def _serialize_empty(_: object) -> bytes:
    return b""  # google.protobuf.Empty has no fields


def generic_handler(service: SecretManagerEmulator) -> Any:
    handlers = {}
    for rpc, (attr, request_type, response_type) in _METHODS.items():
        serializer = response_type.serialize if response_type is not None else _serialize_empty
        handlers[rpc] = grpc.unary_unary_rpc_method_handler(
            _handler(service, getattr(service, attr)),
            request_deserializer=request_type.deserialize,
            response_serializer=serializer,
        )
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


async def serve(
    port: int,
    project: str,
    project_number: str,
    trusted: Sequence[TrustedKey],
    allow_anonymous: bool,
    host: str = "127.0.0.1",
    http_port: int | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT: gRPC on ``port``, and the workload identity
    federation endpoints over HTTP on ``http_port`` (when given)."""
    federation = WorkloadIdentityFederation(project_number)
    service = SecretManagerEmulator(
        project, project_number, Authenticator(trusted, allow_anonymous, federation)
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((generic_handler(service),))
    credentials = grpc.local_server_credentials(grpc.LocalConnectionType.LOCAL_TCP)
    bound = server.add_secure_port(f"{host}:{port}", credentials)
    await server.start()
    runner: web.AppRunner | None = None
    if http_port is not None:
        app = web.Application()
        app.router.add_get("/healthz", _healthz)
        federation.add_routes(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, http_port).start()
    print(f"gsm emulator listening on {host}:{bound} project={project}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if runner is not None:
        await runner.cleanup()
    await server.stop(grace=1)


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--project", default="scaivault-dev")
    parser.add_argument("--project-number", default="123456789012")
    parser.add_argument("--trust", type=Path, action="append", default=[])
    parser.add_argument("--allow-anonymous", action="store_true")
    parser.add_argument("--http-port", type=int, help="workload identity federation (HTTP)")
    args = parser.parse_args(argv)
    trusted = [key for path in args.trust for key in load_trust(path)]
    asyncio.run(
        serve(
            args.port,
            args.project,
            args.project_number,
            trusted,
            args.allow_anonymous,
            args.host,
            args.http_port,
        )
    )


if __name__ == "__main__":
    main()
