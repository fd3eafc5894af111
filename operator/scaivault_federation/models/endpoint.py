"""The one parser of backend endpoints (``endpoint``, ``vaultUrl``).

An endpoint is read once, strictly, and every consumer (the allowlist, the
link-local refusal, each backend's client) uses what it yields: a scheme, a
normalised host, a port, a path, and the URL rebuilt from them. Two readers
that disagree about where a URL points are how a check passes for one host
while the client connects to another (``http://169.254.169.254\\@store.example``
is one host to :func:`urllib.parse.urlsplit` and another to urllib3), so
nothing here is lenient:

- the scheme is ``http`` or ``https`` (``host[:port]`` alone only where a
  field allows it: ``EndpointUrlOrHost``);
- no user information (``user@``), no backslash, no whitespace or control
  characters anywhere, no query or fragment;
- the host is a name of letters, digits, ``-``, ``_`` and ``.``, an IPv4
  address, or a bracketed IPv6 address without a zone; names are lower-cased
  and lose a trailing dot;
- every numeric IPv4 spelling the C library's ``inet_aton`` and browsers
  accept (``2852039166``, ``0xa9fea9fe``, ``025177524776``,
  ``169.254.43518``, ``0xa9.0376.43518``) is normalised to the dotted quad,
  so the checks and the connection see the same address; a host whose last
  label is a number is such an address or is refused;
- the port, when given, is 1-65535.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}

_NAME = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?$")
_IPV6 = re.compile(r"^[0-9a-f:.]+$")
_PORT = re.compile(r"^[0-9]{1,5}$")
# RFC 3986 path characters: unreserved, sub-delims, ":", "@", "/" and %-escapes
_PATH = re.compile(r"^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*$")
_NUMBER = re.compile(r"^(?:0[xX][0-9a-fA-F]*|[0-9]+)$")


class EndpointSyntaxError(ValueError):
    """An endpoint that is not a URL the operator accepts; the message says why and
    never repeats the value."""


@dataclass(frozen=True)
class Endpoint:
    """A parsed endpoint. ``scheme`` is ``""`` for a bare ``host[:port]``."""

    scheme: str
    host: str  # a lower-case name, or an address's canonical text (IPv6 without brackets)
    port: int | None
    path: str  # "" or starting with "/"

    @functools.cached_property
    def address(self) -> IPAddress | None:
        """The host as an IP address, ``None`` for a name."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None

    @property
    def netloc(self) -> str:
        """``host[:port]`` with an IPv6 address in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The normalised URL every client is given (``host[:port]`` when bare)."""
        if not self.scheme:
            return self.netloc
        return f"{self.scheme}://{self.netloc}{self.path}"

    @property
    def origin(self) -> tuple[str, str, int | None]:
        """(scheme, host, port with the scheme's default filled in)."""
        port = self.port if self.port is not None else DEFAULT_PORTS.get(self.scheme)
        return self.scheme, self.host, port

    def same_origin(self, other: Endpoint) -> bool:
        return self.origin == other.origin


@functools.lru_cache(maxsize=4096)
def parse_endpoint(raw: str, *, bare: bool = False) -> Endpoint:
    """``raw`` parsed strictly (see the module doc); ``bare`` admits ``host[:port]``
    without a scheme. Raises :class:`EndpointSyntaxError`."""
    if "\\" in raw:
        raise EndpointSyntaxError("must not contain a backslash")
    if not raw.isascii() or not raw.isprintable() or any(c.isspace() for c in raw):
        raise EndpointSyntaxError("must hold printable ASCII characters only, without spaces")
    scheme, sep, rest = raw.partition("://")
    if not sep:
        if not bare:
            raise EndpointSyntaxError("must be an http:// or https:// URL")
        scheme, rest = "", raw
    else:
        scheme = scheme.lower()
        if scheme not in SCHEMES:
            raise EndpointSyntaxError("the scheme must be http or https")
    if "?" in rest or "#" in rest:
        raise EndpointSyntaxError("must not have a query or a fragment")
    slash = rest.find("/")
    authority, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    if not scheme and path.strip("/"):
        raise EndpointSyntaxError("must be host[:port] without a path")
    if not scheme:
        path = ""
    if "@" in authority:
        raise EndpointSyntaxError("must not hold user information (user@host)")
    if not _PATH.match(path):
        raise EndpointSyntaxError("the path holds characters a URL does not allow")
    host, port = _split_authority(authority)
    return Endpoint(scheme, host, port, path)


def _split_authority(authority: str) -> tuple[str, int | None]:
    if not authority:
        raise EndpointSyntaxError("has no host")
    if authority.startswith("["):
        inside, bracket, tail = authority[1:].partition("]")
        if not bracket:
            raise EndpointSyntaxError("an IPv6 address must end with ']'")
        host = _ipv6(inside)
        if tail and not tail.startswith(":"):
            raise EndpointSyntaxError("only a port may follow the host")
        port_text = tail[1:] if tail else None
    else:
        text, colon, port_text_found = authority.partition(":")
        port_text = port_text_found if colon else None
        host = _host(text)
    return host, _port(port_text)


def _port(text: str | None) -> int | None:
    if text is None:
        return None
    if not _PORT.match(text) or not 0 < int(text) < 65536:
        raise EndpointSyntaxError("the port must be a number from 1 to 65535")
    return int(text)


def _ipv6(text: str) -> str:
    if "%" in text:
        raise EndpointSyntaxError("an IPv6 address must not name a zone")
    if not _IPV6.match(text.lower()):
        raise EndpointSyntaxError("holds an IPv6 address that is not valid")
    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        raise EndpointSyntaxError("holds an IPv6 address that is not valid") from None


def _host(text: str) -> str:
    name = text.lower()
    name = name[:-1] if name.endswith(".") else name
    if not name:
        raise EndpointSyntaxError("has no host")
    if not _NAME.match(name) or ".." in name:
        raise EndpointSyntaxError(
            "the host may hold letters, digits, '-', '_' and '.' only (an IPv6 address "
            "goes in brackets)"
        )
    if _NUMBER.match(name.rsplit(".", 1)[-1]):
        return str(numeric_ipv4(name))
    return name


def numeric_ipv4(text: str) -> ipaddress.IPv4Address:
    """An IPv4 address in any spelling ``inet_aton`` accepts: one to four parts, each
    decimal, ``0x`` hexadecimal or ``0`` octal, the last filling the remaining bytes."""
    parts = text.split(".")
    if len(parts) > 4:
        raise EndpointSyntaxError("holds an IPv4 address that is not valid")
    numbers = [_ipv4_part(p) for p in parts]
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        raise EndpointSyntaxError("holds an IPv4 address that is not valid")
    return ipaddress.IPv4Address(_combine(numbers))


def _combine(numbers: list[int]) -> int:
    value = 0
    for index, number in enumerate(numbers[:-1]):
        value |= number << (8 * (3 - index))
    return value | numbers[-1]


def _ipv4_part(part: str) -> int:
    try:
        if part[:2].lower() == "0x":
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part, 8)
        return int(part, 10)
    except ValueError:
        raise EndpointSyntaxError("holds an IPv4 address that is not valid") from None
