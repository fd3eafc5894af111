"""The HashiCorp Vault harness, on an OpenBao dev server (the session's ``openbao``).

Each harness keeps its data in a KV version 2 mount of its own, so that throttling
that mount slows down no other test.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from scaivault_devenv.openbao import OpenBaoError, OpenBaoServer
from scaivault_federation.backends import Credentials, SecretBackend
from scaivault_federation.backends.factory import create_backend
from scaivault_federation.backends.vault.config import VaultConfig

from .harness import Harness, Value, ValueKind, registered

#: how long a throttled client is kept out (the most a Retry-After may ask for)
BLOCK_SECONDS = 60


@registered
class VaultHarness(Harness[OpenBaoServer]):
    backend_type = "hashicorp-vault"
    short = "vault"
    server_fixture = "openbao"
    value_kinds: ClassVar[frozenset[ValueKind]] = frozenset({"json"})
    page_size = None
    throttles = True
    bad_credential = "s.bad-credential-canary-7c1f"

    def __init__(self, server: OpenBaoServer, tmp: Path) -> None:
        super().__init__(server, tmp)
        self.mount = f"kv-{uuid.uuid4().hex[:10]}"
        server.enable_kv_v2(self.mount)
        # a token of this test's own (a child of the root token), so it can be looked for
        created = server.request("POST", "/v1/auth/token/create", {"ttl": "1h"})
        self.credential_canary = str(created["auth"]["client_token"])
        self.quota: str | None = None

    def new_prefix(self) -> str:
        return f"{self.mount}/data/{super().new_prefix()}"

    def outside(self, prefix: str) -> str:
        return f"{self.mount}/data/other/{prefix.removeprefix(f'{self.mount}/data/')}decoy"

    def put(self, path: str, value: Value) -> None:
        assert isinstance(value, dict), "Vault KV holds maps only"
        self.server.request("POST", f"/v1/{path}", {"data": value})

    def expire(self, path: str, days: int) -> datetime | None:
        # KV keeps no expiry of a secret's content: delete_version_after removes old
        # versions, custom metadata means what each team makes it mean
        return None

    def switch_off(self, path: str) -> None:
        self.server.request("DELETE", f"/v1/{path}")  # the latest version, recoverable

    def delete(self, path: str) -> None:
        sub = path.removeprefix(f"{self.mount}/data/")
        self.server.request("DELETE", f"/v1/{self.mount}/metadata/{sub}")

    async def throttle(self) -> float:
        self.quota = f"throttle-{self.mount}"
        config = {"enable_rate_limit_response_headers": True}
        self.server.request("POST", "/v1/sys/quotas/config", config)
        limit = {
            "path": f"{self.mount}/",
            "rate": 1,
            "interval": "1m",
            "block_interval": f"{BLOCK_SECONDS}s",
        }
        self.server.request("POST", f"/v1/sys/quotas/rate-limit/{self.quota}", limit)
        # spend the one call a minute the quota allows, and one more, which starts the block
        for _ in range(2):
            with contextlib.suppress(OpenBaoError):
                self.server.request("GET", f"/v1/{self.mount}/config")
        return BLOCK_SECONDS

    def credentials(self, *, bad: bool = False) -> dict[str, str]:
        return {"token": self.bad_credential if bad else self.credential_canary}

    async def make(self, server: OpenBaoServer, credentials: Credentials) -> SecretBackend:
        config = VaultConfig(endpoint=server.address, auth_config_path="unused/path")
        return await create_backend(self.backend_type, config, credentials)

    def spare_server(self) -> OpenBaoServer:
        spare = OpenBaoServer(self.tmp / f"spare-{uuid.uuid4().hex[:6]}")
        spare.start()
        return spare

    def spare_credentials(self, spare: OpenBaoServer) -> Credentials:
        return Credentials({"token": spare.root_token.encode()})

    def expected_list_calls(self, secrets_in_one_folder: int) -> int:
        return 1  # one LIST of the folder (detailed-metadata on OpenBao)

    def spec_config(self, credentials_path: str) -> dict[str, Any]:
        return {
            "endpoint": self.server.address,
            "authMethod": "token",
            "authConfigPath": credentials_path,
        }

    async def close(self) -> None:
        await super().close()
        if self.quota is not None:
            self.server.request("DELETE", f"/v1/sys/quotas/rate-limit/{self.quota}")
