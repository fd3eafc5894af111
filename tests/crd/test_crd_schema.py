"""The FederationBackend CRD, installed into a real kube-apiserver.

Valid resources must be accepted (with defaults applied) and invalid ones
rejected with a message that names the offending field.
"""

from __future__ import annotations

import copy
import json
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaivault_devenv.controlplane import ControlPlane

pytestmark = pytest.mark.e2e

CRD_NAME = "federationbackends.federation.scaivault.io"
CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / f"{CRD_NAME}.yaml"
GROUP_VERSION = "federation.scaivault.io/v1alpha1"
CRDS_URL = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

Json = dict[str, Any]


class Api:
    """A minimal JSON client for the test control plane (stdlib only)."""

    def __init__(self, control_plane: ControlPlane) -> None:
        self.server = control_plane.server
        self.token = control_plane.admin_token
        self.context = ssl.create_default_context(cafile=str(control_plane.ca_file))

    def call(
        self,
        method: str,
        path: str,
        body: Json | None = None,
        *,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> tuple[int, Json]:
        headers = {"Accept": accept, "Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.server + path, data, headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.context) as resp:  # noqa: S310
                return resp.status, _decode(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, _decode(err.read())


def _decode(raw: bytes) -> Json:
    try:
        value = json.loads(raw)
    except ValueError:
        return {"raw": raw.decode(errors="replace")}
    return value if isinstance(value, dict) else {"value": value}


def _install_crd(api: Api) -> Json:
    crd = yaml.safe_load(CRD_FILE.read_text(encoding="utf-8"))
    status, body = api.call("POST", CRDS_URL, crd)
    if status == 409:
        status, current = api.call("GET", f"{CRDS_URL}/{CRD_NAME}")
        assert status == 200, current
        crd["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        status, body = api.call("PUT", f"{CRDS_URL}/{CRD_NAME}", crd)
    assert status in (200, 201), json.dumps(body)[:4000]
    return body


def _wait_established(api: Api, timeout: float = 60) -> Json:
    deadline = time.monotonic() + timeout
    last: Json = {}
    while time.monotonic() < deadline:
        status, last = api.call("GET", f"{CRDS_URL}/{CRD_NAME}")
        found = (last.get("status") or {}).get("conditions") or []
        conditions = {c["type"]: c["status"] for c in found}
        if status == 200 and conditions.get("Established") == "True":
            listed, _ = api.call("GET", f"/apis/{GROUP_VERSION}/federationbackends")
            if listed == 200:
                return last
        time.sleep(0.2)
    raise AssertionError(f"CRD not established: {json.dumps(last.get('status'))}")


@pytest.fixture(scope="module")
def api(schema_control_plane: ControlPlane) -> Api:
    return Api(schema_control_plane)


@pytest.fixture(scope="module")
def crd(api: Api) -> Json:
    _install_crd(api)
    return _wait_established(api)


@pytest.fixture(scope="module")
def namespace(api: Api, crd: Json) -> Iterator[str]:
    name = f"crd-test-{uuid.uuid4().hex[:8]}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    status, created = api.call("POST", "/api/v1/namespaces", body)
    assert status == 201, created
    yield name
    api.call("DELETE", f"/api/v1/namespaces/{name}")


def _resource(spec: Json, name: str | None = None) -> Json:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "FederationBackend",
        "metadata": {"name": name or f"fb-{uuid.uuid4().hex[:10]}"},
        "spec": spec,
    }


def _create(api: Api, namespace: str, body: Json, query: str = "") -> tuple[int, Json]:
    path = f"/apis/{GROUP_VERSION}/namespaces/{namespace}/federationbackends{query}"
    return api.call("POST", path, body)


AWS_SEED: Json = {
    "type": "aws-secrets-manager",
    "config": {"region": "us-east-1", "credentialsPath": "infra/aws/sm/reader"},
    "pathMapping": {"external/aws/**": "prod/**"},
    "mode": "sync",
    "syncInterval": "15m",
}

VAULT_SEED: Json = {
    "type": "hashicorp-vault",
    "config": {
        "endpoint": "https://vault.internal:8200",
        "authMethod": "approle",
        "authConfigPath": "infra/hashicorp/approle-creds",
        "tlsVerify": True,
    },
    "pathMapping": {"external/hashicorp/**": "secret/data/**"},
    "mode": "proxy",
}

VALID_SPECS: dict[str, Json] = {
    "aws-seed-example": AWS_SEED,
    "vault-seed-example": VAULT_SEED,
    "vault-kubernetes-auth-all-keys": {
        "type": "hashicorp-vault",
        "config": {
            "endpoint": "http://127.0.0.1:8200",
            "authMethod": "kubernetes",
            "authMount": "kubernetes-prod",
            "role": "federation",
            "namespace": "team-a",
            "tlsVerify": False,
            "caCertPath": "infra/hashicorp/ca",
            "kvVersion": 2,
        },
        "pathMapping": {"external/vault/**": "secret/data/**", "legacy/*": "kv/*"},
        "mode": "sync",
        "syncInterval": "1h30m",
    },
    "vault-token-kv1-minimum-interval": {
        "type": "hashicorp-vault",
        "config": {
            "endpoint": "https://vault:8200",
            "authConfigPath": "infra/vault/token",
            "kvVersion": 1,
        },
        "pathMapping": {"external/kv1/**": "kv/**"},
        "mode": "sync",
        "syncInterval": "10s",
    },
    **{
        f"vault-{name}": {
            "type": "hashicorp-vault",
            "config": {"endpoint": "https://vault.internal:8200", **config},
            "pathMapping": {"external/vault/**": "secret/data/**"},
            "mode": "sync",
            "syncInterval": "15m",
        }
        for name, config in {
            "jwt-token-request": {
                "authMethod": "jwt",
                "authMount": "jwt-cluster",
                "role": "sync",
                "serviceAccount": "federation",
                "audience": "vault",
            },
            "jwt-from-secret": {
                "authMethod": "jwt",
                "role": "sync",
                "authConfigPath": "infra/vault/jwt",
            },
            "kubernetes-audience": {
                "authMethod": "kubernetes",
                "role": "sync",
                "audience": "vault",
            },
            "userpass": {
                "authMethod": "userpass",
                "authMount": "people",
                "authConfigPath": "infra/vault/user",
            },
            "ldap": {"authMethod": "ldap", "authConfigPath": "infra/vault/ldap"},
            "cert": {
                "authMethod": "cert",
                "role": "federation",
                "authConfigPath": "infra/vault/client-tls",
                "caCertPath": "infra/vault/ca",
            },
            "aws-platform-identity": {
                "authMethod": "aws",
                "role": "reader",
                "stsRegion": "eu-west-1",
                "iamServerIdHeader": "vault.internal",
            },
            "aws-keys": {"authMethod": "aws", "authConfigPath": "infra/vault/aws-keys"},
            "gcp-iam": {
                "authMethod": "gcp",
                "gcpAuthType": "iam",
                "role": "reader",
                "authConfigPath": "infra/vault/gcp-key",
            },
            "gcp-iam-default-type": {
                "authMethod": "gcp",
                "role": "reader",
                "authConfigPath": "infra/vault/gcp-key",
            },
            "gcp-gce": {"authMethod": "gcp", "gcpAuthType": "gce", "role": "reader"},
        }.items()
    },
    "azure-single-star-all-options": {
        "type": "azure-key-vault",
        "config": {
            "vaultUrl": "https://prod.vault.azure.net",
            "tenantId": "00000000-0000-0000-0000-000000000001",
            "clientId": "00000000-0000-0000-0000-000000000002",
            "credentialsPath": "infra/azure/client",
        },
        "pathMapping": {"external/azure/*": "*"},
        "mode": "sync",
        "syncInterval": "10000ms",
        "conflictPolicy": "overwrite",
        "deletionPolicy": "Delete",
        "prune": True,
        "suspend": False,
    },
    "azure-proxy-minimal": {
        "type": "azure-key-vault",
        "config": {"vaultUrl": "https://dev.vault.azure.net"},
        "pathMapping": {"azure/*": "*"},
        "mode": "proxy",
    },
    "google-several-mappings": {
        "type": "google-secret-manager",
        "config": {
            "project": "my-project-123",
            "credentialsPath": "infra/gcp/sa-key",
            "endpoint": "127.0.0.1:8085",
        },
        "pathMapping": {
            "external/gcp/**": "**",
            "teams/*/db/**": "team/*/database/**",
            "fixed/name": "other-name",
        },
        "mode": "sync",
        "syncInterval": "2h",
    },
    "google-proxy-suspended-probe-interval": {
        "type": "google-secret-manager",
        "config": {"project": "p"},
        "pathMapping": {"gcp/*": "*"},
        "mode": "proxy",
        "syncInterval": "30s",
        "suspend": True,
    },
    "aws-assume-role-fractional-interval": {
        "type": "aws-secrets-manager",
        "config": {
            "region": "eu-west-1",
            "roleArn": "arn:aws:iam::123456789012:role/reader",
            "externalId": "ext-1",
            "endpoint": "http://127.0.0.1:4566",
        },
        "pathMapping": {"external/aws/*/config": "prod/*/config", "literal/path": "prod/literal"},
        "mode": "sync",
        "syncInterval": "1.5h",
    },
    "aws-many-mappings-unicode": {
        "type": "aws-secrets-manager",
        "config": {"region": "us-gov-west-1"},
        "pathMapping": {
            **{f"m{i}/**": f"r{i}/**" for i in range(62)},
            "外部/ü/**": "prod/ü/**",
            "a/**/b/**/c/**/d/**": "w/**/x/**/y/**/z/**",
        },
        "mode": "sync",
        "syncInterval": "24h",
    },
    "google-wildcards-inside-segments": {
        "type": "google-secret-manager",
        "config": {"project": "p"},
        "pathMapping": {
            "gcp/*": "prod-*",
            "db/*/**": "db-*/**",
            "creds/*": "*-creds",
            "apps/*/tls": "app-*-prod/tls",
            "pairs/*-*": "pair/*/*",
        },
        "mode": "sync",
        "syncInterval": "1m",
    },
    "aws-target-every-field": {
        "type": "aws-secrets-manager",
        "config": {"region": "us-east-1"},
        "pathMapping": {"registry/*": "docker/*", "tls/*": "certs/*"},
        "mode": "sync",
        "syncInterval": "5m",
        "target": {
            "type": "kubernetes.io/dockerconfigjson",
            "labels": {"team": "payments", "app.kubernetes.io/part-of": "{{ captures[0] }}"},
            "annotations": {"reloader.stakater.com/match": "true"},
            "data": {"extract": "whole", "key": ".dockerconfigjson"},
            "immutable": False,
            "name": "{{ captures[0] }}-pull",
            "refreshPolicy": "OnChange",
            "rules": [
                {
                    "path": "tls/*",
                    "type": "kubernetes.io/tls",
                    "data": {
                        "extract": "fields",
                        "include": ["cert", "key", "ca*"],
                        "exclude": ["ca-old"],
                        "rename": {"ca": "ca.crt"},
                        "decode": "base64",
                        "decodeKeys": ["ca.crt"],
                        "template": {"tls.crt": "{{ data.cert }}", "tls.key": "{{ data.key }}"},
                    },
                    "version": "AWSPREVIOUS",
                },
                {"path": "registry/db-*", "labels": {"x": "y"}, "immutable": True},
                {"path": "keys/*", "labels": {"federation.scaivault.io/credentials": "true"}},
            ],
        },
        "rolloutRestartTargets": [
            {"kind": "Deployment", "name": "api", "minInterval": "30s"},
            {
                "kind": "StatefulSet",
                "selector": {"matchLabels": {"example.com/app": "db", "t": ""}},
            },
            {"kind": "DaemonSet", "name": "agent"},
        ],
    },
    "aws-keyless-chained": {
        "type": "aws-secrets-manager",
        "config": {
            "region": "eu-west-1",
            "serviceAccount": "payments-reader",
            "roleArn": "arn:aws:iam::123456789012:role/payments",
            "externalId": "ext",
        },
        "pathMapping": {"a/**": "payments/**"},
        "mode": "sync",
        "syncInterval": "5m",
    },
    "azure-keyless": {
        "type": "azure-key-vault",
        "config": {
            "vaultUrl": "https://payments.vault.azure.net",
            "serviceAccount": "payments-reader",
            "tenantId": "00000000-0000-0000-0000-000000000002",
        },
        "pathMapping": {"a/**": "payments/**"},
        "mode": "proxy",
    },
    "google-keyless": {
        "type": "google-secret-manager",
        "config": {
            "project": "payments-prod",
            "serviceAccount": "payments-reader",
            "workloadIdentityProvider": "//iam.googleapis.com/projects/123456789012/locations/"
            "global/workloadIdentityPools/clusters/providers/prod-eu",
        },
        "pathMapping": {"a/**": "payments/**"},
        "mode": "proxy",
    },
    "aws-leading-wildcards": {
        "type": "aws-secrets-manager",
        "config": {"region": "us-east-2"},
        "pathMapping": {"**": "**", "*/x/**": "*/y/**"},
        "mode": "proxy",
        "syncInterval": "5m",
    },
}

DEFAULTS: Json = {
    "conflictPolicy": "report",
    "deletionPolicy": "Retain",
    "prune": False,
    "suspend": False,
}


@pytest.mark.parametrize("spec", list(VALID_SPECS.values()), ids=list(VALID_SPECS))
def test_valid_resources_are_accepted(api: Api, namespace: str, spec: Json) -> None:
    status, created = _create(api, namespace, _resource(spec), "?fieldValidation=Strict")
    assert status == 201, json.dumps(created)[:2000]
    # Nothing was pruned, and the defaults were filled in.
    assert created["spec"] == {**DEFAULTS, **spec}


def test_defaults_are_applied(api: Api, namespace: str) -> None:
    status, created = _create(api, namespace, _resource(AWS_SEED))
    assert status == 201, created
    for key, value in DEFAULTS.items():
        assert created["spec"][key] == value
    # Defaults for config keys would leak into other types; there are none.
    assert created["spec"]["config"] == AWS_SEED["config"]


def _with(base: Json, **changes: Any) -> Json:
    spec = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return spec


def _config(base: Json, **changes: Any) -> Json:
    config = copy.deepcopy(base["config"])
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    return _with(base, config=config)


# (spec, substrings the rejection message must contain)
INVALID_SPECS: dict[str, tuple[Json, tuple[str, ...]]] = {
    "sync-without-interval": (
        _with(AWS_SEED, syncInterval=None),
        ("spec.syncInterval", "required when spec.mode is sync"),
    ),
    "interval-below-minimum": (
        _with(AWS_SEED, syncInterval="5s"),
        ("spec.syncInterval", "at least 10s"),
    ),
    "interval-below-minimum-in-ms": (
        _with(AWS_SEED, syncInterval="9999ms"),
        ("spec.syncInterval", "at least 10s"),
    ),
    "interval-not-a-duration": (
        _with(AWS_SEED, syncInterval="fifteen"),
        ("spec.syncInterval", "Go duration"),
    ),
    "interval-negative": (
        _with(AWS_SEED, syncInterval="-15m"),
        ("spec.syncInterval", "Go duration"),
    ),
    "unknown-type": (
        _with(AWS_SEED, type="consul"),
        ("spec.type", "Unsupported value"),
    ),
    "missing-type": (
        _with(AWS_SEED, type=None),
        ("spec.type", "Required value"),
    ),
    "foreign-key-for-vault": (
        _config(VAULT_SEED, region="us-east-1"),
        ("spec.config.region", "not valid for hashicorp-vault"),
    ),
    "foreign-key-for-azure": (
        {
            "type": "azure-key-vault",
            "config": {"vaultUrl": "https://x.vault.azure.net", "kvVersion": 2},
            "pathMapping": {"a/*": "*"},
            "mode": "proxy",
        },
        ("spec.config.kvVersion", "not valid for azure-key-vault"),
    ),
    "foreign-key-for-google": (
        {
            "type": "google-secret-manager",
            "config": {"project": "p", "vaultUrl": "https://x"},
            "pathMapping": {"a/*": "*"},
            "mode": "proxy",
        },
        ("spec.config.vaultUrl", "not valid for google-secret-manager"),
    ),
    "aws-missing-region": (
        _config(AWS_SEED, region=None),
        ("spec.config.region", "required when spec.type is aws-secrets-manager"),
    ),
    "vault-missing-endpoint": (
        _config(VAULT_SEED, endpoint=None),
        ("spec.config.endpoint", "required when spec.type is hashicorp-vault"),
    ),
    "azure-missing-vault-url": (
        {"type": "azure-key-vault", "config": {}, "pathMapping": {"a/*": "*"}, "mode": "proxy"},
        ("spec.config.vaultUrl", "required when spec.type is azure-key-vault"),
    ),
    "google-missing-project": (
        {
            "type": "google-secret-manager",
            "config": {"credentialsPath": "a/b"},
            "pathMapping": {"a/*": "*"},
            "mode": "proxy",
        },
        ("spec.config.project", "required when spec.type is google-secret-manager"),
    ),
    "mapping-dot-dot": (
        _with(AWS_SEED, pathMapping={"external/../aws/**": "prod/**"}),
        ("spec.pathMapping", "'..'"),
    ),
    "mapping-dot-in-value": (
        _with(AWS_SEED, pathMapping={"external/aws/**": "./prod/**"}),
        ("spec.pathMapping", "'..'"),
    ),
    "mapping-empty-segment": (
        _with(AWS_SEED, pathMapping={"external//aws/**": "prod/**"}),
        ("spec.pathMapping", "empty segment"),
    ),
    "mapping-leading-slash": (
        _with(AWS_SEED, pathMapping={"/external/aws/**": "prod/**"}),
        ("spec.pathMapping", "start or end with '/'"),
    ),
    "mapping-trailing-slash-value": (
        _with(AWS_SEED, pathMapping={"external/aws/**": "prod/**/"}),
        ("spec.pathMapping", "start or end with '/'"),
    ),
    "mapping-mismatched-wildcards": (
        _with(AWS_SEED, pathMapping={"external/aws/**": "prod/*"}),
        ("spec.pathMapping", "same wildcards"),
    ),
    "mapping-wildcards-out-of-order": (
        _with(AWS_SEED, pathMapping={"a/*/**": "b/**/*"}),
        ("spec.pathMapping", "same wildcards"),
    ),
    "mapping-two-wildcards-without-text-between": (
        _with(AWS_SEED, pathMapping={"external/db-**": "prod/db-**"}),
        ("spec.pathMapping", '"external/db-**": "prod/db-**"', "ambiguous", "whole segments"),
    ),
    "mapping-ambiguous-template-only": (
        _with(AWS_SEED, pathMapping={"ok/**": "fine/**", "external/*/x": "prod/a**b/x"}),
        ("spec.pathMapping", '"external/*/x": "prod/a**b/x"', "ambiguous"),
    ),
    "mapping-segment-wildcards-differ": (
        _with(AWS_SEED, pathMapping={"external/*": "prod/*-*"}),
        ("spec.pathMapping", "same wildcards"),
    ),
    "mapping-triple-star": (
        _with(AWS_SEED, pathMapping={"external/***": "prod/***"}),
        ("spec.pathMapping", "whole segments"),
    ),
    "target-service-account-token-type": (
        _with(AWS_SEED, target={"type": "kubernetes.io/service-account-token"}),
        ("spec.target.type", "kubernetes.io/service-account-token is not allowed"),
    ),
    "target-rule-service-account-token-type": (
        _with(
            AWS_SEED,
            target={"rules": [{"path": "a/*", "type": "kubernetes.io/service-account-token"}]},
        ),
        ("spec.target.rules[0].type", "is not allowed"),
    ),
    "target-rename-onto-an-invalid-key": (
        _with(AWS_SEED, target={"data": {"rename": {"cert": "tls/crt"}}}),
        ("spec.target.data.rename.cert", "should match"),
    ),
    "target-template-invalid-key": (
        _with(AWS_SEED, target={"data": {"template": {"tls crt": "{{ data.cert }}"}}}),
        ("spec.target.data.template", "valid Secret data keys"),
    ),
    "target-key-without-whole": (
        _with(AWS_SEED, target={"data": {"key": "value"}}),
        ("spec.target.data.key", "only used with extract: whole"),
    ),
    "target-bad-extract": (
        _with(AWS_SEED, target={"data": {"extract": "json"}}),
        ("spec.target.data.extract", "Unsupported value"),
    ),
    "target-reserved-label": (
        _with(AWS_SEED, target={"labels": {"federation.scaivault.io/backend": "x"}}),
        ("spec.target.labels", "set by the operator"),
    ),
    "target-invalid-label-key": (
        _with(AWS_SEED, target={"labels": {"not a key": "x"}}),
        ("spec.target.labels", "valid label keys"),
    ),
    "target-bad-refresh-policy": (
        _with(AWS_SEED, target={"refreshPolicy": "Never"}),
        ("spec.target.refreshPolicy", "Unsupported value"),
    ),
    "target-rule-ambiguous-path": (
        _with(AWS_SEED, target={"rules": [{"path": "external/db-**", "type": "Opaque"}]}),
        ("spec.target.rules[0].path", "nothing between them"),
    ),
    "target-rule-without-path": (
        _with(AWS_SEED, target={"rules": [{"type": "Opaque"}]}),
        ("spec.target.rules[0].path", "Required value"),
    ),
    "rollout-name-and-selector": (
        _with(
            AWS_SEED,
            rolloutRestartTargets=[
                {"kind": "Deployment", "name": "a", "selector": {"matchLabels": {"a": "b"}}}
            ],
        ),
        ("spec.rolloutRestartTargets[0]", "exactly one of name or selector"),
    ),
    "rollout-selector-key-not-a-label-key": (
        _with(
            AWS_SEED,
            rolloutRestartTargets=[
                {"kind": "Deployment", "selector": {"matchLabels": {"app!": "x"}}}
            ],
        ),
        ("spec.rolloutRestartTargets[0].selector.matchLabels", "valid label keys"),
    ),
    "rollout-selector-value-not-a-label-value": (
        _with(
            AWS_SEED,
            rolloutRestartTargets=[
                {"kind": "Deployment", "selector": {"matchLabels": {"app": "x,tier!=y"}}}
            ],
        ),
        ("spec.rolloutRestartTargets[0].selector.matchLabels.app", "should match"),
    ),
    "rollout-bad-kind": (
        _with(AWS_SEED, rolloutRestartTargets=[{"kind": "Pod", "name": "a"}]),
        ("spec.rolloutRestartTargets[0].kind", "Unsupported value"),
    ),
    "rollout-bad-min-interval": (
        _with(
            AWS_SEED,
            rolloutRestartTargets=[{"kind": "Deployment", "name": "a", "minInterval": "soon"}],
        ),
        ("spec.rolloutRestartTargets[0].minInterval", "should match"),
    ),
    "mapping-adjacent-double-stars": (
        _with(AWS_SEED, pathMapping={"a/**/**": "b/**/c/**"}),
        ("spec.pathMapping", "adjacent"),
    ),
    "mapping-control-character": (
        _with(AWS_SEED, pathMapping={"a/\u0007/**": "b/**"}),
        ("spec.pathMapping", "control characters"),
    ),
    "mapping-empty": (
        _with(AWS_SEED, pathMapping={}),
        ("spec.pathMapping", "should have at least 1 properties"),
    ),
    "bad-mode": (
        _with(AWS_SEED, mode="cache"),
        ("spec.mode", "Unsupported value"),
    ),
    "bad-conflict-policy": (
        _with(AWS_SEED, conflictPolicy="ignore"),
        ("spec.conflictPolicy", "Unsupported value"),
    ),
    "bad-deletion-policy": (
        _with(AWS_SEED, deletionPolicy="delete"),
        ("spec.deletionPolicy", "Unsupported value"),
    ),
    "approle-without-auth-config-path": (
        _config(VAULT_SEED, authConfigPath=None),
        ("spec.config.authConfigPath", "required when spec.config.authMethod is approle"),
    ),
    "default-token-auth-without-auth-config-path": (
        _config(VAULT_SEED, authMethod=None, authConfigPath=None),
        ("spec.config.authConfigPath", "required when spec.config.authMethod is token"),
    ),
    "kubernetes-auth-without-role": (
        _config(VAULT_SEED, authMethod="kubernetes", authConfigPath=None),
        ("spec.config.role", "required when spec.config.authMethod is kubernetes"),
    ),
    "bad-auth-method": (
        _config(VAULT_SEED, authMethod="radius"),
        ("spec.config.authMethod", "Unsupported value"),
    ),
    "audience-for-approle": (
        _config(VAULT_SEED, audience="vault"),
        ("spec.config.audience", "not valid when spec.config.authMethod is approle"),
    ),
    "role-for-default-token-auth": (
        _config(VAULT_SEED, authMethod=None, role="r"),
        ("spec.config.role", "not valid when spec.config.authMethod is token"),
    ),
    "auth-mount-for-token-auth": (
        _config(VAULT_SEED, authMethod="token", authMount="token"),
        ("spec.config.authMount", "not valid when spec.config.authMethod is token"),
    ),
    "service-account-for-userpass": (
        _config(VAULT_SEED, authMethod="userpass", serviceAccount="default"),
        ("spec.config.serviceAccount", "not valid when spec.config.authMethod is userpass"),
    ),
    "sts-region-for-gcp": (
        _config(VAULT_SEED, authMethod="gcp", role="r", stsRegion="us-east-1"),
        ("spec.config.stsRegion", "not valid when spec.config.authMethod is gcp"),
    ),
    "iam-server-id-header-for-jwt": (
        _config(VAULT_SEED, authMethod="jwt", role="r", iamServerIdHeader="v"),
        ("spec.config.iamServerIdHeader", "not valid when spec.config.authMethod is jwt"),
    ),
    "gcp-auth-type-for-aws": (
        _config(VAULT_SEED, authMethod="aws", gcpAuthType="iam"),
        ("spec.config.gcpAuthType", "not valid when spec.config.authMethod is aws"),
    ),
    "gce-with-credentials": (
        _config(VAULT_SEED, authMethod="gcp", role="r", gcpAuthType="gce"),
        ("spec.config.authConfigPath", "not valid when spec.config.gcpAuthType is gce"),
    ),
    "jwt-without-role": (
        _config(VAULT_SEED, authMethod="jwt", authConfigPath=None),
        ("spec.config.role", "required when spec.config.authMethod is jwt"),
    ),
    "gcp-without-role": (
        _config(VAULT_SEED, authMethod="gcp"),
        ("spec.config.role", "required when spec.config.authMethod is gcp"),
    ),
    "userpass-without-auth-config-path": (
        _config(VAULT_SEED, authMethod="userpass", authConfigPath=None),
        ("spec.config.authConfigPath", "required when spec.config.authMethod is userpass"),
    ),
    "gcp-iam-without-auth-config-path": (
        _config(VAULT_SEED, authMethod="gcp", role="r", authConfigPath=None),
        ("spec.config.authConfigPath", "required when spec.config.authMethod is gcp"),
    ),
    "cert-over-plain-http": (
        _config(VAULT_SEED, authMethod="cert", endpoint="http://vault:8200"),
        ("spec.config.endpoint", "must be an https URL when spec.config.authMethod is cert"),
    ),
    "audience-for-aws-secrets-manager": (
        _config(AWS_SEED, audience="vault"),
        ("spec.config.audience", "not valid for aws-secrets-manager"),
    ),
    "kv-version-out-of-range": (
        _config(VAULT_SEED, kvVersion=3),
        ("spec.config.kvVersion", "less than or equal to 2"),
    ),
    "keyless-with-static-keys": (
        _config(AWS_SEED, serviceAccount="reader", credentialsPath="infra/aws"),
        ("spec.config.credentialsPath", "not valid with spec.config.serviceAccount"),
    ),
    "keyless-azure-with-a-client-id": (
        {
            "type": "azure-key-vault",
            "config": {
                "vaultUrl": "https://x.vault.azure.net",
                "serviceAccount": "reader",
                "clientId": "00000000-0000-0000-0000-000000000001",
            },
            "pathMapping": {"a/*": "*"},
            "mode": "proxy",
        },
        ("spec.config.clientId", "not valid with spec.config.serviceAccount"),
    ),
    "keyless-google-provider-without-an-account": (
        {
            "type": "google-secret-manager",
            "config": {
                "project": "p",
                "workloadIdentityProvider": "//iam.googleapis.com/projects/1/locations/global/"
                "workloadIdentityPools/pool/providers/kubernetes",
            },
            "pathMapping": {"a/*": "*"},
            "mode": "proxy",
        },
        ("spec.config.workloadIdentityProvider", "valid only with spec.config.serviceAccount"),
    ),
    "keyless-google-provider-elsewhere": (
        {
            "type": "google-secret-manager",
            "config": {
                "project": "p",
                "serviceAccount": "reader",
                "workloadIdentityProvider": "https://attacker.example/token",
            },
            "pathMapping": {"a/*": "*"},
            "mode": "proxy",
        },
        ("spec.config.workloadIdentityProvider", "should match"),
    ),
    "keyless-account-not-a-name": (
        _config(AWS_SEED, credentialsPath=None, serviceAccount="other-namespace/reader"),
        ("spec.config.serviceAccount", "should match"),
    ),
    "credentials-path-traversal": (
        _config(AWS_SEED, credentialsPath="infra/../kube-system/token"),
        ("spec.config.credentialsPath", "ScaiVault path"),
    ),
    "credentials-path-wildcard": (
        _config(AWS_SEED, credentialsPath="infra/*"),
        ("spec.config.credentialsPath", "ScaiVault path"),
    ),
}


@pytest.mark.parametrize(
    ("spec", "expected"), list(INVALID_SPECS.values()), ids=list(INVALID_SPECS)
)
def test_invalid_resources_are_rejected(
    api: Api, namespace: str, spec: Json, expected: tuple[str, ...]
) -> None:
    body = _resource(spec)
    status, answer = _create(api, namespace, body)
    assert status == 422, json.dumps(answer)[:2000]
    message = answer.get("message", "")
    for fragment in expected:
        assert fragment in message, message
    name = body["metadata"]["name"]
    path = f"/apis/{GROUP_VERSION}/namespaces/{namespace}/federationbackends/{name}"
    assert api.call("GET", path)[0] == 404


def test_unknown_config_key_is_rejected_with_strict_validation(api: Api, namespace: str) -> None:
    body = _resource(_config(AWS_SEED, regoin="us-east-1"))
    status, answer = _create(api, namespace, body, "?fieldValidation=Strict")
    assert status in (400, 422), answer
    assert "spec.config.regoin" in answer.get("message", ""), answer


def test_unknown_spec_field_is_rejected_with_strict_validation(api: Api, namespace: str) -> None:
    body = _resource(_with(AWS_SEED, syncIntervall="15m"))
    status, answer = _create(api, namespace, body, "?fieldValidation=Strict")
    assert status in (400, 422), answer
    assert "spec.syncIntervall" in answer.get("message", ""), answer


def test_several_problems_are_reported_together(api: Api, namespace: str) -> None:
    spec = _with(
        _config(VAULT_SEED, region="us-east-1"),
        mode="sync",
        pathMapping={"a/**": "b/*"},
    )
    status, answer = _create(api, namespace, _resource(spec))
    assert status == 422, answer
    message = answer["message"]
    for fragment in ("spec.syncInterval", "spec.config.region", "spec.pathMapping"):
        assert fragment in message, message


def test_update_is_validated_too(api: Api, namespace: str) -> None:
    name = f"fb-{uuid.uuid4().hex[:10]}"
    status, created = _create(api, namespace, _resource(AWS_SEED, name))
    assert status == 201, created
    path = f"/apis/{GROUP_VERSION}/namespaces/{namespace}/federationbackends/{name}"
    patch = {"spec": {"syncInterval": "1s"}}
    status, answer = api.call("PATCH", path, patch, content_type="application/merge-patch+json")
    assert status == 422, answer
    assert "spec.syncInterval" in answer["message"]
    patch = {"spec": {"syncInterval": "20m", "mode": "proxy"}}
    status, answer = api.call("PATCH", path, patch, content_type="application/merge-patch+json")
    assert status == 200, answer


def test_status_subresource_accepts_the_designed_status(api: Api, namespace: str) -> None:
    name = f"fb-{uuid.uuid4().hex[:10]}"
    status, created = _create(api, namespace, _resource(AWS_SEED, name))
    assert status == 201, created
    path = f"/apis/{GROUP_VERSION}/namespaces/{namespace}/federationbackends/{name}"
    now = "2026-04-23T10:00:00Z"
    designed = {
        "id": "fed_4f1c2a9b7d3e",
        "status": "healthy",
        "lastSync": now,
        "lastSyncDurationMs": 3421,
        "secretsSynced": 127,
        "conflictCount": 1,
        "connection": {
            "status": "connected",
            "latencyMs": 15,
            "checkedAt": now,
            "message": "",
        },
        "conflicts": [
            {
                "path": "external/aws/db/password",
                "remotePath": "prod/db/password",
                "reason": "LocalSecretNotManaged",
                "detectedAt": now,
            }
        ],
        "message": "",
        "nextSyncAt": "2026-04-23T10:15:00Z",
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Connected",
                "message": "",
                "lastTransitionTime": now,
                "observedGeneration": 1,
            },
            {
                "type": "Synced",
                "status": "True",
                "reason": "SyncSucceeded",
                "message": "127 secrets",
                "lastTransitionTime": now,
                "observedGeneration": 1,
            },
        ],
    }
    status, patched = api.call(
        "PATCH",
        f"{path}/status?fieldValidation=Strict",
        {"status": designed},
        content_type="application/merge-patch+json",
    )
    assert status == 200, patched
    assert patched["status"] == designed
    # The main resource ignores status; the status subresource ignores spec.
    status, plain = api.call(
        "PATCH",
        path,
        {"status": {"status": "error"}},
        content_type="application/merge-patch+json",
    )
    assert status == 200, plain
    assert plain["status"]["status"] == "healthy"

    # The status is closed: unknown fields are refused, enums are enforced.
    status, answer = api.call(
        "PATCH",
        f"{path}/status?fieldValidation=Strict",
        {"status": {"kopf": {"progress": {}}}},
        content_type="application/merge-patch+json",
    )
    assert status in (400, 422), answer
    status, answer = api.call(
        "PATCH",
        f"{path}/status",
        {"status": {"status": "fine"}},
        content_type="application/merge-patch+json",
    )
    assert status == 422, answer
    assert "status.status" in answer["message"]


def test_crd_as_served(api: Api, crd: Json) -> None:
    version = crd["spec"]["versions"][0]
    assert crd["spec"]["group"] == "federation.scaivault.io"
    assert crd["spec"]["scope"] == "Namespaced"
    assert version["name"] == "v1alpha1"
    assert version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    names = crd["spec"]["names"]
    assert names["kind"] == "FederationBackend"
    assert names["plural"] == "federationbackends"
    assert names["singular"] == "federationbackend"
    assert names["shortNames"] == ["fedb"]
    assert names["categories"] == ["scaivault"]
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    expected = {
        "Type": (".spec.type", "string"),
        "Mode": (".spec.mode", "string"),
        "Status": (".status.status", "string"),
        "Synced": (".status.secretsSynced", "integer"),
        "Conflicts": (".status.conflictCount", "integer"),
        "Latency": (".status.connection.latencyMs", "integer"),
        "Last Sync": (".status.lastSync", "date"),
        "Age": (".metadata.creationTimestamp", "date"),
        "Reason": ('.status.conditions[?(@.type=="Ready")].reason', "string"),
        "Message": (".status.message", "string"),
    }
    for name, (json_path, kind) in expected.items():
        assert columns[name]["jsonPath"] == json_path
        assert columns[name]["type"] == kind
    for wide in ("Latency", "Reason", "Message"):
        assert columns[wide].get("priority") == 1, wide

    status, discovery = api.call("GET", f"/apis/{GROUP_VERSION}")
    assert status == 200, discovery
    resources = {r["name"]: r for r in discovery["resources"]}
    assert resources["federationbackends"]["shortNames"] == ["fedb"]
    assert resources["federationbackends"]["categories"] == ["scaivault"]
    assert "federationbackends/status" in resources


def test_printer_columns_in_table_output(api: Api, namespace: str, crd: Json) -> None:
    status, created = _create(api, namespace, _resource(AWS_SEED))
    assert status == 201, created
    status, table = api.call(
        "GET",
        f"/apis/{GROUP_VERSION}/namespaces/{namespace}/federationbackends",
        accept="application/json;as=Table;v=v1;g=meta.k8s.io",
    )
    assert status == 200, table
    assert table["kind"] == "Table"
    headers = [c["name"] for c in table["columnDefinitions"]]
    assert headers == [
        "Name",
        "Type",
        "Mode",
        "Status",
        "Synced",
        "Conflicts",
        "Latency",
        "Last Sync",
        "Age",
        "Reason",
        "Message",
    ]
    wide = {"Latency", "Reason", "Message"}  # shown by `kubectl get fedb -o wide`
    by_name = {c["name"]: c for c in table["columnDefinitions"]}
    assert all(by_name[n]["priority"] == 1 for n in wide)
    assert all(by_name[n]["priority"] == 0 for n in headers if n not in wide)
    row = next(r for r in table["rows"] if r["cells"][0] == created["metadata"]["name"])
    assert row["cells"][1:3] == ["aws-secrets-manager", "sync"]


def test_wide_output_says_why_a_backend_is_not_healthy(api: Api, namespace: str, crd: Json) -> None:
    name = f"fb-{uuid.uuid4().hex[:10]}"
    status, created = _create(api, namespace, _resource(AWS_SEED, name))
    assert status == 201, created
    path = f"/apis/{GROUP_VERSION}/namespaces/{namespace}/federationbackends/{name}"
    now = "2026-04-23T10:00:00Z"
    message = "aws-secrets-manager: the credentials were rejected (UnrecognizedClientException)"
    failing = {
        "status": "error",
        "message": message,
        "conditions": [
            {
                "type": "Synced",
                "status": "False",
                "reason": "PartialSync",
                "message": message,
                "lastTransitionTime": now,
            },
            {
                "type": "Ready",
                "status": "False",
                "reason": "AuthenticationFailed",
                "message": message,
                "lastTransitionTime": now,
            },
        ],
    }
    code, patched = api.call(
        "PATCH",
        f"{path}/status",
        {"status": failing},
        content_type="application/merge-patch+json",
    )
    assert code == 200, patched
    code, table = api.call("GET", path, accept="application/json;as=Table;v=v1;g=meta.k8s.io")
    assert code == 200, table
    headers = [c["name"] for c in table["columnDefinitions"]]
    cells = dict(zip(headers, table["rows"][0]["cells"], strict=True))
    assert cells["Status"] == "error"
    assert cells["Reason"] == "AuthenticationFailed"  # Ready's, not Synced's
    assert cells["Message"] == message
