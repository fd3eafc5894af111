"""ServiceAccount tokens for the backends' logins with one, bound and opted in.

A backend's config names a ServiceAccount of its namespace; the operator then
requests a token of it (TokenRequest) and sends it to the backend's endpoint.
That token must not be a Kubernetes API credential, and the account must have
agreed to it, so a token is requested only when:

- the account carries the annotation ``federation.scaivault.io/token-for``
  naming the backend (comma-separated FederationBackend names of its
  namespace, ``clusterfederationbackend/<name>`` for a ClusterFederationBackend,
  or ``*`` for every backend that can name it);
- it is not the ServiceAccount this process runs as, nor one of the ``protected``
  accounts (the chart names the operator's and the API's), whatever its
  annotations say;
- the audience (the config's, or its login's default) is none of the
  apiserver's own audiences nor a well-known Kubernetes or cloud
  token-exchange audience. The apiserver's audiences are learnt once,
  from a dry-run TokenRequest without audiences (the apiserver fills in its
  own); the token in that answer is dropped unread;

and the token lives :data:`TOKEN_SECONDS` (the shortest TokenRequest allows).
The apiserver's answer must be bound to exactly that audience.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from ..labels import CLUSTER_OWNER_PREFIX, TOKEN_FOR_ANNOTATION
from ..models.token import IssuedToken
from .errors import InvalidBackendConfigError

#: the shortest lifetime TokenRequest grants (10 minutes)
TOKEN_SECONDS = 600
#: how a ClusterFederationBackend is named in the annotation
CLUSTER_ENTRY_PREFIX = "clusterfederationbackend/"
#: audiences a token for a backend never carries: the apiserver's usual names, and the
#: token exchanges of the clouds' workload identity
REFUSED_AUDIENCES = frozenset(
    {
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "https://kubernetes.default.svc",
        "https://kubernetes.default.svc.cluster.local",
        "sts.amazonaws.com",
        "api://AzureADTokenExchange",
    }
)
REFUSED_AUDIENCE_PREFIXES = ("//iam.googleapis.com/", "https://iam.googleapis.com/")


class ServiceAccountApi(Protocol):
    """The apiserver's ServiceAccounts, as much as tokens need."""

    async def annotations(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """The account's annotations; ``None`` when it does not exist."""
        ...

    async def request_token(
        self, namespace: str, name: str, audiences: Sequence[str], seconds: int, *, dry_run: bool
    ) -> IssuedToken | None:
        """A TokenRequest (``audiences`` empty: the apiserver's own); ``None`` when the
        account does not exist."""
        ...

    async def own_account(self) -> tuple[str, str] | None:
        """(namespace, name) of the ServiceAccount the operator acts as; ``None`` when it
        acts as another kind of user."""
        ...


def backend_entry(backend: str) -> str:
    """How ``backend`` (an owner key: a FederationBackend's name, or ``cluster_<name>``)
    is written in the annotation."""
    if backend.startswith(CLUSTER_OWNER_PREFIX):
        return CLUSTER_ENTRY_PREFIX + backend[len(CLUSTER_OWNER_PREFIX) :]
    return backend


def opted_in(annotations: Mapping[str, str], backend: str) -> bool:
    entries = {e.strip() for e in annotations.get(TOKEN_FOR_ANNOTATION, "").split(",")}
    return "*" in entries or backend_entry(backend) in entries


def refused_audience(audience: str, apiserver: frozenset[str]) -> bool:
    return (
        audience in apiserver
        or audience in REFUSED_AUDIENCES
        or audience.startswith(REFUSED_AUDIENCE_PREFIXES)
    )


class BoundTokens:
    """Issues tokens by the rules above (the operator's and the API's token issuer)."""

    def __init__(
        self, api: ServiceAccountApi, protected: frozenset[tuple[str, str]] = frozenset()
    ) -> None:
        self.api = api
        self.protected = protected
        self._apiserver_audiences: frozenset[str] | None = None
        #: the operator's own ServiceAccount (``None`` inside: it runs as no account)
        self._own: tuple[tuple[str, str] | None] | None = None

    async def issue(self, namespace: str, service_account: str, audience: str, backend: str) -> str:
        who = f"ServiceAccount {service_account!r} of namespace {namespace!r}"
        account = (namespace, service_account)
        if account in self.protected or account == await self._own_account():
            raise InvalidBackendConfigError(
                f"config.serviceAccount: {who} is the operator's own; no backend gets its tokens"
            )
        annotations = await self.api.annotations(namespace, service_account)
        if annotations is None:
            raise InvalidBackendConfigError(f"config.serviceAccount: {who} not found")
        if not opted_in(annotations, backend):
            raise InvalidBackendConfigError(
                f"config.serviceAccount: {who} has not opted in to tokens for "
                f"{backend_entry(backend)!r}; annotate it {TOKEN_FOR_ANNOTATION}: "
                f'"{backend_entry(backend)}" (or "*")'
            )
        if refused_audience(audience, await self._apiserver(namespace, service_account)):
            raise InvalidBackendConfigError(
                f"config.audience {audience!r} is an audience of the Kubernetes API or of a "
                "cloud's token exchange; a backend's token must be for the backend alone "
                "(e.g. the name of the service the backend is)"
            )
        issued = await self.api.request_token(
            namespace, service_account, [audience], TOKEN_SECONDS, dry_run=False
        )
        if issued is None or not issued.token:
            raise InvalidBackendConfigError(f"config.serviceAccount: {who} got no token")
        if issued.audiences != (audience,):
            raise InvalidBackendConfigError(
                f"the apiserver bound {who}'s token to other audiences than {audience!r}"
            )
        return issued.token

    async def _apiserver(self, namespace: str, service_account: str) -> frozenset[str]:
        """The apiserver's own audiences: what it fills in for a TokenRequest without
        any (asked once, as a dry run; its token is dropped)."""
        if self._apiserver_audiences is None:
            answer = await self.api.request_token(
                namespace, service_account, [], TOKEN_SECONDS, dry_run=True
            )
            if answer is None or not answer.audiences:
                raise InvalidBackendConfigError(
                    "the apiserver did not tell its own token audiences; no token is requested"
                )
            self._apiserver_audiences = frozenset(answer.audiences)
        return self._apiserver_audiences

    async def _own_account(self) -> tuple[str, str] | None:
        if self._own is None:
            self._own = (await self.api.own_account(),)
        return self._own[0]
