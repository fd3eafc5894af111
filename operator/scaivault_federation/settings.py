"""Every knob of the operator and the API, in one model.

Values come from the environment (``SCAIVAULT_*``, plus the standard
``KUBECONFIG``, ``KUBERNETES_SERVICE_*`` and the variables a backend type's own
settings read, such as its SDK's identity variables) and
from command-line flags, which win. They are validated once, when a command
starts: an invalid value stops it with a message naming the setting, its
variable and its flag. This is the only module that reads the process
environment; everything else is handed what it needs.

The README's "Settings" table lists the same fields; a test keeps the two
equal.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .backends.allowlist import parse_patterns, system_resolver
from .backends.factory import BackendEnvironment
from .backends.registry import ClientSettings, container_fields
from .backends.tenancy import TenancyPolicy, parse_selector

ENV_PREFIX = "SCAIVAULT_"

CommaList = Annotated[tuple[str, ...], NoDecode]


def _standard(name: str) -> Any:
    """A field read from a standard variable (no ``SCAIVAULT_`` prefix)."""
    return AliasChoices(name.lower(), name)


class InvalidSettingsError(ValueError):
    """A setting has a value the program cannot run with; the message names it."""


class Settings(BaseSettings, ClientSettings):
    """The settings of ``scaivault-federation run`` and ``scaivault-federation api``
    (with the backend types' own, :class:`~.backends.registry.ClientSettings`)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    # --- Kubernetes connection (both commands) -------------------------------------
    kubeconfig: str | None = Field(
        default=None,
        validation_alias=_standard("KUBECONFIG"),
        description="kubeconfig file, or a list of them separated by the path separator "
        "(merged as kubectl merges them); unset: in-cluster, else ~/.kube/config",
    )
    kube_context: str | None = Field(
        default=None,
        description="kubeconfig context to use (default: the current-context)",
    )
    kubernetes_service_host: str | None = Field(
        default=None,
        validation_alias=_standard("KUBERNETES_SERVICE_HOST"),
        description="the in-cluster apiserver address (set by Kubernetes)",
    )
    kubernetes_service_port: int = Field(
        default=443,
        ge=1,
        le=65535,
        validation_alias=_standard("KUBERNETES_SERVICE_PORT"),
        description="the in-cluster apiserver port (set by Kubernetes)",
    )
    kube_write_qps: float = Field(
        default=0.0,
        ge=0,
        description="ceiling on Kubernetes writes per second (0: none; the apiserver's "
        "429s are honoured either way)",
    )
    kube_write_burst: int = Field(default=100, ge=1, description="Kubernetes write burst")

    # --- the operator (run) ------------------------------------------------------------
    operator_namespace: str | None = Field(
        default=None,
        description="where the operator keeps its MAC key Secret and ClusterFederationBackends "
        "their credentials Secrets (default: the pod's namespace)",
    )
    watch_namespaces: CommaList = Field(
        default=(), description="namespaces to watch, comma-separated (default: all)"
    )
    standalone: bool = Field(
        default=False,
        description="one process acts on every backend, with no Lease (one replica, dev)",
    )
    peering: str = Field(
        default="scaivault-federation",
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="name of the group of replicas (their Leases carry it)",
    )
    sharding: bool = Field(
        default=False,
        description="spread the backends over all live replicas instead of one acting on all",
    )
    lease_duration_seconds: float = Field(
        default=12.0,
        ge=3,
        le=300,
        description="how long a replica's Lease holds without renewal: the takeover time",
    )
    replica_id: str | None = Field(
        default=None,
        validation_alias=_standard("HOSTNAME"),
        description="this replica's name (the chart sets the pod's name; default: the host name)",
    )
    max_backoff_seconds: float = Field(
        default=300.0, ge=5, description="longest wait between retries of a failing backend"
    )
    liveness: str | None = Field(
        default=None, description="liveness endpoint, e.g. http://0.0.0.0:8080/healthz"
    )
    metrics_port: int = Field(
        default=9090, ge=0, le=65535, description="operator /metrics port (0: off)"
    )
    metrics_addr: str = Field(default="0.0.0.0", description="operator /metrics address")  # noqa: S104
    max_concurrent_syncs: int = Field(
        default=8, ge=1, description="syncs running at once across all backends"
    )
    allowed_endpoints: CommaList = Field(
        default=(),
        description="host patterns backend endpoints must match, comma-separated (unset: any)",
    )
    ambient_identity_namespaces: CommaList = Field(
        default=(),
        description="namespaces (besides the operator's own) whose backends may run with "
        "the operator's own cloud identity, comma-separated",
    )
    ambient_identity_namespace_selector: str | None = Field(
        default=None,
        description="or the namespaces whose labels match this selector (key=value,...)",
    )
    ambient_identity_endpoints: CommaList = Field(
        default=(),
        description="host patterns, besides the clouds' own endpoints, that backends running "
        "with the operator's own identity may connect to (a private endpoint, a Vault for "
        "aws or gcp logins), comma-separated",
    )
    protected_service_accounts: CommaList = Field(
        default=(),
        description="ServiceAccounts (namespace/name, comma-separated) no backend ever gets a "
        "token of, besides the one this process runs as (the chart names the operator's "
        "and the API's in both)",
    )
    remote_prefixes: dict[str, dict[str, tuple[str, ...]]] = Field(
        default_factory=dict,
        description='JSON: namespace (or "*") -> backend type -> remote prefixes its '
        "mappings may use (unset: any)",
    )
    remote_containers: dict[str, dict[str, dict[str, tuple[str, ...]]]] = Field(
        default_factory=dict,
        description='JSON: namespace (or "*") -> backend type -> container field ('
        + "; ".join(f"{t}: {', '.join(f)}" for t, f in container_fields().items())
        + ") -> patterns its value must match (unset: any)",
    )

    # --- the HTTP API (api) -------------------------------------------------------------
    api_host: str = Field(default="0.0.0.0", description="API listen address")  # noqa: S104
    api_port: int = Field(default=8000, ge=0, le=65535, description="API listen port")
    api_default_namespace: str | None = Field(
        default=None,
        description="namespace of bodies without one (default: the pod's or kubeconfig's)",
    )
    api_static_tokens: Path | None = Field(
        default=None, description="YAML file of static tokens and their scopes"
    )
    api_tls_cert_file: Path | None = Field(
        default=None,
        description="PEM certificate chain the API serves HTTPS with (with api_tls_key_file; "
        "unset: plain HTTP)",
    )
    api_tls_key_file: Path | None = Field(
        default=None, description="the PEM private key of api_tls_cert_file"
    )
    api_tls_reload_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how often the certificate files are checked; a changed pair is served "
        "to new connections without a restart",
    )
    api_token_audience: str = Field(
        default="scaivault-federation",
        min_length=1,
        max_length=256,
        description="audience a Kubernetes token must be issued for (TokenReview audiences)",
    )
    api_token_apiserver_audience: bool = Field(
        default=False,
        description="also accept Kubernetes tokens issued for the apiserver's own audience "
        "(a pod's default token, kubectl's); they can be replayed against the apiserver",
    )
    api_request_head_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="a connection that has not sent a whole request head this long after "
        "connecting or after its last answer is closed (idle keep-alive ones too)",
    )
    api_request_body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="longest wait for a request body; then 408"
    )
    api_max_connections: int = Field(
        default=1000,
        ge=1,
        description="open connections the API accepts at once; more are closed at once",
    )
    api_cluster_backends: bool = Field(
        default=True,
        description="serve ClusterFederationBackends (a cluster-wide operator's); false when "
        "the operator watches only some namespaces",
    )
    api_auth_cache_seconds: float = Field(
        default=10.0, ge=0, description="how long authentication answers are cached"
    )
    api_auth_failure_burst: int = Field(
        default=20,
        ge=1,
        description="tokens that are not valid a client may send at once before it is answered 429",
    )
    api_auth_failure_rate: float = Field(
        default=1.0,
        gt=0,
        description="tokens that are not valid a client may send per second after the burst",
    )
    api_notify_dedupe_seconds: float = Field(
        default=600.0,
        ge=0,
        description="how long a cloud change event's id is remembered, so a redelivery "
        "syncs nothing again",
    )
    api_google_push_audience: str | None = Field(
        default=None,
        min_length=1,
        description="audience of the OIDC tokens of Pub/Sub pushes; set: such a token from "
        "an allowed service account may call the Google receiver",
    )
    api_google_push_service_accounts: CommaList = Field(
        default=(),
        description="service accounts (emails) whose Pub/Sub push tokens are accepted, "
        "comma-separated",
    )
    api_google_push_issuer: str = Field(
        default="https://accounts.google.com",
        min_length=1,
        description="issuer of Pub/Sub push tokens",
    )
    api_google_push_jwks_url: str = Field(
        default="https://www.googleapis.com/oauth2/v3/certs",
        min_length=1,
        description="where the keys of Pub/Sub push tokens are published",
    )

    # --- the commands for people (backends, status, sync, conflicts, get) -------------------
    api_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="the API the commands for people call (default: dev.json's)",
    )
    api_token: SecretStr | None = Field(
        default=None,
        description="their bearer token (default: dev.json's admin token)",
    )
    dev_json: Path = Field(
        default=Path(".state/dev/dev.json"),
        description="the dev.json of make dev, read for the API URL and token when not given",
    )

    # --- both -----------------------------------------------------------------------------
    verbose: bool = Field(default=False, description="debug logging")

    @field_validator(
        "watch_namespaces",
        "ambient_identity_namespaces",
        "api_google_push_service_accounts",
        "protected_service_accounts",
        mode="before",
    )
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("protected_service_accounts")
    @classmethod
    def _check_accounts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            namespace, _, name = entry.partition("/")
            if not namespace or not name or "/" in name:
                raise ValueError(f"{entry!r} is not namespace/name")
        return value

    @property
    def protected_accounts(self) -> frozenset[tuple[str, str]]:
        """:attr:`protected_service_accounts` as (namespace, name) pairs."""
        pairs = (entry.partition("/") for entry in self.protected_service_accounts)
        return frozenset((namespace, name) for namespace, _, name in pairs)

    @field_validator("remote_containers")
    @classmethod
    def _known_container_fields(
        cls, value: dict[str, dict[str, dict[str, tuple[str, ...]]]]
    ) -> dict[str, dict[str, dict[str, tuple[str, ...]]]]:
        containers = container_fields()
        for namespace, types in value.items():
            for backend_type, fields in types.items():
                known = containers.get(backend_type)
                if known is None:
                    raise ValueError(f"{namespace}: unknown backend type {backend_type!r}")
                for name in fields:
                    if name not in known:
                        raise ValueError(
                            f"{namespace}.{backend_type}: {name!r} is not a container field "
                            f"(one of {', '.join(sorted(known))})"
                        )
        return value

    @field_validator("ambient_identity_namespace_selector")
    @classmethod
    def _check_selector(cls, value: str | None) -> str | None:
        parse_selector(value)  # raises naming the bad part
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.api_tls_cert_file is None) != (self.api_tls_key_file is None):
            raise ValueError(
                "api_tls_cert_file (SCAIVAULT_API_TLS_CERT_FILE) and api_tls_key_file "
                "(SCAIVAULT_API_TLS_KEY_FILE) are set together or not at all"
            )
        return self

    @model_validator(mode="after")
    def _push_needs_accounts(self) -> Settings:
        if self.api_google_push_audience and not self.api_google_push_service_accounts:
            raise ValueError(
                "api_google_push_service_accounts (SCAIVAULT_API_GOOGLE_PUSH_SERVICE_ACCOUNTS)"
                " must name the push subscriptions' service accounts when "
                "api_google_push_audience is set (any Google account can mint a token for "
                "any audience)"
            )
        return self

    @field_validator("allowed_endpoints", "ambient_identity_endpoints", mode="before")
    @classmethod
    def _split_patterns(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_patterns(value)
        if isinstance(value, list | tuple):
            return tuple(p.strip().lower() for p in value if str(p).strip())
        return value

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """The environment's settings with ``overrides`` (flags) on top; ``None`` values are
        flags that were not given. Raises :class:`InvalidSettingsError` naming the setting."""
        given = {key: value for key, value in overrides.items() if value is not None}
        try:
            return cls(**given)
        except ValidationError as exc:
            raise InvalidSettingsError(describe_invalid(exc)) from None

    @property
    def replica_name(self) -> str:
        """This replica's name: the pod's, else the host's, never a passwd lookup
        (the image runs as a numeric user with no passwd entry)."""
        return self.replica_id or socket.gethostname()

    def backend_environment(self, operator_namespace: str = "") -> BackendEnvironment:
        """What every backend client gets from the operator's settings; the operator's
        own namespace may always use its identity."""
        return BackendEnvironment(
            allowed_endpoints=self.allowed_endpoints,
            tenancy=TenancyPolicy(
                operator_namespace=self.operator_namespace or operator_namespace,
                ambient_namespaces=frozenset(self.ambient_identity_namespaces),
                ambient_selector=parse_selector(self.ambient_identity_namespace_selector),
                remote_prefixes=self.remote_prefixes,
                remote_containers=self.remote_containers,
                ambient_endpoints=self.ambient_identity_endpoints,
            ),
            resolver=system_resolver,
            settings=self,
        )


def variable_of(name: str) -> str:
    """The environment variable of a setting."""
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[-1])
    return ENV_PREFIX + name.upper()


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def describe_invalid(exc: ValidationError) -> str:
    """One line per invalid setting, naming the setting and its variable; the value
    itself is never echoed (a misplaced token must not reach a log)."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        name = str(error["loc"][0]) if error["loc"] else "settings"
        where = f"{name} ({variable_of(name)})" if name in Settings.model_fields else name
        lines.append(f"invalid setting {where}: {error['msg']}")
    return "; ".join(lines)


def settings_table() -> list[tuple[str, str, str, str]]:
    """(variable, setting, default, description) of every setting, for the README."""
    rows = []
    # the backend types' own settings (composed in as a base class) after the rest
    fields = sorted(
        Settings.model_fields.items(), key=lambda f: f[0] in ClientSettings.model_fields
    )
    for name, info in fields:
        default = info.get_default(call_default_factory=True)
        shown = "" if default is None or default in ((), {}) else str(default)
        rows.append((variable_of(name), name, shown, info.description or ""))
    return rows
