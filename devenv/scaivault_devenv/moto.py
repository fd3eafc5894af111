"""A local AWS API server (moto) for `dev` and the tests.

moto's server from the PyPI package ``moto[server]`` answers the Secrets
Manager, STS and IAM APIs on a loopback port, in memory. It runs through
:mod:`.moto_main`, which makes moto's Secrets Manager lookups by name direct
(moto scans every secret for each one) without changing any answer. By default the
server checks request signatures like AWS does: at start an IAM user with
full access is created and its access key becomes the server's
``access_key_id`` / ``secret_access_key``, then moto's IAM authentication is
switched on, so unknown keys, wrong secrets and missing permissions are
rejected. ``iam_auth=False`` leaves it accepting any key (the fixed values
below).

Keyless identities are IAM roles assumed with a web identity (see
:mod:`.moto_federation`): :meth:`MotoServer.add_oidc_provider` registers an
issuer as AWS does, :meth:`MotoServer.add_web_identity_role` a role whose trust
policy names one ServiceAccount and whose policy reads some secrets.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .federation import FederationClient, emulator_request
from .processes import LocalServer, ManagedProcess, ServerStartError, free_port

ADMIN_USER = "scaivault-dev-admin"
FULL_ACCESS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
#: the audience AWS expects on a ServiceAccount token (EKS's IRSA)
STS_AUDIENCE = "sts.amazonaws.com"


def read_policy(arn_prefixes: list[str]) -> dict[str, Any]:
    """An identity policy listing every secret and reading those under the ARN prefixes
    (``arn:aws:secretsmanager:<region>:<account>:secret:team-a/``)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["secretsmanager:ListSecrets", "secretsmanager:BatchGetSecretValue"],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": [f"{prefix}*" for prefix in arn_prefixes],
            },
        ],
    }


class MotoError(RuntimeError):
    """The moto server cannot be found or did not accept a call."""


def find_moto_server() -> Path:
    """``moto_server`` installed next to this interpreter (the same virtualenv)."""
    for folder in (Path(sys.executable).parent, Path(sys.executable).resolve().parent):
        candidate = folder / "moto_server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise MotoError(
        f"moto_server was not found next to {sys.executable}; install 'moto[server]' "
        "into this environment (pip install 'moto[server]')"
    )


class MotoServer(FederationClient, LocalServer):
    """``moto_server`` on a free loopback port; use ``with`` or start()/stop()."""

    region = "us-east-1"
    account_id = "123456789012"  # moto's default account
    admin_prefix = "/moto-api"

    def __init__(
        self, state_dir: Path, *, iam_auth: bool = True, moto_server: Path | None = None
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.iam_auth = iam_auth
        self.moto_server = moto_server
        self.endpoint = ""
        # moto accepts any key until IAM authentication is on; start() replaces these
        self.access_key_id = "testing"
        self.secret_access_key = "testing"
        self._proc: ManagedProcess | None = None

    def start(self, timeout: float = 30) -> None:
        """Start the server, wait until it answers, then turn IAM authentication on."""
        if self.moto_server is not None:
            command = [str(self.moto_server)]
        else:
            find_moto_server()  # moto[server] is installed next to this interpreter
            command = [sys.executable, "-m", "scaivault_devenv.moto_main"]
        port = free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
        env["HOME"] = str(self.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._proc = ManagedProcess(
            "moto",
            [*command, "-H", "127.0.0.1", "-p", str(port)],
            self.state_dir / "logs" / "moto.log",
            env=env,
            cwd=self.state_dir,
        )
        try:
            self._proc.start()
            self._proc.wait_until(self._answers, timeout, f"{self.endpoint}/moto-api/")
            if self.iam_auth:
                self._enable_iam_auth()
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2) as resp:  # noqa: S310
            return bool(resp.status == 200)

    def _enable_iam_auth(self) -> None:
        iam = self.client("iam")
        try:
            iam.create_user(UserName=ADMIN_USER)
            iam.put_user_policy(
                UserName=ADMIN_USER,
                PolicyName="full-access",
                PolicyDocument=json.dumps(FULL_ACCESS),
            )
            key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
        except Exception as exc:
            raise ServerStartError(f"moto: creating the admin access key failed: {exc}") from exc
        self.access_key_id = key["AccessKeyId"]
        self.secret_access_key = key["SecretAccessKey"]
        self.set_auth_free_requests(0)

    def set_auth_free_requests(self, count: float) -> None:
        """Let the next ``count`` requests through unauthenticated (``0``: check all of them,
        ``float("inf")``: check none)."""
        req = urllib.request.Request(  # noqa: S310
            f"{self.endpoint}/moto-api/reset-auth",
            data=str(count).encode(),
            headers={"Content-Type": "text/plain"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
                resp.read()
        except (urllib.error.URLError, OSError) as exc:
            raise MotoError(f"moto: switching authentication failed: {exc}") from exc

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client of ``service`` on this server with the admin key."""
        import boto3

        if not self.endpoint:
            raise MotoError("the moto server is not started")
        return boto3.session.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
        ).client(service, endpoint_url=self.endpoint, **kwargs)  # type: ignore[call-overload]

    # -- web identity federation -------------------------------------------------------

    def emulator_call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One call to the server's own endpoints (``/moto-api/_emulator/...``)."""
        if not self.endpoint:
            raise MotoError("the moto server is not started")
        return emulator_request(self.endpoint + path, method, body)

    def cap_sessions(self, seconds: int | None) -> None:
        """Make web identity sessions last ``seconds`` whatever DurationSeconds asks
        (``None``: as asked); their credentials are refused once expired."""
        self.emulator_call(
            "PUT", f"{self.admin_prefix}/_emulator/session-seconds", {"seconds": seconds}
        )

    def secret_arn_prefix(self, name_prefix: str) -> str:
        return f"arn:aws:secretsmanager:{self.region}:{self.account_id}:secret:{name_prefix}"

    def add_oidc_provider(self, issuer: str, ca_pem: str) -> str:
        """An IAM OIDC provider for ``issuer`` with the STS audience, its TLS trusted
        through ``ca_pem`` (whose SHA-1 is the thumbprint); returns its ARN."""
        self.trust_issuer(issuer, ca_pem)
        der = ssl.PEM_cert_to_DER_cert(ca_pem)
        thumbprint = hashlib.sha1(der, usedforsecurity=False).hexdigest()
        iam = self.client("iam")
        url = issuer.removeprefix("https://")
        for existing in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
            if existing["Arn"].endswith(f"oidc-provider/{url}"):
                return str(existing["Arn"])
        created = iam.create_open_id_connect_provider(
            Url=issuer, ClientIDList=[STS_AUDIENCE], ThumbprintList=[thumbprint]
        )
        return str(created["OpenIDConnectProviderArn"])

    def add_web_identity_role(
        self, name: str, provider_arn: str, subject: str, policy: dict[str, Any]
    ) -> str:
        """A role ``subject`` (``system:serviceaccount:<ns>:<sa>``) may assume with a
        token of the provider, as a platform team writes it for IRSA, holding
        ``policy``; returns its ARN."""
        url = provider_arn.split("oidc-provider/", 1)[1]
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {f"{url}:sub": subject, f"{url}:aud": STS_AUDIENCE}
                    },
                }
            ],
        }
        iam = self.client("iam")
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName=name, PolicyName="secrets", PolicyDocument=json.dumps(policy))
        return str(role["Role"]["Arn"])
