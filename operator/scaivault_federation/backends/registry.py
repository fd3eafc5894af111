"""The backend types: the one list of them, and what is derived from it.

Each type declares itself in its package (:mod:`.declaration`); :data:`TYPES`
lists the packages. ``spec.type`` and the ``spec.config`` union of the models
(and so the CRD's per-type rules and the OpenAPI document), the tenancy
rules, the change receivers, the settings and the quiet loggers all come from
here. Nothing here imports a backend SDK: a type's client module is imported
by :mod:`.factory` when the first client of that type is made, so a process
that never talks to Azure never imports the Azure SDK.

The models' spec reads this module (the one import from :mod:`..models` up
into :mod:`.`, allowed by the layers contract); so it and the declarations
import nothing above the models but their own packages.
"""

from __future__ import annotations

import functools
import operator
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from ..models.config import BackendConfig
from . import aws, azure, google, vault
from .aws.settings import AwsSettings
from .azure.settings import AzureSettings
from .changes import ChangeReceiver
from .declaration import BackendTypeDeclaration
from .google.settings import GooglePushSettings, GoogleSettings

#: every backend type, in the order documents list them
TYPES: tuple[BackendTypeDeclaration, ...] = (vault.TYPE, aws.TYPE, azure.TYPE, google.TYPE)


class ClientSettings(GoogleSettings, AzureSettings, AwsSettings):
    """The types' operator-wide client settings (each type's ``client_settings``), as
    one part of the operator's settings. A class's bases are written out for the
    type checker; a test keeps them equal to the declarations."""


class ReceiverSettings(GooglePushSettings):
    """The API's settings of the types' change receivers (each type's
    ``receiver_settings``); its bases are kept equal to the declarations too."""


BY_NAME: dict[str, BackendTypeDeclaration] = {t.name: t for t in TYPES}
#: the union of the config models, for the models' ``spec.config``
CONFIG_UNION: Any = functools.reduce(operator.or_, (t.config for t in TYPES))


def _registered(value: str) -> str:
    if value not in BY_NAME:
        raise ValueError(f"must be one of {', '.join(BY_NAME)}")
    return value


#: ``spec.type``: the name of a registered type
BackendType = Annotated[
    str, AfterValidator(_registered), Field(json_schema_extra={"enum": list(BY_NAME)})
]


def config_model(name: object) -> type[BackendConfig] | None:
    """The config model of the type ``name`` (``None``: no such type)."""
    found = BY_NAME.get(name) if isinstance(name, str) else None
    return found.config if found is not None else None


def parse_config(name: str, raw: dict[str, Any]) -> BackendConfig:
    """Validate ``raw`` (either spelling) as the config of the type ``name``."""
    return BY_NAME[name].config.model_validate(raw)


def container_fields() -> dict[str, dict[str, str]]:
    """Type -> its container fields (CR name -> attribute)."""
    return {t.name: t.config.container_fields() for t in TYPES}


def quiet_loggers() -> tuple[str, ...]:
    """The SDK loggers of every type."""
    return tuple(name for t in TYPES for name in t.loggers)


def type_names() -> tuple[str, ...]:
    """The names of the registered types (``spec.type``)."""
    return tuple(BY_NAME)


def receivers() -> tuple[ChangeReceiver, ...]:
    """The change receivers of the types whose stores send change events."""
    return tuple(t.receiver for t in TYPES if t.receiver is not None)
