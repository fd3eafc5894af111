"""The PostgreSQL server of the dev environment: a fresh cluster on loopback, password
logins only, restarted on the same port with its data, gone when stopped."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from scaivault_devenv.postgres import OPENBAO_USER, SUPERUSER, PostgresServer


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_starts_on_loopback_with_password_logins_and_stops(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path / "pg")
    with server:
        pid = server.pids["postgres"]
        assert server.host == "127.0.0.1" and server.port
        assert server.roles() == {SUPERUSER, OPENBAO_USER}
        assert server.can_log_in(OPENBAO_USER, server.password(OPENBAO_USER))
        assert not server.can_log_in(OPENBAO_USER, "wrong")
        with server.connect() as conn:
            row = conn.execute(
                "SELECT current_setting('listen_addresses'), "
                "current_setting('unix_socket_directories')"
            ).fetchone()
            assert row == ("127.0.0.1", "")
            conn.execute("CREATE ROLE kept")
        # no unix socket anywhere in the state dir (nor elsewhere: none is configured)
        assert not [p for p in (tmp_path / "pg").rglob(".s.PGSQL*")]
        server.stop()
        assert not server.running
        port = server.port
        server.start()  # a restart keeps the cluster and the port
        assert server.port == port
        assert "kept" in server.roles()
    assert not _alive(pid)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=port, user=SUPERUSER, connect_timeout=2)


def test_passwords_stay_out_of_repr_and_logs(tmp_path: Path) -> None:
    with PostgresServer(tmp_path / "pg") as server:
        secrets = [server.password(SUPERUSER), server.password(OPENBAO_USER)]
        with server.connect() as conn, pytest.raises(psycopg.Error):
            conn.execute("CREATE ROLE openbao WITH LOGIN PASSWORD 'canary-pw-91d2'")
        shown = repr(server) + server.log_path.read_text()
    for secret in [*secrets, "canary-pw-91d2"]:
        assert secret not in shown
