"""The Secrets this operator manages, held in memory and kept current by a
label-selected list + watch, so a sync reads its backend's Secrets without
asking the apiserver. Our own writes are applied from the apiserver's answer
at once (a later, older event does not undo them). Listeners hear of every
change made by someone else: a hand edit, a deletion.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

from ..labels import MANAGED_BY, MANAGED_BY_VALUE
from ..models.secret import LocalSecret, holds_a_path
from .client import JSON
from .secrets import decode_secret

#: the label selector of every Secret the operator manages
MANAGED_SELECTOR = f"{MANAGED_BY}={MANAGED_BY_VALUE}"
ALL_SECRETS = "/api/v1/secrets"


def namespace_secrets(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/secrets"


#: (event type, the Secret before or None, the Secret after or None, its namespace)
Listener = Callable[[str, str, LocalSecret | None, LocalSecret | None], None]


K = TypeVar("K")


def _discard(index: dict[K, set[str]], key: K, name: str) -> None:
    """Take ``name`` out of ``index[key]``, and the key out once it holds none."""
    names = index.get(key)
    if names is not None:
        names.discard(name)
        if not names:
            del index[key]


def _version(value: str | None) -> int:
    return int(value) if value and value.isdigit() else -1


@dataclass
class _Entry:
    secret: LocalSecret
    scope: str


class ManagedSecretCache:
    def __init__(self) -> None:
        self._items: dict[tuple[str, str], _Entry] = {}
        self._by_backend: dict[tuple[str, str], set[str]] = {}
        #: (namespace, backend, path) -> the names of its Secrets holding that path
        self._by_path: dict[tuple[str, str, str], set[str]] = {}
        #: (namespace, backend) -> the names of its Secrets holding a path, not orphaned
        self._holding: dict[tuple[str, str], set[str]] = {}
        self._listeners: list[Listener] = []
        #: Secrets we deleted ourselves, whose DELETED event is no news
        self._own_deletes: set[tuple[str, str]] = set()
        self.scopes_synced: set[str] = set()

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    # --- reads -----------------------------------------------------------------------

    def managed(self, namespace: str, backend: str) -> list[LocalSecret]:
        names = self._by_backend.get((namespace, backend), set())
        return [self._items[(namespace, n)].secret for n in sorted(names)]

    def managed_at(
        self, namespace: str, backend: str, names: Collection[str], paths: Collection[str]
    ) -> list[LocalSecret]:
        """This backend's Secrets named one of ``names`` or holding one of ``paths``."""
        found = set(names) & self._by_backend.get((namespace, backend), set())
        for path in paths:
            found |= self._by_path.get((namespace, backend, path), set())
        return [self._items[(namespace, n)].secret for n in sorted(found)]

    def count_holding(self, namespace: str, backend: str) -> int:
        """How many of this backend's Secrets hold a path and are not orphaned."""
        return len(self._holding.get((namespace, backend), ()))

    def __len__(self) -> int:
        return len(self._items)

    def covers(self, namespace: str) -> bool:
        """Whether a full listing of ``namespace`` (or of every namespace) is held."""
        return bool({ALL_SECRETS, namespace_secrets(namespace)} & self.scopes_synced)

    # --- our own writes ----------------------------------------------------------------

    def upsert(self, namespace: str, obj: JSON, scope: str = "") -> None:
        """Hold the Secret the apiserver returned (or drop it if it is no longer ours).
        One the cache holds at that resourceVersion or later (its watch event came
        before the answer to our write, or the other way round) is not read again."""
        meta = obj.get("metadata") or {}
        key = (namespace, str(meta.get("name", "")))
        current = self._items.get(key)
        if current is not None and _version(meta.get("resourceVersion")) <= _version(
            current.secret.resource_version
        ):
            current.scope = scope or current.scope  # a listing's or watch's now
            return
        secret = decode_secret(obj)
        self._drop(key)
        backend = secret.managed_by
        if backend is not None:
            self._items[key] = _Entry(secret, scope or (current.scope if current else ""))
            self._by_backend.setdefault((namespace, backend), set()).add(secret.name)
            if secret.path is not None:
                self._by_path.setdefault((namespace, backend, secret.path), set()).add(secret.name)
            if holds_a_path(secret):
                self._holding.setdefault((namespace, backend), set()).add(secret.name)

    def deleted_by_us(self, namespace: str, name: str) -> None:
        self._own_deletes.add((namespace, name))
        self._drop((namespace, name))

    def _drop(self, key: tuple[str, str]) -> LocalSecret | None:
        entry = self._items.pop(key, None)
        if entry is None:
            return None
        secret = entry.secret
        backend = secret.managed_by
        if backend is not None:
            _discard(self._by_backend, (key[0], backend), key[1])
            _discard(self._holding, (key[0], backend), key[1])
            if secret.path is not None:
                _discard(self._by_path, (key[0], backend, secret.path), key[1])
        return secret

    # --- the watch ---------------------------------------------------------------------

    def replaced(self, scope: str, items: list[JSON]) -> None:
        for key in [k for k, e in self._items.items() if e.scope == scope]:
            self._drop(key)
        for obj in items:
            namespace = str((obj.get("metadata") or {}).get("namespace", ""))
            self.upsert(namespace, obj, scope)
        self.scopes_synced.add(scope)

    def changed(self, scope: str, event_type: str, obj: JSON) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        before = self._items[key].secret if key in self._items else None
        if event_type == "DELETED":
            self._drop(key)
            if key in self._own_deletes:
                self._own_deletes.discard(key)
                return
            after = None
        else:
            if before is not None and before.resource_version == meta.get("resourceVersion"):
                return  # our own write, already applied
            self.upsert(key[0], obj, scope)
            after = decode_secret(obj)
        for listener in self._listeners:
            listener(event_type, key[0], before, after)
