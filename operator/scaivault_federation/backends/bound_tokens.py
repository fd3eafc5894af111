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

A keyless cloud login (:mod:`.workload_identity`) takes the same account rules,
and the account must also carry the annotations naming its cloud identity. Its
tokens are the one kind bound to a cloud's token-exchange audience
(:func:`exchange_audience`), and only the backend type's client asks for them,
to send them to the cloud's token endpoint the operator's settings name.

Each refusal is its own error: an account that does not exist
(:class:`ServiceAccountNotFoundError`), one that has not opted in
(:class:`ServiceAccountNotOptedInError`), anything else a configuration error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from ..labels import CLUSTER_OWNER_PREFIX, TOKEN_FOR_ANNOTATION
from ..models.config import WorkloadIdentityLogin
from ..models.token import IssuedToken
from .errors import (
    InvalidBackendConfigError,
    ServiceAccountNotFoundError,
    ServiceAccountNotOptedInError,
)
from .workload_identity import ExchangeCache, WorkloadIdentity

#: the shortest lifetime TokenRequest grants (10 minutes)
TOKEN_SECONDS = 600
#: how a ClusterFederationBackend is named in the annotation
CLUSTER_ENTRY_PREFIX = "clusterfederationbackend/"
#: the apiserver's usual names
KUBERNETES_AUDIENCES = frozenset(
    {
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "https://kubernetes.default.svc",
        "https://kubernetes.default.svc.cluster.local",
    }
)
#: the token exchanges of the clouds' workload identity (and their prefixes): only a
#: keyless login's tokens carry them
EXCHANGE_AUDIENCES = frozenset(
    {
        "sts.amazonaws.com",
        "api://AzureADTokenExchange",
        "api://AzureADTokenExchangeChina",
        "api://AzureADTokenExchangeUSGov",
    }
)
EXCHANGE_AUDIENCE_PREFIXES = ("//iam.googleapis.com/", "https://iam.googleapis.com/")
#: audiences a token sent to a backend's endpoint never carries
REFUSED_AUDIENCES = KUBERNETES_AUDIENCES | EXCHANGE_AUDIENCES
REFUSED_AUDIENCE_PREFIXES = EXCHANGE_AUDIENCE_PREFIXES


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


def exchange_audience(audience: str) -> bool:
    """Whether ``audience`` is a cloud's token exchange."""
    return audience in EXCHANGE_AUDIENCES or audience.startswith(EXCHANGE_AUDIENCE_PREFIXES)


class BoundTokens:
    """Issues tokens by the rules above (the operator's and the API's token issuer), and
    keeps what keyless logins exchanged them for (:attr:`exchanges`)."""

    def __init__(
        self, api: ServiceAccountApi, protected: frozenset[tuple[str, str]] = frozenset()
    ) -> None:
        self.api = api
        self.protected = protected
        self.exchanges = ExchangeCache()
        self._apiserver_audiences: frozenset[str] | None = None
        #: the operator's own ServiceAccount (``None`` inside: it runs as no account)
        self._own: tuple[tuple[str, str] | None] | None = None

    async def issue(self, namespace: str, service_account: str, audience: str, backend: str) -> str:
        """A token for a login that sends it to the backend's endpoint (Vault's)."""
        await self._consenting(namespace, service_account, backend)
        if refused_audience(audience, await self._apiserver(namespace, service_account)):
            raise InvalidBackendConfigError(
                f"config.audience {audience!r} is an audience of the Kubernetes API or of a "
                "cloud's token exchange; a backend's token must be for the backend alone "
                "(e.g. the name of the service the backend is)"
            )
        return await self._mint(namespace, service_account, audience)

    async def workload_identity(
        self, namespace: str, login: WorkloadIdentityLogin, backend: str
    ) -> WorkloadIdentity:
        """The account of a keyless login, checked, with the annotations naming its cloud
        identity; no token is requested yet."""
        annotations = await self._consenting(namespace, login.account, backend)
        missing = [a for a in login.required_annotations if not annotations.get(a, "").strip()]
        if missing:
            raise ServiceAccountNotOptedInError(
                f"config.serviceAccount: {_who(namespace, login.account)} names no cloud "
                f"identity; annotate it {', '.join(missing)} (the identity it logs in as)"
            )
        wanted = (*login.required_annotations, *login.optional_annotations)
        named = {a: annotations[a].strip() for a in wanted if annotations.get(a, "").strip()}
        return WorkloadIdentity(namespace, login.account, backend, named, self, self.exchanges)

    async def exchange_token(
        self, namespace: str, service_account: str, audience: str, backend: str
    ) -> str:
        """A token for a keyless login's exchange at the cloud (``audience``: the cloud's
        exchange), the account checked again (it may have withdrawn)."""
        await self._consenting(namespace, service_account, backend)
        apiserver = await self._apiserver(namespace, service_account)
        if not exchange_audience(audience) or audience in apiserver:
            raise InvalidBackendConfigError(
                f"{audience!r} is not the audience of a cloud's token exchange; a keyless "
                "login's token is for the cloud's token endpoint alone"
            )
        return await self._mint(namespace, service_account, audience)

    async def _consenting(
        self, namespace: str, service_account: str, backend: str
    ) -> Mapping[str, str]:
        """The annotations of an account that lends its tokens to ``backend``."""
        who = _who(namespace, service_account)
        account = (namespace, service_account)
        if account in self.protected or account == await self._own_account():
            raise InvalidBackendConfigError(
                f"config.serviceAccount: {who} is the operator's own; no backend gets its tokens"
            )
        annotations = await self.api.annotations(namespace, service_account)
        if annotations is None:
            raise ServiceAccountNotFoundError(
                f"config.serviceAccount: {who} not found (a backend logs in only as a "
                "ServiceAccount of its own namespace)"
            )
        if not opted_in(annotations, backend):
            raise ServiceAccountNotOptedInError(
                f"config.serviceAccount: {who} has not opted in to tokens for "
                f"{backend_entry(backend)!r}; annotate it {TOKEN_FOR_ANNOTATION}: "
                f'"{backend_entry(backend)}" (or "*")'
            )
        return annotations

    async def _mint(self, namespace: str, service_account: str, audience: str) -> str:
        who = _who(namespace, service_account)
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


def _who(namespace: str, service_account: str) -> str:
    return f"ServiceAccount {service_account!r} of namespace {namespace!r}"
