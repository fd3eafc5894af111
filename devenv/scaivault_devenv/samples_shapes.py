"""Remote secrets for the README's Secret shapes (image pull, TLS, a whole file,
basic auth, an Argo CD cluster), for ``dev`` and for the test that applies the
README's examples. They live beside the samples' trees, so no sample maps them.
"""

from __future__ import annotations

import json

from scaivault_federation.backends.google.names import google_name

from .gsm import GoogleEmulator
from .moto import MotoServer
from .openbao import OpenBaoServer

#: a docker config (what `docker login` writes) in AWS Secrets Manager
DOCKER_CONFIG = json.dumps(
    {"auths": {"registry.example.com": {"auth": "ZGV2OmRldi1vbmx5LXJlZ2lzdHJ5LXB3"}}}
)
VAULT_SHAPES: dict[str, dict[str, str]] = {
    "shapes/web-tls": {
        "cert": "-----BEGIN CERTIFICATE-----\ndev-only-cert\n-----END CERTIFICATE-----\n",
        "key": "-----BEGIN PRIVATE KEY-----\ndev-only-key\n-----END PRIVATE KEY-----\n",
    },
    "shapes/ci-login": {"username": "ci-bot", "password": "dev-only-ci-pw", "note": "rotate"},
    "shapes/api-token": {"token": "dev-only-api-token-1"},
    "shapes/argocd/prod": {
        "name": "prod",
        "server": "https://prod.k8s.example.com",
        "bearerToken": "dev-only-bearer-token",
        "caData": "ZGV2LW9ubHktY2E=",
    },
}


def seed_shapes(bao: OpenBaoServer, moto: MotoServer, gsm: GoogleEmulator) -> None:
    for path, data in VAULT_SHAPES.items():
        bao.request("POST", f"/v1/secret/data/{path}", {"data": data})
    client = moto.client("secretsmanager")
    try:
        client.create_secret(Name="shapes/registry", SecretString=DOCKER_CONFIG)
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId="shapes/registry", SecretString=DOCKER_CONFIG)
    gsm.put(google_name("shapes/reader-key"), gsm.key_json("reader"))
