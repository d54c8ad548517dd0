"""dbbench's managed servers: real PostgreSQL and MariaDB processes in a temporary state directory per module.

Each test leaves the servers as it wants them (started or stopped) at its start, so they run in any order.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbbench.backends.database import ensure_database
from dbbench.backends.mysql import MySQLSpec
from dbbench.backends.postgres import PostgresSpec
from dbbench.errors import ConfigError
from dbbench.servers.managed import Servers
from dbbench.servers.profile import Profile, parse_memory
from dbbench.servers.state import alive
from tests.helpers import ROOT, run_cli

pytestmark = pytest.mark.slow
GIB = 2**30


def _env(state: Path, **extra: str) -> dict[str, str]:
    """No target anywhere, so commands use the managed servers of ``state``."""
    blank = {"DBBENCH_TARGETS": "", "DBBENCH_POSTGRES_URL": "", "DBBENCH_MYSQL_URL": ""}
    return {**blank, "DBBENCH_STATE_DIR": str(state), **extra}


def _new_state_dir() -> Path:
    # Under /tmp, not pytest's tmp_path: as root the servers run as the dbbench account, which must enter it.
    path = Path(tempfile.mkdtemp(prefix="dbbench-servers-", dir="/tmp"))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def state() -> Iterator[Path]:
    """A state directory whose servers are initialised once for the module, destroyed afterwards."""
    path = _new_state_dir()
    try:
        yield path
    finally:
        run_cli("servers", "destroy", env=_env(path))
        shutil.rmtree(path, ignore_errors=True)


def _cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = run_cli(*args, env=_env(state))
    assert proc.returncode == 0, proc.stderr
    return proc


def _pids(state: Path) -> list[int]:
    return [row.pid for row in Servers(state).status()[0] if row.pid]


def _wait_for_users(state: Path, n: int, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rows, doc = Servers(state).status()
        if all(r.running for r in rows) and len(doc.get("users", [])) >= n:
            return
        time.sleep(0.2)
    raise AssertionError("the managed servers did not come up")


def _exec(state: Path, *command: str) -> subprocess.Popen[str]:
    """``dbbench servers exec -- COMMAND`` in its own process group (so a test can kill it and its command)."""
    argv = [sys.executable, "-m", "dbbench", "servers", "exec", "--", *command]
    env = {**os.environ, **_env(state)}
    pipe = subprocess.PIPE
    return subprocess.Popen(argv, env=env, cwd=ROOT, text=True, stdout=pipe, stderr=pipe, start_new_session=True)


def test_start_status_stop(state: Path) -> None:
    _cli(state, "servers", "start")
    status = _cli(state, "servers", "status").stdout
    assert status.count(": running, pid") == 2 and "***" in status
    pids = _pids(state)
    assert len(pids) == 2 and all(alive(pid) for pid in pids)
    _cli(state, "servers", "stop")
    assert not any(alive(pid) for pid in pids)
    stopped = run_cli("servers", "status", env=_env(state))
    assert stopped.returncode == 3 and stopped.stdout.count(": stopped") == 2


def test_settings_are_applied(state: Path) -> None:
    _cli(state, "servers", "start")
    targets = {t.family: t for t in Servers(state).running_targets()}
    profile = Profile()
    with targets["postgresql"].spec.connection(targets["postgresql"], None) as conn:
        cur = conn.cursor()
        cur.execute("SELECT pg_size_bytes(current_setting('shared_buffers'))")
        assert cur.fetchone()[0] == profile.memory_bytes
        for name, value in [("fsync", "on"), ("synchronous_commit", "on"), ("server_encoding", "UTF8")]:
            cur.execute(f"SHOW {name}")
            assert cur.fetchone()[0] == value
        cur.execute("SHOW max_connections")
        assert int(cur.fetchone()[0]) == profile.max_connections
        cur.execute("SELECT datcollate FROM pg_database WHERE datname = 'postgres'")
        assert cur.fetchone()[0] == PostgresSpec.managed_locale
    with targets["mysql"].spec.connection(targets["mysql"], None) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT @@innodb_buffer_pool_size, @@innodb_flush_log_at_trx_commit, @@log_bin, @@max_connections, "
            "@@character_set_server, @@collation_server"
        )
        assert cur.fetchone() == (
            profile.memory_bytes,
            1,
            0,
            profile.max_connections,
            MySQLSpec.managed_charset,
            MySQLSpec.managed_collation,
        )
        # Named time zones need the time zone tables: without them CONVERT_TZ returns NULL.
        cur.execute("SELECT CONVERT_TZ('2024-07-01 12:00:00', 'UTC', 'Europe/Paris')")
        assert cur.fetchone()[0] == dt.datetime(2024, 7, 1, 14, 0)
        # Temporary tables in the state directory, not the shared /tmp (where two servers' files once clashed).
        cur.execute("SELECT @@tmpdir")
        assert Path(cur.fetchone()[0]).resolve() == (state / "run").resolve()


def test_doctor_without_targets_uses_the_managed_servers(state: Path) -> None:
    _cli(state, "servers", "start")
    ports = {t.port for t in Servers(state).running_targets()}
    document = json.loads(_cli(state, "doctor", "--json").stdout)
    found = document["targets"]
    assert {t["alias"] for t in found} == {"postgres", "mysql"}
    assert {int(t["url"].rsplit(":", 1)[1].split("/")[0]) for t in found} == ports
    assert all(t["settings"]["settings_source"] == "set by dbbench" and t["durable"] for t in found)
    assert len({t["buffer_bytes"] for t in found}) == 1 and document["warnings"] == []


def test_data_survives_a_restart_on_another_port(state: Path) -> None:
    _cli(state, "servers", "start")
    target = next(t for t in Servers(state).running_targets() if t.family == "postgresql")
    keep = target.with_database("keep_h13")
    ensure_database(keep)
    with keep.spec.connection(keep, keep.database) as conn:
        conn.cursor().execute("CREATE TABLE IF NOT EXISTS kept AS SELECT 42 AS answer")
    _cli(state, "servers", "stop")
    with socket.socket() as squatter:  # somebody else takes the port meanwhile
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past our own connections' TIME_WAIT
        squatter.bind(("127.0.0.1", target.port))
        squatter.listen()
        _cli(state, "servers", "start")
        moved = next(t for t in Servers(state).running_targets() if t.family == "postgresql")
    assert moved.port != target.port
    moved_keep = moved.with_database("keep_h13")
    with moved_keep.spec.connection(moved_keep, moved_keep.database) as conn:
        cur = conn.cursor()
        cur.execute("SELECT answer FROM kept")
        assert cur.fetchone()[0] == 42


def test_ctrl_c_stops_the_servers(state: Path) -> None:
    _cli(state, "servers", "stop")
    proc = _exec(state, "sleep", "60")
    _wait_for_users(state, 1)
    pids = _pids(state)
    # As a terminal's Ctrl-C does: to the whole process group, dbbench and its command alike. It can land while
    # MariaDB is still starting, which then acts on its stop signal only once InnoDB is up: a start cut short is
    # killed after a short wait, so dbbench ends within seconds either way.
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate(timeout=90)
    assert proc.returncode == 130 and time.monotonic() - started < 30
    assert pids and not any(alive(pid) for pid in pids)


def test_kill_9_leftovers_are_stopped_by_the_next_command(state: Path) -> None:
    _cli(state, "servers", "stop")
    proc = _exec(state, "sleep", "60")
    _wait_for_users(state, 1)
    pids = _pids(state)
    os.killpg(proc.pid, signal.SIGKILL)  # dbbench and its `sleep`; the servers run in sessions of their own
    proc.communicate(timeout=30)
    assert all(alive(pid) for pid in pids)  # nobody was left to stop them
    _cli(state, "doctor")  # the next command adopts them and, being their last user, stops them
    assert not any(alive(pid) for pid in pids)


def test_sigterm_to_exec_ends_what_its_command_started(state: Path, tmp_path: Path) -> None:
    """M7: a SIGTERM to dbbench alone (not its group) ends the command's children too, not just the command."""
    _cli(state, "servers", "stop")
    pidfile = tmp_path / "grandchild.pid"
    proc = _exec(state, "sh", "-c", f"sleep 300 & echo $! > {pidfile}; wait")
    _wait_for_users(state, 1)
    end = time.monotonic() + 30
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < end
        time.sleep(0.1)
    grandchild = int(pidfile.read_text())
    os.kill(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=90)
    end = time.monotonic() + 10
    while alive(grandchild, None, "", ("sleep",)) and time.monotonic() < end:
        time.sleep(0.1)
    assert not alive(grandchild, None, "", ("sleep",)), "servers exec left its command's child running"


def test_destroy_racing_a_start_never_deletes_running_data(state: Path) -> None:
    """M1: destroy and a command that starts the servers, at once: the data of servers that run is never gone."""
    _cli(state, "servers", "start")
    _cli(state, "servers", "stop")
    for _ in range(1):  # one round: the run of make test has a time budget (the race was lost about 1 in 10)
        starter = _exec(state, sys.executable, "-c", "import time; time.sleep(2)")
        destroy = run_cli("servers", "destroy", env=_env(state))
        starter.communicate(timeout=180)
        assert destroy.returncode in (0, 1), destroy.stderr
        rows, _doc = Servers(state).status()
        for row in rows:
            assert not row.running or row.data.exists(), f"{row.engine.label} runs without its data directory"
    assert _pids(state) == []


def test_two_runs_at_once_share_one_pair(state: Path) -> None:
    _cli(state, "servers", "stop")
    show_port = "import os, time; print(os.environ['DBBENCH_POSTGRES_URL'].rsplit(':', 1)[1]); time.sleep(3)"
    runs = [_exec(state, sys.executable, "-c", show_port) for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert outputs[0][0] == outputs[1][0]  # the same server
    assert _pids(state) == []  # the last one out stopped them


def test_disk_check_refuses_a_size_that_cannot_fit(state: Path) -> None:
    _cli(state, "servers", "start")
    proc = run_cli("seed", "--attempts", "10g", env=_env(state))
    assert proc.returncode != 0
    line = proc.stderr.strip()
    assert "\n" not in line and line.startswith("dbbench: error:") and "GiB free" in line


@pytest.mark.parametrize(
    ("variable", "package"), [("DBBENCH_POSTGRES_BIN", "postgresql"), ("DBBENCH_MARIADB_BIN", "mariadb-server")]
)
def test_a_missing_server_binary_names_the_package(variable: str, package: str) -> None:
    path = _new_state_dir()
    empty = path / "empty-bin"
    empty.mkdir()
    try:
        proc = run_cli("servers", "start", env=_env(path, **{variable: str(empty)}))
        line = proc.stderr.strip()
        assert proc.returncode != 0 and "\n" not in line and f"apt-get install {package}" in line
        assert _pids(path) == []
    finally:
        run_cli("servers", "destroy", env=_env(path))
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.nodb
def test_server_memory_sizes() -> None:
    assert parse_memory("1G") == parse_memory("1GiB") == parse_memory("1024m") == GIB
    assert parse_memory("1.5g") == 1536 * 2**20
    for bad in ("lots", "64M", "-1G"):
        with pytest.raises(ConfigError, match="bad server memory"):
            parse_memory(bad)


def test_a_crashed_server_is_named_as_the_cause(state: Path) -> None:
    """L4: a managed server that died (kill -9: as the OOM killer ends it) is named, with its log's reason."""
    from dbbench.servers.session import crashed_servers

    targets = Servers(state).acquire(persistent=True)
    try:
        assert crashed_servers(targets, str(state)) == []
        postgres = next(row for row in Servers(state).status()[0] if row.engine.name == "postgres")
        assert postgres.pid is not None
        os.kill(postgres.pid, signal.SIGKILL)
        try:
            os.waitpid(postgres.pid, 0)  # started by this test process: its child, gone once reaped
        except ChildProcessError:  # started by an earlier command: gone once its parent (init) reaps it
            end = time.monotonic() + 10
            while os.path.exists(f"/proc/{postgres.pid}") and time.monotonic() < end:
                time.sleep(0.05)
        (found,) = crashed_servers(targets, str(state))
        assert f"PostgreSQL server (pid {postgres.pid}) is no longer running" in found
    finally:
        _cli(state, "servers", "stop")
