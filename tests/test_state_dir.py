"""The managed servers' state directory against a hostile or careless user, with no server started.

dbbench touches only what it made there: an existing directory is used as it is (never chmodded), folders of
someone else's are refused instead of deleted, links planted inside are not followed, and a process is signalled
only when it is the server dbbench started (pid and start time).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from dbbench.errors import ConfigError
from dbbench.servers.state import StateDir, server_account
from tests.helpers import run_cli

pytestmark = pytest.mark.nodb


def _env(state: Path) -> dict[str, str]:
    return {"DBBENCH_TARGETS": "", "DBBENCH_POSTGRES_URL": "", "DBBENCH_MYSQL_URL": "", "DBBENCH_STATE_DIR": str(state)}


def _one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dbbench: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def box() -> Iterator[Path]:
    """A private folder under /tmp holding the state directories of one test."""
    path = Path(tempfile.mkdtemp(prefix="dbbench-statedir-", dir="/tmp"))
    path.chmod(0o755)  # as root the server account must be able to pass through
    try:
        yield path
    finally:
        subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture
def sleeper(box: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process that is not a server but whose command line names the data directory (an editor, tail -f)."""
    data = box / "state" / "postgres"
    argv = [sys.executable, "-c", "import time; time.sleep(120)", str(data), str(data / "postmaster.pid")]
    proc = subprocess.Popen(argv)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


# -- H5, H8: an existing directory is not dbbench's to delete from or chmod ----------------------------------------
def test_start_refuses_existing_server_folders_instead_of_deleting_them(box: Path) -> None:
    state = box / "state"
    for name in ("postgres", "mariadb"):
        (state / name).mkdir(parents=True)
        (state / name / "keep.txt").write_text("mine")
    state.chmod(0o755)
    proc = run_cli("servers", "start", env=_env(state))
    _one_line_error(proc, "did not make it")
    assert (state / "postgres" / "keep.txt").read_text() == "mine"
    assert (state / "mariadb" / "keep.txt").read_text() == "mine"


def test_destroy_keeps_log_and_run_folders_it_did_not_make(box: Path) -> None:
    state = box / "state"
    for name in ("log", "run"):
        (state / name).mkdir(parents=True)
        (state / name / "keep.txt").write_text("mine")
    proc = run_cli("servers", "destroy", env=_env(state))
    assert proc.returncode == 0, proc.stderr
    assert (state / "log" / "keep.txt").exists() and (state / "run" / "keep.txt").exists()


def test_an_existing_directory_keeps_its_mode(box: Path) -> None:
    private = box / "home"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    try:
        StateDir(private).create(server_account())
    except ConfigError as exc:
        assert os.geteuid() == 0 and "cannot enter" in str(exc)  # root's servers run as an account kept out
    assert stat.S_IMODE(private.stat().st_mode) == 0o700

    shared = box / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(ConfigError, match="can be written by other users"):
        StateDir(shared).create(server_account())
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert not any(shared.iterdir())


def test_a_new_state_directory_is_private(box: Path) -> None:
    state = box / "new" / "state"
    StateDir(state).create(server_account())
    mode = stat.S_IMODE(state.stat().st_mode)
    assert mode & 0o007 == 0 and mode & 0o022 == 0, oct(mode)


def test_another_users_state_directory_is_refused(box: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to make a directory of another user's")
    state = box / "theirs"
    state.mkdir()
    os.chown(state, 65534, 65534)
    proc = run_cli("servers", "stop", env=_env(state))
    _one_line_error(proc, "belongs to another user")
    assert not any(state.iterdir())


# -- H6: links planted in the state directory ----------------------------------------------------------------------
def test_planted_links_are_not_followed(box: Path) -> None:
    state, outside = box / "state", box / "outside"
    state.mkdir()
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("precious")
    (state / "state.tmp").symlink_to(victim)
    (state / ".state.json.tmp").symlink_to(victim)
    (state / "lock").symlink_to(outside / "created-by-lock")
    proc = run_cli("servers", "stop", env=_env(state))
    _one_line_error(proc, "symbolic link")
    assert not (outside / "created-by-lock").exists()
    (state / "lock").unlink()
    assert run_cli("servers", "stop", env=_env(state)).returncode == 0
    assert victim.read_text() == "precious"


@pytest.mark.parametrize("name", ["run", "log", "postgres"])
def test_a_linked_folder_is_neither_chowned_nor_written(box: Path, name: str) -> None:
    state, outside = box / "state", box / "outside"
    state.mkdir()
    outside.mkdir(mode=0o755)
    (state / name).symlink_to(outside, target_is_directory=True)
    before = outside.stat()
    try:
        proc = run_cli("servers", "start", env=_env(state))
    finally:
        run_cli("servers", "stop", env=_env(state))  # a dbbench that followed the link started servers
    _one_line_error(proc, "did not make it")
    after = outside.stat()
    assert (after.st_uid, after.st_gid, after.st_mode) == (before.st_uid, before.st_gid, before.st_mode)
    assert not any(outside.iterdir())


# -- H7, M3: a pid in the state file that is not the server ------------------------------------------------------
def _write_state(state: Path, doc: dict[str, object]) -> None:
    state.mkdir(exist_ok=True)
    (state / "state.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("started_at", [None, 12345.0])
def test_stop_never_signals_a_process_it_did_not_start(
    box: Path, sleeper: subprocess.Popen[bytes], started_at: float | None
) -> None:
    state = box / "state"
    entry: dict[str, object] = {"pid": sleeper.pid, "port": 5999}
    if started_at is not None:
        entry["started_at"] = started_at  # a reused pid: same number, another process
    _write_state(state, {"servers": {"postgres": entry}, "users": []})
    begin = time.monotonic()
    proc = run_cli("servers", "stop", env=_env(state))
    assert proc.returncode == 0, proc.stderr
    assert sleeper.poll() is None, "a process dbbench did not start was signalled"
    assert time.monotonic() - begin < 30


def test_a_server_of_a_longer_state_directory_is_not_this_ones(box: Path) -> None:
    # Another state directory whose path starts with this one's data directory: ".../state/postgres-2/postgres".
    other = box / "state" / "postgres-2" / "postgres"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "-D", str(other)])
    try:
        _write_state(box / "state", {"servers": {"postgres": {"pid": proc.pid, "port": 5999}}})
        assert run_cli("servers", "stop", env=_env(box / "state")).returncode == 0
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_a_reused_pid_among_the_users_does_not_block_stop(box: Path, sleeper: subprocess.Popen[bytes]) -> None:
    state = box / "state"
    # The sleeper's pid, once as an old-style entry (not a dbbench command line), once with another start time.
    _write_state(state, {"servers": {}, "users": [sleeper.pid, [sleeper.pid, 12345.0]]})
    for action in ("stop", "destroy"):
        proc = run_cli("servers", action, env=_env(state))
        assert proc.returncode == 0 and "in use" not in proc.stdout, proc.stdout + proc.stderr


def test_a_live_user_blocks_stop_and_the_message_is_spelt_right(box: Path) -> None:
    state = box / "state"
    _write_state(state, {"servers": {}, "users": [[os.getpid(), psutil.Process().create_time()]]})
    proc = run_cli("servers", "stop", env=_env(state))
    assert proc.returncode == 1 and "nothing stopped" in proc.stdout, proc.stdout  # L13: was "nothing stoped"
    proc = run_cli("servers", "destroy", env=_env(state))
    assert proc.returncode == 1 and "nothing destroyed" in proc.stdout, proc.stdout


# -- M2, L2: a corrupt state file -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    ["{not json", '{"servers": {"postgres": {"pid": "12x", "port": 5432}}}', '{"users": [[1, 2, 3]]}', "[1]"],
)
def test_a_corrupt_state_file_is_one_line_naming_it(box: Path, text: str) -> None:
    state = box / "state"
    state.mkdir()
    (state / "state.json").write_text(text)
    for action in ("status", "destroy"):
        proc = run_cli("servers", action, env=_env(state))
        _one_line_error(proc, str(state / "state.json"), "corrupt")
        assert "done" not in proc.stdout and "stopped" not in proc.stdout
    assert (state / "state.json").read_text() == text  # kept for the user to look at


# -- M4: an unusable state directory ----------------------------------------------------------------------------------
def test_a_state_directory_that_is_a_file_is_one_line(box: Path) -> None:
    state = box / "afile"
    state.write_text("not a directory")
    for args in (["servers", "status"], ["doctor"]):
        proc = run_cli(*args, env=_env(state))
        _one_line_error(proc, "not a directory")


# -- L12: the secret, and a refusal that leaves nothing behind -------------------------------------------------------
@pytest.mark.parametrize(("text", "mode"), [("", 0o600), ("ab" * 16, 0o644), ("it's", 0o600)])
def test_a_doubtful_secret_is_refused(box: Path, text: str, mode: int) -> None:
    sd = StateDir(box)
    (box / "secret").write_text(text)
    (box / "secret").chmod(mode)
    with pytest.raises(ConfigError, match="secret"):
        sd.secret()


def test_a_refused_state_directory_leaves_no_file_behind(box: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root's servers run as another account")
    theirs = box / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    proc = run_cli("servers", "start", env=_env(theirs / "state"))
    _one_line_error(proc, "cannot enter")
    assert not any(theirs.iterdir())


# -- L3: a failed start names the FATAL line and leaves nothing running -------------------------------------------
FAKE_MARIADBD = """#!/bin/sh
echo "2026-12-06  3:25:06 0 [Note] Starting MariaDB (a stand-in that fails as a broken one does)"
echo "2026-12-06  3:25:06 0 [ERROR] mariadbd: Can't create/write to file 'ib_logfile0' (Errcode: 28 No space left)"
echo "2026-12-06  3:25:06 0 [ERROR] Aborting"
echo "2026-12-06  3:25:06 0 [Note] mariadbd: Shutdown complete"
exit 1
"""


@pytest.mark.slow
def test_a_failed_mariadb_start_names_its_error_and_stops_postgresql(box: Path) -> None:
    from dbbench.servers.mariadb import MariaDBEngine

    fake = box / "bin"
    fake.mkdir()
    for program, path in MariaDBEngine().binaries().items():
        if program != "mariadbd":
            (fake / program).symlink_to(path)
    (fake / "mariadbd").write_text(FAKE_MARIADBD)
    (fake / "mariadbd").chmod(0o755)
    state = box / "state"
    try:
        proc = run_cli("servers", "start", env={**_env(state), "DBBENCH_MARIADB_BIN": str(fake)}, timeout=240)
        doc = json.loads((state / "state.json").read_text())
    finally:
        run_cli("servers", "destroy", env=_env(state))  # what a dbbench that left PostgreSQL running left
    _one_line_error(proc, "MariaDB did not start", "Can't create/write to file")
    assert not any(entry.get("pid") for entry in doc["servers"].values()), doc  # PostgreSQL was stopped again


def test_a_state_file_of_its_own_does_not_vouch_for_the_users_folders(box: Path) -> None:
    """H5 again: after a first command wrote state.json into a folder of the user's, destroy still keeps log/."""
    state = box / "state"
    (state / "log").mkdir(parents=True)
    (state / "log" / "keep.txt").write_text("mine")
    assert run_cli("servers", "stop", env=_env(state)).returncode == 0  # writes state.json
    assert run_cli("servers", "destroy", env=_env(state)).returncode == 0
    assert (state / "log" / "keep.txt").read_text() == "mine"


def test_an_older_dbbench_state_directory_keeps_working(box: Path) -> None:
    """A state directory an older dbbench made (no marks file, its .ready files): its folders are dbbench's."""
    state = box / "old"
    for name in ("postgres", "log", "run"):
        (state / name).mkdir(parents=True)
    (state / "postgres.ready").touch()
    assert run_cli("servers", "destroy", env=_env(state)).returncode == 0
    assert not (state / "postgres").exists() and not (state / "log").exists()
