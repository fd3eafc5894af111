"""AWS web identity federation and per-secret permissions, in the dev environment's moto.

moto answers ``AssumeRoleWithWebIdentity`` without looking at the token, and its
IAM enforcement authorises Secrets Manager calls against ``*`` whatever secret
they name. :func:`federate` changes the server process (see :mod:`.moto_main`)
so that it behaves as AWS does for what the tests rely on:

- ``AssumeRoleWithWebIdentity`` (an unsigned call, as in AWS) verifies the
  token: the IAM OIDC provider whose URL is its issuer
  (``CreateOpenIDConnectProvider``), its signature against the issuer's
  discovery and keys, its expiry, an audience among the provider's client IDs,
  then the role's trust policy: an ``Allow`` of ``sts:AssumeRoleWithWebIdentity``
  for ``Principal.Federated`` = the provider's ARN whose conditions
  (``StringEquals``/``StringLike`` on ``<provider url>:sub`` and ``:aud``) all
  hold. Refusals are AWS's: ``InvalidIdentityToken``, ``ExpiredTokenException``,
  ``AccessDenied``.
- The session lasts ``DurationSeconds`` (or what the harness caps it to), and
  its credentials are refused with ``ExpiredTokenException`` afterwards.
- A Secrets Manager call naming a ``SecretId`` is authorised against that
  secret's ARN, so a policy's ``Resource`` (``...:secret:team-a/*``) counts;
  ``BatchGetSecretValue`` needs ``GetSecretValue`` on each secret it returns,
  and lists the others under ``Errors`` as ``AccessDeniedException``.

The harness reaches it under ``/moto-api/_emulator/``: ``trusted-issuers``,
``token-clock`` and ``exchanges`` as in :mod:`.federation`, and
``session-seconds`` (``{"seconds": n}``, ``null`` to honour DurationSeconds).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.exceptions import HTTPException

from .federation import AdminInputError, FederationAdmin
from .oidc_validator import (
    AudienceNotAllowed,
    BadSignature,
    FederatedCredential,
    KeysUnavailable,
    MalformedToken,
    TokenExpired,
    TokenRefused,
    unverified_claims,
)

WEB_IDENTITY_ACTION = "sts:AssumeRoleWithWebIdentity"
EXPIRED_SESSION = "ExpiredToken"
_Response = tuple[int, dict[str, str], str]


class AwsError(HTTPException):
    """An AWS error answer (query protocol XML; the code also in ``X-Amzn-ErrorType``,
    which is what botocore reads for the JSON services)."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__()
        self.code = status
        self.error_code = error_code
        self.message = message
        self.description = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{error_code}</Code><Message>{escape(message)}</Message>"
            "</Error></ErrorResponse>"
        )

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [("Content-Type", "text/xml"), ("X-Amzn-ErrorType", self.error_code)]

    def get_body(self, *args: Any, **kwargs: Any) -> str:
        return str(self.description)


def _denied() -> AwsError:
    return AwsError(403, "AccessDenied", f"Not authorized to perform {WEB_IDENTITY_ACTION}")


def _invalid(message: str) -> AwsError:
    return AwsError(400, "InvalidIdentityToken", message)


def token_error(refusal: TokenRefused) -> AwsError:
    """What STS answers for a web identity token that failed ``refusal``'s check."""
    match refusal:
        case TokenExpired(expires_at=expires_at, now=now):
            return AwsError(
                400,
                "ExpiredTokenException",
                f"Token expired: current date/time {_iso(now)} must be before the "
                f"expiration date/time {_iso(expires_at)}",
            )
        case AudienceNotAllowed():
            return _invalid("Incorrect token audience")
        case KeysUnavailable():
            return _invalid("Couldn't retrieve verification key from your identity provider")
        case BadSignature():
            return _invalid(
                "The web identity token that was passed could not be validated by AWS. Get a "
                "new identity token from the identity provider and then retry the request."
            )
        case MalformedToken():
            return _invalid("The web identity token that was passed is not a valid JWT.")
    return _invalid(str(refusal))


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- trust policies ------------------------------------------------------------------------


def _like(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda expected, actual: expected == actual,
    "StringLike": _like,
}


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    """Every condition holds (an operator this does not know never does)."""
    for operator, entries in conditions.items():
        compare = _OPERATORS.get(operator)
        if compare is None or not isinstance(entries, dict):
            return False
        for key, expected in entries.items():
            actual = context.get(key)
            if actual is None or not any(compare(e, actual) for e in _listed(expected)):
                return False
    return True


def trust_allows(policy: str, provider_arn: str, context: dict[str, str]) -> bool:
    """Whether a role's trust policy lets ``provider_arn``'s identities with
    ``context`` (the condition keys) assume it with a web identity."""
    document = json.loads(policy)
    statements = document.get("Statement", [])
    allowed = False
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = _listed(statement.get("Action", []))
        principal = statement.get("Principal", {})
        federated = _listed(principal.get("Federated", [])) if isinstance(principal, dict) else []
        if not any(_like(a, WEB_IDENTITY_ACTION) for a in actions) or provider_arn not in federated:
            continue
        if not _conditions_hold(statement.get("Condition", {}), context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = statement.get("Effect") == "Allow" or allowed
    return allowed


# -- the patches -----------------------------------------------------------------------------


class Federation:
    """The state the patches share: validator, counts and the session cap."""

    def __init__(self) -> None:
        self.admin = FederationAdmin()
        self.session_seconds: int | None = None

    def verify(self, account_id: str, partition: str, role_arn: str, token: str) -> None:
        """Raise the AwsError STS gives unless ``token`` may assume ``role_arn``."""
        from moto.iam.exceptions import NotFoundException
        from moto.iam.models import iam_backends

        iam = iam_backends[account_id][partition]
        try:
            issuer = str(unverified_claims(token).get("iss") or "")
        except MalformedToken as refusal:
            raise token_error(refusal) from None
        url = issuer.removeprefix("https://")
        provider = next((p for p in iam.open_id_providers.values() if p.url == url), None)
        if provider is None:
            raise _invalid(f"No OpenIDConnect provider found in your account for {issuer}")
        credential = FederatedCredential(issuer, frozenset(provider.client_id_list))
        try:
            verified = self.admin.validator.verify(token, [credential])
        except TokenRefused as refusal:
            raise token_error(refusal) from None
        audience = next(a for a in verified.audiences if a in credential.audiences)
        context = {f"{url}:sub": verified.subject, f"{url}:aud": audience}
        try:
            role = iam.get_role_by_arn(role_arn)
        except NotFoundException:
            raise _denied() from None
        if not trust_allows(role.assume_role_policy_document, provider.arn, context):
            raise _denied()

    # -- admin (moto's url handlers: (request, full_url, headers) -> response) ----------

    def trusted_issuers(self, request: Any, full_url: str, headers: Any) -> _Response:
        return self._admin_call(request, lambda body: self.admin.apply_trust(body))

    def token_clock(self, request: Any, full_url: str, headers: Any) -> _Response:
        return self._admin_call(request, lambda body: self.admin.apply_clock(body))

    def exchanges(self, request: Any, full_url: str, headers: Any) -> _Response:
        if request.method == "DELETE":
            self.admin.reset()
        return 200, {"Content-Type": "application/json"}, json.dumps(self.admin.counts())

    def session_cap(self, request: Any, full_url: str, headers: Any) -> _Response:
        def apply(body: dict[str, Any]) -> dict[str, Any]:
            seconds = body.get("seconds")
            if seconds is not None and (not isinstance(seconds, int) or seconds < 1):
                raise AdminInputError("seconds: a whole number of at least 1, or null")
            self.session_seconds = seconds
            return {"seconds": seconds}

        return self._admin_call(request, apply)

    @staticmethod
    def _admin_call(request: Any, apply: Callable[[dict[str, Any]], dict[str, Any]]) -> _Response:
        json_type = {"Content-Type": "application/json"}
        try:
            body = json.loads(request.data or b"{}")
            if not isinstance(body, dict):
                raise AdminInputError("the body must be an object")
            answer = apply(body)
        except (ValueError, AdminInputError) as error:
            return 400, json_type, json.dumps({"error": str(error)})
        return 200, json_type, json.dumps(answer)


def _caller_may(response: Any, action: str, resource: str) -> bool:
    """Whether the signed caller of ``response``'s request may do ``action`` on
    ``resource`` (always, while moto's authentication is off)."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMRequest

    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        return True
    check = IAMRequest(
        account_id=response.current_account,
        method=response.method,
        path=response.raw_path,
        data=response.data,
        body=response.raw_body,
        headers=response.headers,
        action=action.split(":", 1)[1],
    )
    try:
        check.check_action_permitted(resource)
    except HTTPException:
        return False
    return True


def federate() -> Federation | None:
    """Patch moto's STS, session keys and Secrets Manager authorisation; ``None`` (and
    nothing changed) when moto's internals are not the ones this expects."""
    try:
        from moto.iam import access_control
        from moto.moto_api._internal import urls as moto_api_urls
        from moto.secretsmanager.responses import SecretsManagerResponse
        from moto.sts import models as sts_models
        from moto.sts.responses import TokenResponse
    except ImportError:
        return None
    needed = (
        (TokenResponse, "assume_role_with_web_identity"),
        (TokenResponse, "_authenticate_and_authorize_normal_action"),
        (sts_models.STSBackend, "assume_role_with_web_identity"),
        (access_control.AssumedRoleAccessKey, "__init__"),
        (access_control.IAMRequest, "_raise_invalid_access_key"),
        (SecretsManagerResponse, "batch_get_secret_value"),
        (SecretsManagerResponse, "_authenticate_and_authorize_normal_action"),
    )
    if not all(callable(getattr(cls, name, None)) for cls, name in needed):
        return None
    if not isinstance(getattr(moto_api_urls, "url_paths", None), dict):
        return None
    state = Federation()
    _patch_sts(state, TokenResponse, sts_models)
    _patch_session_expiry(access_control, sts_models)
    _patch_secret_resources(SecretsManagerResponse)
    moto_api_urls.url_paths.update(
        {
            "{0}/moto-api/_emulator/trusted-issuers$": state.trusted_issuers,
            "{0}/moto-api/_emulator/token-clock$": state.token_clock,
            "{0}/moto-api/_emulator/exchanges$": state.exchanges,
            "{0}/moto-api/_emulator/session-seconds$": state.session_cap,
        }
    )
    return state


def _patch_sts(state: Federation, response_cls: Any, sts_models: Any) -> None:
    authorize = response_cls._authenticate_and_authorize_normal_action
    assume = response_cls.assume_role_with_web_identity
    backend_assume = sts_models.STSBackend.assume_role_with_web_identity

    def unsigned_web_identity(self: Any, resource: str = "*") -> None:
        if self._get_action() != "AssumeRoleWithWebIdentity":  # the token is its credential
            authorize(self, resource)

    def assume_with_checked_token(self: Any) -> Any:
        role_arn = str(self._get_param("RoleArn") or "")
        token = str(self._get_param("WebIdentityToken") or "")
        try:
            state.verify(self.current_account, self.partition, role_arn, token)
        except AwsError as error:
            state.admin.refused[error.error_code] += 1
            raise
        state.admin.granted[role_arn] += 1
        return assume(self)

    def capped(self: Any, **kwargs: Any) -> Any:
        if state.session_seconds is not None:
            kwargs["duration"] = state.session_seconds
        return backend_assume(self, **kwargs)

    response_cls._authenticate_and_authorize_normal_action = unsigned_web_identity
    response_cls.assume_role_with_web_identity = assume_with_checked_token
    sts_models.STSBackend.assume_role_with_web_identity = capped


def _patch_session_expiry(access_control: Any, sts_models: Any) -> None:
    from moto.core.utils import utcnow

    init = access_control.AssumedRoleAccessKey.__init__
    raise_invalid = access_control.IAMRequest._raise_invalid_access_key

    def init_unexpired(self: Any, **kwargs: Any) -> None:
        init(self, **kwargs)
        sts = sts_models.sts_backends[kwargs["account_id"]][kwargs["partition"]]
        session = sts.get_assumed_role_from_access_key(self._access_key_id)
        if session is not None and session.expiration <= utcnow():
            raise access_control.CreateAccessKeyFailure(reason=EXPIRED_SESSION)

    def raise_expired(self: Any, reason: str) -> None:
        if reason == EXPIRED_SESSION:
            message = "The security token included in the request is expired"
            raise AwsError(400, "ExpiredTokenException", message)
        raise_invalid(self, reason)

    access_control.AssumedRoleAccessKey.__init__ = init_unexpired
    access_control.IAMRequest._raise_invalid_access_key = raise_expired


def _patch_secret_resources(response_cls: Any) -> None:
    from moto.core.exceptions import JsonRESTError

    batch = response_cls.batch_get_secret_value
    authorize = response_cls._authenticate_and_authorize_normal_action

    def authorize_in_json(self: Any, resource: str = "*") -> None:
        # moto answers a refused signature or permission in XML; Secrets Manager speaks
        # JSON, and calls a denial AccessDeniedException
        try:
            authorize(self, resource)
        except HTTPException as error:
            code = getattr(error, "error_type", None) or getattr(error, "error_code", None)
            if code is None:
                raise
            code = "AccessDeniedException" if code == "AccessDenied" else str(code)
            answer = JsonRESTError(code, str(getattr(error, "message", "")))
            answer.code = error.code or 403
            raise answer from None

    def determine_resource(self: Any) -> str:
        secret_id = self._get_param("SecretId")
        if not isinstance(secret_id, str) or not secret_id:
            return "*"
        secret = self.backend.secrets.get(secret_id)
        if secret is not None:
            return str(secret.arn)
        if secret_id.startswith("arn:"):
            return secret_id
        return f"arn:aws:secretsmanager:{self.region}:{self.current_account}:secret:{secret_id}"

    def batch_per_secret(self: Any) -> str:
        answer = json.loads(batch(self))
        allowed = []
        for value in answer["SecretValues"]:
            if _caller_may(self, "secretsmanager:GetSecretValue", value["ARN"]):
                allowed.append(value)
                continue
            answer["Errors"].append(
                {
                    "SecretId": value["Name"],
                    "ErrorCode": "AccessDeniedException",
                    "Message": "not authorized to perform: secretsmanager:GetSecretValue "
                    f"on resource: {value['Name']}",
                }
            )
        answer["SecretValues"] = allowed
        return json.dumps(answer)

    response_cls._determine_resource = determine_resource
    response_cls._authenticate_and_authorize_normal_action = authorize_in_json
    response_cls.batch_get_secret_value = batch_per_secret
