"""Child server processes for `dev` and the tests.

The local control plane and the backend servers are real programs (etcd,
kube-apiserver, bao, ...). This module starts one such program with its
output in a log file, waits for it to become usable (failing with the log
tail when it does not) and makes sure it never outlives us: it runs in its own
session, gets SIGKILL from the kernel when its parent dies (Linux), and any
process still running at interpreter exit is stopped.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, Self

_PR_SET_PDEATHSIG = 1
_LOG_TAIL_LINES = 40
_live: weakref.WeakSet[ManagedProcess] = weakref.WeakSet()


class ServerStartError(RuntimeError):
    """A server did not become ready in time, or exited while starting."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent_preexec() -> Callable[[], None] | None:
    """A preexec function asking the kernel to SIGKILL the child when we die.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so it
    is only used when starting from the main thread (which lives as long as the
    interpreter); other children rely on the session and the atexit net.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


class ManagedProcess:
    """One long-running child program whose output goes to ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        *,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        #: what :meth:`stop` asks the program to end with first (PostgreSQL waits for
        #: its clients on SIGTERM and ends at once on SIGINT)
        self.stop_signal = stop_signal
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._stopped = False

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid}, running={self.running})"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def start(self) -> None:
        """Start the program; its stdout and stderr go to the log file."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._log.write(f"--- starting {self.name}: {' '.join(self.argv)}\n".encode())
        self._log.flush()
        try:
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent_preexec(),
            )
        except OSError as exc:
            self._close_log()
            raise ServerStartError(f"{self.name}: cannot run {self.argv[0]}: {exc}") from exc
        self._stopped = False
        _live.add(self)

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the log file (empty if there is none)."""
        try:
            with self.log_path.open("rb") as log:
                tail = deque(log, maxlen=lines)
        except OSError:
            return ""
        return b"".join(tail).decode("utf-8", errors="replace")

    def wait_until(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``check`` until it returns true; raise ServerStartError otherwise.

        Exceptions from ``check`` count as "not yet". The error names ``what``,
        the exit code if the program died, the last check error and the log tail.
        """
        deadline = time.monotonic() + timeout
        delay = 0.05
        last_error: BaseException | None = None
        while True:
            if self._proc is None:
                raise ServerStartError(f"{self.name} was never started")
            code = self._proc.poll()
            if code is not None:
                self._fail(f"{self.name} exited with code {code} before {what}", last_error)
            try:
                if check():
                    return
            except Exception as exc:
                last_error = exc
            if time.monotonic() >= deadline:
                self._fail(
                    f"{self.name}: timed out after {timeout:.0f}s waiting for {what}", last_error
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def _fail(self, message: str, last_error: BaseException | None) -> None:
        if last_error is not None:
            message += f"\nlast check error: {last_error!r}"
        message += f"\n--- last lines of {self.log_path}:\n{self.log_tail()}"
        raise ServerStartError(message)

    def stop(self, timeout: float = 10) -> None:
        """The stop signal (SIGTERM) to the process group, then SIGKILL after
        ``timeout``. Idempotent."""
        proc = self._proc
        if proc is not None and not self._stopped:
            self._stopped = True
            if proc.poll() is None:
                self._signal_group(proc, self.stop_signal)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(proc, signal.SIGKILL)
                    proc.wait()
            # The leader is gone; take any stragglers of its group with it.
            self._signal_group(proc, signal.SIGKILL)
        _live.discard(self)
        self._close_log()

    @staticmethod
    def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ManagedProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LocalServer:
    """A server this project runs for tests and ``dev``: ``start``, ``stop``, ``with``."""

    _proc: ManagedProcess | None = None

    def start(self, timeout: float = 60) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server; safe to call at any time, repeatedly."""
        if self._proc is not None:
            self._proc.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.running

    @property
    def pids(self) -> dict[str, int]:
        """The server's processes by name, while they run (for CPU accounting)."""
        pid = self._proc.pid if self._proc is not None else None
        return {self._proc.name: pid} if self._proc is not None and pid is not None else {}

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    for proc in list(_live):
        with contextlib.suppress(Exception):
            proc.stop(timeout=3)
