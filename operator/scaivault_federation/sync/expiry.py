"""When synced Secrets expire, as the backend says: the expiry metric's series of each
backend's Secrets, kept in step with what its syncs leave managed.

A full sync says every Secret of the backend: those whose remote secret has a known
expiry (or next rotation) get their series, and the series of any other Secret it
had are removed (a Secret no longer managed, a secret whose expiry was lifted, a
namespace no longer selected). A sync of some paths only sets the series of the
Secrets it saw with an expiry; the next full sync settles the rest. A deleted
backend's series go with it (:meth:`SyncedExpiries.forget`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping

from ..expiry_metrics import SECRET_EXPIRY

#: a managed Secret: (its namespace, its name)
SecretKey = tuple[str, str]
#: the series' labels: namespace, kind, resource, secret
Labels = tuple[str, str, str, str]


class SyncedExpiries:
    """The expiry series each backend set, by its worker's (namespace, owner key)."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str], set[Labels]] = {}

    def record(
        self,
        backend: tuple[str, str],
        kind: str,
        resource: str,
        expiries: Mapping[SecretKey, float],
        *,
        complete: bool,
        dropped: Iterable[str] = (),
    ) -> None:
        """The expiries (Unix seconds) a sync of ``backend`` (the ``kind`` ``resource``)
        found; ``complete`` for a full sync, whose Secrets are all there are.
        ``dropped``: namespaces the backend no longer writes into."""
        held = self._series.setdefault(backend, set())
        now = {(namespace, kind, resource, name) for namespace, name in expiries}
        gone = {labels for labels in held if labels[0] in set(dropped)}
        if complete:
            gone |= held - now
        for labels in gone:
            with contextlib.suppress(KeyError):
                SECRET_EXPIRY.remove(*labels)
        held -= gone
        for (namespace, name), when in expiries.items():
            SECRET_EXPIRY.labels(namespace, kind, resource, name).set(when)
        held |= now

    def forget(self, namespace: str, owner: str) -> None:
        """Remove every series of the backend whose worker is ``(namespace, owner)``."""
        for labels in self._series.pop((namespace, owner), set()):
            with contextlib.suppress(KeyError):
                SECRET_EXPIRY.remove(*labels)


#: the operator's one record
EXPIRIES = SyncedExpiries()
