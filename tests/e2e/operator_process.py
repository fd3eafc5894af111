"""``scaivault-federation run`` in a process of its own, for the tests that start one."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from scaivault_devenv.processes import ManagedProcess
from scaivault_federation.runner import STARTED


def start_operator(
    name: str, log: Path, env: Mapping[str, str], *flags: str, standalone: bool = True
) -> ManagedProcess:
    """An operator with ``env`` and ``flags`` (standalone unless said otherwise: then a
    replica of its ``--peering`` group), returned once it has logged in (stopped again
    if it does not within a minute)."""
    mode = ["--standalone"] if standalone else []
    argv = [sys.executable, "-m", "scaivault_federation.cli", "run", *mode, "-v", *flags]
    proc = ManagedProcess(name, argv, log, env=dict(env))
    proc.start()
    try:
        proc.wait_until(
            lambda: STARTED in log.read_text(),
            timeout=60,
            what=f"{name} to start",
        )
    except BaseException:
        proc.stop()
        raise
    return proc
