"""Which redirects a backend client follows: none past the endpoint policy.

A server may answer a redirect to anywhere, and a client that follows it
carries the request (and its token, and on 307/308 its body) there, past the
allowlist and the link-local refusal that admitted the endpoint. So a redirect
is followed only to:

- the endpoint's own origin (scheme, host and port), e.g. another path; or
- with the operator's ``allowed_endpoints`` set, another origin that matches
  it, checked exactly as a configured endpoint is (a standby node redirecting
  to the active one, when the allowlist names both);

anything else is a :class:`RedirectRefusedError`, without contacting the
target. The target is parsed by the same strict parser as endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

from ..models.endpoint import Endpoint, EndpointSyntaxError, parse_endpoint
from .allowlist import EndpointRefusedError, check_endpoint
from .errors import BackendError

#: statuses that redirect (with a Location header)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: how many redirects one request may follow
MAX_REDIRECTS = 3


class RedirectRefusedError(BackendError):
    """A backend answered a redirect the operator does not follow."""


@dataclass(frozen=True)
class RedirectPolicy:
    """The redirect targets a client of ``origin`` may follow."""

    origin: Endpoint
    allowed_endpoints: tuple[str, ...] = ()
    #: the config field the endpoint came from, for messages
    field: str = "endpoint"

    def follow(self, current: str, location: str) -> str:
        """The absolute URL a redirect from ``current`` to ``location`` leads to, once
        it may be followed; else :class:`RedirectRefusedError`."""
        target_url = urljoin(current, location)
        target = _origin_of(target_url)
        if target is None:
            raise RedirectRefusedError(
                f"{self.origin.netloc} answered a redirect to a URL that is not valid; "
                "it is not followed"
            )
        if target.same_origin(self.origin):
            return target_url
        if self.allowed_endpoints:
            try:
                check_endpoint(target, self.field, self.allowed_endpoints)
            except EndpointRefusedError:
                pass
            else:
                return target_url
        raise RedirectRefusedError(
            f"{self.origin.netloc} answered a redirect to another origin "
            f"({target.scheme}://{target.netloc}); the operator follows redirects only "
            "within the endpoint's origin or to an allowed endpoint (point "
            f"config.{self.field} at the active node or a load balancer)"
        )


def _origin_of(url: str) -> Endpoint | None:
    """``scheme://authority`` of an absolute URL, parsed strictly (``None``: not valid)."""
    if "\\" in url:
        return None
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    authority = rest
    for stop in "/?#":
        authority = authority.split(stop, 1)[0]
    try:
        return parse_endpoint(f"{scheme}://{authority}")
    except EndpointSyntaxError:
        return None
