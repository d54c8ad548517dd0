"""PgBouncer in front of PostgreSQL: the managed server (password auth) and the configured one (trust here)."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from dbbench.backends.database import drop_database, ensure_database
from dbbench.backends.targets import Target
from dbbench.errors import ConfigError
from dbbench.servers.managed import Servers
from dbbench.servers.pgbouncer import pgbouncer
from dbbench.servers.state import server_account
from tests.helpers import TARGETS, run_cli
from tests.test_servers import _env, _new_state_dir

pytestmark = pytest.mark.slow
POOL = 3


def _running(pid: int, marker: str = "") -> bool:
    """Whether ``pid`` runs (not a zombie) with ``marker`` somewhere in its command line."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and marker in " ".join(process.cmdline())
    except psutil.Error:
        return False


@pytest.fixture(scope="module")
def managed_postgres() -> Iterator[Target]:
    """The managed PostgreSQL of a temporary state directory (its login needs the generated password)."""
    path = _new_state_dir()
    try:
        servers = Servers(path)
        target = next(t for t in servers.acquire(persistent=True) if t.family == "postgresql")
        yield target
    finally:
        run_cli("servers", "destroy", env=_env(path))
        shutil.rmtree(path, ignore_errors=True)


def _configured_postgres() -> Target:
    found = next((t for t in TARGETS if t.family == "postgresql"), None)
    if found is None:
        pytest.skip("no PostgreSQL target configured")
    return found


def _scratch(target: Target) -> Iterator[Target]:
    scratch = target.with_database(f"{target.database}_pgb{uuid.uuid4().hex[:8]}")
    ensure_database(scratch)
    try:
        yield scratch
    finally:
        drop_database(scratch)


@pytest.fixture(params=["managed", "configured"])
def upstream(request: pytest.FixtureRequest) -> Iterator[Target]:
    base = request.getfixturevalue("managed_postgres") if request.param == "managed" else _configured_postgres()
    yield from _scratch(base)


def _pgbouncer_pids() -> set[int]:
    """dbbench's PgBouncer processes (their configuration lives in a dbbench-pgbouncer-* directory)."""
    pids = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and _running(int(proc.name), "dbbench-pgbouncer-"):
            pids.add(int(proc.name))
    return pids


def _started(before: set[int]) -> tuple[int, Path]:
    """The PgBouncer started since ``before`` was taken, and its private directory (from its command line)."""
    mine = _pgbouncer_pids() - before
    assert len(mine) == 1
    pid = mine.pop()
    config = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[1].decode()
    return pid, Path(config).parent


def _server_connections(upstream: Target) -> int:
    """Connections the server has open to ``upstream``'s database, seen directly (not through PgBouncer)."""
    with upstream.spec.connection(upstream, None) as conn:
        cur = conn.cursor()
        # Client backends only: an autovacuum worker visiting the database shows there too (seen once in CI).
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'",
            (upstream.database,),
        )
        return int(cur.fetchone()[0])


def test_queries_and_many_clients_go_through_a_pool(upstream: Target) -> None:
    before = _pgbouncer_pids()
    with pgbouncer(upstream, pool_size=POOL) as pooled:
        assert (pooled.user, pooled.database, pooled.host) == (upstream.user, upstream.database, "127.0.0.1")
        assert pooled.port != upstream.port and "***" in pooled.safe_url
        pid, workdir = _started(before)
        assert Path(f"/proc/{pid}").stat().st_uid == server_account().uid  # never as root
        assert {p.name: p.stat().st_mode & 0o777 for p in workdir.glob("*.*")} == {
            "pgbouncer.ini": 0o600,
            "dbbench.owner": 0o600,  # its password file is gone once read (issue 31, L5)
            "pgbouncer.log": 0o644,
        }
        assert workdir.stat().st_mode & 0o777 == 0o700
        with pooled.spec.connection(pooled, pooled.database) as conn:
            cur = conn.cursor()
            cur.execute("CREATE TABLE hits (n int)")
            for n in range(10):  # the same statement again and again: no prepared statement to lose
                cur.execute("INSERT INTO hits VALUES (%s)", (n,))
            cur.execute("SELECT current_database(), current_setting('port'), sum(n) FROM hits")
            assert cur.fetchone() == (upstream.database, str(upstream.port), 45)

        clients, peak, errors = 4 * POOL, [], []
        started = threading.Barrier(clients)

        def client() -> None:
            try:
                with pooled.spec.connection(pooled, pooled.database) as conn:
                    started.wait(timeout=30)  # every client connected at once, more than the pool
                    cur = conn.cursor()
                    cur.execute("SELECT pg_sleep(0.3)")
                    cur.execute("INSERT INTO hits VALUES (1)")
            except Exception as exc:  # noqa: BLE001 - collected for the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            peak.append(_server_connections(upstream))
        for thread in threads:
            thread.join()
        assert errors == []
        assert 1 <= max(peak) <= POOL
        with pooled.spec.connection(pooled, pooled.database) as conn:
            cur = conn.cursor()
            cur.execute("SELECT count(*) FROM hits")
            assert cur.fetchone()[0] == 10 + clients
            cur.execute("DROP TABLE hits")
    assert not _running(pid) and not workdir.exists()
    with socket.socket() as sock:  # nobody listens on the port any more
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # its closed connections' TIME_WAIT is no obstacle
        sock.bind(("127.0.0.1", pooled.port))
        sock.listen()


def test_stopped_and_cleaned_up_when_the_block_fails(managed_postgres: Target) -> None:
    before = _pgbouncer_pids()
    with pytest.raises(RuntimeError, match="inside the block"), pgbouncer(managed_postgres, pool_size=1) as pooled:
        pid, workdir = _started(before)
        with pooled.spec.connection(pooled, None) as conn:
            conn.cursor().execute("SELECT 1")
        raise RuntimeError("inside the block")
    assert not _running(pid) and not workdir.exists()


def test_a_wrong_password_is_one_line(managed_postgres: Target) -> None:
    wrong = dataclasses.replace(managed_postgres, password="not-the-password")
    with pytest.raises(ConfigError) as caught, pgbouncer(wrong):
        pass
    message = str(caught.value)
    assert "\n" not in message and "login through it failed" in message and "not-the-password" not in message


def test_refuses_what_it_cannot_pool(tmp_path: Path) -> None:
    mysql = next((t for t in TARGETS if t.family == "mysql"), None)
    if mysql is not None:
        with pytest.raises(ConfigError, match="PostgreSQL connections"), pgbouncer(mysql):
            pass
    with pytest.raises(ConfigError, match="pool size"), pgbouncer(_configured_postgres(), pool_size=0):
        pass
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DBBENCH_PGBOUNCER_BIN", str(tmp_path))
        with pytest.raises(ConfigError, match="apt-get install pgbouncer"), pgbouncer(_configured_postgres()):
            pass
