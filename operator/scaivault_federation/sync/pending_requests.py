"""The manual-sync requests a worker has seen and not acted on yet, held as one.

Every watch event of the CR hands the worker the request it carries (the
``sync-requested-at`` stamp and, for some paths only, ``sync-paths``); while a sync
runs, or before the worker gets to them, they pile up here and become the one next
sync: their paths together, each once. A request for everything, or more paths
together than a per-path sync takes (:func:`~..models.resource.merged_request`),
make it a full sync. So a burst of change events costs a few syncs, never one each.

A burst that grows past a per-path sync is synced in full once it quiets (no
request for :data:`BURST_QUIET`, at most :data:`BURST_WAIT` after it grew past),
not at once: a full sync takes a while, and the requests that came while it ran
would make another.

One request is synced at once. Requests that piled up (two or more: a burst is
going on) wait for a pause of :data:`LINGER_QUIET`, at most :data:`LINGER_MAX`
after the first of them, so that the rest of the burst joins them instead of
making a per-path sync each time the one before ends.
"""

from __future__ import annotations

from ..models.resource import merged_request
from ..paths import PathScope

#: a burst that became a full sync waits for this long without a request ...
BURST_QUIET = 0.25
#: ... but no longer than this after it became one
BURST_WAIT = 2.0
#: requests that piled up wait for a pause this long ...
LINGER_QUIET = 0.1
#: ... but no longer than this after the first of them
LINGER_MAX = 0.5


class PendingRequests:
    def __init__(self) -> None:
        self._pending = False
        self._paths: PathScope | None = None
        self._grew_past: float | None = None
        self._noted_at = 0.0
        self._first_noted_at = 0.0
        self._everything = False
        #: requests noted since the last :meth:`take`
        self.noted = 0

    @property
    def pending(self) -> bool:
        return self._pending

    def add(self, paths: PathScope | None, now: float = 0.0) -> None:
        """Note a request of ``paths`` (``None``: everything) at monotonic time ``now``."""
        together = merged_request(self._paths, paths) if self._pending else paths
        if paths is None:
            self._grew_past = None  # asked for everything: at once
            self._everything = True
        elif together is None and self._grew_past is None:
            self._grew_past = now  # per-path requests together past a per-path sync
        if not self._pending:
            self._first_noted_at = now
        self._paths = together
        self._pending = True
        self._noted_at = now
        self.noted += 1

    def ready_at(self) -> float:
        """When to sync what is pending: one request, or a request for everything, at
        once; requests that piled up after a pause (or :data:`LINGER_MAX`); a burst that
        grew past a per-path sync once it quiets."""
        if self._everything:
            return 0.0
        if self._grew_past is not None:
            return min(self._noted_at + BURST_QUIET, self._grew_past + BURST_WAIT)
        if self.noted > 1:
            return min(self._noted_at + LINGER_QUIET, self._first_noted_at + LINGER_MAX)
        return 0.0

    def take(self) -> PathScope | None:
        """What the noted requests ask for together (``None``: everything); nothing is
        pending afterwards."""
        paths = self._paths
        self.clear()
        return paths

    def clear(self) -> None:
        self._pending = False
        self._everything = False
        self._paths = None
        self._grew_past = None
        self.noted = 0
