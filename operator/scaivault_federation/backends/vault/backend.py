"""HashiCorp Vault and OpenBao KV (v1 and v2) over the Vault HTTP API.

Template paths name API paths below ``/v1/``: ``secret/data/app/db`` on a
KV v2 mount, ``kv/app/db`` on a KV v1 mount. For KV v2, a path without the
``data/`` segment after the mount (``secret/app/db``) is accepted too and
listed back in the same spelling, so either template style maps both ways.

The mount of a path and its KV version are looked up once per mount through
``sys/internal/ui/mounts/<path>``, which any token with some capability below
the mount may call; ``kvVersion`` in the config overrides the version.

Listing walks folders breadth-first, a few folder listings at a time. On
OpenBao, KV v2 folders are listed through ``detailed-metadata``, which gives
every secret's current version and update time in the same call and lets
listings skip secrets whose latest version is deleted; when the token may not
use that endpoint the backend falls back to ``metadata`` for that mount.
Vault has no batch read, so ``get_many`` reads concurrently (bounded).

Reads and listings are plain KV API requests (``GET <mount>/data/<path>``,
``GET <mount>/metadata/<folder>?list=true``, ...). Describing a KV v2 path is
``GET <mount>/metadata/<path>`` (its current version and update time, no value);
a token without ``read`` on the metadata, and a KV v1 mount, get the read itself.
How requests run (the session, token, TLS, errors) is :mod:`.client`'s business,
how tokens are had (logins, through hvac) :mod:`.auth`'s.

TLS: ``tlsVerify: false`` turns verification off. ``caCertPath`` names a
ScaiVault path; whoever builds the backend resolves it and passes the PEM
bundle in the credentials under the key ``ca.crt``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from ...models.config import BackendConfig
from ..base import (
    BatchResult,
    CallCounter,
    Credentials,
    Described,
    RemoteSecret,
    RemoteSecretRef,
    SecretBackend,
    collected,
    describe_concurrently,
    gather_or_raise,
    read_concurrently,
)
from ..errors import (
    AuthenticationError,
    BackendError,
    InvalidBackendConfigError,
    InvalidSecretValueError,
    SecretNotFoundError,
)
from ..factory import BackendEnvironment
from .auth import JwtProvider
from .client import VaultClient, check_path, timestamp
from .config import NAME, VaultConfig
from .leases import VaultLeases

_KV_TYPES = frozenset({"kv", "generic"})
_LIST = {"list": "true"}


@dataclass
class _Mount:
    path: str  # with a trailing "/"
    kv_version: int
    detailed_listing: bool  # OpenBao's detailed-metadata is worth trying
    metadata_reads: bool = True  # KV v2: the token may read a secret's metadata


@dataclass(frozen=True)
class _Target:
    mount: _Mount
    sub: str  # below the mount (and below "data/" for KV v2)
    spelled_with_data: bool  # KV v2 path named the "data/" segment

    def api(self) -> str:
        """The API path that reads this secret."""
        if self.mount.kv_version == 1:
            return f"{self.mount.path}{self.sub}"
        return f"{self.mount.path}data/{self.sub}"

    def template(self, sub: str) -> str:
        """``sub`` in the caller's spelling of template paths."""
        if self.mount.kv_version == 2 and self.spelled_with_data:
            return f"{self.mount.path}data/{sub}"
        return f"{self.mount.path}{sub}"


class VaultBackend:
    """``SecretBackend`` for HashiCorp Vault and OpenBao KV secrets engines."""

    backend_type: ClassVar[str] = NAME

    def __init__(
        self,
        config: VaultConfig,
        credentials: Credentials,
        *,
        jwt_provider: JwtProvider | None = None,
        list_concurrency: int = 4,
        read_concurrency: int = 8,
        connect_timeout: float = 5.0,
        total_timeout: float = 15.0,
        allowed_endpoints: tuple[str, ...] = (),
    ) -> None:
        self.calls = CallCounter()
        self._config = config
        self._client = VaultClient(
            config,
            credentials,
            self.calls,
            jwt_provider=jwt_provider,
            concurrency=max(read_concurrency, list_concurrency),
            connect_timeout=connect_timeout,
            total_timeout=total_timeout,
            allowed_endpoints=allowed_endpoints,
        )
        self._list_slots = asyncio.Semaphore(max(1, list_concurrency))
        self._read_concurrency = max(1, read_concurrency)
        self._mounts: dict[str, _Mount] = {}
        self._mount_lock = asyncio.Lock()
        self._leases = VaultLeases(self._client)

    # -- SecretBackend ----------------------------------------------------------------

    async def list_secrets(self, prefix: str) -> list[RemoteSecretRef]:
        return await collected(self.list_pages(prefix))

    async def list_pages(self, prefix: str) -> AsyncIterator[list[RemoteSecretRef]]:
        """A page per level of folders below the prefix (every mount's tree at once for
        the whole store)."""
        if prefix == "":
            mounts = await self._all_kv_mounts()
            trees = (collected(self._folder_pages(_Target(m, "", True))) for m in mounts)
            yield [ref for tree in await gather_or_raise(trees) for ref in tree]
            return
        folder, _, _ = prefix.rpartition("/")
        target = await self._target(folder + "/" if folder else prefix)
        async for page in self._folder_pages(target):
            yield [ref for ref in page if ref.path.startswith(prefix)]

    async def get_secret(self, path: str, version: str | None = None) -> RemoteSecret:
        return await self._read(await self._secret_target(path), path, version, "read")

    async def _read(
        self, target: _Target, path: str, version: str | None, operation: str
    ) -> RemoteSecret:
        if version is not None and (target.mount.kv_version == 1 or not version.isdigit()):
            raise InvalidBackendConfigError(
                f"version {version[:64]!r} of {path!r}: only KV v2 secrets have versions "
                "(a version number)"
            )
        params = {"version": str(int(version))} if version is not None else None
        body = await self._client.request("GET", target.api(), operation, params=params)
        data = body.get("data") if body else None
        if not isinstance(data, dict):
            raise SecretNotFoundError(f"no secret at {path!r}")
        if target.mount.kv_version == 1:
            return RemoteSecret(path, _as_value(data, path))
        value, metadata = data.get("data"), data.get("metadata")
        if value is None:  # latest version deleted or destroyed
            raise SecretNotFoundError(f"no live version at {path!r}")
        version = metadata.get("version") if isinstance(metadata, dict) else None
        return RemoteSecret(path, _as_value(value, path), None if version is None else str(version))

    async def _secret_target(self, path: str) -> _Target:
        target = await self._target(path)
        if not target.sub or target.sub.endswith("/"):
            raise SecretNotFoundError(f"no secret at {path!r} (a folder)")
        return target

    async def get_many(
        self, paths: Sequence[str], versions: Mapping[str, str] | None = None
    ) -> BatchResult:
        return await read_concurrently(self.get_secret, paths, self._read_concurrency, versions)

    async def describe_secrets(self, paths: Sequence[str]) -> Described:
        return await describe_concurrently(self._describe, paths, self._read_concurrency)

    async def _describe(self, path: str) -> RemoteSecretRef:
        """KV v2: ``GET <mount>/metadata/<path>``; KV v1 has no metadata, and a token
        that may read values but not metadata gets the read itself (its value dropped)."""
        target = await self._secret_target(path)
        mount = target.mount
        if mount.kv_version == 2 and mount.metadata_reads:
            where = f"{mount.path}metadata/{target.sub}"
            try:
                body = await self._client.request("GET", where, "describe", relogin=False)
            except AuthenticationError:
                read = await self._read(target, path, None, "describe")
                mount.metadata_reads = False  # the value was readable, its metadata not
                return RemoteSecretRef(path, read.version)
            data = body.get("data") if body else None
            ref = _live_ref(path, data, datetime.now(UTC)) if isinstance(data, dict) else None
            if ref is None:
                raise SecretNotFoundError(f"no live version at {path!r}")
            return ref
        return RemoteSecretRef(path, (await self._read(target, path, None, "describe")).version)

    async def probe(self) -> float:
        await self._client.ensure_token()
        started = time.perf_counter()
        await self._client.request("GET", "auth/token/lookup-self", "probe")
        return max((time.perf_counter() - started) * 1000.0, 0.001)

    async def release(self) -> None:
        await self._client.release()

    def leases(self) -> VaultLeases:
        """Dynamic credentials and certificates over this backend's connection and
        token (its calls counted in :attr:`calls`); once a lease is issued, closing
        the backend leaves its token alive."""
        return self._leases

    async def close(self) -> None:
        await self._client.close()

    # -- listing ------------------------------------------------------------------------

    async def _folder_pages(self, root: _Target) -> AsyncIterator[list[RemoteSecretRef]]:
        """The secrets of each level of folders below ``root``, breadth-first, a level's
        folders listed at once."""
        level = [root.sub]
        while level:
            listings = await gather_or_raise(self._list_one(root.mount, folder) for folder in level)
            level = []
            refs: list[RemoteSecretRef] = []
            for entries in listings:
                for key, ref in entries:
                    if key.endswith("/"):
                        level.append(key)
                    elif ref is not None:
                        refs.append(
                            RemoteSecretRef(root.template(ref.path), ref.version, ref.updated_at)
                        )
            yield refs

    async def _list_one(
        self, mount: _Mount, folder: str
    ) -> list[tuple[str, RemoteSecretRef | None]]:
        """``(sub path, ref)`` of every key in ``folder``; folders end in ``/`` with no ref."""
        async with self._list_slots:
            if mount.kv_version == 2 and mount.detailed_listing:
                detailed = f"{mount.path}detailed-metadata/{folder}"
                try:
                    body = await self._client.request(
                        "GET", detailed, "list", params=_LIST, relogin=False
                    )
                except SecretNotFoundError:
                    return []
                except (AuthenticationError, InvalidBackendConfigError):
                    mount.detailed_listing = False  # not allowed or not supported here
                except BackendError as error:
                    if error.retryable:
                        raise
                    mount.detailed_listing = False
                else:
                    return _detailed_entries(body, folder)
            kind = f"{mount.path}metadata/" if mount.kv_version == 2 else mount.path
            try:
                body = await self._client.request("GET", f"{kind}{folder}", "list", params=_LIST)
            except SecretNotFoundError:
                return []
        return [
            (f"{folder}{key}", None if key.endswith("/") else RemoteSecretRef(f"{folder}{key}"))
            for key in _keys(body)
        ]

    # -- mounts and paths ---------------------------------------------------------------

    async def _target(self, path: str) -> _Target:
        check_path(path)
        mount = await self._mount_of(path)
        rel = path[len(mount.path) :]
        if mount.kv_version == 2 and (rel == "data" or rel.startswith("data/")):
            return _Target(mount, rel[len("data/") :], True)
        return _Target(mount, rel, False)

    async def _mount_of(self, path: str) -> _Mount:
        known = self._known_mount(path)
        if known is not None:
            return known
        async with self._mount_lock:
            known = self._known_mount(path)
            if known is not None:
                return known
            try:
                where = f"sys/internal/ui/mounts/{path}"
                body = await self._client.request("GET", where, "mounts")
            except (AuthenticationError, SecretNotFoundError) as error:
                if self._config.kv_version is None:
                    raise type(error)(
                        f"no KV mount visible to these credentials at {path!r} ({error.message})"
                    ) from None
                # the version is configured: assume the first segment is the mount
                mount = _Mount(path.split("/", 1)[0] + "/", self._config.kv_version, False)
            else:
                mount = self._mount_from(body.get("data") if body else None, path)
                if not (path + "/").startswith(mount.path):
                    raise InvalidBackendConfigError(
                        f"mount {mount.path!r} does not prefix {path!r}; "
                        "name a Vault namespace in 'namespace', not in the path"
                    )
            self._mounts[mount.path] = mount
            return mount

    def _known_mount(self, path: str) -> _Mount | None:
        matches = [m for p, m in self._mounts.items() if path.startswith(p) or path + "/" == p]
        return max(matches, key=lambda m: len(m.path), default=None)

    def _mount_from(self, info: object, path: str) -> _Mount:
        if not isinstance(info, dict) or not isinstance(info.get("path"), str):
            raise InvalidBackendConfigError(f"no mount information for {path!r}")
        if info.get("type") not in _KV_TYPES:
            raise InvalidBackendConfigError(f"{path!r} is not on a KV secrets engine")
        options = info.get("options")
        detected = 2 if isinstance(options, dict) and options.get("version") == "2" else 1
        plugin = str(info.get("running_plugin_version") or "")
        mount_path = info["path"].rstrip("/") + "/"
        version = self._config.kv_version or detected
        return _Mount(mount_path, version, version == 2 and plugin.endswith(".bao"))

    async def _all_kv_mounts(self) -> list[_Mount]:
        where = "sys/internal/ui/mounts"
        body = await self._client.request("GET", where, "mounts")
        data = body.get("data") if body else None
        secret = data.get("secret") if isinstance(data, dict) else None
        mounts: list[_Mount] = []
        for path, info in (secret or {}).items() if isinstance(secret, dict) else ():
            if isinstance(info, dict) and info.get("type") in _KV_TYPES:
                mount = self._mount_from({**info, "path": path}, path)
                mounts.append(self._mounts.setdefault(mount.path, mount))
        return mounts


async def create(
    config: BackendConfig, credentials: Credentials, environment: BackendEnvironment
) -> SecretBackend:
    if not isinstance(config, VaultConfig):
        raise InvalidBackendConfigError("hashicorp-vault needs a Vault config")
    return VaultBackend(
        config,
        credentials,
        jwt_provider=credentials.service_account_token,
        allowed_endpoints=environment.allowed_endpoints,
    )


# -- helpers ------------------------------------------------------------------------------


def _keys(body: dict[str, Any] | None) -> list[str]:
    data = body.get("data") if body else None
    keys = data.get("keys") if isinstance(data, dict) else None
    return [k for k in keys if isinstance(k, str) and k] if isinstance(keys, list) else []


def _detailed_entries(
    body: dict[str, Any] | None, folder: str
) -> list[tuple[str, RemoteSecretRef | None]]:
    data = body.get("data") if body else None
    info = data.get("key_info") if isinstance(data, dict) else None
    info = info if isinstance(info, dict) else {}
    entries: list[tuple[str, RemoteSecretRef | None]] = []
    now = datetime.now(UTC)
    for key in _keys(body):
        if key.endswith("/"):
            entries.append((f"{folder}{key}", None))
            continue
        meta = info.get(key)
        if not isinstance(meta, dict):
            entries.append((f"{folder}{key}", RemoteSecretRef(f"{folder}{key}")))
            continue
        ref = _live_ref(f"{folder}{key}", meta, now)
        if ref is not None:  # else no live version: reads would say not found
            entries.append((f"{folder}{key}", ref))
    return entries


def _live_ref(path: str, meta: Mapping[str, Any], now: datetime) -> RemoteSecretRef | None:
    """The ref of a KV v2 secret's metadata (a listing's ``key_info`` entry or a
    ``metadata/<path>`` answer); None when its current version is deleted or destroyed."""
    current = meta.get("current_version")
    versions = meta.get("versions")
    latest = versions.get(str(current)) if isinstance(versions, dict) else None
    if not current or (isinstance(latest, dict) and _is_gone(latest, now)):
        return None
    return RemoteSecretRef(path, str(current), timestamp(meta.get("updated_time")))


def _is_gone(version: Mapping[str, object], now: datetime) -> bool:
    if version.get("destroyed") is True:
        return True
    deleted = timestamp(version.get("deletion_time"))
    return deleted is not None and deleted <= now


def _as_value(value: object, path: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise InvalidSecretValueError(f"value at {path!r} is not a key/value map")
    return {str(k): v for k, v in value.items()}
