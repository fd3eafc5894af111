"""The FederationBackend spec: one model for the CR (camelCase) and the API (snake_case)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from ..backends.registry import CONFIG_UNION, parse_config
from ..backends.registry import BackendType as BackendType
from ..backends.registry import config_model as config_model
from ..paths import InvalidPathError, PathMapping, PathPattern, parse_mappings
from .base import CamelModel, describe_errors
from .config import BackendConfig
from .duration import MIN_SYNC_INTERVAL, InvalidDurationError, parse_duration
from .rollout import RolloutTarget
from .target import Target

DEFAULT_PROBE_INTERVAL = timedelta(minutes=1)

if TYPE_CHECKING:
    ConfigOfAType = BackendConfig
else:  # the union of the registered types' models: one schema per type
    ConfigOfAType = CONFIG_UNION


class Mode(StrEnum):
    SYNC = "sync"
    PROXY = "proxy"


class ConflictPolicy(StrEnum):
    REPORT = "report"
    OVERWRITE = "overwrite"


class DeletionPolicy(StrEnum):
    RETAIN = "Retain"
    DELETE = "Delete"


class BackendSpec(CamelModel):
    type: BackendType
    config: ConfigOfAType
    path_mapping: dict[str, str] = Field(min_length=1)
    mode: Mode
    sync_interval: str | None = None
    conflict_policy: ConflictPolicy = ConflictPolicy.REPORT
    deletion_policy: DeletionPolicy = DeletionPolicy.RETAIN
    prune: bool = False
    suspend: bool = False
    target: Target | None = None
    rollout_restart_targets: list[RolloutTarget] | None = Field(default=None, max_length=32)

    @field_validator("config", mode="before")
    @classmethod
    def _typed_config(cls, value: Any, info: ValidationInfo) -> BackendConfig:
        backend_type = info.data.get("type")
        if backend_type is None:
            raise ValueError("cannot be checked without a valid type")
        if isinstance(value, BackendConfig):
            value = value.to_cr()
        if not isinstance(value, dict):
            raise ValueError("must be an object")
        try:
            return parse_config(backend_type, value)
        except ValidationError as exc:
            raise ValueError(describe_errors(exc, prefix="config")) from None

    @field_validator("sync_interval")
    @classmethod
    def _check_interval(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            interval = parse_duration(value)
        except InvalidDurationError as exc:
            raise ValueError(str(exc)) from None
        if interval < MIN_SYNC_INTERVAL:
            raise ValueError("must be at least 10s")
        return value

    @field_validator("path_mapping")
    @classmethod
    def _check_mapping(cls, value: dict[str, str]) -> dict[str, str]:
        try:
            parse_mappings(value)
        except InvalidPathError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _check_cross_fields(self) -> BackendSpec:
        if self.mode is Mode.SYNC and self.sync_interval is None:
            raise ValueError("sync_interval is required when mode is sync")
        return self

    @property
    def mappings(self) -> list[PathMapping]:
        return parse_mappings(self.path_mapping)

    def local_patterns(self) -> tuple[PathPattern, ...]:
        """The ScaiVault side of each mapping: what a per-path sync may name."""
        return tuple(m.local for m in self.mappings)

    def in_namespace(self, namespace: str) -> BackendSpec:
        """The spec a sync into ``namespace`` runs with: this one (a cluster backend's
        makes its ``{namespace}`` placeholders concrete)."""
        return self

    @property
    def interval(self) -> timedelta:
        """How often to sync (sync mode) or probe (proxy mode)."""
        if self.sync_interval is None:
            return DEFAULT_PROBE_INTERVAL
        return parse_duration(self.sync_interval)
