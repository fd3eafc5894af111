"""A real Vault-compatible server (OpenBao in dev mode) for `dev` and the tests.

OpenBao speaks the HashiCorp Vault HTTP API, so the Vault backend is exercised
against a real server: in-memory storage, unsealed, KV v2 mounted at
``secret/``, with AppRole and Kubernetes auth available. Synchronous, stdlib
HTTP only.

With ``tls=True`` it listens on https (``-dev-tls``): OpenBao makes a throwaway
CA and a certificate for 127.0.0.1 and localhost; :attr:`OpenBaoServer.ca_file`
is the CA to trust. TLS client certificates are requested, so ``cert`` auth
works there.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .binaries import find_bao
from .processes import LocalServer, ManagedProcess, free_port


class OpenBaoError(RuntimeError):
    """An OpenBao API call failed."""


class OpenBaoServer(LocalServer):
    """``bao server -dev`` on a free loopback port; use ``with`` or start()/stop()."""

    def __init__(
        self,
        state_dir: Path,
        root_token: str = "root",  # noqa: S107 - the well-known dev-mode token
        bao: Path | None = None,
        *,
        tls: bool = False,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.root_token = root_token
        self.bao = bao
        self.tls = tls
        self.ca_file: Path | None = self.state_dir / "tls" / "vault-ca.pem" if tls else None
        self.address = ""
        self._port: int | None = None
        self._proc: ManagedProcess | None = None

    def start(self, timeout: float = 60) -> None:
        """Start the server and wait until it is initialized, unsealed and active.

        A restart listens on the same port again (dev mode keeps no data).
        """
        bao = self.bao or find_bao()
        port = self._port = self._port or free_port()
        self.address = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        tls_args = ["-dev-tls", f"-dev-tls-cert-dir={self.state_dir / 'tls'}"] if self.tls else []
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
        env["HOME"] = str(self.state_dir)  # keep any token helper file out of the user's home
        self._proc = ManagedProcess(
            "openbao",
            [
                str(bao),
                "server",
                "-dev",
                f"-dev-root-token-id={self.root_token}",
                f"-dev-listen-address=127.0.0.1:{port}",
                "-dev-no-store-token",
                *tls_args,
            ],
            self.state_dir / "logs" / "openbao.log",
            env=env,
            cwd=self.state_dir,
        )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.tls:
            (self.state_dir / "tls").mkdir(mode=0o700, exist_ok=True)
        try:
            self._proc.start()
            self._proc.wait_until(self._healthy, timeout, "/v1/sys/health")
        except BaseException:
            self.stop()
            raise

    def _healthy(self) -> bool:
        health = self.request("GET", "/v1/sys/health", anonymous=True)
        return bool(health.get("initialized")) and health.get("sealed") is False

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
        anonymous: bool = False,
        timeout: float = 10,
    ) -> dict[str, Any]:
        """One API call with ``token``, by default the root token (none if ``anonymous``).

        Returns the JSON body ({} when empty); raises OpenBaoError on HTTP errors.
        """
        if not self.address:
            raise OpenBaoError("the OpenBao server is not started")
        headers = {"Accept": "application/json"}
        if not anonymous:
            headers["X-Vault-Token"] = token or self.root_token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.address + path, data, headers, method=method)  # noqa: S310
        context = None
        if self.ca_file is not None:
            if not self.ca_file.exists():
                raise OpenBaoError("the OpenBao TLS certificates are not written yet")
            context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:  # noqa: S310
                raw = resp.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", errors="replace").strip()
            raise OpenBaoError(f"{method} {path}: HTTP {err.code} {detail}") from None
        value = json.loads(raw) if raw.strip() else {}
        return value if isinstance(value, dict) else {}

    def enable_kv_v1(self, mount: str) -> None:
        """Mount a KV version 1 secrets engine at ``mount``."""
        body = {"type": "kv", "options": {"version": "1"}}
        self.request("POST", f"/v1/sys/mounts/{mount.strip('/')}", body)

    def enable_kv_v2(self, mount: str) -> None:
        """Mount a KV version 2 secrets engine at ``mount`` (``secret/`` already is)."""
        body = {"type": "kv", "options": {"version": "2"}}
        self.request("POST", f"/v1/sys/mounts/{mount.strip('/')}", body)

    def enable_approle(self, mount: str = "approle") -> None:
        """Enable the AppRole auth method at ``auth/<mount>``."""
        self.request("POST", f"/v1/sys/auth/{mount.strip('/')}", {"type": "approle"})
