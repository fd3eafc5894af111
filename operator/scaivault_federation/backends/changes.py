"""Change events of the stores, as each backend type's receiver reads them.

A type whose store can tell the operator that a secret changed declares a
:class:`ChangeReceiver` (in its package's ``notify.py``): the models of the
payload its provider delivers (which the OpenAPI document shows), and a parser
that turns a delivery into one item per event: a :class:`SecretChange`, an
:class:`Ignored` event (another kind of event, a failed call: acknowledged,
nothing synced) or a subscription :class:`Validation` handshake. A body that
is not the provider's shape raises :class:`~..models.base.FieldError` naming
the field (a 400). A change knows which backend path it is in a backend of its
type (:meth:`SecretChange.backend_path`), so routing it needs no per-type
code. Nothing here does I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from ..models.base import FieldError
from ..models.config import BackendConfig

#: events one delivery may carry
MAX_EVENTS = 100

P = TypeVar("P")


@dataclass(frozen=True)
class SecretChange:
    """One remote secret that changed, named as its store names it; each type's
    subclass adds where the secret lives (a region, a project, an account)."""

    #: the backend type whose store changed
    provider: str
    event_id: str
    kind: str
    name: str

    def backend_path(self, config: BackendConfig) -> str | None:
        """The backend path of the changed secret in a backend of the provider's type
        with ``config``; ``None`` when that backend reads another store."""
        raise NotImplementedError


@dataclass(frozen=True)
class Ignored:
    """An event that asks for nothing: acknowledged as the provider expects."""

    event_id: str
    kind: str
    reason: str


@dataclass(frozen=True)
class Validation:
    """A subscription validation handshake, answered with ``answer``."""

    event_id: str
    answer: BaseModel


Parsed = SecretChange | Ignored | Validation


class TokenRejectedError(Exception):
    """A provider's token is not acceptable; the message says why, never quoting it."""


class KeysUnavailableError(Exception):
    """The keys that sign a provider's tokens cannot be had right now."""


class TokenVerifier(Protocol):
    """The bearer tokens a provider signs itself (a push subscription's OIDC token),
    accepted by its receiver in place of one of the API's own."""

    #: what the token is, for messages ("the Pub/Sub push token")
    what: str
    #: the principal's name prefix: ``<prefix>:<account>``
    principal: str

    def claims_to_be_ours(self, token: str) -> bool:
        """Whether ``token`` says it is one of the provider's (unverified)."""
        ...

    async def verify(self, token: str) -> str:
        """The account a valid token names; :class:`TokenRejectedError` otherwise,
        :class:`KeysUnavailableError` when it cannot be checked now."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class ChangeReceiver:
    """What a type's change receiver, ``/v1/federation/notify/<path>``, reads."""

    #: the last segment of the receiver's path (and of event ids' dedupe keys)
    path: str
    #: what the receiver takes, for the OpenAPI document
    summary: str
    #: the type of a delivery (a payload model, a list of them, a union)
    body: Any
    #: a delivery (parsed JSON) -> its events
    parse: Callable[[Any], list[Parsed]]
    #: the media types the provider sends
    content_types: tuple[str, ...] = ("application/json",)
    #: the answer to a subscription :class:`Validation`, if the provider sends one
    validation_answer: type[BaseModel] | None = None
    #: the provider asks with ``OPTIONS`` whether it may deliver (CloudEvents webhooks)
    webhook_handshake: bool = False
    #: the provider's own tokens, from the operator's settings (``None``: none)
    tokens: Callable[[BaseModel | None], TokenVerifier | None] | None = field(default=None)


def deliveries(body: Any, what: str = "events") -> list[tuple[str, Any]]:
    """``(field prefix, event)`` of a body holding one event or a JSON array of them."""
    if isinstance(body, list):
        if not body:
            raise FieldError(None, f"the body: an array of {what} must not be empty")
        if len(body) > MAX_EVENTS:
            raise FieldError(None, f"the body: at most {MAX_EVENTS} {what} per delivery")
        return [(f"[{index}].", event) for index, event in enumerate(body)]
    return [("", body)]


def read_as(kind: type[P], raw: Any, prefix: str = "") -> P:
    """``raw`` validated as ``kind``; :class:`FieldError` naming the first bad field
    (``prefix`` + its dotted path), never echoing a value."""
    try:
        read: P = _adapter(kind).validate_python(raw)  # type: ignore[arg-type]
        return read
    except ValidationError as exc:
        error = exc.errors(include_input=False, include_url=False)[0]
        path = ".".join(str(part) for part in error["loc"])
        where = (prefix + path) if path else prefix.rstrip(".")
        message = error["msg"].removeprefix("Value error, ")
        raise FieldError(where or None, f"{where or 'the body'}: {message}") from None


@functools.cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def missing(where: str, message: str) -> FieldError:
    """A field the event lacks (``where``: its dotted name)."""
    return FieldError(where, f"{where}: {message}")
