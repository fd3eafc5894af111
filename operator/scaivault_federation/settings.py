"""Every knob of the operator and the API, in one model.

Values come from the environment (``SCAIVAULT_*``, plus the standard
``KUBECONFIG``, ``KUBERNETES_SERVICE_*`` and Azure identity variables) and
from command-line flags, which win. They are validated once, when a command
starts: an invalid value stops it with a message naming the setting, its
variable and its flag. This is the only module that reads the process
environment; everything else is handed what it needs.

The README's "Settings" table lists the same fields; a test keeps the two
equal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .backends.allowlist import parse_patterns
from .backends.registry import BackendEnvironment

ENV_PREFIX = "SCAIVAULT_"

#: Azure identity variables the Azure backend honours, as AKS workload identity sets them
AZURE_IDENTITY_VARIABLES = (
    "AZURE_AUTHORITY_HOST",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
)

CommaList = Annotated[tuple[str, ...], NoDecode]


def _standard(name: str) -> Any:
    """A field read from a standard variable (no ``SCAIVAULT_`` prefix)."""
    return AliasChoices(name.lower(), name)


class InvalidSettingsError(ValueError):
    """A setting has a value the program cannot run with; the message names it."""


class Settings(BaseSettings):
    """The settings of ``scaivault-federation run`` and ``scaivault-federation api``."""

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
        description="where the operator keeps its MAC key Secret (default: the pod's namespace)",
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
        description="this replica's name in its Lease (default: the pod's host name)",
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
    worker_limit: int = Field(default=64, ge=1, description="kopf's per-resource worker limit")
    max_concurrent_syncs: int = Field(
        default=8, ge=1, description="syncs running at once across all backends"
    )
    allowed_endpoints: CommaList = Field(
        default=(),
        description="host patterns backend endpoints must match, comma-separated (unset: any)",
    )
    azure_ca_bundle: Path | None = Field(
        default=None, description="PEM bundle the Azure backend trusts instead of the system's"
    )
    azure_authority_host: str | None = Field(
        default=None,
        validation_alias=_standard("AZURE_AUTHORITY_HOST"),
        description="Entra ID authority for the Azure backend's own identity",
    )
    azure_federated_token_file: str | None = Field(
        default=None,
        validation_alias=_standard("AZURE_FEDERATED_TOKEN_FILE"),
        description="workload identity token file (set by AKS)",
    )
    azure_tenant_id: str | None = Field(
        default=None,
        validation_alias=_standard("AZURE_TENANT_ID"),
        description="workload identity tenant (set by AKS)",
    )
    azure_client_id: str | None = Field(
        default=None,
        validation_alias=_standard("AZURE_CLIENT_ID"),
        description="workload or managed identity client id (set by AKS)",
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
    api_auth_cache_seconds: float = Field(
        default=10.0, ge=0, description="how long authentication answers are cached"
    )

    # --- both -----------------------------------------------------------------------------
    verbose: bool = Field(default=False, description="debug logging")

    @field_validator("watch_namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("allowed_endpoints", mode="before")
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

    def backend_environment(self) -> BackendEnvironment:
        """What every backend client gets from the operator's settings."""
        identity = {
            name: value
            for name in AZURE_IDENTITY_VARIABLES
            if (value := getattr(self, name.lower())) is not None
        }
        return BackendEnvironment(
            allowed_endpoints=self.allowed_endpoints,
            azure_ca_bundle=self.azure_ca_bundle,
            azure_identity=identity,
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
    for name, info in Settings.model_fields.items():
        default = info.default
        shown = "" if default is None or default == () else str(default)
        rows.append((variable_of(name), name, shown, info.description or ""))
    return rows
