"""Which Secrets the operator reads as credentials, and which keys each must hold.

A backend's config names its credentials Secrets by path (``credentialsPath``,
``authConfigPath``, ``caCertPath``); whoever may write the config could name
any Secret of the namespace. So a Secret is read as credentials only when it
opts in, with the label ``federation.scaivault.io/credentials: "true"``, and
never when it is one of Kubernetes' own credential types (ServiceAccount
tokens, registry credentials, bootstrap tokens), label or not.

A Secret that is read must hold every key its field needs for the configured
method: one that lacks them is a configuration error naming the missing keys
(never a value). So a named Secret always means static credentials, and the
operator's own identity is never reached for by a backend that names one.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..labels import CREDENTIALS_LABEL, CREDENTIALS_LABEL_VALUE
from ..models.config import BackendConfig
from ..models.secret import LocalSecret
from .errors import InvalidBackendConfigError

#: Kubernetes' own credential types: never read as a backend's credentials
REFUSED_TYPES = frozenset(
    {
        "kubernetes.io/service-account-token",
        "kubernetes.io/dockercfg",
        "kubernetes.io/dockerconfigjson",
        "bootstrap.kubernetes.io/token",
    }
)


def accept(secret: LocalSecret, field: str, path: str) -> None:
    """Raise :class:`InvalidBackendConfigError` unless ``secret`` may be read as credentials
    (``field``: the config key that names it, as the CR spells it)."""
    where = f"config.{field}"
    if secret.type in REFUSED_TYPES:
        raise InvalidBackendConfigError(
            f"{where}: Secret {secret.name!r} (path {path!r}) is of type {secret.type!r}, "
            "which the operator never reads as a backend's credentials; put the credentials "
            f'in an Opaque Secret labelled {CREDENTIALS_LABEL}: "{CREDENTIALS_LABEL_VALUE}"'
        )
    if secret.labels.get(CREDENTIALS_LABEL) != CREDENTIALS_LABEL_VALUE:
        raise InvalidBackendConfigError(
            f"{where}: Secret {secret.name!r} (path {path!r}) is not a credentials Secret; "
            f'label it {CREDENTIALS_LABEL}: "{CREDENTIALS_LABEL_VALUE}" to let backends '
            "of its namespace use it"
        )


def check_keys(
    config: BackendConfig, field: str, path: str, name: str, data: Mapping[str, bytes]
) -> None:
    """Raise naming the keys (never their values) the Secret lacks or holds empty."""
    missing = [key for key in config.required_keys(field) if not data.get(key)]
    if missing:
        raise InvalidBackendConfigError(
            f"config.{config.cr_name(field)}: credentials Secret {name!r} (path "
            f"{path!r}) lacks the key{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(k) for k in missing)} that {config.credentials_user()} needs"
        )
