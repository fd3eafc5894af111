"""What wakes a worker besides its own schedule: changes to the Secrets it depends on.

- A credentials Secret a backend's config names (created, changed, deleted):
  the worker logs in afresh and syncs at once, so a backend waiting for its
  credentials recovers as soon as they exist.
- A Secret the backend manages, deleted or edited by hand (its data no longer
  matches its ``source-mac``): the worker syncs at once, restoring it or
  reporting the conflict. Our own writes match their MAC and wake nobody.

The Kubernetes watches call :meth:`TriggerRouter.secret_changed` (any Secret, by
name) and :meth:`TriggerRouter.managed_changed` (managed Secrets, with data).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from ..models.secret import LocalSecret
from .mac import mac_matches

Key = tuple[str, str]  # (namespace, name)


class Wakeable(Protocol):
    def trigger(self) -> None:
        """Sync at once."""
        ...

    def credentials_changed(self) -> None:
        """Log in afresh, then sync at once."""
        ...


class TriggerRouter:
    def __init__(self, mac_key: bytes) -> None:
        self.mac_key = mac_key
        self._workers: dict[Key, Wakeable] = {}
        self._needs: dict[Key, set[Key]] = {}  # credentials Secret -> backends
        self._needed_by: dict[Key, set[Key]] = {}  # backend -> credentials Secrets
        self.woken = 0

    def attach(self, backend: Key, worker: Wakeable) -> None:
        self._workers[backend] = worker

    def detach(self, backend: Key, worker: Wakeable) -> None:
        if self._workers.get(backend) is worker:
            del self._workers[backend]
            self.depend(backend, ())

    def depend(self, backend: Key, secret_names: Iterable[str]) -> None:
        """``backend`` reads the credentials Secrets ``secret_names`` (its namespace)."""
        for secret in self._needed_by.pop(backend, set()):
            users = self._needs.get(secret)
            if users is not None:
                users.discard(backend)
                if not users:
                    del self._needs[secret]
        wanted = {(backend[0], name) for name in secret_names}
        if wanted:
            self._needed_by[backend] = wanted
            for secret in wanted:
                self._needs.setdefault(secret, set()).add(backend)

    def secret_changed(self, namespace: str, name: str) -> None:
        for backend in sorted(self._needs.get((namespace, name), ())):
            worker = self._workers.get(backend)
            if worker is not None:
                self.woken += 1
                worker.credentials_changed()

    def managed_changed(
        self, event_type: str, namespace: str, before: LocalSecret | None, after: LocalSecret | None
    ) -> None:
        secret = after if after is not None else before
        if secret is None:
            return
        owner = (before or secret).managed_by
        if owner is None:
            return
        if event_type != "DELETED" and after is not None:
            if after.managed_by is None:
                return  # released, not edited
            path = after.path
            if path is not None and mac_matches(self.mac_key, path, after.data, after.source_mac):
                return  # our own write, or an edit that left the data alone
        worker = self._workers.get((namespace, owner))
        if worker is not None:
            self.woken += 1
            worker.trigger()
