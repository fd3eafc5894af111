"""The operator runs as the image runs it: a numeric user with no passwd entry.

The image's user is 65532 and has no line in /etc/passwd, so anything that asks
the passwd database who we are (``getpass.getuser()``) raises ``KeyError``. The
real command is run here as such a user; it keeps only the right to read and
search directories (so it can load this checkout's virtualenv and kubeconfig
under folders only root may enter), not to write anywhere it could not."""

from __future__ import annotations

import os
import pwd
import shutil
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

from scaivault_devenv.cluster import ensure_namespace
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.processes import ManagedProcess, free_port

pytestmark = pytest.mark.e2e

NO_PASSWD_UID = 65532


def _as_numeric_user(argv: list[str]) -> list[str]:
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to run a command as another user"
    return [
        setpriv,
        *("--reuid", str(NO_PASSWD_UID), "--regid", str(NO_PASSWD_UID), "--clear-groups"),
        *("--inh-caps", "+dac_read_search", "--ambient-caps", "+dac_read_search"),
        *argv,
    ]


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


def test_the_operator_starts_as_a_user_without_a_passwd_entry(
    control_plane: ControlPlane, crd: None, tmp_path: Path
) -> None:
    with pytest.raises(KeyError):
        pwd.getpwuid(NO_PASSWD_UID)  # the condition under test: no passwd entry
    namespace = f"numeric-user-{uuid.uuid4().hex[:6]}"
    ensure_namespace(control_plane, namespace)
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        # what getpass.getuser() reads before the passwd database; HOSTNAME is the
        # replica's name when the chart sets it, so it is left out too
        if key not in {"USER", "LOGNAME", "LNAME", "USERNAME", "HOSTNAME"}
    }
    env |= {"KUBECONFIG": str(control_plane.kubeconfig), "HOME": "/nonexistent"}
    log = tmp_path / "operator.log"
    argv = [sys.executable, "-m", "scaivault_federation.cli", "run", "--standalone"]
    argv += ["--namespace", namespace, "--metrics-port", "0"]
    argv += ["--liveness", f"http://127.0.0.1:{port}/healthz"]
    proc = ManagedProcess("operator-as-65532", _as_numeric_user(argv), log, env=env)
    proc.start()
    try:

        def alive() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                return bool(r.status == 200)

        proc.wait_until(alive, timeout=60, what="the liveness endpoint")
        assert proc.pid is not None
        assert _uid_of(proc.pid) == NO_PASSWD_UID
        assert proc.running, proc.log_tail()
        assert "getpwuid" not in log.read_text()
    finally:
        proc.stop()
