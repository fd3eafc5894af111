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

A type whose store takes a cloud identity exchanged for a ServiceAccount token
(keyless) bases its model on :class:`WorkloadIdentityConfig`, which adds
``serviceAccount`` and the rules of the fields that cannot go with it.

The rules that belong to a type (which of its configs run with the operator's
own identity, which keys a credentials Secret holds for an auth method) are
methods a type's model overrides. Nothing here names a type.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, TypeVar, get_args, get_origin

from pydantic import AfterValidator, Field, ValidationInfo, field_validator
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


@dataclass(frozen=True)
class WorkloadIdentityLogin:
    """A keyless login: a short-lived token of a ServiceAccount of the backend's
    namespace, exchanged at the cloud's token endpoint for the cloud identity the
    account's annotations name."""

    #: the ServiceAccount's name
    account: str
    #: annotations the account must carry: they name its cloud identity, and carrying
    #: them is (with ``federation.scaivault.io/token-for``) its consent
    required_annotations: tuple[str, ...]
    #: annotations read when present
    optional_annotations: tuple[str, ...] = ()


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

#: a ServiceAccount's name (a DNS subdomain)
SERVICE_ACCOUNT_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
#: the name of a ServiceAccount of the backend's namespace
ServiceAccountName = Annotated[str, Field(max_length=253, pattern=SERVICE_ACCOUNT_PATTERN)]

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

    def workload_identity(self) -> WorkloadIdentityLogin | None:
        """The keyless login of this config (``None``: it has none)."""
        return None

    @classmethod
    def crd_rules(cls) -> list[dict[str, Any]]:
        """The type's own CEL rules of the CRD's spec, beyond which keys it takes and
        requires (those are derived from the fields)."""
        return []


class WorkloadIdentityConfig(BackendConfig):
    """The base of a type whose config may name a ServiceAccount of the backend's
    namespace to log in as, keyless (a type overrides ``service_account`` to describe it).

    ``serviceAccount`` comes first, so the fields validated after it see it: those
    of :attr:`not_with_service_account` (static credentials, an identity the account's
    annotations name) are refused with it, those of :attr:`only_with_service_account`
    without it; each error names its field, here and in the CRD's rules
    (:meth:`keyless_rules`).
    """

    #: the annotations the account must carry, and those read when present
    required_annotations: ClassVar[tuple[str, ...]] = ()
    optional_annotations: ClassVar[tuple[str, ...]] = ()
    #: fields (snake_case) that cannot go with ``serviceAccount``, and why
    not_with_service_account: ClassVar[dict[str, str]] = {}
    #: fields that mean nothing without it
    only_with_service_account: ClassVar[tuple[str, ...]] = ()

    service_account: ServiceAccountName | None = None

    @field_validator("*")
    @classmethod
    def _fits_the_login(cls, value: object, info: ValidationInfo) -> object:
        name = info.field_name
        if value is None or name is None:
            return value
        keyless = info.data.get("service_account") is not None
        if keyless and name in cls.not_with_service_account:
            raise ValueError(
                f"is not valid with serviceAccount ({cls.not_with_service_account[name]})"
            )
        if not keyless and name in cls.only_with_service_account:
            raise ValueError("is valid only with serviceAccount (a keyless login)")
        return value

    def workload_identity(self) -> WorkloadIdentityLogin | None:
        if self.service_account is None:
            return None
        return WorkloadIdentityLogin(
            self.service_account, self.required_annotations, self.optional_annotations
        )

    @classmethod
    def keyless_rules(cls, type_name: str) -> list[dict[str, Any]]:
        """The CRD's twin of the field rules above, for the type ``type_name``."""
        account = cls.cr_name("service_account")
        rules = []
        for name, why in cls.not_with_service_account.items():
            key = cls.cr_name(name)
            rules.append(
                {
                    "rule": f"self.type != '{type_name}' || !has(self.config.{account}) "
                    f"|| !has(self.config.{key})",
                    "message": f"spec.config.{key} is not valid with spec.config.{account} ({why})",
                    "fieldPath": f".config.{key}",
                }
            )
        for name in cls.only_with_service_account:
            key = cls.cr_name(name)
            rules.append(
                {
                    "rule": f"self.type != '{type_name}' || has(self.config.{account}) "
                    f"|| !has(self.config.{key})",
                    "message": f"spec.config.{key} is valid only with spec.config.{account} "
                    "(a keyless login)",
                    "fieldPath": f".config.{key}",
                }
            )
        return rules


__all__ = [
    "BackendConfig",
    "Container",
    "CredentialsSecret",
    "EndpointField",
    "EndpointUrl",
    "EndpointUrlOrHost",
    "ScaiVaultPath",
    "ServiceAccountLogin",
    "ServiceAccountName",
    "WorkloadIdentityConfig",
    "WorkloadIdentityLogin",
]
