"""The HTTP API's wire shapes: snake_case, as the seed page shows them.

A backend on the wire is the seed's body (``name``, ``type``, ``config``,
``path_mapping``, ``mode``, ``sync_interval``) plus ``id``, ``namespace``,
``scope`` and the optional fields of the CR. A FederationBackend has
``"scope": "namespace"`` and its namespace; a ClusterFederationBackend has
``"scope": "cluster"``, ``"namespace": null`` and its ``namespace_selector``
(``matchLabels`` in the CR is ``match_labels`` here, like every other field).
Its spec part is always read and written through :class:`BackendSpec` or
:class:`ClusterBackendSpec` (``to_api()`` / ``to_cr()``), so camelCase and
snake_case meet only in :mod:`.base` (and, for the apiserver's own errors, in
:func:`api_field`). API input is validated by field name only: a camelCase
key is an unknown field here, and an error names the snake_case field.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import GenericAlias, UnionType
from typing import Annotated, Any, Union, cast, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.alias_generators import to_snake
from pydantic.fields import FieldInfo

from ..paths import MAX_SCOPE_PATTERNS, InvalidPathError, PathPattern, PathScope
from .base import FieldError as FieldError
from .cluster import ClusterBackendSpec, ClusterBackendStatus, LabelSelector, NamespaceStatus
from .spec import BackendSpec, config_model
from .status import BackendStatus, Conflict, ConnectionState, Health

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
IDENTITY_FIELDS = ("id", "name", "namespace", "scope")


def _clean(message: str) -> str:
    return message.removeprefix("Value error, ")


# A model-level message names its field first ("sync_interval is required ...").
_LEADING_FIELD = re.compile(r"^([a-z][a-z0-9]*(?:[_.][a-z0-9]+)+)(?=[: ])")


def field_error(exc: ValidationError, prefix: str = "") -> FieldError:
    """One :class:`FieldError` for all of ``exc``; input values are never echoed."""
    parts: list[str] = []
    first: str | None = None
    for error in exc.errors(include_input=False, include_url=False):
        message = _clean(error["msg"])
        loc = ".".join(filter(None, [prefix, *(str(p) for p in error["loc"])]))
        if not loc:
            leading = _LEADING_FIELD.match(message)
            first = first or (leading.group(1) if leading else None)
            parts.append(message)
            continue
        first = first or loc
        parts.append(f"{loc}: {message}")
    return FieldError(first, "; ".join(parts))


# A CR field as the apiserver names it in a 422 (``spec.config.authConfigPath``,
# ``spec.namespaceSelector.matchExpressions[0].operator``), or at the head of a message.
_CR_FIELD = re.compile(r"\bspec((?:\.[A-Za-z][A-Za-z0-9]*|\[\d+\])+)")


def api_field(cr_field: str, message: str = "") -> str | None:
    """The API's (snake_case) name of a CR field the apiserver refused: the field it
    names, else the first ``spec.`` field its message names; ``None`` if neither."""
    for text in (cr_field, message):
        found = _CR_FIELD.search(text)
        if found is not None:
            parts = re.findall(r"[A-Za-z][A-Za-z0-9]*|\d+", found.group(1))
            return ".".join(to_snake(part) for part in parts)
    return None


# --- backends -----------------------------------------------------------------


class BackendScope(StrEnum):
    """Where a backend lives: a FederationBackend in one namespace, or a
    ClusterFederationBackend syncing into the namespaces its selector selects."""

    NAMESPACE = "namespace"
    CLUSTER = "cluster"


class BackendCreate(BackendSpec):
    """``POST /v1/federation/backends``: the seed's body, optionally with a namespace,
    or with ``"scope": "cluster"`` and a ``namespace_selector`` (and no namespace)."""

    name: str = Field(max_length=253, pattern=NAME_PATTERN)
    namespace: str | None = Field(default=None, max_length=63, pattern=NAMESPACE_PATTERN)
    scope: BackendScope | None = Field(
        default=None,
        description="cluster: a ClusterFederationBackend (implied by namespace_selector); "
        "default namespace",
    )
    namespace_selector: LabelSelector | None = Field(
        default=None,
        description="cluster backends only (and required there): the namespaces to sync "
        "into, by label; {} selects every namespace. `{namespace}` in path_mapping stands "
        "for each one.",
    )


class Backend(BackendSpec):
    """A configured backend as the API shows it."""

    id: str
    name: str
    namespace: str | None = Field(description="null for a cluster backend")
    scope: BackendScope
    namespace_selector: LabelSelector | None = Field(
        default=None, description="cluster backends: the namespaces they sync into"
    )


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def patch_type(annotation: Any) -> Any:
    """What a merge patch may give for a value of type ``annotation`` (``None`` aside):
    an object (a model, or a union of them) as a partial object of its own; a map
    with values that may be ``null`` (removing their key); a list whole, of such
    items; anything else as it is."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, UnionType):
        kept = [a for a in args if a is not type(None)]
        if len(kept) == 1:
            return patch_type(kept[0])
        return dict[str, Any] if all(_is_model(a) for a in kept) else annotation
    if _is_model(annotation):
        return dict[str, Any]
    if origin is list:
        return GenericAlias(list, (patch_type(args[0]),))
    if origin is dict:
        return GenericAlias(dict, (args[0], patch_type(args[1]) | None))
    return annotation


class _PatchedBackend(BaseModel):
    """JSON merge patch (RFC 7386) of a backend: a value replaces, ``null`` removes.

    ``name`` and ``namespace`` may be given only with their current values.
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    namespace: str | None = None
    scope: BackendScope | None = None


def merge_patch_model(name: str, base: type[BaseModel], *specs: type[BaseModel]) -> type[BaseModel]:
    """A model of ``base``'s fields and every field of ``specs``, each optional and
    nullable, with the type :func:`patch_type` gives it."""
    fields: dict[str, Any] = {}
    for spec in specs:
        for field_name, info in spec.model_fields.items():
            fields.setdefault(field_name, (_patch_field(info), None))
    return create_model(name, __base__=base, __doc__=base.__doc__, **fields)


def _patch_field(info: FieldInfo) -> Any:
    """A spec field's type in a patch, nullable. A value that replaces the spec's whole
    keeps the spec's own rules (a type's names, a pattern); a part of an object or map,
    or a list of them, is checked once merged."""
    args = get_args(info.annotation) if get_origin(info.annotation) in (Union, UnionType) else ()
    kept = [a for a in args if a is not type(None)]
    value = functools.reduce(operator.or_, kept) if kept else info.annotation
    patched = patch_type(value)
    if patched != value:
        return patched | None
    rules: list[Any] = list(info.metadata)
    if info.json_schema_extra:
        rules.append(Field(json_schema_extra=info.json_schema_extra))
    return (cast(Any, Annotated)[(value, *rules)] if rules else value) | None


#: the merge patch of a backend: who it is, and every field of either kind's spec
BackendPatch = merge_patch_model("BackendPatch", _PatchedBackend, BackendSpec, ClusterBackendSpec)


class BackendList(BaseModel):
    backends: list[Backend]


def backend_view(
    ident: str, name: str, namespace: str | None, fields: dict[str, Any]
) -> dict[str, Any]:
    """The wire shape of one backend (``namespace`` ``None``: a cluster backend) from its
    spec's API fields."""
    scope = BackendScope.CLUSTER if namespace is None else BackendScope.NAMESPACE
    return {"id": ident, "name": name, "namespace": namespace, "scope": scope.value, **fields}


def spec_from_api(fields: dict[str, Any], *, cluster: bool = False) -> BackendSpec:
    """Validate the spec part of an API body (snake_case only), a cluster backend's
    when ``cluster``; raise :class:`FieldError`."""
    model = ClusterBackendSpec if cluster else BackendSpec
    config = fields.get("config")
    config_type = config_model(fields.get("type"))
    if config_type is not None and isinstance(config, dict):
        try:
            config_type.model_validate(config, by_alias=False, by_name=True)
        except ValidationError as exc:
            raise field_error(exc, prefix="config") from None
    try:
        return model.model_validate(fields, by_alias=False, by_name=True)
    except ValidationError as exc:
        raise field_error(exc) from None


@dataclass(frozen=True)
class NewBackend:
    """A POST body, validated: a cluster backend has no namespace."""

    name: str
    namespace: str | None
    spec: BackendSpec
    cluster: bool


def _scope_of(body: dict[str, Any]) -> bool:
    """Whether the body asks for a cluster backend (``scope``, else a selector)."""
    scope, selector = body.get("scope"), body.get("namespace_selector")
    if scope is not None and scope not in {s.value for s in BackendScope}:
        raise FieldError("scope", "scope: must be 'namespace' or 'cluster'")
    cluster = scope == BackendScope.CLUSTER or (scope is None and selector is not None)
    if not cluster and selector is not None:
        raise FieldError(
            "namespace_selector",
            "namespace_selector: only a cluster backend (scope cluster) has one",
        )
    if cluster and body.get("namespace") is not None:
        raise FieldError(
            "namespace",
            "namespace: a cluster backend (scope cluster) has none; it syncs into the "
            "namespaces namespace_selector selects",
        )
    return cluster


def parse_create(body: dict[str, Any]) -> NewBackend:
    """A POST body's backend; raise :class:`FieldError` naming the field."""
    if "id" in body:
        raise FieldError("id", "id: is assigned by the server")
    identity = {k: body[k] for k in ("name", "namespace") if k in body}
    spec_fields = {k: v for k, v in body.items() if k not in (*identity, "scope")}
    for key in ("name",):
        if key not in identity:
            raise FieldError(key, f"{key}: Field required")
    for key, value in identity.items():
        pattern, limit = (NAME_PATTERN, 253) if key == "name" else (NAMESPACE_PATTERN, 63)
        if value is None and key == "namespace":
            continue
        if not isinstance(value, str) or len(value) > limit or not re.match(pattern, value):
            raise FieldError(
                key, f"{key}: must be a lower-case DNS name of at most {limit} characters"
            )
    cluster = _scope_of(body)
    if not cluster:
        spec_fields.pop("namespace_selector", None)  # null
    spec = spec_from_api(spec_fields, cluster=cluster)
    return NewBackend(identity["name"], identity.get("namespace"), spec, cluster)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: apply ``patch`` to ``target`` and return the result (inputs untouched)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def diff_merge_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The RFC 7386 patch that turns ``old`` into ``new``."""
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            nested = diff_merge_patch(before, value)
            if nested:
                patch[key] = nested
        elif before != value or key not in old:
            patch[key] = value
    return patch


def apply_patch(
    current: dict[str, Any], patch: dict[str, Any]
) -> tuple[BackendSpec, dict[str, Any]]:
    """Merge ``patch`` into the wire shape ``current``; return the new spec and its view.

    Raises :class:`FieldError` for an invalid result or a change of an
    immutable field (``id``, ``name``, ``namespace``, ``scope``).
    """
    for key in IDENTITY_FIELDS:
        if key in patch and patch[key] != current.get(key):
            raise FieldError(key, f"{key}: cannot be changed")
    merged = merge_patch(current, patch)
    cluster = current.get("scope") == BackendScope.CLUSTER
    fields = {k: v for k, v in merged.items() if k not in IDENTITY_FIELDS}
    spec = spec_from_api(fields, cluster=cluster)
    view = backend_view(current["id"], current["name"], current["namespace"], spec.to_api())
    return spec, view


# --- status and conflicts ------------------------------------------------------------


class ConnectionView(BaseModel):
    status: ConnectionState
    latency_ms: int | None = None


class StatusView(BaseModel):
    """``GET .../status``: the seed's keys, plus ``conflict_count`` and ``message``."""

    id: str
    name: str
    status: Health
    last_sync: datetime | None
    last_sync_duration_ms: int | None
    secrets_synced: int | None
    connection: ConnectionView
    conflict_count: int | None = None
    message: str | None = None
    #: cluster backends only: the namespaces the last sync wrote into, and their figures
    namespace_count: int | None = None
    namespaces: list[NamespaceStatus] | None = None


#: StatusView's keys that only a cluster backend's status has
CLUSTER_STATUS_FIELDS = frozenset({"namespace_count", "namespaces"})


def status_view(ident: str, name: str, status: BackendStatus) -> dict[str, Any]:
    """``GET .../status``; a :class:`ClusterBackendStatus` adds its per-namespace figures."""
    connection = status.connection
    view = StatusView(
        id=ident,
        name=name,
        status=status.status,
        last_sync=status.last_sync,
        last_sync_duration_ms=status.last_sync_duration_ms,
        secrets_synced=status.secrets_synced,
        connection=ConnectionView(
            status=connection.status if connection else ConnectionState.UNKNOWN,
            latency_ms=connection.latency_ms if connection else None,
        ),
        conflict_count=status.conflict_count
        if status.conflict_count is not None
        else len(status.conflicts),
        message=status.message,
    )
    if not isinstance(status, ClusterBackendStatus):
        return view.model_dump(mode="json", exclude=set(CLUSTER_STATUS_FIELDS))
    figures = view.model_copy(
        update={
            "namespace_count": status.namespace_count
            if status.namespace_count is not None
            else len(status.namespaces),
            "namespaces": list(status.namespaces),
        }
    )
    return figures.model_dump(mode="json")


class ConflictView(Conflict):
    namespace: str | None = Field(
        default=None, description="cluster backends: the namespace the conflict is in"
    )


class ConflictList(BaseModel):
    conflicts: list[ConflictView]


def conflicts_view(status: BackendStatus) -> dict[str, Any]:
    return {"conflicts": [conflict.to_api() for conflict in status.conflicts]}


class SyncRequest(BaseModel):
    """``POST .../sync``: optionally only some paths (ScaiVault paths or patterns with
    ``*`` and ``**``) instead of everything the backend maps."""

    model_config = ConfigDict(extra="forbid")

    paths: list[str] | None = Field(default=None, min_length=1, max_length=MAX_SCOPE_PATTERNS)


class SyncAccepted(BaseModel):
    id: str
    sync_requested_at: datetime
    #: the paths asked for; absent for a sync of everything
    paths: list[str] | None = None


def parse_sync_request(body: dict[str, Any], locals_: Sequence[PathPattern]) -> PathScope | None:
    """The paths of a sync request, each checked to be well-formed and to be (or, for a
    pattern, possibly be) matched by one of the mappings' local patterns ``locals_``;
    raise :class:`FieldError` naming it."""
    try:
        request = SyncRequest.model_validate(body)
    except ValidationError as exc:
        raise field_error(exc) from None
    if request.paths is None:
        return None
    try:
        scope = PathScope(request.paths)
    except InvalidPathError as exc:
        text = str(exc)
        where = "paths" + (text if text.startswith("[") else ": " + text)
        raise FieldError("paths", where) from None
    for index, pattern in enumerate(request.paths):
        if not any(_may_map(local, pattern) for local in locals_):
            raise FieldError(
                "paths", f"paths[{index}]: {pattern!r} is not mapped by this backend's path_mapping"
            )
    return scope


def _may_map(local: PathPattern, pattern: str) -> bool:
    """Whether ``local`` matches ``pattern`` (a path), or may match a path it matches (a
    pattern: the literal prefixes agree as far as both go)."""
    if "*" not in pattern:
        return local.match(pattern) is not None
    ours = PathPattern(pattern).literal_prefix
    theirs = local.literal_prefix
    return ours.startswith(theirs) or theirs.startswith(ours)


# --- secrets -------------------------------------------------------------------------


class SecretSource(StrEnum):
    LOCAL = "local"
    SYNC = "sync"
    PROXY = "proxy"


class SecretView(BaseModel):
    """A secret by path. ``data`` holds the values that are UTF-8 text; any other
    value is base64-encoded under the same key in ``data_base64`` instead."""

    path: str
    data: dict[str, str]
    data_base64: dict[str, str] | None = None
    source: SecretSource
    backend_id: str | None


class SecretWrite(BaseModel):
    """``PUT /v1/secrets/{path}``: text values, and optionally base64 binary ones."""

    model_config = ConfigDict(extra="forbid")

    data: dict[str, str]
    data_base64: dict[str, str] | None = None


# --- errors --------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail
