"""Unit tests start no process, and the shared fixtures need no server to import."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
from pathlib import Path

import pytest


def test_starting_a_process_fails_the_test() -> None:
    with pytest.raises(AssertionError, match="started a process"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


async def test_starting_an_asyncio_subprocess_fails_the_test() -> None:
    with pytest.raises(AssertionError, match="started a process"):
        await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")


def test_root_conftest_imports_without_control_plane_binaries(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A fresh import of tests/conftest.py (and of all it imports from the dev
    environment and the test harnesses) looks up no binary and builds nothing."""
    nowhere = str(tmp_path / "no-binaries")
    for variable in ("KUBEBUILDER_ASSETS", "SCAIVAULT_CONTROLPLANE_BIN", "SCAIVAULT_HELM"):
        monkeypatch.setenv(variable, nowhere)  # any lookup would fail on these
    fresh = ("tests.conftest", "tests.backends", "scaivault_devenv")
    for name in [n for n in sys.modules if n.startswith(fresh)]:
        parent, _, child = name.rpartition(".")
        if parent in sys.modules and not parent.startswith(fresh):
            monkeypatch.setattr(sys.modules[parent], child, sys.modules[name])  # restored after
        monkeypatch.delitem(sys.modules, name)
    module = importlib.import_module("tests.conftest")
    assert callable(module.control_plane)
