"""Rollout restarts: debounced per target, nothing without a change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from scaivault_federation.models.resource import ObjectMeta
from scaivault_federation.models.rollout import RolloutTarget, WorkloadKind
from scaivault_federation.sync.metrics import BackendMetrics
from scaivault_federation.sync.rollout import Rollouts

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ABOUT = ObjectMeta(name="b", namespace="ns")


class Recorder:
    def __init__(self) -> None:
        self.restarts: list[tuple[str, str | None, str | None]] = []
        self.events: list[tuple[str, str]] = []

    async def restart(
        self,
        namespace: str,
        kind: WorkloadKind,
        *,
        name: str | None,
        selector: str | None,
        stamp: str,
    ) -> list[str]:
        self.restarts.append((kind.value, name, selector))
        return [name or "by-label"]

    async def record(
        self, about: ObjectMeta, *, reason: str, message: str, warning: bool = False
    ) -> None:
        self.events.append((reason, message))


def targets() -> list[RolloutTarget]:
    return [
        RolloutTarget.model_validate({"kind": "Deployment", "name": "api"}),
        RolloutTarget.model_validate(
            {
                "kind": "StatefulSet",
                "selector": {"matchLabels": {"app": "db"}},
                "minInterval": "30s",
            }
        ),
    ]


async def fire(rollouts: Rollouts, recorder: Recorder, at: float) -> None:
    metrics = BackendMetrics("ns", "b", "fake")
    await rollouts.fire_due(ABOUT, recorder, recorder, metrics, at, NOW)


async def test_no_change_no_restart() -> None:
    rollouts, recorder = Rollouts(), Recorder()
    rollouts.note(targets(), [], 0.0)
    assert rollouts.next_due() is None
    await fire(rollouts, recorder, 1000.0)
    assert recorder.restarts == []


async def test_changes_inside_min_interval_restart_once_after_the_last() -> None:
    rollouts, recorder = Rollouts(), Recorder()
    rollouts.note(targets(), ["s1"], 0.0)
    await fire(rollouts, recorder, 0.0)
    assert recorder.restarts == [("Deployment", "api", None)]
    rollouts.note(targets(), ["s2"], 10.0)  # api at once again; db's debounce starts over
    await fire(rollouts, recorder, 10.0)
    await fire(rollouts, recorder, 35.0)
    assert recorder.restarts[-1] == ("Deployment", "api", None)
    assert rollouts.next_due() == 40.0
    await fire(rollouts, recorder, 40.0)
    assert recorder.restarts == [
        ("Deployment", "api", None),
        ("Deployment", "api", None),
        ("StatefulSet", None, "app=db"),
    ]
    assert recorder.events[-1] == (
        "RolloutRestarted",
        "StatefulSet by-label restarted: Secret(s) s1, s2 changed",
    )
    assert rollouts.next_due() is None


async def test_a_target_removed_from_the_spec_is_forgotten() -> None:
    rollouts, recorder = Rollouts(), Recorder()
    rollouts.note(targets(), ["s1"], 0.0)
    rollouts.forget_others(targets()[:1])
    await fire(rollouts, recorder, 100.0)
    assert recorder.restarts == [("Deployment", "api", None)]


@pytest.mark.parametrize(
    ("labels", "field"),
    [
        ({"app!": "x"}, "'app!' is not a valid label key"),  # would select app!=x: everything else
        ({"app": "x,tier!=y"}, "matchLabels.app"),
        ({"a,b": "x"}, "is not a valid label key"),
        ({"app": "x" * 64}, "matchLabels.app"),
        ({"-bad/app": "x"}, "is not a valid label key"),
    ],
)
def test_selector_labels_are_labels_or_the_target_is_refused(
    labels: dict[str, str], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        RolloutTarget.model_validate({"kind": "Deployment", "selector": {"matchLabels": labels}})
    assert field in str(caught.value)


def test_the_selector_says_only_equality() -> None:
    target = RolloutTarget.model_validate(
        {"kind": "Deployment", "selector": {"matchLabels": {"example.com/app": "web", "tier": ""}}}
    )
    assert target.label_selector() == "example.com/app=web,tier="
