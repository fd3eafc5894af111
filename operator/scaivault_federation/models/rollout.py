"""``spec.rolloutRestartTargets``: workloads restarted after a sync changed a Secret."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from .base import CamelModel
from .duration import check_duration, parse_duration
from .label_syntax import LABEL_VALUE_PATTERN, is_label_value, is_qualified_name

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


LabelValue = Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_PATTERN)]


class Selector(CamelModel):
    """Equality on labels only: every key a label key and every value a label value, so
    the selector built from them (``k=v,...``) says nothing but that."""

    match_labels: dict[str, LabelValue] = Field(min_length=1, max_length=32)

    @field_validator("match_labels")
    @classmethod
    def _check_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not is_qualified_name(key):
                raise ValueError(f"{key[:80]!r} is not a valid label key ([prefix/]name)")
        return value


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
        return check_duration(value)

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
        labels = sorted(self.selector.match_labels.items())
        if not all(is_qualified_name(k) and is_label_value(v) for k, v in labels):
            raise ValueError("selector.matchLabels holds a key or value that is not a label's")
        return ",".join(f"{k}={v}" for k, v in labels)
