"""A remote value and the target of its path -> the Secret to write. Pure.

The steps, in order: take the value's fields (``extract: fields``, the
default: a JSON object gives one key per field, nested values as JSON text,
anything else the key ``value``) or the whole value under one key
(``extract: whole``); keep the keys ``include`` matches and drop those
``exclude`` matches (globs); ``rename``; ``decode`` base64 (every key, or the
``decodeKeys``); then, when ``template`` is given, the data is exactly its
keys, each rendered with the result of the steps before as ``data``. Labels,
annotations and the Secret name are rendered too. The type's required keys
are checked before the apiserver sees them.

Every failure is a :class:`ShapeError` naming the path's key, label or
template, never a value.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, ClassVar

from .. import conditions as c
from ..errors import FederationError
from ..paths import is_valid_secret_name, secret_name_for_path
from .content import VALUE_KEY, InvalidContentError, to_secret_data, validate_secret_data
from .label_syntax import is_label_value
from .secret import RemoteValue, SecretShape
from .target import DataShape, Extract, ResolvedTarget
from .templating import TemplateProblem, render

MAX_ANNOTATIONS_BYTES = 256 * 1024

#: keys the apiserver requires of a type (any one of them for basic-auth), and whether
#: it checks that they hold JSON
_REQUIRED: dict[str, tuple[tuple[str, ...], bool, bool]] = {
    "kubernetes.io/dockerconfigjson": ((".dockerconfigjson",), True, False),
    "kubernetes.io/dockercfg": ((".dockercfg",), True, False),
    "kubernetes.io/tls": (("tls.crt", "tls.key"), False, False),
    "kubernetes.io/ssh-auth": (("ssh-privatekey",), False, False),
    "kubernetes.io/basic-auth": (("username", "password"), False, True),
}


class ShapeError(FederationError):
    """The target cannot build this path's Secret; the message names no value."""

    reason: ClassVar[str] = c.INVALID_CONFIG
    reachable: ClassVar[bool] = True
    http_status: ClassVar[int] = 422
    http_code: ClassVar[str] = "target_invalid"


@dataclass(frozen=True)
class Shaped:
    data: dict[str, bytes]
    shape: SecretShape


@dataclass(frozen=True)
class PathContext:
    """What templates see besides ``data``."""

    path: str
    remote_path: str
    captures: Sequence[str] = ()

    def variables(self) -> dict[str, Any]:
        return {"path": self.path, "remote_path": self.remote_path, "captures": list(self.captures)}


def secret_name(target: ResolvedTarget, where: PathContext) -> str:
    """The Secret's name: the target's name template, else derived from the path."""
    if target.name is None:
        return secret_name_for_path(where.path)
    try:
        name = render(target.name, where.variables()).strip()
    except TemplateProblem as exc:
        raise ShapeError(f"template of the Secret name: {exc}") from None
    if not is_valid_secret_name(name):
        raise ShapeError(
            f"the Secret name template gives {name[:80]!r}, not a valid Secret name "
            "(lower-case letters, digits, '-' and '.')"
        )
    return name


def shape_secret(target: ResolvedTarget, value: RemoteValue, where: PathContext) -> Shaped:
    """The data and shape of the Secret for ``value``; raise :class:`ShapeError` or
    :class:`InvalidContentError`."""
    data = shape_data(target.data, value, where)
    variables = {**where.variables(), "data": _text_view(data)}
    labels = {k: _render(v, variables, f"label {k!r}") for k, v in target.labels.items()}
    for key, text in labels.items():
        if not is_label_value(text):
            raise ShapeError(f"label {key!r}: the template gives no valid label value")
    annotations = {
        k: _render(v, variables, f"annotation {k!r}") for k, v in target.annotations.items()
    }
    if sum(len(k) + len(v) for k, v in annotations.items()) > MAX_ANNOTATIONS_BYTES:
        raise ShapeError("the declared annotations are over 256 KiB")
    _check_type(target.type, data)
    return Shaped(data, SecretShape(target.type, labels, annotations, target.immutable))


def shape_data(shape: DataShape | None, value: RemoteValue, where: PathContext) -> dict[str, bytes]:
    if shape is None:
        return to_secret_data(value)
    whole = shape.extract is Extract.WHOLE
    data = {shape.whole_key: _whole(value)} if whole else _fields(value)
    if shape.include is not None:
        data = {k: v for k, v in data.items() if _matches(k, shape.include)}
    if shape.exclude:
        data = {k: v for k, v in data.items() if not _matches(k, shape.exclude)}
    data = _rename(data, shape.rename or {})
    if shape.decode is not None:
        data = _decode(data, shape.decode_keys)
    if shape.template is not None:
        variables = {**where.variables(), "data": _text_view(data)}
        data = {
            key: _render(source, variables, f"key {key!r}").encode("utf-8")
            for key, source in shape.template.items()
        }
    validate_secret_data(data)
    return data


def _render(source: str, variables: Mapping[str, Any], what: str) -> str:
    try:
        return render(source, variables)
    except TemplateProblem as exc:
        raise ShapeError(f"template of {what}: {exc}") from None


def _whole(value: RemoteValue) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True).encode()
    return value.encode()


def _field_text(value: object) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if value is None:
        return b""
    return json.dumps(value).encode()


def _fields(value: RemoteValue) -> dict[str, bytes]:
    obj: object = value
    if isinstance(value, str):
        try:
            obj = json.loads(value)
        except ValueError:
            obj = None
    if isinstance(obj, dict):
        return {str(k): _field_text(v) for k, v in obj.items()}
    return {VALUE_KEY: _whole(value)}


def _matches(key: str, globs: Sequence[str]) -> bool:
    return any(fnmatchcase(key, glob) for glob in globs)


def _rename(data: dict[str, bytes], rename: Mapping[str, str]) -> dict[str, bytes]:
    if not rename:
        return data
    out = {k: v for k, v in data.items() if k not in rename}
    for old, new in rename.items():
        if old not in data:
            continue
        if new in out:
            raise ShapeError(f"rename {old!r} -> {new!r}: the data already has a key {new!r}")
        out[new] = data[old]
    return out


def _decode(data: dict[str, bytes], keys: Sequence[str] | None) -> dict[str, bytes]:
    wanted = list(data) if keys is None else list(keys)
    out = dict(data)
    for key in wanted:
        if key not in out:
            raise ShapeError(f"decode: the data has no key {key!r}")
        try:
            out[key] = base64.b64decode(b"".join(out[key].split()), validate=True)
        except (binascii.Error, ValueError):
            raise ShapeError(f"decode: the value of key {key!r} is not base64") from None
    return out


def _text_view(data: Mapping[str, bytes]) -> dict[str, str]:
    """``data`` for templates: text values as text, others base64-encoded."""
    view: dict[str, str] = {}
    for key, raw in data.items():
        try:
            view[key] = raw.decode("utf-8")
        except UnicodeDecodeError:
            view[key] = base64.b64encode(raw).decode("ascii")
    return view


def _check_type(secret_type: str, data: Mapping[str, bytes]) -> None:
    required = _REQUIRED.get(secret_type)
    if required is None:
        return
    keys, is_json, any_one = required
    have = sorted(data)
    missing = [k for k in keys if k not in data]
    if (any_one and len(missing) == len(keys)) or (not any_one and missing):
        need = " or ".join(keys) if any_one else ", ".join(keys)
        raise ShapeError(
            f"type {secret_type} needs the key(s) {need}; the data has "
            + (", ".join(have[:20]) if have else "no keys")
        )
    if is_json:
        for key in keys:
            try:
                json.loads(data[key])
            except ValueError:
                raise ShapeError(f"type {secret_type}: key {key!r} must hold JSON") from None


__all__ = [
    "InvalidContentError",
    "PathContext",
    "ShapeError",
    "Shaped",
    "secret_name",
    "shape_data",
    "shape_secret",
]
