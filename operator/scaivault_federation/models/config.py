"""What every backend type's ``spec.config`` model is made of.

Each backend type declares its config model in its own package
(``backends/<type>/config.py``) as a :class:`BackendConfig`, with its fields
typed by what they mean to the rest of the operator rather than listed by name
elsewhere:

- :data:`EndpointUrl` / :data:`EndpointUrlOrHost`: an address the operator
  connects to (:class:`EndpointField`), which the endpoint allowlist checks and
  to which the operator's own identity may be sent only under the tenancy
  rules;
- :data:`CredentialsPath`: a ScaiVault path naming a credentials Secret of the
  backend's namespace (:class:`CredentialsSecret`, with the keys it must hold);
- :class:`Container`: a field saying which container (an account, a region, a
  project) the backend's paths live in, which the operator's settings may limit
  per namespace.

The rules that belong to a type (which of its configs run with the operator's
own identity, which keys a credentials Secret holds for an auth method) are
methods a type's model overrides. Nothing here names a type.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, TypeVar, get_args, get_origin

from pydantic import AfterValidator, Field
from pydantic.fields import FieldInfo

from ..paths import InvalidPathError, validate_path
from .base import CamelModel
from .endpoint import Endpoint, parse_endpoint


@dataclass(frozen=True)
class EndpointField:
    """Marks a field holding an address the operator connects to."""

    #: ``host[:port]`` is accepted besides an http(s) URL
    bare: bool = False


@dataclass(frozen=True)
class CredentialsSecret:
    """Marks a field naming (by ScaiVault path) a credentials Secret of the backend's
    namespace, and the keys that Secret must hold (a type may say more per config:
    :meth:`BackendConfig.required_keys`)."""

    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Container:
    """Marks a field naming the container the backend's paths live in (an account, a
    region, a project), which the ``remote_containers`` setting may limit."""


@dataclass(frozen=True)
class ServiceAccountLogin:
    """A login with a token of a ServiceAccount of the backend's namespace."""

    #: the ServiceAccount's name (``None``: the default one)
    account: str | None
    #: the audience the token is bound to
    audience: str
    #: a credentials Secret the config names holds the token instead
    token_in_secret: bool


def _url(value: str) -> str:
    parse_endpoint(value)  # raises naming what is wrong, never echoing the value
    return value


def _url_or_host(value: str) -> str:
    parse_endpoint(value, bare=True)
    return value


def _scaivault_path(value: str) -> str:
    try:
        validate_path(value)
    except InvalidPathError as exc:
        raise ValueError(str(exc)) from None
    return value


#: an http(s) URL, checked by the one endpoint parser and kept as written
EndpointUrl = Annotated[
    str, Field(min_length=1, max_length=2048), AfterValidator(_url), EndpointField()
]
#: the same, or ``host[:port]``
EndpointUrlOrHost = Annotated[
    str, Field(min_length=1, max_length=2048), AfterValidator(_url_or_host), EndpointField(True)
]
#: a ScaiVault path (of a credentials Secret)
ScaiVaultPath = Annotated[
    str, Field(min_length=1, max_length=1024), AfterValidator(_scaivault_path)
]

M = TypeVar("M")


def markers(info: FieldInfo) -> Iterator[object]:
    """Every ``Annotated`` item of a field, also inside ``X | None``."""
    yield from info.metadata
    pending: list[Any] = [info.annotation]
    while pending:
        annotation = pending.pop()
        if get_origin(annotation) is Annotated:
            first, *extras = get_args(annotation)
            yield from extras
            pending.append(first)
        else:
            pending.extend(get_args(annotation))


class BackendConfig(CamelModel):
    """``spec.config`` of a backend type: the base of each type's model."""

    #: host suffixes of the cloud's own endpoints, to which a config running with the
    #: operator's own identity may always send it
    cloud_hosts: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def marked(cls, marker: type[M]) -> dict[str, M]:
        """The fields (snake_case) that carry a ``marker``, with it."""
        found: dict[str, M] = {}
        for name, info in cls.model_fields.items():
            for item in markers(info):
                if isinstance(item, marker):
                    found[name] = item
                    break
        return found

    @classmethod
    def cr_name(cls, field: str) -> str:
        """A field's name in the CR (its camelCase alias)."""
        info = cls.model_fields.get(field)
        return info.alias if info is not None and info.alias else field

    @classmethod
    def container_fields(cls) -> dict[str, str]:
        """The container fields: CR name -> attribute."""
        return {cls.cr_name(name): name for name in cls.marked(Container)}

    def credentials_paths(self) -> dict[str, str]:
        """The credentials Secrets the config names: field -> ScaiVault path."""
        return {
            name: path
            for name in self.marked(CredentialsSecret)
            if isinstance(path := getattr(self, name, None), str)
        }

    def required_keys(self, field: str) -> tuple[str, ...]:
        """The keys the Secret that ``field`` names must hold for this config."""
        marker = self.marked(CredentialsSecret).get(field)
        return marker.keys if marker is not None else ()

    def credentials_user(self) -> str:
        """What uses the credentials, for messages (the store, or its login method)."""
        return type(self).__name__

    def ambient_identity(self) -> str | None:
        """How this config would use the operator's own identity (``None``: it does not)."""
        return None

    def sends_identity_to(self, endpoint: Endpoint) -> bool:
        """Whether the client sends its identity to ``endpoint`` at all."""
        return True

    def service_account_login(self) -> ServiceAccountLogin | None:
        """The ServiceAccount whose tokens the login may use (``None``: none)."""
        return None

    @classmethod
    def crd_rules(cls) -> list[dict[str, Any]]:
        """The type's own CEL rules of the CRD's spec, beyond which keys it takes and
        requires (those are derived from the fields)."""
        return []


__all__ = [
    "BackendConfig",
    "Container",
    "CredentialsSecret",
    "EndpointField",
    "EndpointUrl",
    "EndpointUrlOrHost",
    "ScaiVaultPath",
    "ServiceAccountLogin",
]
