"""Who is calling, and may they? Bearer tokens, two ways.

1. A static token from the token file (:mod:`.static_tokens`) carries explicit
   scopes, optionally limited to some namespaces.
2. Any other token is a Kubernetes token: a TokenReview says who it belongs
   to, for the API's own audience (``scaivault-federation`` by default, so a
   token sent here cannot be replayed against the apiserver; a token of the
   apiserver's audience only when a setting allows it), then
   SubjectAccessReviews ask the apiserver whether that user may do the
   Kubernetes operation behind the scope, in the namespace concerned
   (``federation:read`` = get and list FederationBackends, ``federation:write``
   = create, patch or delete them, ``secrets:read`` = get Secrets,
   ``secrets:write`` = create and update, or delete, Secrets,
   ``federation:notify`` = update the ``federationbackends/notify``
   subresource name, which exists only in RBAC rules).

   A ClusterFederationBackend has no namespace: its reviews name the resource
   ``clusterfederationbackends`` and no namespace at all, so only a
   ClusterRole (bound cluster-wide) grants them; ``federation:read`` is get
   and list, ``federation:write`` create, patch or delete, as above.
   A static token reaches cluster backends with its scopes unless it is
   limited to some namespaces: such a token has no cluster-wide reach.

A Kubernetes token's reviews ask first whether the caller may do the thing
cluster-wide (no namespace): if so, that one answer serves every namespace;
only otherwise is the namespace asked.

Answers are cached for a few seconds, keyed by a SHA-256 digest of the
token: the token itself is never stored, logged or echoed. A full cache
forgets its least recently used answer. Tokens that fail authentication are
rate-limited per client (:mod:`.ratelimit`): past the limit, 429 before any
TokenReview.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from ..k8s.client import KubeApiError, KubeClient
from ..k8s.reviews import review_access, review_token
from ..labels import CLUSTER_PLURAL, GROUP, PLURAL
from .errors import ApiError, retry_later, unavailable
from .ratelimit import FailureLimiter
from .static_tokens import Scope, StaticToken, StaticTokens, token_digest
from .ttl_cache import TtlCache

log = logging.getLogger(__name__)

CACHE_SECONDS = 10.0
CACHE_ENTRIES = 10_000
#: the audience a Kubernetes token must be issued for, unless configured otherwise
TOKEN_AUDIENCE = "scaivault-federation"


@dataclass(frozen=True)
class Permission:
    scope: Scope
    group: str
    resource: str
    verbs: tuple[str, ...]
    subresource: str = ""


FEDERATION_READ = Permission(Scope.FEDERATION_READ, GROUP, PLURAL, ("get", "list"))
FEDERATION_CREATE = Permission(Scope.FEDERATION_WRITE, GROUP, PLURAL, ("create",))
FEDERATION_PATCH = Permission(Scope.FEDERATION_WRITE, GROUP, PLURAL, ("patch",))
FEDERATION_DELETE = Permission(Scope.FEDERATION_WRITE, GROUP, PLURAL, ("delete",))
SECRETS_READ = Permission(Scope.SECRETS_READ, "", "secrets", ("get",))
SECRETS_WRITE = Permission(Scope.SECRETS_WRITE, "", "secrets", ("create", "update"))
SECRETS_DELETE = Permission(Scope.SECRETS_WRITE, "", "secrets", ("delete",))
#: a token of a ServiceAccount (a static token has no such right: secrets:read stands for it)
SERVICE_ACCOUNT_TOKEN = Permission(
    Scope.SECRETS_READ, "", "serviceaccounts", ("create",), subresource="token"
)
CLUSTER_READ = Permission(Scope.FEDERATION_READ, GROUP, CLUSTER_PLURAL, ("get", "list"))
CLUSTER_CREATE = Permission(Scope.FEDERATION_WRITE, GROUP, CLUSTER_PLURAL, ("create",))
CLUSTER_PATCH = Permission(Scope.FEDERATION_WRITE, GROUP, CLUSTER_PLURAL, ("patch",))
CLUSTER_DELETE = Permission(Scope.FEDERATION_WRITE, GROUP, CLUSTER_PLURAL, ("delete",))
FEDERATION_NOTIFY = Permission(Scope.FEDERATION_NOTIFY, GROUP, PLURAL, ("update",), "notify")
CLUSTER_NOTIFY = Permission(Scope.FEDERATION_NOTIFY, GROUP, CLUSTER_PLURAL, ("update",), "notify")


@dataclass(frozen=True)
class KubeUser:
    username: str
    uid: str | None
    groups: tuple[str, ...]
    extra: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller; ``key`` is the digest of its token."""

    name: str
    key: str
    static: StaticToken | None = None
    user: KubeUser | None = None


PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("scaivault_principal", Principal)


def principal_of(request: web.Request) -> Principal:
    """The caller that :func:`.access.auth_middleware` authenticated.

    A handler that asks on a public route (or on an application built without the
    middleware) is a bug: it fails with a generic 500 instead of going unchecked.
    """
    if PRINCIPAL not in request:
        raise RuntimeError("no authenticated principal on this request")
    return request[PRINCIPAL]


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            401,
            "a bearer token is required (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": 'Bearer realm="scaivault-federation"'},
        )
    return token


def _invalid_token() -> ApiError:
    return ApiError(
        401,
        "the bearer token is not valid",
        headers={"WWW-Authenticate": 'Bearer realm="scaivault-federation", error="invalid_token"'},
    )


def _too_many_failures(retry_after: float) -> ApiError:
    return retry_later(429, "too many requests with a token that is not valid", retry_after)


#: a cached access decision: (token digest, group, resource, subresource, verb, namespace, name)
DecisionKey = tuple[str, str, str, str, str, str, str]


class Authenticator:
    def __init__(
        self,
        client: KubeClient,
        static: StaticTokens,
        *,
        ttl: float = CACHE_SECONDS,
        entries: int = CACHE_ENTRIES,
        failures: FailureLimiter | None = None,
        audience: str = TOKEN_AUDIENCE,
        apiserver_audience: bool = False,
    ) -> None:
        self.client = client
        self.audience = audience
        self.apiserver_audience = apiserver_audience
        self.static = static
        self.failures = failures or FailureLimiter()
        self._reviews: TtlCache[str, KubeUser | None] = TtlCache(ttl, entries)
        self._decisions: TtlCache[DecisionKey, bool] = TtlCache(ttl, entries)

    async def authenticate(self, request: web.Request) -> Principal:
        """The caller behind the request's bearer token; 401 without a valid one, 429
        when its client sent too many tokens that were not.

        Only :func:`.access.auth_middleware` calls this, once per request; handlers
        read the result with :func:`principal_of`.
        """
        return await self._principal(_bearer(request), request.remote or "")

    async def authenticate_token(self, request: web.Request, token: str) -> Principal:
        """Like :meth:`authenticate`, for a token that came another way than the header."""
        principal = await self._principal(token, request.remote or "")
        request[PRINCIPAL] = principal
        return principal

    async def _principal(self, token: str, client: str) -> Principal:
        static = self.static.lookup(token)
        if static is not None:
            return Principal(f"static:{static.name}", static.digest, static=static)
        digest = token_digest(token)
        hit, user = self._reviews.get(digest)
        if not hit:
            wait = self.failures.retry_after(client)
            if wait > 0:
                raise _too_many_failures(wait)
            user = await self._token_review(token)
            self._reviews.put(digest, user)
            if user is None:
                self.failures.failed(client)
        if user is None:
            raise _invalid_token()
        return Principal(user.username, digest, user=user)

    async def _token_review(self, token: str) -> KubeUser | None:
        """Who the token is: issued for the API's audience, or (when allowed) for the
        apiserver's; ``None`` when it is neither."""
        status = await self._review(token, (self.audience,))
        if not status.get("authenticated") and self.apiserver_audience:
            status = await self._review(token, ())
        if not status.get("authenticated"):
            return None
        user = status.get("user") or {}
        return KubeUser(
            username=str(user.get("username", "")),
            uid=user.get("uid"),
            groups=tuple(user.get("groups") or ()),
            extra={k: list(v) for k, v in (user.get("extra") or {}).items()},
        )

    async def _review(self, token: str, audiences: tuple[str, ...]) -> dict[str, Any]:
        try:
            status = await review_token(self.client, token, audiences)
        except (KubeApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("TokenReview failed: %s", type(exc).__name__)
            raise unavailable("cannot verify the token right now", 5) from None
        granted = status.get("audiences")
        if audiences and isinstance(granted, list) and not set(granted) & set(audiences):
            return {}  # an authenticator that ignored the audiences asked for
        return status

    async def allowed(
        self, principal: Principal, permission: Permission, namespace: str, name: str = ""
    ) -> bool:
        """Whether the caller may use ``permission`` in ``namespace`` (on the object
        ``name`` when given); ``""``: cluster-wide (every namespace's, or a
        cluster-scoped resource). A Kubernetes caller is asked cluster-wide first,
        then, if that is refused, in ``namespace``. A static token has its scopes, and
        a scope covers every object of its kind."""
        if principal.static is not None:
            return principal.static.allows(permission.scope, namespace)
        assert principal.user is not None
        for verb in permission.verbs:
            if await self._decision(principal, permission, verb, "", name):
                continue
            if not namespace or not await self._decision(
                principal, permission, verb, namespace, name
            ):
                return False
        return True

    async def _decision(
        self, principal: Principal, permission: Permission, verb: str, namespace: str, name: str
    ) -> bool:
        assert principal.user is not None
        group, resource, subresource = permission.group, permission.resource, permission.subresource
        key = (principal.key, group, resource, subresource, verb, namespace, name)
        hit, decision = self._decisions.get(key)
        if not hit:
            decision = await self._access_review(principal.user, permission, verb, namespace, name)
            self._decisions.put(key, decision)
        return bool(decision)

    async def _access_review(
        self, user: KubeUser, permission: Permission, verb: str, namespace: str, name: str
    ) -> bool:
        attributes = {"verb": verb, "group": permission.group, "resource": permission.resource}
        if namespace:  # none: cluster-wide, as RBAC sees a cluster-scoped resource
            attributes["namespace"] = namespace
        if name:
            attributes["name"] = name
        spec: dict[str, Any] = {
            "user": user.username,
            "groups": list(user.groups),
            "resourceAttributes": attributes,
        }
        if permission.subresource:
            spec["resourceAttributes"]["subresource"] = permission.subresource
        if user.uid:
            spec["uid"] = user.uid
        if user.extra:
            spec["extra"] = user.extra
        try:
            return await review_access(self.client, spec)
        except (KubeApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("SubjectAccessReview failed: %s", type(exc).__name__)
            raise unavailable("cannot check permissions right now", 5) from None

    async def require(
        self, request: web.Request, permission: Permission, namespace: str
    ) -> Principal:
        """The caller, if it may use ``permission`` in ``namespace`` (``""``: cluster-wide);
        403 otherwise."""
        principal = principal_of(request)
        if not await self.allowed(principal, permission, namespace):
            if permission.resource == CLUSTER_PLURAL:
                where = "on cluster backends (clusterfederationbackends, cluster-wide)"
            elif namespace:
                where = f"in namespace {namespace!r}"
            else:
                where = "in every namespace"
            raise ApiError(403, f"{permission.scope.value} is required {where}")
        return principal
