"""The test apiserver publishes its token issuer like a managed cluster does, and the
emulators' validator checks real ServiceAccount tokens against it: each refusal is
its own error, and none names the token."""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.request
import uuid
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from scaivault_devenv.cluster import ensure_service_account, service_account_token
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

AUDIENCE = "api://AzureADTokenExchange"


def validator(cp: ControlPlane, clock: Callable[[], float] = time.time) -> OidcValidator:
    made = OidcValidator(clock=clock)
    made.trust(cp.service_account_issuer, cp.ca_file.read_text())
    return made


def account(cp: ControlPlane) -> tuple[str, str]:
    namespace = f"oidc-{uuid.uuid4().hex[:8]}"
    ensure_service_account(cp, namespace, "reader")
    return namespace, "reader"


def registered_account(cp: ControlPlane) -> tuple[str, str, str]:
    """A new ServiceAccount and a token for it with the federation audience."""
    namespace, name = account(cp)
    return namespace, name, service_account_token(cp, namespace, name, [AUDIENCE])


def credential(cp: ControlPlane, namespace: str, name: str = "reader") -> FederatedCredential:
    subject = f"system:serviceaccount:{namespace}:{name}"
    return FederatedCredential(cp.service_account_issuer, frozenset({AUDIENCE}), subject)


def refused(check: OidcValidator, token: str, creds: list[FederatedCredential]) -> TokenRefused:
    with pytest.raises(TokenRefused) as caught:
        check.verify(token, creds)
    for part in token.split("."):
        assert part not in str(caught.value)  # never the token, nor a piece of it
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
    namespace, name, token = registered_account(control_plane)
    expected = credential(control_plane, namespace)
    other = credential(control_plane, "elsewhere")

    verified = validator(control_plane).verify(token, [other, expected])

    assert verified.credential == expected
    assert verified.subject == f"system:serviceaccount:{namespace}:{name}"
    assert verified.audiences == (AUDIENCE,)
    assert 590 < verified.expires_at - time.time() <= 600


def test_each_refusal_is_its_own_error(control_plane: ControlPlane) -> None:
    cp = control_plane
    namespace, name, good = registered_account(cp)
    registered = [credential(cp, namespace)]
    check = validator(cp)

    apiserver_audience = service_account_token(cp, namespace, name, [])
    assert isinstance(refused(check, apiserver_audience, registered), AudienceNotAllowed)

    ensure_service_account(cp, namespace, "stranger")
    stranger = service_account_token(cp, namespace, "stranger", [AUDIENCE])
    error = refused(check, stranger, registered)
    assert isinstance(error, SubjectNotAllowed)
    assert error.subject == f"system:serviceaccount:{namespace}:stranger"

    later = validator(cp, clock=lambda: time.time() + 601)
    assert isinstance(refused(later, good, registered), TokenExpired)
    earlier = validator(cp, clock=lambda: time.time() - 3600)
    assert isinstance(refused(earlier, good, registered), TokenNotYetValid)

    elsewhere = [FederatedCredential("https://issuer.invalid", frozenset({AUDIENCE}))]
    assert isinstance(refused(check, good, elsewhere), UntrustedIssuer)
    assert isinstance(refused(check, "not-a-jwt", registered), MalformedToken)


def test_a_token_not_signed_by_the_apiserver_is_refused(control_plane: ControlPlane) -> None:
    cp = control_plane
    namespace, _, good = registered_account(cp)
    registered = [credential(cp, namespace)]
    check = validator(cp)
    header, payload, signature = good.split(".")

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] += 3600  # a longer life, the apiserver's signature kept
    longer = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert isinstance(refused(check, f"{header}.{longer}.{signature}", registered), BadSignature)

    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = jwt.get_unverified_header(good)["kid"]
    forged = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": kid})
    assert isinstance(refused(check, forged, registered), BadSignature)
    unknown = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": "not-the-apiserver"})
    assert isinstance(refused(check, unknown, registered), BadSignature)


def test_an_issuer_whose_tls_is_not_trusted_gives_no_keys(control_plane: ControlPlane) -> None:
    namespace, _, token = registered_account(control_plane)
    untrusting = OidcValidator()  # the system's CAs only: the apiserver's is not among them

    error = refused(untrusting, token, [credential(control_plane, namespace)])

    assert isinstance(error, KeysUnavailable)
