"""Watches of credentials Secrets by name: a metadata-only list + watch (no Secret data
crosses the wire) of the Secrets labelled as credentials, reporting each one created,
changed or deleted (a label added or removed counts as created or deleted: the watch
is filtered by it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..labels import CREDENTIALS_LABEL, CREDENTIALS_LABEL_VALUE
from .client import JSON, KubeClient
from .reflector import Reflector
from .secret_cache import ALL_SECRETS, namespace_secrets

SecretListener = Callable[[str, str], None]  # (namespace, name)

#: the Secrets a backend may read as credentials
CREDENTIALS_SELECTOR = f"{CREDENTIALS_LABEL}={CREDENTIALS_LABEL_VALUE}"


def secret_collections(namespaces: Sequence[str]) -> list[str]:
    """The Secret collections to watch: every namespace, or each watched one."""
    return [namespace_secrets(ns) for ns in namespaces] if namespaces else [ALL_SECRETS]


class SecretNameWatch:
    def __init__(self, listener: SecretListener) -> None:
        self.listener = listener
        self._versions: dict[tuple[str, str], str] = {}
        self._listed: set[str] = set()

    def reflector(self, client: KubeClient, path: str) -> Reflector:
        return Reflector(
            client, path, self, label_selector=CREDENTIALS_SELECTOR, metadata_only=True
        )

    def replaced(self, scope: str, items: list[JSON]) -> None:
        """A listing: after the first one, whatever changed meanwhile is news."""
        first = scope not in self._listed
        self._listed.add(scope)
        for obj in items:
            key, version = _key(obj)
            if not first and self._versions.get(key) != version:
                self.listener(*key)
            self._versions[key] = version

    def changed(self, scope: str, event_type: str, obj: JSON) -> None:
        key, version = _key(obj)
        if event_type == "DELETED":
            self._versions.pop(key, None)
        else:
            self._versions[key] = version
        self.listener(*key)


def _key(obj: JSON) -> tuple[tuple[str, str], str]:
    meta = obj.get("metadata") or {}
    key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
    return key, str(meta.get("resourceVersion", ""))
