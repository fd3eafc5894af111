"""Which backend endpoints a cluster's users may point the operator at.

A FederationBackend names its backend's address (the config fields typed as
endpoints, :class:`~..models.config.EndpointField`), and the operator connects
there from inside the cluster, so a namespace could make it probe internal
addresses (SSRF). Two rules:

- With the operator's ``allowed_endpoints`` setting (host patterns such as
  ``secrets.internal``, ``*.secrets.example``, ``10.0.0.5:8200``), an endpoint
  whose host matches none is refused; one that matches is allowed, whatever
  its address (an explicit pattern re-admits even a link-local address).
- Without it, every endpoint is allowed except link-local and cloud-metadata
  addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254, and the metadata host
  names), whether written as an address (in any spelling, and an IPv4 one also
  inside an IPv4-mapped, IPv4-compatible or NAT64 IPv6 address) or as a name
  that resolves to one at connect time (:func:`check_resolved`, with a resolver
  passed in, so tests never look a name up).

Both are checked before any credential is read or any connection is opened, on
the endpoint as :mod:`..models.endpoint` parses it, which is also the URL the
clients are given. A name that resolves to an allowed address when checked and
to another one when connected (DNS rebinding) is not caught here; the allowlist
or a NetworkPolicy is the answer to that (docs/security.md).
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
from collections.abc import Awaitable, Callable, Sequence

from ..models.config import BackendConfig, EndpointField
from ..models.endpoint import Endpoint, EndpointSyntaxError, parse_endpoint
from .errors import InvalidBackendConfigError

REFUSED_NETWORKS = tuple(
    ipaddress.ip_network(net) for net in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")
)
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "instance-data"})
#: IPv6 prefixes that carry an IPv4 address in their last 32 bits: IPv4-compatible,
#: IPv4-mapped, the NAT64 well-known prefix and the local-use NAT64 prefix
EMBEDDING_NETWORKS = tuple(
    ipaddress.IPv6Network(net)
    for net in ("::/96", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48")
)

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


def endpoint_of(config: BackendConfig, field: str) -> Endpoint | None:
    """The parsed value of an endpoint field (``None`` when unset). The config models
    already refused what does not parse; this raises :class:`EndpointRefusedError`
    naming the field for a config made without them."""
    value = getattr(config, field, None)
    if not isinstance(value, str) or not value:
        return None
    marker = config.marked(EndpointField).get(field)
    try:
        return parse_endpoint(value, bare=marker is not None and marker.bare)
    except EndpointSyntaxError as exc:
        raise EndpointRefusedError(f"config.{field}: {exc}", field) from None


def is_allowed(endpoint: Endpoint | str, patterns: Sequence[str]) -> bool:
    """Whether the endpoint's host (and port) matches one of ``patterns``."""
    if isinstance(endpoint, str):
        try:
            endpoint = parse_endpoint(endpoint, bare=True)
        except EndpointSyntaxError:
            return False
    host, port = endpoint.host, endpoint.port
    for pattern in patterns:
        if ":" in pattern.rsplit("]", 1)[-1]:
            pattern_host, _, pattern_port = pattern.rpartition(":")
            if (
                port is not None
                and str(port) == pattern_port
                and fnmatch.fnmatchcase(host, pattern_host.strip("[]"))
            ):
                return True
        elif fnmatch.fnmatchcase(host, pattern.strip("[]")):
            return True
    return False


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, IPv4-compatible or NAT64 address carries."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if any(ip in net for net in EMBEDDING_NETWORKS) and int(ip) & 0xFFFFFFFF > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_refused_address(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an IP address is link-local or a cloud metadata address, also when an
    IPv6 address carries such an IPv4 one."""
    if isinstance(address, str):
        try:
            ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
                address.split("%", 1)[0]
            )
        except ValueError:
            return False
    else:
        ip = address
    if isinstance(ip, ipaddress.IPv6Address) and (inner := embedded_ipv4(ip)) is not None:
        ip = inner
    return any(ip in net for net in REFUSED_NETWORKS if ip.version == net.version)


def _endpoints(config: BackendConfig) -> list[tuple[str, Endpoint]]:
    return [
        (field, endpoint)
        for field in config.marked(EndpointField)
        if (endpoint := endpoint_of(config, field)) is not None
    ]


def check_endpoint(endpoint: Endpoint, field: str, patterns: Sequence[str]) -> None:
    """Refuse what one parsed endpoint says by itself (no name is looked up)."""
    if patterns:
        if not is_allowed(endpoint, patterns):
            raise EndpointRefusedError(
                f"config.{field} host {endpoint.host!r} is not in the operator's allowed endpoints",
                field,
            )
        return
    refused = endpoint.address is not None and is_refused_address(endpoint.address)
    if refused or endpoint.host in METADATA_NAMES:
        raise EndpointRefusedError(
            f"config.{field} host {endpoint.host!r} is a link-local or cloud metadata "
            "address, which the operator does not connect to (an operator-wide "
            "allowed_endpoints setting may admit it explicitly)",
            field,
        )


def check_endpoints(config: BackendConfig, patterns: Sequence[str]) -> None:
    """Refuse what the endpoints say by themselves (no name is looked up)."""
    for field, endpoint in _endpoints(config):
        check_endpoint(endpoint, field, patterns)


async def check_resolved(
    config: BackendConfig, patterns: Sequence[str], resolver: Resolver | None
) -> None:
    """:func:`check_endpoints`, then (without an allowlist) the addresses each host name
    resolves to. A name that does not resolve is left to the connection to report."""
    check_endpoints(config, patterns)
    if patterns or resolver is None:
        return
    for field, endpoint in _endpoints(config):
        if endpoint.address is not None:
            continue  # an address was checked as it is
        host = endpoint.host
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
