"""``spec.rolloutRestartTargets``: workloads restarted after a sync changed a Secret."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from .base import CamelModel
from .duration import InvalidDurationError, parse_duration

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class WorkloadKind(StrEnum):
    DEPLOYMENT = "Deployment"
    STATEFUL_SET = "StatefulSet"
    DAEMON_SET = "DaemonSet"

    @property
    def resource(self) -> str:
        """The apps/v1 resource name."""
        return {"Deployment": "deployments", "StatefulSet": "statefulsets"}.get(
            self.value, "daemonsets"
        )


class Selector(CamelModel):
    match_labels: dict[str, str] = Field(min_length=1, max_length=32)


class RolloutTarget(CamelModel):
    """A Deployment, StatefulSet or DaemonSet of the backend's namespace, by name or labels."""

    kind: WorkloadKind
    name: str | None = Field(default=None, max_length=253)
    selector: Selector | None = None
    min_interval: str | None = Field(default=None, max_length=32)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError("must be a lower-case DNS name")
        return value

    @field_validator("min_interval")
    @classmethod
    def _check_interval(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_duration(value)
            except InvalidDurationError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _name_or_selector(self) -> RolloutTarget:
        if (self.name is None) == (self.selector is None):
            raise ValueError("needs exactly one of name or selector")
        return self

    @property
    def debounce(self) -> timedelta:
        return parse_duration(self.min_interval) if self.min_interval else timedelta(0)

    def label_selector(self) -> str | None:
        if self.selector is None:
            return None
        return ",".join(f"{k}={v}" for k, v in sorted(self.selector.match_labels.items()))
