"""Which backend endpoints a cluster's users may point the operator at.

A FederationBackend names its backend's address (``endpoint``, ``vaultUrl``),
and the operator connects there from inside the cluster, so a namespace could
make it probe internal addresses (SSRF). Two rules:

- With the operator's ``allowed_endpoints`` setting (host patterns such as
  ``vault.internal``, ``*.vault.azure.net``, ``10.0.0.5:8200``), an endpoint
  whose host matches none is refused; one that matches is allowed, whatever
  its address (an explicit pattern re-admits even a link-local address).
- Without it, every endpoint is allowed except link-local and cloud-metadata
  addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254, and the metadata host
  names), whether written as an address or as a name that resolves to one at
  connect time (:func:`check_resolved`, with a resolver passed in, so tests
  never look a name up).

Both are checked before any credential is read or any connection is opened.
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

from ..models.config import BackendConfig
from .errors import InvalidBackendConfigError

#: config fields that hold an address the operator connects to
ENDPOINT_FIELDS = ("endpoint", "vault_url")

REFUSED_NETWORKS = tuple(
    ipaddress.ip_network(net) for net in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")
)
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "instance-data"})

#: ``host -> addresses`` (e.g. the event loop's getaddrinfo, or a table in tests)
Resolver = Callable[[str], Awaitable[Sequence[str]]]


class EndpointRefusedError(InvalidBackendConfigError):
    """An endpoint the operator will not connect to; ``field`` names the config key."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def parse_patterns(raw: str) -> tuple[str, ...]:
    """Comma-separated patterns, lower-cased, blanks dropped."""
    return tuple(p.strip().lower() for p in raw.split(",") if p.strip())


def endpoint_host(endpoint: str) -> tuple[str, int | None]:
    """Host (lower-case, without brackets) and port of a URL or a bare ``host:port``."""
    parts = urlsplit(endpoint if "//" in endpoint else f"//{endpoint}")
    return (parts.hostname or "").lower().rstrip("."), parts.port


def is_allowed(endpoint: str, patterns: Sequence[str]) -> bool:
    host, port = endpoint_host(endpoint)
    for pattern in patterns:
        if ":" in pattern.rsplit("]", 1)[-1]:
            pattern_host, _, pattern_port = pattern.rpartition(":")
            if (
                port is not None
                and str(port) == pattern_port
                and fnmatch.fnmatchcase(host, pattern_host)
            ):
                return True
        elif fnmatch.fnmatchcase(host, pattern):
            return True
    return False


def is_refused_address(address: str) -> bool:
    """Whether an IP address is link-local or a cloud metadata address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in REFUSED_NETWORKS if ip.version == net.version)


def _endpoints(config: BackendConfig) -> list[tuple[str, str]]:
    return [
        (field, value)
        for field in ENDPOINT_FIELDS
        if isinstance(value := getattr(config, field, None), str) and value
    ]


def check_endpoints(config: BackendConfig, patterns: Sequence[str]) -> None:
    """Refuse what the endpoint says by itself (no name is looked up)."""
    for field, value in _endpoints(config):
        host, _ = endpoint_host(value)
        if patterns:
            if not is_allowed(value, patterns):
                raise EndpointRefusedError(
                    f"config.{field} host {host!r} is not in the operator's allowed endpoints",
                    field,
                )
            continue
        if is_refused_address(host) or host in METADATA_NAMES:
            raise EndpointRefusedError(
                f"config.{field} host {host!r} is a link-local or cloud metadata address, "
                "which the operator does not connect to (an operator-wide allowed_endpoints "
                "setting may admit it explicitly)",
                field,
            )


async def check_resolved(
    config: BackendConfig, patterns: Sequence[str], resolver: Resolver | None
) -> None:
    """:func:`check_endpoints`, then (without an allowlist) the addresses each host name
    resolves to. A name that does not resolve is left to the connection to report."""
    check_endpoints(config, patterns)
    if patterns or resolver is None:
        return
    for field, value in _endpoints(config):
        host, _ = endpoint_host(value)
        try:
            ipaddress.ip_address(host)
            continue  # an address was checked as it is
        except ValueError:
            pass
        try:
            addresses = await resolver(host)
        except OSError:
            continue
        bad = [a for a in addresses if is_refused_address(a)]
        if bad:
            raise EndpointRefusedError(
                f"config.{field} host {host!r} resolves to a link-local or cloud metadata "
                "address, which the operator does not connect to",
                field,
            )


async def system_resolver(host: str) -> list[str]:
    """The addresses ``host`` resolves to, as the connection would see them."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    return sorted({str(info[4][0]) for info in infos})
