"""Where the Kubernetes API is and how to authenticate to it: one login, made by the
official ``kubernetes`` package's config loading.

The package reads the kubeconfig (a ``KUBECONFIG``-style list of files, merged
as kubectl merges them: the cluster may be in one file and the user in
another), the context, client certificates, ``exec`` plugins (``aws eks
get-token``, ``gke-gcloud-auth-plugin``, ``kubelogin``) and auth providers, or
the pod's ServiceAccount (whose projected token rotates). It fills one
``kubernetes.client.Configuration``; :class:`KubeConnection` reads what it holds
(``host``, the ``authorization`` it keeps in ``api_key``, ``ssl_ca_cert``,
``cert_file``, ``key_file``, ``verify_ssl``) into immutable
:class:`Credentials`, and fetches them again through the Configuration's
``refresh_api_key_hook`` when they are due: shortly before an exec
credential's ``expirationTimestamp``, and every minute otherwise (the
in-cluster token file is re-read then). The process's one aiohttp client
(:mod:`.client`) takes its credentials from it.

Files: the package writes a ``*-data`` field of the kubeconfig (and client
certificates an exec plugin prints) to a file, since Python's ``ssl`` loads
client certificates only from files. We give it a private directory (mode
0700) for them, removed when the process exits. In a cluster nothing is
written: the ServiceAccount's files are used where they are.

The ``kubernetes`` package is imported when a connection is loaded, not when
this module is: it is large, and it brings ``google.auth`` in with it.
"""

from __future__ import annotations

import asyncio
import atexit
import datetime as dt
import shutil
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: how often credentials without an expiry are fetched again (the in-cluster token
#: file is re-read; a kubeconfig's static token costs nothing)
RECHECK_SECONDS = 60.0
#: how long before an exec credential expires it is fetched again (at most; a
#: short-lived credential is renewed after four fifths of its lifetime)
RENEW_BEFORE_SECONDS = 60.0
#: a failed or refused refresh is tried again no sooner than this
RETRY_SECONDS = 5.0

Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class KubeConfigError(RuntimeError):
    """The Kubernetes connection cannot be loaded; the message says why (never a token)."""


@dataclass(frozen=True)
class Credentials:
    """One login: where the apiserver is and what to present to it. Immutable: a
    refresh makes new ones, so a holder can tell whether its copy is still current."""

    server: str
    #: the whole ``Authorization`` header value ("Bearer …", "Basic …"), if any
    authorization: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True
    tls_server_name: str | None = None
    #: when the credential itself expires (an exec plugin's ``expirationTimestamp``)
    expires_at: dt.datetime | None = None
    #: when it was fetched
    fetched_at: dt.datetime = field(default_factory=_utcnow)

    @property
    def renew_at(self) -> dt.datetime | None:
        """When to fetch it again ahead of its expiry."""
        if self.expires_at is None:
            return None
        lifetime = (self.expires_at - self.fetched_at).total_seconds()
        before = min(RENEW_BEFORE_SECONDS, max(lifetime, 0.0) / 5)
        return self.expires_at - dt.timedelta(seconds=before)

    def scheme_and_token(self) -> tuple[str | None, str | None]:
        """The ``Authorization`` value split into its scheme and credential (RFC 7235)."""
        if not self.authorization:
            return None, None
        scheme, _, token = self.authorization.strip().partition(" ")
        if not token:
            return "Bearer", scheme
        return ("Bearer" if scheme.lower() == "bearer" else scheme), token.strip()

    def headers(self) -> dict[str, str]:
        scheme, token = self.scheme_and_token()
        return {"Authorization": f"{scheme} {token}"} if token else {}

    def same_login(self, other: Credentials) -> bool:
        """Whether ``other`` presents the same thing to the same server."""
        return (
            self.server == other.server
            and self.authorization == other.authorization
            and self.tls == other.tls
        )

    @property
    def tls(self) -> tuple[str | None, str | None, str | None, bool]:
        """What the TLS context is made of: a change means a new context."""
        return (self.ca_file, self.cert_file, self.key_file, self.verify)

    def ssl_context(self) -> ssl.SSLContext | bool:
        """The TLS context for aiohttp (``False``: no verification, no client certificate)."""
        if not self.verify and not self.cert_file:
            return False
        context = ssl.create_default_context(cafile=self.ca_file if self.verify else None)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file or self.cert_file)
        return context


@dataclass
class Loaded:
    """What the ``kubernetes`` package made: its Configuration, and how to learn the
    current credential's expiry (the package knows it; the Configuration does not)."""

    configuration: Any  # kubernetes.client.Configuration (the package ships no types)
    default_namespace: str
    source: str
    expiry: Callable[[], dt.datetime | None] = lambda: None


Loader = Callable[[], Loaded]


def credentials_of(loaded: Loaded, now: dt.datetime) -> Credentials:
    """Read one Configuration into :class:`Credentials`, without refreshing it."""
    config = loaded.configuration
    authorization = config.api_key.get("BearerToken") or config.api_key.get("authorization")
    prefix = config.api_key_prefix.get("BearerToken")
    if authorization and prefix:
        authorization = f"{prefix} {authorization}"
    expires_at = loaded.expiry()
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=dt.UTC)
    return Credentials(
        server=str(config.host).rstrip("/"),
        authorization=authorization or None,
        ca_file=config.ssl_ca_cert or None,
        cert_file=config.cert_file or None,
        key_file=config.key_file or None,
        verify=bool(config.verify_ssl),
        tls_server_name=config.tls_server_name or None,
        expires_at=expires_at,
        fetched_at=now,
    )


class KubeConnection:
    """The one Kubernetes login of a process, kept fresh.

    :meth:`current` answers at once while the credentials are good and refreshes
    them through the Configuration's hook (in a thread: an exec plugin is a
    process) when they are due. :meth:`refresh` with ``stale`` says those were
    refused (a 401): unless they have changed meanwhile, everything is loaded
    again, so an exec plugin runs again even if the package thought its
    credential still good.
    """

    def __init__(
        self,
        loader: Loader,
        *,
        clock: Clock = _utcnow,
        recheck_seconds: float = RECHECK_SECONDS,
    ) -> None:
        self._loader = loader
        self._clock = clock
        self._recheck = dt.timedelta(seconds=recheck_seconds)
        self._loaded = loader()
        self._loaded_at = clock()
        self._lock = asyncio.Lock()
        #: how many times the credentials were fetched again (tests read it)
        self.refreshes = 0
        self._current = credentials_of(self._loaded, self._loaded_at)
        self._next_check = self._schedule(self._current)

    @property
    def credentials(self) -> Credentials:
        """The current credentials, as they are (no refresh)."""
        return self._current

    @property
    def server(self) -> str:
        return self._current.server

    @property
    def default_namespace(self) -> str:
        return self._loaded.default_namespace

    @property
    def source(self) -> str:
        """Where the login comes from (a kubeconfig list, in-cluster), for messages."""
        return self._loaded.source

    def now(self) -> dt.datetime:
        """The time on the connection's clock (the one its expirations are on)."""
        return self._clock()

    def due(self) -> bool:
        return self._clock() >= self._next_check

    @property
    def expiration(self) -> dt.datetime | None:
        """When the current credentials are fetched again ahead of their expiry (None:
        they do not expire; a 401 makes them fetched again)."""
        return self._next_check if self._current.expires_at is not None else None

    async def current(self) -> Credentials:
        """The credentials to use now, fetched again first if they are due."""
        if not self.due():
            return self._current
        return await self.refresh()

    async def refresh(self, stale: Credentials | None = None) -> Credentials:
        """Fetch the credentials again: when they are due, or (``stale``) when those
        were refused. Concurrent callers share one fetch."""
        async with self._lock:
            if stale is not None:
                if not self._current.same_login(stale):
                    return self._current  # changed meanwhile
                if (self._clock() - self._loaded_at).total_seconds() < RETRY_SECONDS:
                    return self._current  # just loaded: the same answer would come back
                await asyncio.to_thread(self._reload)
            elif self.due():
                await asyncio.to_thread(self._through_hook)
            return self._current

    def _through_hook(self) -> None:
        config = self._loaded.configuration
        hook = config.refresh_api_key_hook
        if hook is not None:
            try:
                hook(config)
            except Exception:  # the package could not refresh: keep what we have, retry soon
                self._next_check = self._clock() + dt.timedelta(seconds=RETRY_SECONDS)
                raise
        self._update()

    def _reload(self) -> None:
        self._loaded_at = self._clock()
        try:
            self._loaded = self._loader()
        except Exception:
            self._next_check = self._clock() + dt.timedelta(seconds=RETRY_SECONDS)
            raise
        self._update()

    def _update(self) -> None:
        self.refreshes += 1
        self._current = credentials_of(self._loaded, self._clock())
        self._next_check = self._schedule(self._current)

    def _schedule(self, credentials: Credentials) -> dt.datetime:
        """When to look again: ahead of the expiry (but not in a loop if the package
        handed back an expired credential), or after the recheck period."""
        now = self._clock()
        renew = credentials.renew_at
        if renew is None:
            return now + self._recheck
        return max(renew, now + dt.timedelta(seconds=RETRY_SECONDS))


# --- loading through the kubernetes package ---------------------------------------------

_private_dir: str | None = None


def private_temp_dir() -> str:
    """A directory only this user can read, for the files the package writes; removed
    when the process exits."""
    global _private_dir
    if _private_dir is None or not Path(_private_dir).is_dir():
        _private_dir = tempfile.mkdtemp(prefix="scaivault-kube-")
        atexit.register(shutil.rmtree, _private_dir, True)
    return _private_dir


def kubeconfig_loader(paths: str, context: str | None = None) -> Loader:
    """Load ``paths`` (one file or an ``os.pathsep``-separated list, merged) the way
    ``kubernetes.config.load_kube_config`` does, keeping the loader at hand (it alone
    knows when an exec credential expires)."""

    def load() -> Loaded:
        from kubernetes.client import Configuration
        from kubernetes.config import ConfigException
        from kubernetes.config.kube_config import KubeConfigLoader, KubeConfigMerger

        try:
            merged = KubeConfigMerger(paths)
            if merged.config is None:
                raise KubeConfigError(f"no kubeconfig file found at {paths}")
            loader = KubeConfigLoader(
                config_dict=merged.config,
                active_context=context,
                config_base_path=None,  # relative paths are relative to their own file
                temp_file_path=private_temp_dir(),
            )
            configuration = Configuration()
            loader.load_and_set(configuration)
            current = loader.current_context
            context_name = current.get("name")
            namespace = current["context"].get("namespace") or "default"
            user = _user_entry(merged.config, current["context"].get("user"))
        except (ConfigException, OSError, ValueError, KeyError, TypeError) as exc:
            raise KubeConfigError(f"kubeconfig {paths}: {exc}") from None
        if not configuration.api_key and not configuration.cert_file and user:
            raise KubeConfigError(
                f"kubeconfig {paths}: the user of context {context_name!r} yielded no "
                "credentials (a failing exec plugin logs why)"
            )

        def expiry() -> dt.datetime | None:
            value = vars(loader).get("expiry")  # set by exec plugins and auth providers
            return value if isinstance(value, dt.datetime) else None

        return Loaded(configuration, namespace, f"kubeconfig {paths}", expiry)

    return load


def _user_entry(config: Any, name: str | None) -> dict[str, Any]:
    """The ``user`` of the named kubeconfig user ({} if none)."""
    if not name or not config.safe_get("users"):
        return {}
    entry = config["users"].get_with_name(name, safe=True)
    user = entry.safe_get("user") if entry is not None else None
    return dict(user) if isinstance(user, dict) else {}


def in_cluster_loader(
    host: str, port: int = 443, service_account_dir: Path = SERVICE_ACCOUNT_DIR
) -> Loader:
    """The pod's ServiceAccount, as ``kubernetes.config.load_incluster_config`` loads it
    (the host and port given here, from the settings, rather than read again from the
    environment); its token file is re-read every minute."""

    def load() -> Loaded:
        from kubernetes.client import Configuration
        from kubernetes.config import ConfigException
        from kubernetes.config.incluster_config import InClusterConfigLoader

        loader = InClusterConfigLoader(
            token_filename=str(service_account_dir / "token"),
            cert_filename=str(service_account_dir / "ca.crt"),
            environ={"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": str(port)},
        )
        configuration = Configuration()
        try:
            loader.load_and_set(configuration)
        except (ConfigException, OSError) as exc:
            raise KubeConfigError(f"in-cluster: {exc}") from None
        namespace_file = service_account_dir / "namespace"
        namespace = (
            namespace_file.read_text().strip() if namespace_file.exists() else ""
        ) or "default"
        return Loaded(configuration, namespace, "in-cluster service account")

    return load


def load_connection(
    kubeconfig: str | Path | None = None,
    *,
    context: str | None = None,
    service_host: str | None = None,
    service_port: int = 443,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> KubeConnection:
    """The kubeconfig (a file or a ``KUBECONFIG``-style list, merged), else in-cluster
    (the service host Kubernetes sets, and the pod's ServiceAccount), else
    ``~/.kube/config``. Blocks while an exec plugin runs: call it in a thread from
    async code."""
    if kubeconfig:
        return KubeConnection(kubeconfig_loader(str(kubeconfig), context))
    if service_host and (service_account_dir / "token").exists():
        return KubeConnection(in_cluster_loader(service_host, service_port, service_account_dir))
    default = Path.home() / ".kube" / "config"
    if default.exists():
        return KubeConnection(kubeconfig_loader(str(default), context))
    raise KubeConfigError("no kubeconfig found: set KUBECONFIG or run in a cluster")
