"""Every knob of the operator, the API and the commands for people, grouped by who
reads it.

:class:`Settings` has a group for each program — ``operator`` (``run``), ``api``
(``api``), ``commands`` (the commands for people) — and the two groups both
``run`` and ``api`` read: ``kube`` (the Kubernetes connection) and ``backends``
(what backend clients may do: endpoints, tenancy, cloud identity). Each group is
a pydantic-settings model with its own variable prefix, so the variables keep
their flat names: ``SCAIVAULT_API_PORT`` is ``api.port``,
``SCAIVAULT_KUBE_WRITE_QPS`` is ``kube.write_qps``, ``SCAIVAULT_STANDALONE`` is
``operator.standalone`` (plus the standard ``KUBECONFIG``,
``KUBERNETES_SERVICE_*`` and ``HOSTNAME``, and the variables a backend type's
own settings read, such as its SDK's identity variables). A setting's
*name* is its variable without ``SCAIVAULT_``, in lower case (``api_port``): the
flags (:mod:`.flags`), :meth:`Settings.load` and the error messages use it.

Values come from the environment and from command-line flags, which win. They
are validated once, when a command starts: an invalid value stops it with a
message naming the setting and its variable. This is the only module that reads
the process environment; everything else is handed what it needs.

The README's "Settings" table lists the same settings; a test keeps the two
equal.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .backends.allowlist import parse_patterns, system_resolver
from .backends.factory import BackendEnvironment
from .backends.registry import ClientSettings, ReceiverSettings, container_fields
from .backends.tenancy import TenancyPolicy, parse_selector
from .flags import Flag, Program, flag_of

ENV_PREFIX = "SCAIVAULT_"

RUN, API, COMMANDS = Program.OPERATOR, Program.API, Program.COMMANDS


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _split_patterns(value: Any) -> Any:
    if isinstance(value, str):
        return parse_patterns(value)
    if isinstance(value, list | tuple):
        return tuple(p.strip().lower() for p in value if str(p).strip())
    return value


#: a comma-separated list
CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_commas)]
#: comma-separated host patterns, in lower case
Patterns = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_patterns)]


def _standard(name: str) -> Any:
    """A field read from a standard variable (no ``SCAIVAULT_`` prefix)."""
    return AliasChoices(name.lower(), name)


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", frozen=True, populate_by_name=True)


class InvalidSettingsError(ValueError):
    """A setting has a value the program cannot run with; the message names it."""


class KubeSettings(BaseSettings):
    """The Kubernetes connection (run and api)."""

    model_config = _config("SCAIVAULT_KUBE_")

    config: str | None = Field(
        default=None,
        validation_alias=_standard("KUBECONFIG"),
        description="kubeconfig file, or a list of them separated by the path separator "
        "(merged as kubectl merges them); unset: in-cluster, else ~/.kube/config",
    )
    context: Annotated[str | None, Flag(RUN | API)] = Field(
        default=None,
        description="kubeconfig context to use (default: the current-context)",
    )
    service_host: str | None = Field(
        default=None,
        validation_alias=_standard("KUBERNETES_SERVICE_HOST"),
        description="the in-cluster apiserver address (set by Kubernetes)",
    )
    service_port: int = Field(
        default=443,
        ge=1,
        le=65535,
        validation_alias=_standard("KUBERNETES_SERVICE_PORT"),
        description="the in-cluster apiserver port (set by Kubernetes)",
    )
    write_qps: Annotated[float, Flag(RUN)] = Field(
        default=0.0,
        ge=0,
        description="ceiling on Kubernetes writes per second (0: none; the apiserver's "
        "429s are honoured either way)",
    )
    write_burst: Annotated[int, Flag(RUN)] = Field(
        default=100, ge=1, description="Kubernetes write burst"
    )


class OperatorSettings(BaseSettings):
    """The operator's own (run)."""

    model_config = _config("SCAIVAULT_")

    watch_namespaces: Annotated[
        CommaList, Flag(RUN, name="--namespace", short="-n", repeatable=True)
    ] = Field(default=(), description="namespaces to watch, comma-separated (default: all)")
    standalone: Annotated[bool, Flag(RUN)] = Field(
        default=False,
        description="one process acts on every backend, with no Lease (one replica, dev)",
    )
    peering: Annotated[str, Flag(RUN)] = Field(
        default="scaivault-federation",
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="name of the group of replicas (their Leases carry it)",
    )
    sharding: Annotated[bool, Flag(RUN)] = Field(
        default=False,
        description="spread the backends over all live replicas instead of one acting on all",
    )
    lease_duration_seconds: Annotated[float, Flag(RUN)] = Field(
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
    liveness: Annotated[str | None, Flag(RUN)] = Field(
        default=None, description="liveness endpoint, e.g. http://0.0.0.0:8080/healthz"
    )
    metrics_port: Annotated[int, Flag(RUN)] = Field(
        default=9090, ge=0, le=65535, description="operator /metrics port (0: off)"
    )
    metrics_addr: Annotated[str, Flag(RUN)] = Field(
        default="0.0.0.0",  # noqa: S104
        description="operator /metrics address",
    )
    max_concurrent_syncs: Annotated[int, Flag(RUN)] = Field(
        default=8, ge=1, description="syncs running at once across all backends"
    )

    @property
    def replica_name(self) -> str:
        """This replica's name: the pod's, else the host's, never a passwd lookup
        (the image runs as a numeric user with no passwd entry)."""
        return self.replica_id or socket.gethostname()


class BackendSettings(BaseSettings, ClientSettings):
    """What the backend clients of the operator and of the API may do: endpoints,
    tenancy, and each backend type's own client settings
    (:class:`~.backends.registry.ClientSettings`; run and api)."""

    model_config = _config("SCAIVAULT_")

    operator_namespace: Annotated[str | None, Flag(RUN)] = Field(
        default=None,
        description="where the operator keeps its MAC key Secret and ClusterFederationBackends "
        "their credentials Secrets (default: the pod's namespace)",
    )
    allowed_endpoints: Annotated[Patterns, Flag(RUN | API)] = Field(
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
    ambient_identity_endpoints: Patterns = Field(
        default=(),
        description="host patterns, besides the clouds' own endpoints, that backends running "
        "with the operator's own identity may connect to (a private endpoint, a server the "
        "operator's identity logs in to), comma-separated",
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

    @field_validator("protected_service_accounts")
    @classmethod
    def _check_accounts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            namespace, _, name = entry.partition("/")
            if not namespace or not name or "/" in name:
                raise ValueError(f"{entry!r} is not namespace/name")
        return value

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

    @property
    def protected_accounts(self) -> frozenset[tuple[str, str]]:
        """:attr:`protected_service_accounts` as (namespace, name) pairs."""
        pairs = (entry.partition("/") for entry in self.protected_service_accounts)
        return frozenset((namespace, name) for namespace, _, name in pairs)

    def environment(self, operator_namespace: str = "") -> BackendEnvironment:
        """What every backend client gets from these settings; the operator's own
        namespace (``operator_namespace`` unless set here) may always use its identity."""
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


class ApiSettings(BaseSettings, ReceiverSettings):
    """The HTTP API's (api), with each backend type's change receiver's settings
    (:class:`~.backends.registry.ReceiverSettings`)."""

    model_config = _config("SCAIVAULT_API_")

    host: Annotated[str, Flag(API, name="--host")] = Field(
        default="0.0.0.0",  # noqa: S104
        description="API listen address",
    )
    port: Annotated[int, Flag(API, name="--port")] = Field(
        default=8000, ge=0, le=65535, description="API listen port"
    )
    default_namespace: Annotated[str | None, Flag(API, name="--default-namespace")] = Field(
        default=None,
        description="namespace of bodies without one (default: the pod's or kubeconfig's)",
    )
    static_tokens: Annotated[Path | None, Flag(API, name="--static-tokens")] = Field(
        default=None, description="YAML file of static tokens and their scopes"
    )
    tls_cert_file: Annotated[Path | None, Flag(API, name="--tls-cert-file")] = Field(
        default=None,
        description="PEM certificate chain the API serves HTTPS with (with the key file; "
        "unset: plain HTTP)",
    )
    tls_key_file: Annotated[Path | None, Flag(API, name="--tls-key-file")] = Field(
        default=None, description="the PEM private key of the certificate"
    )
    tls_reload_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how often the certificate files are checked; a changed pair is served "
        "to new connections without a restart",
    )
    token_audience: Annotated[str, Flag(API, name="--token-audience")] = Field(
        default="scaivault-federation",
        min_length=1,
        max_length=256,
        description="audience a Kubernetes token must be issued for (TokenReview audiences)",
    )
    token_apiserver_audience: bool = Field(
        default=False,
        description="also accept Kubernetes tokens issued for the apiserver's own audience "
        "(a pod's default token, kubectl's); they can be replayed against the apiserver",
    )
    request_head_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="a connection that has not sent a whole request head this long after "
        "connecting or after its last answer is closed (idle keep-alive ones too)",
    )
    request_body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="longest wait for a request body; then 408"
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        description="open connections the API accepts at once; more are closed at once",
    )
    cluster_backends: bool = Field(
        default=True,
        description="serve ClusterFederationBackends (a cluster-wide operator's); false when "
        "the operator watches only some namespaces",
    )
    auth_cache_seconds: float = Field(
        default=10.0, ge=0, description="how long authentication answers are cached"
    )
    auth_failure_burst: int = Field(
        default=20,
        ge=1,
        description="tokens that are not valid a client may send at once before it is answered 429",
    )
    auth_failure_rate: float = Field(
        default=1.0,
        gt=0,
        description="tokens that are not valid a client may send per second after the burst",
    )
    notify_dedupe_seconds: float = Field(
        default=600.0,
        ge=0,
        description="how long a cloud change event's id is remembered, so a redelivery "
        "syncs nothing again",
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> ApiSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError(
                "api_tls_cert_file (SCAIVAULT_API_TLS_CERT_FILE) and api_tls_key_file "
                "(SCAIVAULT_API_TLS_KEY_FILE) are set together or not at all"
            )
        return self


class CommandSettings(BaseSettings):
    """The commands for people's (backends, status, sync, conflicts, get)."""

    model_config = _config("SCAIVAULT_")

    api_url: Annotated[str | None, Flag(COMMANDS)] = Field(
        default=None,
        pattern=r"^https?://",
        description="the API the commands for people call, e.g. http://127.0.0.1:8000 "
        "(default: dev.json's)",
    )
    api_token: Annotated[SecretStr | None, Flag(COMMANDS, name="--token")] = Field(
        default=None,
        description="their bearer token, static or Kubernetes (default: dev.json's admin "
        "token); the variable keeps it out of the process list",
    )
    dev_json: Annotated[Path, Flag(COMMANDS)] = Field(
        default=Path(".state/dev/dev.json"),
        description="the dev.json of make dev, read for the API URL and token when not given",
    )


class Settings(BaseSettings):
    """The settings of every command: a group for each program, and the groups both
    ``run`` and ``api`` read."""

    model_config = _config(ENV_PREFIX)

    kube: KubeSettings = Field(default_factory=KubeSettings)
    operator: OperatorSettings = Field(default_factory=OperatorSettings)
    backends: BackendSettings = Field(default_factory=BackendSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    commands: CommandSettings = Field(default_factory=CommandSettings)
    verbose: Annotated[bool, Flag(RUN | API, short="-v")] = Field(
        default=False, description="debug logging"
    )

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """The environment's settings with ``overrides`` (flags; by setting name) on top;
        ``None`` values are flags that were not given. Raises
        :class:`InvalidSettingsError` naming the setting."""
        parts: dict[str, dict[str, Any]] = {}
        for name, value in overrides.items():
            setting = SETTINGS.get(name)
            if setting is None:
                raise TypeError(f"no setting named {name!r}")
            if value is not None:
                parts.setdefault(setting.group, {})[setting.field] = value
        groups: dict[str, Any] = {}
        problems = []
        for group, model in GROUPS.items():
            try:
                groups[group] = model(**parts.get(group, {}))
            except ValidationError as exc:
                problems.append(describe_invalid(exc, group))
        if problems:
            raise InvalidSettingsError("; ".join(problems))
        try:
            return cls(**groups, **parts.get("", {}))
        except ValidationError as exc:
            raise InvalidSettingsError(describe_invalid(exc, "")) from None


#: the groups of :class:`Settings`, by the field that holds each
GROUPS: dict[str, type[BaseSettings]] = {
    name: info.annotation
    for name, info in Settings.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, BaseSettings)
}


@dataclass(frozen=True)
class Setting:
    """One setting: its name, where it lives in :class:`Settings`, its variable."""

    name: str
    group: str  # the field of Settings that holds its group; "" for Settings' own
    field: str
    info: FieldInfo
    variable: str

    def called(self, loc: str) -> bool:
        """Whether a validation error's ``loc`` names this setting (by field or alias)."""
        alias = self.info.validation_alias
        return loc == self.field or (isinstance(alias, AliasChoices) and loc in alias.choices)


#: the backend types' own settings (composed into groups as base classes)
TYPE_FIELDS = frozenset({*ClientSettings.model_fields, *ReceiverSettings.model_fields})


def _settings() -> dict[str, Setting]:
    found: dict[str, Setting] = {}
    for group, group_info in Settings.model_fields.items():
        model = GROUPS.get(group)
        fields = model.model_fields if model is not None else {group: group_info}
        prefix = (model or Settings).model_config.get("env_prefix", "")
        # the backend types' own settings (composed in as base classes) after the rest
        for field, info in sorted(fields.items(), key=lambda f: f[0] in TYPE_FIELDS):
            alias = info.validation_alias
            variable = (
                str(alias.choices[-1])
                if isinstance(alias, AliasChoices)
                else prefix + field.upper()
            )
            name = variable.removeprefix(ENV_PREFIX).lower()
            found[name] = Setting(name, group if model is not None else "", field, info, variable)
    return found


#: every setting, by name, in the order of the model
SETTINGS = _settings()
#: (name, field, variable) of every setting, for :func:`.flags.add_flags`
FLAG_FIELDS = [(s.name, s.info, s.variable) for s in SETTINGS.values()]


def variable_of(name: str) -> str:
    """The environment variable of a setting."""
    return SETTINGS[name].variable


def describe_invalid(exc: ValidationError, group: str) -> str:
    """One line per invalid setting of ``group``, naming the setting and its variable;
    the value itself is never echoed (a misplaced token must not reach a log)."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = str(error["loc"][0]) if error["loc"] else "settings"
        setting = next((s for s in SETTINGS.values() if s.group == group and s.called(loc)), None)
        where = f"{setting.name} ({setting.variable})" if setting is not None else loc
        lines.append(f"invalid setting {where}: {error['msg']}")
    return "; ".join(lines)


@dataclass(frozen=True)
class SettingRow:
    """A setting as the README's table shows it."""

    variable: str
    setting: str
    flag: str  # its flags and the commands that take them, in Markdown
    default: str
    description: str


def settings_table() -> list[SettingRow]:
    """Every setting, for the README."""
    rows = []
    for setting in SETTINGS.values():
        info = setting.info
        default = info.get_default(call_default_factory=True)
        shown = "" if default is None or default in ((), {}) else str(default)
        flag = flag_of(info)
        usage = flag.usage(setting.name) if flag is not None else ""
        rows.append(
            SettingRow(setting.variable, setting.name, usage, shown, info.description or "")
        )
    return rows
