from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scaivault_devenv.processes import ManagedProcess, ServerStartError, free_port

SLEEPER = "import sys, time; print('hello from child', flush=True); time.sleep(60)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _output(log: Path) -> str:
    """What the child printed (the log also starts with a header naming its argv)."""
    if not log.exists():
        return ""
    return "".join(
        line for line in log.read_text().splitlines(keepends=True) if not line.startswith("--- ")
    )


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_start_and_stop(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "sleeper.log"
    proc = ManagedProcess("sleeper", [sys.executable, "-c", SLEEPER], log)
    assert not proc.running
    proc.start()
    try:
        assert proc.running
        proc.wait_until(lambda: "hello from child" in _output(log), 10, "the greeting")
        assert os.getpgid(proc.pid or 0) == proc.pid  # its own session and group
    finally:
        proc.stop(timeout=5)
    assert not proc.running
    assert proc.returncode == -signal.SIGTERM
    proc.stop()  # idempotent


def test_stop_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "print('ready', flush=True); time.sleep(60)"
    )
    log = tmp_path / "stubborn.log"
    proc = ManagedProcess("stubborn", [sys.executable, "-c", code], log)
    proc.start()
    proc.wait_until(lambda: "ready" in _output(log), 10, "ready")
    began = time.monotonic()
    proc.stop(timeout=0.5)
    assert time.monotonic() - began < 5
    assert proc.returncode == -signal.SIGKILL


def test_stop_takes_the_process_group(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys, time;"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        "print('grandchild', c.pid, flush=True); time.sleep(60)"
    )
    log = tmp_path / "parent.log"
    proc = ManagedProcess("parent", [sys.executable, "-c", code], log)
    proc.start()
    proc.wait_until(lambda: "grandchild" in _output(log), 10, "the grandchild")
    grandchild = int(_output(log).split("grandchild ")[1].split()[0])
    proc.stop(timeout=5)
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_wait_until_timeout_shows_log_tail(tmp_path: Path) -> None:
    code = "import time\nfor i in range(100): print('line', i, flush=True)\ntime.sleep(60)"
    log = tmp_path / "quiet.log"
    proc = ManagedProcess("quiet", [sys.executable, "-c", code], log)
    proc.start()
    try:
        proc.wait_until(lambda: "line 99" in _output(log), 10, "the output")
        with pytest.raises(ServerStartError) as info:
            proc.wait_until(lambda: False, 0.3, "the impossible")
    finally:
        proc.stop()
    message = str(info.value)
    assert "timed out" in message and "the impossible" in message
    assert "line 99" in message
    assert "line 10\n" not in message  # only the tail


def test_wait_until_reports_exit_code_and_log(tmp_path: Path) -> None:
    code = "import sys; print('cannot bind: address in use', flush=True); sys.exit(3)"
    proc = ManagedProcess("crasher", [sys.executable, "-c", code], tmp_path / "crasher.log")
    proc.start()
    with pytest.raises(ServerStartError) as info:
        proc.wait_until(lambda: False, 10, "readiness")
    message = str(info.value)
    assert "exited with code 3" in message
    assert "cannot bind: address in use" in message
    proc.stop()


def test_check_errors_are_retried_and_reported(tmp_path: Path) -> None:
    proc = ManagedProcess("sleeper", [sys.executable, "-c", SLEEPER], tmp_path / "s.log")
    proc.start()

    def check() -> bool:
        raise ConnectionRefusedError("nobody listening")

    try:
        with pytest.raises(ServerStartError, match="nobody listening"):
            proc.wait_until(check, 0.3, "a connection")
    finally:
        proc.stop()


def test_missing_program(tmp_path: Path) -> None:
    proc = ManagedProcess("ghost", [str(tmp_path / "no-such-binary")], tmp_path / "ghost.log")
    with pytest.raises(ServerStartError, match="cannot run"):
        proc.start()
    assert not proc.running
    proc.stop()


def test_child_dies_with_its_parent(tmp_path: Path) -> None:
    """A Python parent killed with SIGKILL (no atexit) still takes its server with it."""
    log = tmp_path / "orphan.log"
    parent_code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from scaivault_devenv.processes import ManagedProcess\n"
        f"p = ManagedProcess('child', [sys.executable, '-c', {SLEEPER!r}], Path({str(log)!r}))\n"
        "p.start()\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
