"""OpenBao's engines that issue leased secrets, for `dev` and the tests.

:func:`configure_lease_engines` mounts and configures, on a running
:class:`~.openbao.OpenBaoServer`:

- the database secrets engine at ``database/``, connected to a
  :class:`~.postgres.PostgresServer` through the built-in
  ``postgresql-database-plugin`` as its ``openbao`` superuser, with roles that
  create a LOGIN role ``VALID UNTIL`` the lease's end and, on revocation,
  end its sessions and drop it;
- the PKI secrets engine at ``pki/``, with a generated root CA and a role
  that issues certificates for the names the samples and tests use (and IP
  SANs);
- a policy that reads credentials, issues and revokes certificates there and
  renews, revokes and looks up leases (``sys/leases/…``), with a token and an AppRole
  holding it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .openbao import OpenBaoServer
from .postgres import PostgresServer

DATABASE_MOUNT = "database"
DATABASE_CONNECTION = "postgres"
PKI_MOUNT = "pki"
PKI_ROLE = "service"
#: the domains the PKI role issues for (and their subdomains)
PKI_DOMAINS = ("example.test", "svc.cluster.local")
POLICY = "leases"
APPROLE_MOUNT = "approle-leases"

_CREATION = (
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
)
_REVOCATION = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';",
    'DROP ROLE IF EXISTS "{{name}}";',
)


@dataclass(frozen=True)
class DatabaseRole:
    """A role of the database engine: what its leases last."""

    name: str
    #: seconds a lease lasts when issued or renewed without an increment
    default_ttl: int
    #: seconds past which no lease of the role is renewed
    max_ttl: int


#: the roles configured unless asked otherwise: ``app`` for short-lived tests and
#: samples, ``long`` for leases that must outlive a test
DEFAULT_DATABASE_ROLES = (DatabaseRole("app", 20, 60), DatabaseRole("long", 3600, 86400))


@dataclass(frozen=True)
class LeaseEngines:
    """Where the engines are and what may use them."""

    database_mount: str
    database_roles: tuple[DatabaseRole, ...]
    pki_mount: str
    pki_role: str
    pki_domains: tuple[str, ...]
    #: PEM of the PKI engine's root CA
    ca_pem: str
    #: seconds: the longest certificate the PKI role issues
    pki_max_ttl: int
    policy: str
    approle_mount: str
    role_id: str
    #: a token with only :attr:`policy` (renewable, 24 h)
    token: str = field(repr=False)
    secret_id: str = field(repr=False)

    def creds_path(self, role: str) -> str:
        """The API path that issues credentials of a database role."""
        return f"{self.database_mount}/creds/{role}"

    def issue_path(self) -> str:
        """The API path that issues certificates."""
        return f"{self.pki_mount}/issue/{self.pki_role}"

    def describe(self) -> dict[str, object]:
        """What a user of ``dev`` needs to know: paths and names, no secret."""
        return {
            "database": {
                "mount": self.database_mount,
                "roles": {
                    r.name: {"path": self.creds_path(r.name), "default_ttl": r.default_ttl,
                             "max_ttl": r.max_ttl}
                    for r in self.database_roles
                },
            },
            "pki": {
                "mount": self.pki_mount,
                "role": self.pki_role,
                "path": self.issue_path(),
                "domains": list(self.pki_domains),
                "max_ttl": self.pki_max_ttl,
            },
            "policy": self.policy,
            "approle": {"mount": self.approle_mount, "role_id": self.role_id},
        }  # fmt: skip


def configure_lease_engines(
    bao: OpenBaoServer,
    postgres: PostgresServer,
    roles: Sequence[DatabaseRole] = DEFAULT_DATABASE_ROLES,
    *,
    pki_max_ttl: int = 3600,
) -> LeaseEngines:
    """Mount and configure both engines, the policy, the token and the AppRole."""
    bao.request("POST", f"/v1/sys/mounts/{DATABASE_MOUNT}", {"type": "database"})
    connection = {
        "plugin_name": "postgresql-database-plugin",
        "connection_url": postgres.connection_url(),
        "username": postgres.openbao_user,
        "password": postgres.password(postgres.openbao_user),
        "allowed_roles": ["*"],
        "verify_connection": True,
    }
    bao.request("POST", f"/v1/{DATABASE_MOUNT}/config/{DATABASE_CONNECTION}", connection)
    for role in roles:
        add_database_role(bao, role)
    ca_pem = _configure_pki(bao, pki_max_ttl)
    bao.request("PUT", f"/v1/sys/policies/acl/{POLICY}", {"policy": _policy()})
    token = bao.request(
        "POST", "/v1/auth/token/create", {"policies": [POLICY], "ttl": "24h", "renewable": True}
    )["auth"]["client_token"]
    bao.request("POST", f"/v1/sys/auth/{APPROLE_MOUNT}", {"type": "approle"})
    approle = f"/v1/auth/{APPROLE_MOUNT}/role/{POLICY}"
    bao.request("POST", approle, {"token_policies": [POLICY], "token_ttl": "1h"})
    role_id = bao.request("GET", f"{approle}/role-id")["data"]["role_id"]
    secret_id = bao.request("POST", f"{approle}/secret-id")["data"]["secret_id"]
    return LeaseEngines(
        database_mount=DATABASE_MOUNT,
        database_roles=tuple(roles),
        pki_mount=PKI_MOUNT,
        pki_role=PKI_ROLE,
        pki_domains=PKI_DOMAINS,
        ca_pem=ca_pem,
        pki_max_ttl=pki_max_ttl,
        policy=POLICY,
        approle_mount=APPROLE_MOUNT,
        role_id=str(role_id),
        token=str(token),
        secret_id=str(secret_id),
    )


def add_database_role(bao: OpenBaoServer, role: DatabaseRole) -> None:
    """Create or replace a role of the database engine."""
    body = {
        "db_name": DATABASE_CONNECTION,
        "creation_statements": list(_CREATION),
        "revocation_statements": list(_REVOCATION),
        "default_ttl": role.default_ttl,
        "max_ttl": role.max_ttl,
    }
    bao.request("POST", f"/v1/{DATABASE_MOUNT}/roles/{role.name}", body)


def _configure_pki(bao: OpenBaoServer, max_ttl: int) -> str:
    """Mount PKI, generate its root CA and the role; the CA's PEM."""
    bao.request(
        "POST",
        f"/v1/sys/mounts/{PKI_MOUNT}",
        {"type": "pki", "config": {"max_lease_ttl": "87600h"}},
    )
    root = bao.request(
        "POST",
        f"/v1/{PKI_MOUNT}/root/generate/internal",
        {"common_name": "ScaiVault development root CA", "ttl": "87600h", "key_type": "ec"},
    )
    add_pki_role(bao, PKI_ROLE, max_ttl, ttl=min(max_ttl, 3600))
    return str(root["data"]["certificate"])


def add_pki_role(bao: OpenBaoServer, name: str, max_ttl: int, ttl: int | None = None) -> str:
    """A PKI role for names under :data:`PKI_DOMAINS` whose certificates live ``ttl``
    seconds by default (unset: ``max_ttl`` caps the system default), ``max_ttl`` at
    most; its issue path."""
    role: dict[str, object] = {
        "allowed_domains": list(PKI_DOMAINS),
        "allow_subdomains": True,
        "allow_bare_domains": True,
        "allow_localhost": True,
        "allow_ip_sans": True,
        "key_type": "ec",
        "key_bits": 256,
        "max_ttl": max_ttl,
    }
    if ttl is not None:
        role["ttl"] = ttl
    bao.request("POST", f"/v1/{PKI_MOUNT}/roles/{name}", role)
    return f"{PKI_MOUNT}/issue/{name}"


def _policy() -> str:
    return f"""
path "{DATABASE_MOUNT}/creds/*" {{
  capabilities = ["read"]
}}
path "{PKI_MOUNT}/issue/{PKI_ROLE}" {{
  capabilities = ["create", "update"]
}}
path "{PKI_MOUNT}/revoke" {{
  capabilities = ["update"]
}}
path "sys/leases/renew" {{
  capabilities = ["update"]
}}
path "sys/leases/revoke" {{
  capabilities = ["update"]
}}
path "sys/leases/lookup" {{
  capabilities = ["update"]
}}
"""
