"""What a backend makes the operator do on its author's behalf, checked against what
the author could do by hand.

A backend's config can name a credentials Secret (by path) and, for a login with
a ServiceAccount token or a keyless cloud login, a ServiceAccount whose token the
operator requests.
Whoever writes the backend through the API therefore reaches that Secret's
values and that account's tokens (they go to the backend's endpoint, which the
author chooses). So a create, or a patch that changes the config, is refused 403
naming the field unless the caller may ``get`` that Secret, and ``create``
``serviceaccounts/token`` for that account, in the namespace where the operator
reads them (the backend's own; a cluster backend's: the operator's). A static
token has no Kubernetes rights: ``secrets:read`` in that namespace stands for
both.

``conflict_policy: overwrite`` replaces Secrets the backend did not write (those
that opt in: see README, "Conflicts"), so it needs ``secrets:write`` where the
backend writes: its namespace, or every namespace for a cluster backend.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ..backends.credentials import DEFAULT_SERVICE_ACCOUNT
from ..models.kind import BackendKind
from ..models.spec import BackendSpec, ConflictPolicy
from ..paths import secret_name_for_path
from .auth import SECRETS_READ, SECRETS_WRITE, SERVICE_ACCOUNT_TOKEN, Permission, principal_of
from .errors import ApiError
from .state import ApiState


@dataclass(frozen=True)
class Use:
    """One Kubernetes object a backend's config makes the operator use."""

    field: str  # as the API spells it
    permission: Permission
    name: str
    refusal: str  # what the caller may not do, for the 403


def uses(spec: BackendSpec, home: str) -> list[Use]:
    """The credentials Secrets and the ServiceAccount ``spec`` uses in ``home``."""
    found: list[Use] = []
    for attr, path in spec.config.credentials_paths().items():
        name = secret_name_for_path(path)
        refusal = f"get Secret {name!r} in namespace {home!r} (secrets:read)"
        found.append(Use(f"config.{attr}", SECRETS_READ, name, refusal))
    login = spec.config.service_account_login()
    keyless = spec.config.workload_identity()
    account = keyless.account if keyless is not None else None
    if account is None and login is not None:
        account = login.account or DEFAULT_SERVICE_ACCOUNT
    if account is not None:
        refusal = (
            f"create a token of ServiceAccount {account!r} in namespace {home!r} "
            "(create serviceaccounts/token; for a static token, secrets:read)"
        )
        found.append(Use("config.service_account", SERVICE_ACCOUNT_TOKEN, account, refusal))
    return found


def _writes_elsewhere(old: BackendSpec, new: BackendSpec) -> bool:
    """Whether ``new`` writes other Secrets than ``old`` may have."""
    return (
        old.conflict_policy is not ConflictPolicy.OVERWRITE
        or old.path_mapping != new.path_mapping
        or old.target != new.target
        or getattr(old, "namespace_selector", None) != getattr(new, "namespace_selector", None)
    )


async def require_delegation(
    state: ApiState,
    request: web.Request,
    new: BackendSpec,
    old: BackendSpec | None,
    *,
    namespace: str,
    kind: BackendKind,
) -> None:
    """403 naming the field unless the caller may do by hand what ``new`` makes the
    operator do that ``old`` (the stored spec of a patched backend; ``None``: a new
    one, or one whose spec is invalid) did not already."""
    principal = principal_of(request)
    home = kind.home(namespace, state.environment.tenancy.operator_namespace)
    if old is None or old.type != new.type or old.config != new.config:
        for use in uses(new, home):
            if not await state.auth.allowed(principal, use.permission, home, use.name):
                raise ApiError(
                    403,
                    f"{use.field}: a backend may use only what its author could use by hand, "
                    f"and the caller may not {use.refusal}",
                    field=use.field,
                )
    if new.conflict_policy is ConflictPolicy.OVERWRITE and (
        old is None or _writes_elsewhere(old, new)
    ):
        where = kind.object_namespace(namespace)  # "": every namespace
        if not await state.auth.allowed(principal, SECRETS_WRITE, where):
            place = f"in namespace {where!r}" if where else "in every namespace"
            raise ApiError(
                403,
                "conflict_policy: overwrite replaces Secrets the backend did not write; "
                f"it needs secrets:write {place}",
                field="conflict_policy",
            )
