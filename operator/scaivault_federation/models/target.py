"""``spec.target``: how the Secrets of a backend are built (type, metadata, keys).

``spec.target`` applies to every Secret of the backend; ``spec.target.rules``
(``{path: <glob>, ...}``) override it for the paths they match, first match
wins: a field the rule sets replaces the target's, and labels and annotations
are merged key by key (the rule's win). Without ``target.data`` a Secret's
keys follow the default rule of :mod:`.content`.

Everything is checked here, where the spec enters the program: key names,
label and annotation keys, the Secret type, and that every template parses
and stays inside the sandbox (:mod:`.templating`). What can only be known
from a value (a rendered label, a missing field) is an error of that path
alone, raised by :mod:`.shape`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from ..labels import CREDENTIALS_LABEL, GROUP, MANAGED_BY
from ..paths import InvalidPathError, PathPattern
from .base import CamelModel
from .content import is_valid_data_key
from .label_syntax import is_label_value, is_qualified_name
from .secret import SERVICE_ACCOUNT_TOKEN
from .templating import TemplateProblem, check_template, is_template

OPAQUE = "Opaque"
NAME_VARIABLES = ("path", "remote_path", "captures")
#: what a key, label or annotation template can read
TEMPLATE_VARIABLES = (*NAME_VARIABLES, "data")

_TYPE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$")
_KEY_GLOB = re.compile(r"^[-._a-zA-Z0-9*?\[\]!]+$")

Template = Annotated[str, Field(max_length=8192)]


class Extract(StrEnum):
    FIELDS = "fields"
    WHOLE = "whole"


class Decoding(StrEnum):
    BASE64 = "base64"


class RefreshPolicy(StrEnum):
    PERIODIC = "Periodic"
    ON_CHANGE = "OnChange"
    CREATED_ONCE = "CreatedOnce"


def _reserved(key: str, what: str) -> bool:
    """Keys the operator sets; a synced Secret may still be labelled a credentials Secret
    (its data is the backend author's own)."""
    if what == "label" and key == CREDENTIALS_LABEL:
        return False
    return key == MANAGED_BY or key.startswith(f"{GROUP}/")


def _check_metadata(values: dict[str, str] | None, what: str) -> dict[str, str] | None:
    for key, value in (values or {}).items():
        if not is_qualified_name(key):
            raise ValueError(f"{key[:80]!r} is not a valid {what} key ([prefix/]name)")
        if _reserved(key, what):
            raise ValueError(f"{key!r} is set by the operator and cannot be declared")
        _check_template(value, f"{what} {key!r}")
        if what == "label" and not is_template(value) and not is_label_value(value):
            raise ValueError(f"the value of label {key!r} is not a valid label value")
    return values


def _check_template(source: str, what: str, allowed: tuple[str, ...] = TEMPLATE_VARIABLES) -> None:
    try:
        check_template(source, allowed=allowed)
    except TemplateProblem as exc:
        raise ValueError(f"template of {what}: {exc}") from None


def _check_keys(keys: list[str] | None, what: str) -> None:
    for key in keys or []:
        if not is_valid_data_key(key):
            raise ValueError(f"{what} {key[:80]!r} is not a valid Secret data key")


class DataShape(CamelModel):
    """``target.data``: which keys a Secret gets from the remote value."""

    extract: Extract | None = None
    key: str | None = None
    include: list[str] | None = Field(default=None, max_length=64)
    exclude: list[str] | None = Field(default=None, max_length=64)
    rename: dict[str, str] | None = Field(default=None, max_length=64)
    decode: Decoding | None = None
    decode_keys: list[str] | None = Field(default=None, max_length=64)
    template: dict[str, Template] | None = Field(default=None, max_length=64)

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: str | None) -> str | None:
        _check_keys([value] if value is not None else None, "key")
        return value

    @field_validator("include", "exclude")
    @classmethod
    def _check_globs(cls, value: list[str] | None) -> list[str] | None:
        for glob in value or []:
            if not _KEY_GLOB.match(glob) or len(glob) > 253:
                raise ValueError(
                    f"{glob[:80]!r} is not a key name or glob (letters, digits, -._*?[])"
                )
        return value

    @field_validator("rename")
    @classmethod
    def _check_rename(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return value
        for old, new in value.items():
            if not is_valid_data_key(new):
                raise ValueError(
                    f"{old[:80]!r} -> {new[:80]!r}: {new[:80]!r} is not a valid Secret data key "
                    "(letters, digits, '-', '_' and '.' only)"
                )
        targets = list(value.values())
        twice = sorted({t for t in targets if targets.count(t) > 1})
        if twice:
            raise ValueError(f"two keys are renamed onto {twice[0]!r}")
        return value

    @field_validator("decode_keys")
    @classmethod
    def _check_decode_keys(cls, value: list[str] | None) -> list[str] | None:
        _check_keys(value, "key")
        return value

    @field_validator("template")
    @classmethod
    def _check_templates(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, source in (value or {}).items():
            if not is_valid_data_key(key):
                raise ValueError(
                    f"{key[:80]!r} is not a valid Secret data key "
                    "(letters, digits, '-', '_' and '.' only)"
                )
            _check_template(source, f"key {key!r}")
        return value

    @model_validator(mode="after")
    def _check_combination(self) -> DataShape:
        if self.key is not None and self.extract is not Extract.WHOLE:
            raise ValueError("key is only used with extract: whole")
        if self.decode_keys is not None and self.decode is None:
            raise ValueError("decode_keys needs decode")
        return self

    @property
    def whole_key(self) -> str:
        return self.key or "value"


class _Fields(CamelModel):
    """What the target and each of its rules can say about a Secret."""

    type: str | None = Field(default=None, max_length=253)
    labels: dict[str, Template] | None = Field(default=None, max_length=64)
    annotations: dict[str, Template] | None = Field(default=None, max_length=64)
    data: DataShape | None = None
    immutable: bool | None = None
    name: Template | None = None
    version: str | None = Field(default=None, min_length=1, max_length=256)

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if value == SERVICE_ACCOUNT_TOKEN:
            raise ValueError(
                f"{SERVICE_ACCOUNT_TOKEN} is not allowed: such Secrets hold tokens Kubernetes "
                "issues, never synced values"
            )
        if not _TYPE.match(value):
            raise ValueError("must be a Secret type such as Opaque or kubernetes.io/tls")
        return value

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return _check_metadata(value, "label")

    @field_validator("annotations")
    @classmethod
    def _check_annotations(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return _check_metadata(value, "annotation")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        if value is not None:
            _check_template(value, "the Secret name", NAME_VARIABLES)
        return value


class TargetRule(_Fields):
    """One entry of ``target.rules``: overrides for the paths ``path`` matches."""

    path: str = Field(min_length=1, max_length=1024)

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        try:
            PathPattern(value)
        except InvalidPathError as exc:
            raise ValueError(str(exc)) from None
        return value

    @property
    def pattern(self) -> PathPattern:
        return _pattern(self.path)


@lru_cache(maxsize=1024)
def _pattern(text: str) -> PathPattern:
    return PathPattern(text)


class Target(_Fields):
    """``spec.target``."""

    refresh_policy: RefreshPolicy | None = None
    rules: list[TargetRule] | None = Field(default=None, max_length=64)

    def for_path(self, path: str) -> ResolvedTarget:
        """What applies to ``path``: the target, overridden by the first matching rule."""
        base = _resolved(self, ResolvedTarget())
        for rule in self.rules or []:
            if rule.pattern.match(path) is not None:
                return _resolved(rule, base)
        return base

    @property
    def policy(self) -> RefreshPolicy:
        return self.refresh_policy or RefreshPolicy.PERIODIC


@dataclass(frozen=True)
class ResolvedTarget:
    """The target of one path, every field decided."""

    type: str = OPAQUE
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    data: DataShape | None = None
    immutable: bool = False
    name: str | None = None
    version: str | None = None


def _resolved(fields: _Fields, base: ResolvedTarget) -> ResolvedTarget:
    return ResolvedTarget(
        type=fields.type if fields.type is not None else base.type,
        labels={**base.labels, **(fields.labels or {})},
        annotations={**base.annotations, **(fields.annotations or {})},
        data=fields.data if fields.data is not None else base.data,
        immutable=fields.immutable if fields.immutable is not None else base.immutable,
        name=fields.name if fields.name is not None else base.name,
        version=fields.version if fields.version is not None else base.version,
    )


DEFAULT_TARGET = ResolvedTarget()


def resolve_target(target: Target | None, path: str) -> ResolvedTarget:
    return target.for_path(path) if target is not None else DEFAULT_TARGET
