"""The test apiserver publishes its token issuer like a managed cluster does, and the
emulators' validator checks real ServiceAccount tokens against it: each refusal is
its own error, and none names the token."""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.oidc_validator import (
    AudienceNotAllowed,
    BadSignature,
    FederatedCredential,
    KeysUnavailable,
    MalformedToken,
    OidcValidator,
    SubjectNotAllowed,
    TokenExpired,
    TokenNotYetValid,
    TokenRefused,
    UntrustedIssuer,
)

from .accounts import Team, assert_not_echoed, claims_of, longer_lived, new_team

AUDIENCE = "api://AzureADTokenExchange"


def validator(cp: ControlPlane, clock: Callable[[], float] = time.time) -> OidcValidator:
    made = OidcValidator(clock=clock)
    made.trust(cp.service_account_issuer, cp.ca_file.read_text())
    return made


def credential(team: Team) -> FederatedCredential:
    return FederatedCredential(team.cp.service_account_issuer, frozenset({AUDIENCE}), team.subject)


def refused(check: OidcValidator, token: str, creds: list[FederatedCredential]) -> TokenRefused:
    with pytest.raises(TokenRefused) as caught:
        check.verify(token, creds)
    assert_not_echoed(token, str(caught.value))
    return caught.value


def test_the_issuer_discovery_is_public_and_https(control_plane: ControlPlane) -> None:
    issuer = control_plane.service_account_issuer
    assert issuer == control_plane.server
    context = ssl.create_default_context(cafile=str(control_plane.ca_file))
    url = f"{issuer}/.well-known/openid-configuration"
    with urllib.request.urlopen(url, timeout=5, context=context) as resp:  # noqa: S310
        discovery = json.load(resp)
    assert discovery["issuer"] == issuer
    assert discovery["jwks_uri"] == f"{issuer}/openid/v1/jwks"
    with urllib.request.urlopen(discovery["jwks_uri"], timeout=5, context=context) as resp:  # noqa: S310
        keys = json.load(resp)["keys"]
    assert keys and all(key["use"] == "sig" for key in keys)
    # the rest of the API stays closed to anonymous callers
    assert control_plane.request("GET", "/api/v1/namespaces", anonymous=True)[0] == 403


def test_a_token_with_the_registered_subject_and_audience_is_accepted(
    control_plane: ControlPlane,
) -> None:
    team = new_team(control_plane, "oidc")
    expected = credential(team)
    other = credential(Team(control_plane, "elsewhere"))

    verified = validator(control_plane).verify(team.token(AUDIENCE), [other, expected])

    assert verified.credential == expected
    assert verified.subject == team.subject
    assert verified.audiences == (AUDIENCE,)
    assert 590 < verified.expires_at - time.time() <= 600


def test_each_refusal_is_its_own_error(control_plane: ControlPlane) -> None:
    team = new_team(control_plane, "oidc")
    registered = [credential(team)]
    good = team.token(AUDIENCE)
    check = validator(control_plane)

    assert isinstance(refused(check, team.token(), registered), AudienceNotAllowed)

    stranger = team.token(AUDIENCE, account=team.other_account("stranger"))
    error = refused(check, stranger, registered)
    assert isinstance(error, SubjectNotAllowed)
    assert error.subject == f"system:serviceaccount:{team.namespace}:stranger"

    later = validator(control_plane, clock=lambda: time.time() + 601)
    assert isinstance(refused(later, good, registered), TokenExpired)
    earlier = validator(control_plane, clock=lambda: time.time() - 3600)
    assert isinstance(refused(earlier, good, registered), TokenNotYetValid)

    elsewhere = [FederatedCredential("https://issuer.invalid", frozenset({AUDIENCE}))]
    assert isinstance(refused(check, good, elsewhere), UntrustedIssuer)
    assert isinstance(refused(check, "not-a-jwt", registered), MalformedToken)


def test_a_token_not_signed_by_the_apiserver_is_refused(control_plane: ControlPlane) -> None:
    team = new_team(control_plane, "oidc")
    registered = [credential(team)]
    good = team.token(AUDIENCE)
    check = validator(control_plane)

    assert isinstance(refused(check, longer_lived(good), registered), BadSignature)

    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = claims_of(good)
    kid = jwt.get_unverified_header(good)["kid"]
    forged = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": kid})
    assert isinstance(refused(check, forged, registered), BadSignature)
    unknown = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": "not-the-apiserver"})
    assert isinstance(refused(check, unknown, registered), BadSignature)


def test_an_issuer_whose_tls_is_not_trusted_gives_no_keys(control_plane: ControlPlane) -> None:
    team = new_team(control_plane, "oidc")
    untrusting = OidcValidator()  # the system's CAs only: the apiserver's is not among them

    error = refused(untrusting, team.token(AUDIENCE), [credential(team)])

    assert isinstance(error, KeysUnavailable)
