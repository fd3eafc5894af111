"""A small HTTP client for the API that checks every answer against the served OpenAPI
document, plus helpers to prepare Kubernetes identities for the auth tests."""

from __future__ import annotations

import re
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from scaivault_federation.api.auth import TOKEN_AUDIENCE
from scaivault_federation.k8s.client import KubeClient
from tests.e2e.helpers import eventually

__all__ = [
    "ApiClient",
    "OpenApiChecker",
    "Reply",
    "changed",
    "cluster_role_token",
    "eventually",
    "service_account_token",
]

DOC_URI = "urn:scaivault:openapi"
FED = "/v1/federation"


class OpenApiChecker:
    """Validates (method, path, status, headers, body) against an OpenAPI 3.1 document."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        resource = Resource.from_contents(doc, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(DOC_URI, resource)
        self._templates = [
            (re.compile("^" + self._regex(template) + "$"), template) for template in doc["paths"]
        ]

    @staticmethod
    def _regex(template: str) -> str:
        out = ""
        for part in re.split(r"(\{[^}]+\})", template):
            if part == "{path}":
                out += ".+"
            elif part.startswith("{"):
                out += "[^/]+"
            else:
                out += re.escape(part)
        return out

    def operation(self, method: str, path: str) -> dict[str, Any]:
        matches = [t for regex, t in self._templates if regex.match(path)]
        # a literal template beats one with parameters (openapi.json vs {id})
        matches.sort(key=lambda t: t.count("{"))
        assert matches, f"{path} is not documented"
        item = self.doc["paths"][matches[0]]
        assert method.lower() in item, f"{method} {matches[0]} is not documented"
        op: dict[str, Any] = item[method.lower()]
        return op

    def check(
        self, method: str, path: str, status: int, headers: Any, body: Any, raw: bytes
    ) -> None:
        op = self.operation(method, path)
        response = op["responses"].get(str(status))
        assert response is not None, f"{method} {path} -> {status} is not documented"
        content = response.get("content")
        if not content:
            assert raw == b"", f"{method} {path} -> {status} should have no body"
            return
        media = headers.get("Content-Type", "").split(";")[0]
        assert media in content, f"{method} {path} -> {status}: undocumented type {media!r}"
        if media != "application/json":
            return
        schema = content[media]["schema"]
        if "$ref" in schema:
            schema = {"$ref": DOC_URI + schema["$ref"]}
        Draft202012Validator(schema, registry=self.registry).validate(body)
        for name in response.get("headers", {}):
            assert name in headers, f"{method} {path} -> {status}: header {name} missing"


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any
    raw: bytes = field(repr=False)

    @property
    def error(self) -> dict[str, Any]:
        assert isinstance(self.body, dict) and "error" in self.body, self.body
        error: dict[str, Any] = self.body["error"]
        return error


class ApiClient:
    """Calls the API with a default token; every reply is checked against the document."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        checker: OpenApiChecker,
        token: str | None = None,
    ) -> None:
        self.session = session
        self.base_url = base_url
        self.checker = checker
        self.token = token
        self.replies: list[Reply] = []

    def with_token(self, token: str | None) -> ApiClient:
        return ApiClient(self.session, self.base_url, self.checker, token)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | str | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
        check: bool = True,
    ) -> Reply:
        sent = dict(headers or {})
        bearer = token if token is not None else self.token
        if bearer:
            sent.setdefault("Authorization", f"Bearer {bearer}")
        url = self.base_url + path
        async with self.session.request(
            method, url, json=json, data=data, params=params, headers=sent
        ) as resp:
            raw = await resp.read()
            body: Any = None
            if resp.content_type == "application/json" and raw:
                body = await resp.json()
            reply = Reply(resp.status, body, resp.headers, raw)
        if check:
            self.checker.check(
                method, urllib.parse.unquote(path), reply.status, reply.headers, body, raw
            )
        self.replies.append(reply)
        return reply

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> Reply:
        return await self.call("POST", path, **kw)

    async def put(self, path: str, **kw: Any) -> Reply:
        return await self.call("PUT", path, **kw)

    async def patch(self, path: str, **kw: Any) -> Reply:
        return await self.call("PATCH", path, **kw)

    async def delete(self, path: str, **kw: Any) -> Reply:
        return await self.call("DELETE", path, **kw)


def vault_body(name: str, address: str, prefix: str, **extra: Any) -> dict[str, Any]:
    """A hashicorp-vault backend body for the API (token auth at ``creds/vault-token``)."""
    return {
        "name": name,
        "type": "hashicorp-vault",
        "config": {"endpoint": address, "auth_config_path": "creds/vault-token"},
        "path_mapping": {"external/vault/**": f"secret/data/{prefix}/**"},
        "mode": "sync",
        "sync_interval": "10m",
        **extra,
    }


#: (api group, resource) -> the objects a rule is limited to (RBAC resourceNames)
Names = dict[tuple[str, str], list[str]]


async def service_account_token(
    kube: KubeClient,
    namespace: str,
    verbs: dict[tuple[str, str], list[str]],
    names: Names | None = None,
    *,
    audience: str | None = TOKEN_AUDIENCE,
) -> str:
    """A ServiceAccount bound to a Role granting ``verbs`` per (api group, resource) (on
    the objects ``names`` gives, where it gives some), and a token for it from the
    TokenRequest API, issued for the API's audience (``None``: the apiserver's)."""
    return await _bound_token(
        kube, namespace, verbs, names or {}, cluster_wide=False, audience=audience
    )


async def cluster_role_token(
    kube: KubeClient,
    namespace: str,
    verbs: dict[tuple[str, str], list[str]],
    names: Names | None = None,
) -> str:
    """A ServiceAccount in ``namespace`` bound cluster-wide (ClusterRole +
    ClusterRoleBinding) to ``verbs`` per (api group, resource), and a token for it."""
    return await _bound_token(kube, namespace, verbs, names or {}, cluster_wide=True)


async def _bound_token(
    kube: KubeClient,
    namespace: str,
    verbs: dict[tuple[str, str], list[str]],
    names: Names,
    *,
    cluster_wide: bool,
    audience: str | None = TOKEN_AUDIENCE,
) -> str:
    name = f"sa-{uuid.uuid4().hex[:6]}"
    await kube.post(
        f"/api/v1/namespaces/{namespace}/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
    )
    rules: list[dict[str, Any]] = []
    for (group, resource), allowed in verbs.items():
        rule: dict[str, Any] = {"apiGroups": [group], "resources": [resource], "verbs": allowed}
        if (group, resource) in names:
            rule["resourceNames"] = names[group, resource]
        rules.append(rule)
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    if cluster_wide:
        kind, role, where = "ClusterRole", f"{namespace}-{name}", rbac
    else:
        kind, role, where = "Role", name, f"{rbac}/namespaces/{namespace}"
    group = "rbac.authorization.k8s.io"
    await kube.post(
        f"{where}/{kind.lower()}s",
        {"apiVersion": f"{group}/v1", "kind": kind, "metadata": {"name": role}, "rules": rules},
    )
    await kube.post(
        f"{where}/{kind.lower()}bindings",
        {
            "apiVersion": f"{group}/v1",
            "kind": f"{kind}Binding",
            "metadata": {"name": role},
            "roleRef": {"apiGroup": group, "kind": kind, "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    )
    spec: dict[str, Any] = {"expirationSeconds": 3600}
    if audience is not None:
        spec["audiences"] = [audience]
    doc = await kube.post(
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
    )
    token: str = doc["status"]["token"]
    return token


def changed(body: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """``body`` with ``change`` applied: a value replaces a key, ``None`` drops it."""
    out = dict(body)
    for key, value in change.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out
