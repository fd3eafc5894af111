"""An in-memory stand-in for the few Secret calls :class:`SecretStore` makes.

It keeps resourceVersions, refuses a stale one (409), refuses a change of a
Secret's type or of an immutable Secret's data (422, as the apiserver does),
supports label selectors of ``k=v`` terms, and counts every write by verb.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping
from typing import Any

from scaivault_federation.k8s.client import ConflictError, InvalidError, NotFoundError

JSON = dict[str, Any]


class MemoryKube:
    def __init__(self) -> None:
        self.objects: dict[str, JSON] = {}
        self.writes: Counter[str] = Counter()
        self._rv = 100

    def _next(self) -> str:
        self._rv += 1
        return str(self._rv)

    @staticmethod
    def _split(path: str) -> tuple[str, str | None]:
        parts = path.rstrip("/").split("/")
        if parts[-1] == "secrets":
            return path.rstrip("/"), None
        return "/".join(parts[:-1]), parts[-1]

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> JSON:
        base, name = self._split(path)
        if name is not None:
            if path not in self.objects:
                raise NotFoundError(404, "NotFound", "")
            return copy.deepcopy(self.objects[path])
        terms = [t.split("=", 1) for t in (params or {}).get("labelSelector", "").split(",") if t]
        items = [
            copy.deepcopy(obj)
            for key, obj in sorted(self.objects.items())
            if key.startswith(base + "/")
            and all((obj["metadata"].get("labels") or {}).get(k) == v for k, v in terms)
        ]
        return {"items": items}

    async def post(self, path: str, body: JSON, params: Mapping[str, str] | None = None) -> JSON:
        key = f"{path}/{body['metadata']['name']}"
        if key in self.objects:
            raise ConflictError(409, "AlreadyExists", "")
        obj = copy.deepcopy(body)
        obj["metadata"]["resourceVersion"] = self._next()
        obj.setdefault("type", "Opaque")
        self.objects[key] = obj
        self.writes["create"] += 1
        return copy.deepcopy(obj)

    async def put(self, path: str, body: JSON) -> JSON:
        current = self.objects.get(path)
        if current is None:
            raise NotFoundError(404, "NotFound", "")
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise ConflictError(409, "Conflict", "stale resourceVersion")
        if body.get("type", "Opaque") != current.get("type", "Opaque"):
            raise InvalidError(422, "Invalid", "type: field is immutable")
        if current.get("immutable") and body.get("data") != current.get("data"):
            raise InvalidError(422, "Invalid", "data: field is immutable when immutable is set")
        obj = copy.deepcopy(body)
        obj["metadata"]["resourceVersion"] = self._next()
        self.objects[path] = obj
        self.writes["replace"] += 1
        return copy.deepcopy(obj)

    async def merge_patch(self, path: str, body: JSON) -> JSON:
        current = self.objects.get(path)
        if current is None:
            raise NotFoundError(404, "NotFound", "")
        current = self.objects[path] = merge_patch(current, body)
        current["metadata"]["resourceVersion"] = self._next()
        self.writes["patch"] += 1
        return copy.deepcopy(current)

    async def delete(self, path: str, body: JSON | None = None) -> JSON:
        current = self.objects.get(path)
        if current is None:
            raise NotFoundError(404, "NotFound", "")
        wanted = ((body or {}).get("preconditions") or {}).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise ConflictError(409, "Conflict", "precondition failed")
        del self.objects[path]
        self.writes["delete"] += 1
        return {}

    def secret(self, namespace: str, name: str) -> JSON | None:
        return self.objects.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, as the apiserver applies one (``target`` is left as
    it was)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
