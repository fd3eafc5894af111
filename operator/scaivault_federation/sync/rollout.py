"""Rollout restarts after a sync changed Secrets, debounced per target.

A sync that changed the data (or type) of an existing Secret marks every
``rolloutRestartTargets`` entry; each fires ``minInterval`` after the last
change that marked it (0: at once), so several changes close together restart
once, after the last of them. A no-op sync marks nothing. Marks live in the
worker's memory only: a restart of the operator starts with none, so it never
restarts workloads by itself (a restart still waiting for its ``minInterval``
when the operator stops is not made).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from ..errors import safe_message
from ..models.resource import ObjectMeta
from ..models.rollout import RolloutTarget
from .metrics import BackendMetrics
from .ports import EventSink, Workloads

log = logging.getLogger(__name__)


@dataclass
class _Mark:
    target: RolloutTarget
    fire_at: float  # monotonic
    secrets: set[str] = field(default_factory=set)


def _key(target: RolloutTarget) -> str:
    return json.dumps(target.to_cr(), sort_keys=True)


class Rollouts:
    """The pending restarts of one backend's targets."""

    def __init__(self) -> None:
        self._marks: dict[str, _Mark] = {}

    def note(self, targets: list[RolloutTarget], changed: list[str], now: float) -> None:
        """A sync changed the Secrets ``changed``: (re)start each target's debounce."""
        if not changed:
            return
        for target in targets:
            key = _key(target)
            mark = self._marks.setdefault(key, _Mark(target, now))
            mark.fire_at = now + target.debounce.total_seconds()
            mark.secrets.update(changed)

    def forget_others(self, targets: list[RolloutTarget]) -> None:
        """Drop marks of targets the spec no longer names."""
        keep = {_key(t) for t in targets}
        self._marks = {k: m for k, m in self._marks.items() if k in keep}

    def next_due(self) -> float | None:
        return min((m.fire_at for m in self._marks.values()), default=None)

    async def fire_due(
        self,
        about: ObjectMeta,
        workloads: Workloads | None,
        events: EventSink,
        metrics: BackendMetrics,
        monotonic: float,
        now: datetime,
    ) -> list[bool]:
        """Restart the targets due; whether each restart was made."""
        due = [k for k, m in self._marks.items() if m.fire_at <= monotonic]
        made = []
        for key in due:
            mark = self._marks.pop(key)
            made.append(await _restart(about, workloads, events, metrics, mark, now))
        return made


async def _restart(
    about: ObjectMeta,
    workloads: Workloads | None,
    events: EventSink,
    metrics: BackendMetrics,
    mark: _Mark,
    now: datetime,
) -> bool:
    target = mark.target
    what = target.name if target.name is not None else f"selector {target.label_selector()}"
    secrets = ", ".join(sorted(mark.secrets)[:5]) + (" …" if len(mark.secrets) > 5 else "")
    if workloads is None:
        return True
    try:
        names = await workloads.restart(
            about.namespace,
            target.kind,
            name=target.name,
            selector=target.label_selector(),
            # to the microsecond: two restarts within one second still change the template
            stamp=now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        )
    except Exception as exc:  # never fails the sync: say so and go on
        metrics.record_restart(target.kind.value, "error")
        await events.record(
            about,
            reason="RolloutRestartFailed",
            message=f"{target.kind.value} {what}: {safe_message(exc)}",
            warning=True,
        )
        return False
    for name in names:
        metrics.record_restart(target.kind.value, "ok")
        await events.record(
            about,
            reason="RolloutRestarted",
            message=f"{target.kind.value} {name} restarted: Secret(s) {secrets} changed",
        )
    if not names:
        log.info("%s/%s: no %s matches %s", about.namespace, about.name, target.kind.value, what)
    return True
