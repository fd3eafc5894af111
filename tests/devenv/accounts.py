"""ServiceAccounts of the test apiserver and their tokens, for the federation tests."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass

from scaivault_devenv.cluster import ensure_service_account, service_account_token
from scaivault_devenv.controlplane import ControlPlane


@dataclass(frozen=True)
class Team:
    """A namespace of its own with one ServiceAccount."""

    cp: ControlPlane
    namespace: str
    account: str = "reader"

    @property
    def subject(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.account}"

    def token(self, *audiences: str, account: str | None = None) -> str:
        """A TokenRequest token for the ServiceAccount (or ``account``), bound to
        ``audiences`` (the apiserver's own when none)."""
        return service_account_token(
            self.cp, self.namespace, account or self.account, list(audiences)
        )

    def other_account(self, name: str) -> str:
        """Another ServiceAccount in the same namespace."""
        ensure_service_account(self.cp, self.namespace, name)
        return name


def new_team(cp: ControlPlane, label: str) -> Team:
    team = Team(cp, f"{label}-{uuid.uuid4().hex[:8]}")
    ensure_service_account(cp, team.namespace, team.account)
    return team


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    claims: dict[str, object] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def longer_lived(token: str) -> str:
    """``token`` with an hour more of life and the apiserver's signature kept."""
    header, _, signature = token.split(".")
    claims = claims_of(token)
    claims["exp"] = int(str(claims["exp"])) + 3600
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def assert_not_echoed(token: str, text: str) -> None:
    """Neither the token nor any of its three parts appears in ``text``."""
    for part in token.split("."):
        assert part not in text
