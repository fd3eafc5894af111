"""``spec.target`` for one sync: each mapped path's target, Secret name and shaped item.

Names are decided before anything is read (a name template sees the paths
and captures only), so the Secrets at those names can be loaded first; the
data is shaped once a value is read. A path whose name or shape fails is an
error of that path alone.
"""

from __future__ import annotations

from ..models.content import to_secret_data
from ..models.secret import RemoteItem, RemoteValue
from ..models.shape import PathContext, ShapeError, secret_name, shape_secret
from ..models.target import RefreshPolicy, ResolvedTarget, Target, resolve_target
from .plan import MappedRemote

__all__ = ["PathTargets", "ShapeError"]


class PathTargets:
    def __init__(self, target: Target | None, mapped: MappedRemote) -> None:
        self.target = target
        self.created_once = target is not None and target.policy is RefreshPolicy.CREATED_ONCE
        self.names: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self._resolved: dict[str, ResolvedTarget] = {}
        self._where: dict[str, PathContext] = {}
        for remote_path, local_path in mapped.local_by_remote.items():
            resolved = resolve_target(target, local_path)
            where = PathContext(local_path, remote_path, mapped.captures.get(remote_path, ()))
            self._resolved[local_path] = resolved
            self._where[local_path] = where
            try:
                self.names[local_path] = secret_name(resolved, where)
            except ShapeError as exc:
                self.errors[local_path] = exc.message

    @property
    def active(self) -> bool:
        """Whether the spec has a target (else Secrets are built by the default rule)."""
        return self.target is not None

    def pin(self, local_path: str) -> str | None:
        """The version this path is pinned to, if any."""
        resolved = self._resolved.get(local_path)
        return resolved.version if resolved is not None else None

    def item(
        self, local_path: str, remote_path: str, value: RemoteValue, version: str | None
    ) -> RemoteItem:
        """The item to plan; raises ``ShapeError`` or ``InvalidContentError``."""
        if self.target is None:
            return RemoteItem(local_path, remote_path, to_secret_data(value), version)
        resolved = self._resolved[local_path]
        shaped = shape_secret(resolved, value, self._where[local_path])
        return RemoteItem(
            local_path,
            remote_path,
            shaped.data,
            version,
            shape=shaped.shape,
            secret_name=self.names[local_path] if resolved.name is not None else None,
        )
