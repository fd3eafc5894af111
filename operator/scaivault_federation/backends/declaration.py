"""What a backend type declares about itself, in its package's ``__init__``.

A type lives in one package, ``backends/<type>/``: its config model
(``config.py``, no SDK), its client (``backend.py`` and what it imports, the
only modules that import the type's SDK), its auth and error mapping, and this
declaration, which :mod:`.registry` lists. Everything the rest of the operator
knows about a type it reads from here or from the config model's fields and
methods (:mod:`..models.config`), so the declaration imports no SDK.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from ..models.config import BackendConfig
from .changes import ChangeReceiver


@dataclass(frozen=True)
class BackendTypeDeclaration:
    #: ``spec.type``
    name: str
    #: the store's name, for people
    title: str
    #: ``spec.config`` of this type
    config: type[BackendConfig]
    #: the module that makes clients (``create``), imported when the first one is made
    client: str
    #: the SDK's loggers, kept at WARNING (they log requests and answers at DEBUG)
    loggers: tuple[str, ...] = ()
    #: operator-wide settings every client of the type gets (composed into the settings)
    client_settings: type[BaseModel] | None = None
    #: the API's receiver of the store's change events (``None``: the store sends none)
    receiver: ChangeReceiver | None = None
    #: the API's settings of that receiver (composed into the settings)
    receiver_settings: type[BaseModel] | None = None
