"""The manual-sync requests a worker has seen and not acted on yet, held as one.

Every watch event of the CR hands the worker the request it carries (the
``sync-requested-at`` stamp and, for some paths only, ``sync-paths``); while a sync
runs, or before the worker gets to them, they pile up here and become the one next
sync: their paths together, each once. A request for everything, or more paths
together than a per-path sync takes (:func:`~..models.resource.merged_request`),
make it a full sync. So a burst of change events costs a few syncs, never one each.
"""

from __future__ import annotations

from ..models.resource import merged_request
from ..paths import PathScope


class PendingRequests:
    def __init__(self) -> None:
        self._pending = False
        self._paths: PathScope | None = None
        #: requests noted since the last :meth:`take`
        self.noted = 0

    @property
    def pending(self) -> bool:
        return self._pending

    def add(self, paths: PathScope | None) -> None:
        """Note a request of ``paths`` (``None``: everything)."""
        self._paths = merged_request(self._paths, paths) if self._pending else paths
        self._pending = True
        self.noted += 1

    def take(self) -> PathScope | None:
        """What the noted requests ask for together (``None``: everything); nothing is
        pending afterwards."""
        paths = self._paths
        self.clear()
        return paths

    def clear(self) -> None:
        self._pending = False
        self._paths = None
        self.noted = 0
