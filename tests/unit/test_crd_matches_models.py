"""The FederationBackend CRD and the pydantic models describe the same fields.

The comparison is generated from ``Model.model_json_schema(by_alias=True)`` on one
side and the CRD's ``openAPIV3Schema`` on the other, walked together field by
field; it is not a list of fields, so a field added to either side alone fails
here with its path (``spec.config.tlsVerify: default true in the CRD, false in
the models``). Compared, in both directions:

* field names (the camelCase alias) at every level, map values (``.*``) and
  array items (``[]``);
* the JSON type (string, integer, boolean, object, array; a map is an object
  with ``additionalProperties``), and the ``format`` of strings (``date-time``);
* enums;
* ``spec``: required fields, and defaults (the apiserver's default must be the
  model's);
* ``status``: the models must be able to read every status the CRD admits
  (what the models require, the CRD requires) and the CRD must accept every
  status the models write (what the CRD requires, the models always write: a
  required field or one with a default); a CRD default must be the model's;
* a constraint the model declares (``minLength``, ``maximum``, ``pattern``, ...)
  must be in the CRD with the same value. The CRD may have constraints the
  models lack (it is the last check before storage), never different ones.

``spec.config`` is one object in the CRD with the union of every type's keys and
CEL rules per type; in the models it is one model per registered type (``registry.TYPES``).
For each type, the keys the CRD's rules allow for it (``!has(self.config.k) ||
self.type == 't'``; a key without such a rule is allowed for every type) must be
the fields of that type's model, and the keys the rules require (``self.type !=
't' || has(self.config.k)``) its required fields. A default of a per-type key
cannot be a CRD default (it would apply to every type): the model applies it,
and the CRD's description of the key must mention it.

The backend types' part of the CRD (``spec.type``'s enum, ``spec.config``'s keys
and the CEL rules on them) is generated from the types' models by
``hack/render-deploy.sh`` (``scaivault_devenv.backend_crd``); a test here keeps
it up to date. To add a ``spec.config`` key: add it to the type's config model
and run ``hack/render-deploy.sh``. To add another spec field: add it to the
model (snake_case name; the camelCase alias is generated) and to
``crds/federationbackends.federation.scaivault.io.yaml`` with the same type,
enum, default and required-ness, then run ``hack/render-deploy.sh``. Nothing in
this file changes.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from scaivault_devenv import backend_crd
from scaivault_federation.backends.registry import TYPES
from scaivault_federation.models.spec import BackendSpec
from scaivault_federation.models.status import BackendStatus

Schema = dict[str, Any]

#: type -> its config model
CONFIG_MODELS = {t.name: t.config for t in TYPES}
CRD_FILE = (
    Path(__file__).resolve().parents[2] / "crds" / "federationbackends.federation.scaivault.io.yaml"
)
CONSTRAINTS = (
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
)
SPEC, STATUS, CONFIG = "spec", "status", "config"
_ALLOWED = re.compile(
    r"^!has\(self\.config\.(\w+)\) \|\| self\.type (?:== '([^']+)'|in \[([^\]]+)\])$"
)
_REQUIRED = re.compile(r"^self\.type != '([^']+)' \|\| has\(self\.config\.(\w+)\)$")


def crd_schema() -> Schema:
    crd = yaml.safe_load(CRD_FILE.read_text())
    (version,) = crd["spec"]["versions"]
    schema: Schema = version["schema"]["openAPIV3Schema"]
    return schema


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "none"
    if isinstance(value, Enum):
        value = value.value
    return json.dumps(sorted(value) if isinstance(value, set) else value)


_ABSENT = object()


class ModelSchema:
    """A model's JSON schema with ``$ref`` and ``X | None`` resolved away."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.root = model.model_json_schema(by_alias=True)
        self.defs: dict[str, Schema] = self.root.get("$defs", {})

    def resolve(self, node: Schema) -> Schema:
        node = dict(node)
        while "$ref" in node:
            target = self.defs[node.pop("$ref").rsplit("/", 1)[-1]]
            node = {**target, **node}
        if "anyOf" in node:
            options = [o for o in node["anyOf"] if o != {"type": "null"}]
            if len(options) == 1:
                rest = {k: v for k, v in node.items() if k != "anyOf"}
                node = {**self.resolve(options[0]), **rest}
        return node


class Comparison:
    def __init__(self, mode: str, spec_rules: list[Schema] | None = None) -> None:
        self.mode = mode
        self.rules = spec_rules or []
        self.errors: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def objects(self, models: ModelSchema, model: Schema, crd: Schema, path: str) -> None:
        mine = model.get("properties", {})
        theirs = crd.get("properties", {})
        for name in sorted(theirs.keys() - mine.keys()):
            self.error(f"{path}.{name}", "in the CRD, not in the models")
        for name in sorted(mine.keys() - theirs.keys()):
            self.error(f"{path}.{name}", "in the models, not in the CRD")
        self.required(models, model, crd, path)
        for name in sorted(mine.keys() & theirs.keys()):
            self.field(models, mine[name], theirs[name], f"{path}.{name}")

    def required(self, models: ModelSchema, model: Schema, crd: Schema, path: str) -> None:
        mine = set(model.get("required", []))
        theirs = set(crd.get("required", []))
        props = model.get("properties", {})
        if self.mode == STATUS:
            written = mine | {
                n for n, p in props.items() if models.resolve(p).get("default") is not None
            }
            for name in sorted(mine - theirs):
                self.error(
                    f"{path}.{name}",
                    "required by the models, optional in the CRD "
                    "(a status without it would not be readable)",
                )
            for name in sorted(theirs - written):
                self.error(
                    f"{path}.{name}",
                    "required by the CRD, but the models may leave it out "
                    "(neither required nor defaulted)",
                )
            return
        for name in sorted(mine - theirs):
            self.error(f"{path}.{name}", "required in the models, optional in the CRD")
        for name in sorted(theirs - mine):
            self.error(f"{path}.{name}", "required in the CRD, optional in the models")

    def field(self, models: ModelSchema, raw: Schema, crd: Schema, path: str) -> None:
        model = models.resolve(raw)
        if "anyOf" in model:
            if path == "spec.config":
                self.config(model, crd, path)
            else:
                self.error(path, "a union in the models; only spec.config has a rule for one")
            return
        kind, crd_kind = model.get("type"), crd.get("type")
        if kind != crd_kind:
            self.error(path, f"type {crd_kind} in the CRD, {kind} in the models")
            return
        if kind == "string" and model.get("format") != crd.get("format"):
            self.error(
                path,
                f"format {_show(crd.get('format', _ABSENT))} in the CRD, "
                f"{_show(model.get('format', _ABSENT))} in the models",
            )
        self.enum(model, crd, path)
        self.default(model, crd, path)
        for key in CONSTRAINTS:
            if key in model and crd.get(key, _ABSENT) != model[key]:
                self.error(
                    path,
                    f"{key} {_show(crd.get(key, _ABSENT))} in the CRD, "
                    f"{_show(model[key])} in the models",
                )
        if kind == "object":
            self.children(models, model, crd, path)
        elif kind == "array":
            self.field(models, model.get("items", {}), crd.get("items", {}), f"{path}[]")

    def children(self, models: ModelSchema, model: Schema, crd: Schema, path: str) -> None:
        map_values = model.get("additionalProperties")
        crd_values = crd.get("additionalProperties")
        if isinstance(map_values, dict) or isinstance(crd_values, dict):
            if not (isinstance(map_values, dict) and isinstance(crd_values, dict)):
                self.error(
                    path,
                    f"{'a map' if isinstance(crd_values, dict) else 'fixed fields'} in the CRD, "
                    f"{'a map' if isinstance(map_values, dict) else 'fixed fields'} in the models",
                )
                return
            self.field(models, map_values, crd_values, f"{path}.*")
            return
        self.objects(models, model, crd, path)

    def enum(self, model: Schema, crd: Schema, path: str) -> None:
        mine = set(model["enum"]) if "enum" in model else None
        theirs = set(crd["enum"]) if "enum" in crd else None
        if mine != theirs:
            self.error(
                path,
                f"enum {_show(theirs if theirs is not None else _ABSENT)} in the CRD, "
                f"{_show(mine if mine is not None else _ABSENT)} in the models",
            )

    def default(self, model: Schema, crd: Schema, path: str) -> None:
        mine = model.get("default", _ABSENT)
        mine = _ABSENT if mine is None else mine  # ``X | None = None``: no default
        theirs = crd.get("default", _ABSENT)
        if self.mode == CONFIG:
            if theirs is not _ABSENT:
                self.error(
                    path,
                    f"default {_show(theirs)} in the CRD would apply to every type; "
                    "only the models can default a per-type key",
                )
            elif mine is not _ABSENT and "default" not in crd.get("description", "").lower():
                self.error(
                    path,
                    f"default {_show(mine)} in the models, not mentioned in the CRD's description",
                )
            return
        if self.mode == STATUS and theirs is _ABSENT:
            return  # the models write their default themselves
        if mine != theirs:
            self.error(path, f"default {_show(theirs)} in the CRD, {_show(mine)} in the models")

    def config(self, union: Schema, crd: Schema, path: str) -> None:
        """``spec.config``: each type's model against the keys the CEL rules give it."""
        variants = {o["$ref"].rsplit("/", 1)[-1] for o in union["anyOf"]}
        by_name = {model.__name__: t for t, model in CONFIG_MODELS.items()}
        if variants != set(by_name):
            self.error(path, f"the union is {sorted(variants)}, CONFIG_MODELS {sorted(by_name)}")
        for name in sorted(crd.get("required", [])):
            self.error(f"{path}.{name}", "required in the CRD for every type; use a CEL rule")
        allowed, required = self.config_rules()
        keys = crd.get("properties", {})
        for backend_type, model in CONFIG_MODELS.items():
            t, cls = backend_type, model.__name__
            schema = ModelSchema(model)
            mine = schema.root.get("properties", {})
            theirs = {k for k in keys if t in allowed.get(k, {t})}
            for name in sorted(theirs - mine.keys()):
                self.error(
                    f"{path}.{name}", f"accepted for {t} by the CRD, not in {model.__name__}"
                )
            for name in sorted(mine.keys() - theirs):
                where = "rejected for it by the CRD" if name in keys else "not in the CRD"
                self.error(f"{path}.{name}", f"in {cls} ({t}), {where}")
            model_required = set(schema.root.get("required", []))
            for name in sorted(model_required - required.get(t, set())):
                self.error(
                    f"{path}.{name}", f"required by {model.__name__}, not by the CRD for {t}"
                )
            for name in sorted(required.get(t, set()) - model_required):
                self.error(
                    f"{path}.{name}", f"required by the CRD for {t}, not by {model.__name__}"
                )
            inner = Comparison(CONFIG)
            for name in sorted(mine.keys() & keys.keys()):
                inner.field(schema, mine[name], keys[name], f"{path}.{name}")
            self.errors.extend(e for e in inner.errors if e not in self.errors)

    def config_rules(self) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        allowed: dict[str, set[str]] = {}
        required: dict[str, set[str]] = {}
        for rule in self.rules:
            text = " ".join(rule["rule"].split())
            if match := _ALLOWED.match(text):
                key, one, many = match.groups()
                types = {one} if one else {t.strip(" '") for t in many.split(",")}
                allowed.setdefault(key, set()).update(types)
            elif match := _REQUIRED.match(text):
                backend_type, key = match.groups()
                required.setdefault(backend_type, set()).add(key)
        return allowed, required


def compare(model: type[BaseModel], crd: Schema, mode: str) -> list[str]:
    comparison = Comparison(mode, crd.get("x-kubernetes-validations"))
    schema = ModelSchema(model)
    comparison.objects(schema, schema.root, crd, mode)
    return comparison.errors


def test_spec_models_match_the_crd() -> None:
    errors = compare(BackendSpec, crd_schema()["properties"]["spec"], SPEC)
    assert not errors, "\n".join(errors)


def test_status_model_matches_the_crd() -> None:
    errors = compare(BackendStatus, crd_schema()["properties"]["status"], STATUS)
    assert not errors, "\n".join(errors)


def _spec() -> Schema:
    spec: Schema = copy.deepcopy(crd_schema()["properties"]["spec"])
    return spec


def _status() -> Schema:
    status: Schema = copy.deepcopy(crd_schema()["properties"]["status"])
    return status


def _config(spec: Schema) -> Schema:
    config: Schema = spec["properties"]["config"]["properties"]
    return config


def _drop_rule(spec: Schema, needle: str) -> None:
    rules = spec["x-kubernetes-validations"]
    spec["x-kubernetes-validations"] = [r for r in rules if needle not in r["rule"]]


def _edit_spec(edit: Callable[[Schema], None]) -> list[str]:
    spec = _spec()
    edit(spec)
    return compare(BackendSpec, spec, SPEC)


def _edit_status(edit: Callable[[Schema], None]) -> list[str]:
    status = _status()
    edit(status)
    return compare(BackendStatus, status, STATUS)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda s: _config(s)["tlsVerify"].update(default=True),
            "spec.config.tlsVerify: default true in the CRD would apply to every type",
        ),
        (
            lambda s: _config(s)["tlsVerify"].update(description="verify the certificate"),
            "spec.config.tlsVerify: default true in the models, not mentioned",
        ),
        (
            lambda s: _config(s).update(tokenFile={"type": "string"}),
            "spec.config.tokenFile: accepted for hashicorp-vault by the CRD, not in VaultConfig",
        ),
        (
            lambda s: _config(s).pop("kvVersion"),
            "spec.config.kvVersion: in VaultConfig (hashicorp-vault), not in the CRD",
        ),
        (
            lambda s: _drop_rule(s, "!has(self.config.roleArn)"),
            "spec.config.roleArn: accepted for hashicorp-vault by the CRD, not in VaultConfig",
        ),
        (
            lambda s: _drop_rule(s, "|| has(self.config.region)"),
            "spec.config.region: required by AwsConfig, not by the CRD for aws-secrets-manager",
        ),
        (
            lambda s: _config(s)["kvVersion"].update(type="string"),
            "spec.config.kvVersion: type string in the CRD, integer in the models",
        ),
        (
            lambda s: _config(s)["kvVersion"].update(maximum=3),
            "spec.config.kvVersion: maximum 3 in the CRD, 2 in the models",
        ),
        (
            lambda s: _config(s)["authMethod"]["enum"].append("radius"),
            'spec.config.authMethod: enum ["approle", "aws", "cert", "gcp", "jwt", "kubernetes", '
            '"ldap", "radius", "token", "userpass"] in the CRD',
        ),
        (
            lambda s: s["properties"]["prune"].update(default=True),
            "spec.prune: default true in the CRD, false in the models",
        ),
        (
            lambda s: s["properties"]["conflictPolicy"].pop("default"),
            'spec.conflictPolicy: default none in the CRD, "report" in the models',
        ),
        (
            lambda s: s["required"].append("syncInterval"),
            "spec.syncInterval: required in the CRD, optional in the models",
        ),
        (
            lambda s: s["required"].remove("mode"),
            "spec.mode: required in the models, optional in the CRD",
        ),
        (
            lambda s: s["properties"].update(paused={"type": "boolean"}),
            "spec.paused: in the CRD, not in the models",
        ),
        (
            lambda s: s["properties"]["pathMapping"]["additionalProperties"].update(type="integer"),
            "spec.pathMapping.*: type integer in the CRD, string in the models",
        ),
        (
            lambda s: s["properties"]["pathMapping"].pop("additionalProperties"),
            "spec.pathMapping: fixed fields in the CRD, a map in the models",
        ),
    ],
)
def test_spec_drift_is_reported_by_path(edit: Callable[[Schema], None], expected: str) -> None:
    errors = _edit_spec(edit)
    assert any(e.startswith(expected) for e in errors), errors


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda s: s["properties"].pop("nextSyncAt"),
            "status.nextSyncAt: in the models, not in the CRD",
        ),
        (
            lambda s: s["properties"]["lastSync"].pop("format"),
            'status.lastSync: format none in the CRD, "date-time" in the models',
        ),
        (
            lambda s: s["properties"]["conflicts"]["items"]["required"].remove("remotePath"),
            "status.conflicts[].remotePath: required by the models, optional in the CRD",
        ),
        (
            lambda s: s["properties"]["connection"].update(required=["latencyMs"]),
            "status.connection.latencyMs: required by the CRD, but the models may leave it out",
        ),
        (
            lambda s: s["properties"]["conditions"]["items"]["properties"]["status"]["enum"].pop(),
            'status.conditions[].status: enum ["False", "True"] in the CRD',
        ),
        (
            lambda s: s["properties"]["status"].update(default="healthy"),
            'status.status: default "healthy" in the CRD, "pending" in the models',
        ),
    ],
)
def test_status_drift_is_reported_by_path(edit: Callable[[Schema], None], expected: str) -> None:
    errors = _edit_status(edit)
    assert any(e.startswith(expected) for e in errors), errors


def test_a_model_field_missing_from_the_crd_is_reported() -> None:
    class Extended(BackendSpec):
        retry_limit: int = 3

    errors = compare(Extended, _spec(), SPEC)
    assert errors == ["spec.retryLimit: in the models, not in the CRD"]


def test_the_backend_types_part_of_the_crd_is_generated_from_their_models() -> None:
    text = CRD_FILE.read_text()
    assert text == backend_crd.render(text), "run hack/render-deploy.sh"
