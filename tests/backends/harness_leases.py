"""The servers behind leased secrets: a real PostgreSQL (``postgres``) and, on the
session's OpenBao, the database engine connected to it and the PKI engine
(``lease_engines``), for the Vault issuer's contract tests and the end-to-end
tests of leases and certificates.

``lease_engines.engines`` names the paths, roles, the CA and the token restricted
to them (see :class:`~scaivault_devenv.openbao_engines.LeaseEngines`); the
``postgres`` server checks logins (:meth:`~PostgresServer.can_log_in`) and lists
roles (:meth:`~PostgresServer.roles`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from scaivault_devenv.openbao import OpenBaoServer
from scaivault_devenv.openbao_engines import (
    DatabaseRole,
    LeaseEngines,
    add_database_role,
    configure_lease_engines,
)
from scaivault_devenv.postgres import PostgresServer


@dataclass
class LeaseServers:
    """The configured engines with the servers behind them."""

    bao: OpenBaoServer
    postgres: PostgresServer
    engines: LeaseEngines

    def database_role(self, default_ttl: int, max_ttl: int) -> DatabaseRole:
        """A database role of a test's own, with these TTLs (seconds)."""
        role = DatabaseRole(f"r-{uuid.uuid4().hex[:8]}", default_ttl, max_ttl)
        add_database_role(self.bao, role)
        return role

    def dynamic_roles(self) -> set[str]:
        """The PostgreSQL roles the database engine made and has not dropped."""
        return {r for r in self.postgres.roles() if r.startswith("v-")}


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """PostgreSQL on 127.0.0.1 (superusers ``postgres`` and ``openbao``)."""
    with PostgresServer(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture(scope="session")
def lease_engines(openbao: OpenBaoServer, postgres: PostgresServer) -> LeaseServers:
    """The session's OpenBao with the database engine on ``postgres`` (roles ``app``:
    20 s / 60 s, ``long``: 1 h / 24 h) and the PKI engine (role ``service``)."""
    return LeaseServers(openbao, postgres, configure_lease_engines(openbao, postgres))
