"""Property-based requests from schemathesis against the live API: no 5xx other than a
documented 503 with Retry-After, and every answer conforms to the served document.

Generation is steered so nothing fuzzed can reach outside this machine: created
backends land in one namespace, always suspended (the operator neither syncs nor
probes them, and proxy reads refuse them), with loopback endpoints. A cluster
backend is fuzzed by id only (read, patched, synced, deleted), its selector
kept to one that selects no namespace.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from scaivault_devenv.cluster import ensure_namespace
from scaivault_devenv.controlplane import ControlPlane
from scaivault_federation.api.server import ApiServer

from .conftest import CLUSTER_PREFIX, Tokens
from .helpers import FED, ApiClient, vault_body

pytestmark = pytest.mark.e2e

FUZZ_NAMESPACE = "api-fuzz"
LOOPBACK = "http://127.0.0.1:1"
MAX_EXAMPLES = 20
NO_NAMESPACE = {"match_labels": {"scaivault-fuzz/never": "set"}}


def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """5xx only as a documented 503 that says when to retry."""
    status = response.status_code
    retry_after = any(name.lower() == "retry-after" for name in response.headers)
    if status >= 500 and not (status == 503 and retry_after):
        raise AssertionError(f"{case.operation.label} answered {status}: {response.text[:300]}")
    return None


SEGMENTS = r"[a-z]{1,6}(/[a-z]{1,6}){0,2}"


def _narrow_params(doc: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    for item in doc["paths"].values():
        params = list(item.get("parameters", []))
        for op in item.values():
            if isinstance(op, dict):
                params.extend(op.get("parameters", []))
        for param in params:
            if param["name"] == name:
                param["schema"] = schema


def steered(doc: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    """The served document with request-side schemas narrowed: for safety (namespace,
    suspend, loopback endpoints) and so that many requests are valid (paths, mappings,
    intervals, and ids of backends that exist)."""
    doc = copy.deepcopy(doc)
    schemas = doc["components"]["schemas"]
    create = schemas["BackendCreate"]
    props = create["properties"]
    props["namespace"] = {"const": FUZZ_NAMESPACE}
    props["suspend"] = {"const": True}
    props["name"] = {"type": "string", "pattern": "^fz-[a-z0-9]{1,8}$"}
    mapping = {
        "type": "object",
        "minProperties": 1,
        "maxProperties": 3,
        "propertyNames": {"pattern": f"^{SEGMENTS}/\\*\\*$"},
        "additionalProperties": {"type": "string", "pattern": f"^{SEGMENTS}/\\*\\*$"},
    }
    props["path_mapping"] = mapping
    props["sync_interval"] = {"enum": ["30s", "15m", "1h30m"]}
    props["scope"] = {"const": "namespace"}
    del props["namespace_selector"]
    create["required"] = [*create["required"], "namespace", "suspend", "sync_interval"]
    patch = schemas["BackendPatch"]["properties"]
    patch["suspend"] = {"const": True}
    patch["config"] = {"type": "object", "maxProperties": 0}
    patch["name"] = patch["namespace"] = patch["scope"] = {"type": "null"}
    patch["namespace_selector"] = {"anyOf": [{"const": NO_NAMESPACE}, {"type": "null"}]}
    patch["path_mapping"] = {"anyOf": [mapping, {"type": "null"}]}
    patch["sync_interval"] = {"enum": ["30s", "15m", None]}
    for model, field in (
        ("VaultConfig", "endpoint"),
        ("AwsConfig", "endpoint"),
        ("GoogleConfig", "endpoint"),
        ("AzureConfig", "vault_url"),
    ):
        schemas[model]["properties"][field] = {"const": LOOPBACK}
        if field not in schemas[model].get("required", []):
            schemas[model]["required"] = [*schemas[model].get("required", []), field]
        for name in ("auth_config_path", "credentials_path", "ca_cert_path"):
            if name in schemas[model]["properties"]:
                schemas[model]["properties"][name] = {"type": "string", "pattern": f"^{SEGMENTS}$"}
    vault = schemas["VaultConfig"]
    vault["properties"]["auth_method"] = {"enum": ["token", "approle"]}
    vault["required"] = [*vault["required"], "auth_config_path"]
    schemas["AwsConfig"]["properties"]["region"] = {
        "type": "string",
        "pattern": "^[a-z0-9-]{1,20}$",
    }
    # one variant per type, so that config matches type
    variants = []
    for backend_type, model in (
        ("hashicorp-vault", "VaultConfig"),
        ("aws-secrets-manager", "AwsConfig"),
        ("azure-key-vault", "AzureConfig"),
        ("google-secret-manager", "GoogleConfig"),
    ):
        variant = copy.deepcopy(create)
        variant["properties"]["type"] = {"const": backend_type}
        variant["properties"]["config"] = {"$ref": f"#/components/schemas/{model}"}
        variants.append(variant)
    schemas["BackendCreate"] = {"anyOf": variants}
    _narrow_params(doc, "namespace", {"const": FUZZ_NAMESPACE})
    _narrow_params(doc, "id", {"enum": [*ids, "fed_000000000000"]})
    secret_path = {
        "anyOf": [{"enum": ["syn", "ext"]}, {"type": "string", "pattern": "^[a-z]{1,8}$"}]
    }
    _narrow_params(doc, "path", secret_path)
    return doc


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
]
# Operations that create or reconfigure backends are fuzzed with valid data only:
# invalid data there could unsuspend a backend or point it at a random address.
# (Operations without any input have no invalid data either.)
POSITIVE_ONLY = {
    "POST /v1/federation/backends",
    "PATCH /v1/federation/backends/{id}",
    "GET /v1/federation/openapi.json",
    "GET /healthz",
}


def _run(operation: Any, served: Any, mode: GenerationMode, base_url: str, token: str) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=15
        )
        case.validate_response(response, checks=CHECKS)
        if mode is GenerationMode.POSITIVE:
            # answers are validated against the document as served, not the narrowed one
            served_case = served.Case(
                path_parameters=case.path_parameters,
                query=case.query,
                body=case.body,
                media_type=case.media_type,
            )
            served_case.validate_response(response, checks=[response_schema_conformance])

    run()


def fuzz(doc: dict[str, Any], base_url: str, token: str, ids: list[str]) -> list[str]:
    schema = schemathesis.openapi.from_dict(steered(doc, ids))
    served = schemathesis.openapi.from_dict(copy.deepcopy(doc))
    failures: list[str] = []
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), "the served OpenAPI document is invalid"
        operations.append(result.ok())
    operations = [op for op in operations if op.path != "/metrics"]
    assert len(operations) >= 13, [op.label for op in operations]
    # deleting backends last leaves the others something to work on
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for operation in operations:
            if mode is GenerationMode.NEGATIVE and operation.label in POSITIVE_ONLY:
                continue
            original = served[operation.path][operation.method.upper()]
            try:
                _run(operation, original, mode, base_url, token)
            except Exception as exc:
                failures.append(f"{mode.value} {operation.label}: {exc}")
    return failures


async def test_schemathesis_finds_nothing(
    api: ApiClient,
    api_server: ApiServer,
    openapi_doc: dict[str, Any],
    tok: Tokens,
    control_plane: ControlPlane,
) -> None:
    ensure_namespace(control_plane, FUZZ_NAMESPACE)
    ids = []
    for name, mode, pattern in (
        ("fuzz-sync", "sync", "syn"),
        ("fuzz-proxy", "proxy", "ext"),
        ("fuzz-spare", "sync", "spare"),
    ):
        body = vault_body(f"{name}-{uuid.uuid4().hex[:4]}", LOOPBACK, "x", suspend=True)
        body.update(namespace=FUZZ_NAMESPACE, mode=mode, path_mapping={pattern: "secret/data/x"})
        reply = await api.post(f"{FED}/backends", json=body)
        assert reply.status == 201, reply.body
        ids.append(reply.body["id"])
    body = vault_body(f"{CLUSTER_PREFIX}fuzz-{uuid.uuid4().hex[:4]}", LOOPBACK, "x", suspend=True)
    body.update(scope="cluster", namespace_selector=NO_NAMESPACE, path_mapping={"csyn": "s/x"})
    reply = await api.post(f"{FED}/backends", json=body)
    assert reply.status == 201, reply.body
    ids.append(reply.body["id"])
    failures = await asyncio.wait_for(
        asyncio.to_thread(fuzz, openapi_doc, api_server.url, tok.admin, ids), timeout=600
    )
    assert not failures, "\n\n".join(failures)
