"""The backend types' part of crds/federationbackends...yaml, generated from their
models (``scaivault_federation.backends.registry``): ``spec.type``'s enum,
``spec.config``'s keys (one object holding every type's keys, each key's schema
the same in every type that takes it, its description saying which types take
it), and the spec's CEL rules saying which type takes and which requires each
key, followed by each type's own rules (its config model's ``crd_rules``).

The rest of the CRD is written by hand; the generated parts sit between marker
comments (:data:`BEGIN` ... :data:`END`) and are rewritten in place by
``hack/render-deploy.sh``. A unit test checks that the file is up to date.
"""

from __future__ import annotations

from typing import Any

import yaml

from scaivault_federation.backends.registry import TYPES
from scaivault_federation.models.config import CredentialsSecret

from .checkout import ROOT

CRD = ROOT / "crds" / "federationbackends.federation.scaivault.io.yaml"
BEGIN = "# >>> generated from the backend types' models by hack/render-deploy.sh:"
END = "# <<< end of generated"

#: what a key's schema keeps of the models' JSON schema
KEPT = (
    "type",
    "format",
    "enum",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
)
#: a ScaiVault path, as the apiserver checks a credentials field
PATH_RULE = r"self.matches(r'^[^/*\p{Cc}]+(/[^/*\p{Cc}]+)*$') && !self.matches(r'(^|/)\.\.?(/|$)')"
PATH_MESSAGE = (
    "spec.config.{key} must be a ScaiVault path: non-empty '/'-separated segments, no '.' "
    "or '..' segments, no leading or trailing '/', no wildcards or control characters"
)

Schema = dict[str, Any]


class InconsistentTypesError(ValueError):
    """Two types declare one config key with different schemas."""


def _resolve(node: Schema, defs: dict[str, Schema]) -> Schema:
    node = dict(node)
    while "$ref" in node:
        node = {**defs[node.pop("$ref").rsplit("/", 1)[-1]], **node}
    if "anyOf" in node:
        options = [o for o in node.pop("anyOf") if o != {"type": "null"}]
        (only,) = options
        node = {**_resolve(only, defs), **node}
    return node


def _key_schema(node: Schema) -> Schema:
    return {k: node[k] for k in KEPT if k in node}


def config_properties() -> Schema:
    """``spec.config.properties``: every type's keys."""
    schemas: dict[str, Schema] = {}
    described: dict[str, list[str]] = {}
    for declared in TYPES:
        model = declared.config
        root = model.model_json_schema(by_alias=True)
        defs, required = root.get("$defs", {}), set(root.get("required", []))
        credentials = {model.cr_name(name) for name in model.marked(CredentialsSecret)}
        for key, raw in root["properties"].items():
            node = _resolve(raw, defs)
            schema = _key_schema(node)
            if key in credentials:
                rule = {"rule": PATH_RULE, "message": PATH_MESSAGE.format(key=key)}
                schema["x-kubernetes-validations"] = [rule]
            if key in schemas and schemas[key] != schema:
                raise InconsistentTypesError(
                    f"spec.config.{key}: {declared.name} declares it unlike another type"
                )
            schemas[key] = schema
            which = f"{declared.name} (required)" if key in required else declared.name
            described.setdefault(key, []).append(f"{which}: {node.get('description', key)}.")
    return {
        key: {"type": schema.pop("type"), "description": " ".join(described[key]), **schema}
        for key, schema in schemas.items()
    }


def config_rules() -> list[Schema]:
    """The spec's CEL rules of ``spec.config``: required keys, keys of other types, then
    each type's own rules."""
    names = [t.name for t in TYPES]
    takes: dict[str, list[str]] = {}
    rules: list[Schema] = []
    for declared in TYPES:
        root = declared.config.model_json_schema(by_alias=True)
        for key in root["properties"]:
            takes.setdefault(key, []).append(declared.name)
        for key in root.get("required", []):
            rules.append(
                {
                    "rule": f"self.type != '{declared.name}' || has(self.config.{key})",
                    "message": f"spec.config.{key} is required when spec.type is {declared.name}",
                    "fieldPath": f".config.{key}",
                    "reason": "FieldValueRequired",
                }
            )
    for key, types in takes.items():
        if types == names:
            continue
        if len(types) == 1:
            allowed = f"self.type == '{types[0]}'"
        else:
            allowed = "self.type in [" + ", ".join(f"'{t}'" for t in types) + "]"
        rules.append(
            {
                "rule": f"!has(self.config.{key}) || {allowed}",
                "messageExpression": f"'spec.config.{key} is not valid for ' + self.type",
                "fieldPath": f".config.{key}",
            }
        )
    for declared in TYPES:
        rules.extend(declared.config.crd_rules())
    return rules


class _Dumper(yaml.SafeDumper):
    """Block style with indented sequences and long texts folded, as the hand-written
    rest of the CRD."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = None
    if len(value) > 60 and "\n" not in value:
        style = ">"
    elif "'" in value:
        style = '"'  # a CEL string in a CEL expression
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def _dump(value: Any, indent: str) -> list[str]:
    width = max(40, 96 - len(indent))
    text = yaml.dump(
        value, Dumper=_Dumper, sort_keys=False, width=width, allow_unicode=True, indent=2
    )
    return [indent + line if line else line for line in text.rstrip("\n").split("\n")]


def _splice(lines: list[str], name: str, value: Any) -> list[str]:
    """``lines`` with the region ``name`` holding ``value``."""
    marker = f"{BEGIN} {name}"
    start = next((i for i, line in enumerate(lines) if line.strip() == marker), None)
    if start is None:
        raise ValueError(f"{CRD.name}: no {marker!r} line")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].strip() == END)
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    return [*lines[: start + 1], *_dump(value, indent), *lines[end:]]


def render(text: str) -> str:
    """The CRD ``text`` with its generated regions rewritten."""
    lines = text.split("\n")
    lines = _splice(lines, "spec.type", {"enum": [t.name for t in TYPES]})
    lines = _splice(lines, "spec.config", {"properties": config_properties()})
    return "\n".join(_splice(lines, "spec.config rules", config_rules()))


def write() -> None:
    CRD.write_text(render(CRD.read_text()))
