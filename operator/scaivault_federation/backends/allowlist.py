"""Which backend endpoints a cluster's users may point the operator at.

A FederationBackend names its backend's address (``endpoint``, ``vaultUrl``),
and the operator connects there from inside the cluster: without a limit, any
namespace could make it probe internal addresses. The operator's
``allowed_endpoints`` setting holds host patterns (``vault.internal``, ``*.vault.azure.net``,
``10.0.0.5:8200``); when it is set, a config whose endpoint host matches none is
refused before any connection. Unset, every endpoint is allowed.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from urllib.parse import urlsplit

from ..models.config import BackendConfig
from .errors import InvalidBackendConfigError


def parse_patterns(raw: str) -> tuple[str, ...]:
    """Comma-separated patterns, lower-cased, blanks dropped."""
    return tuple(p.strip().lower() for p in raw.split(",") if p.strip())


def endpoint_host(endpoint: str) -> tuple[str, int | None]:
    """Host (lower-case) and port of a URL or a bare ``host:port``."""
    parts = urlsplit(endpoint if "//" in endpoint else f"//{endpoint}")
    return (parts.hostname or "").lower(), parts.port


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


def check_endpoints(config: BackendConfig, patterns: Sequence[str]) -> None:
    """Raise :class:`InvalidBackendConfigError` for an endpoint outside ``patterns``."""
    if not patterns:
        return
    for field in ("endpoint", "vault_url"):
        value = getattr(config, field, None)
        if value and not is_allowed(value, patterns):
            host, _ = endpoint_host(value)
            raise InvalidBackendConfigError(
                f"config.{field} host {host!r} is not in the operator's allowed endpoints"
            )
