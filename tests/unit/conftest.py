"""Unit tests run inside this process: no server, no child process at all.

Every way of starting a process is replaced by one that fails the test, so a
test that needs one cannot land here by mistake (``make unit`` promises to
start nothing); such tests belong in another folder, which ``make test`` runs.
"""

from __future__ import annotations

import _posixsubprocess
import os
import subprocess
from collections.abc import Iterator
from typing import NoReturn

import pytest

_SPAWNERS = (
    (subprocess, "_fork_exec"),  # subprocess and asyncio
    (_posixsubprocess, "fork_exec"),  # multiprocessing
    (os, "fork"),
    (os, "forkpty"),
    (os, "posix_spawn"),
    (os, "posix_spawnp"),
    (os, "system"),
)


def _refuse(*args: object, **kwargs: object) -> NoReturn:
    raise AssertionError("a unit test started a process; move it out of tests/unit")


@pytest.fixture(autouse=True)
def no_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for module, name in _SPAWNERS:
        if hasattr(module, name):
            monkeypatch.setattr(module, name, _refuse)
    yield
