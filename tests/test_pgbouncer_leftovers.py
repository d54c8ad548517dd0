"""PgBouncer's password file never outlives its run: gone from disk once PgBouncer has read it, and a folder left
by a dbbench killed with -9 before that is swept by the next run (issue 31, L5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbbench.backends.database import drop_database, ensure_database
from dbbench.backends.targets import Target
from dbbench.servers.pgbouncer import pgbouncer
from tests.helpers import TARGETS

pytestmark = pytest.mark.slow
PG = next((t for t in TARGETS if t.family == "postgresql"), None)
PREFIX, OWNER = "dbbench-pgbouncer-", "dbbench.owner"  # the working folder's name and its owner file


@pytest.fixture
def upstream() -> Iterator[Target]:
    if PG is None:
        pytest.skip("no PostgreSQL target configured")
    scratch = PG.with_database(f"{PG.database}_pgbl")
    ensure_database(scratch)
    try:
        yield scratch
    finally:
        drop_database(scratch)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _mine(folder: Path) -> bool:
    try:
        return json.loads((folder / OWNER).read_text())[0] == os.getpid()
    except (OSError, ValueError):
        return False


def test_the_password_file_is_gone_while_pgbouncer_runs(upstream: Target) -> None:
    before = set(Path(tempfile.gettempdir()).glob(f"{PREFIX}*"))
    with pgbouncer(upstream, pool_size=2) as pooled:
        with pooled.spec.connection(pooled, None) as conn:
            conn.cursor().execute("SELECT 1")
        # Ours by the owner file: another test run on the machine may start a PgBouncer meanwhile.
        (workdir,) = [p for p in Path(tempfile.gettempdir()).glob(f"{PREFIX}*") if p not in before and _mine(p)]
        assert not (workdir / "userlist.txt").exists()
    assert not workdir.exists()


def test_a_killed_runs_folder_is_swept_by_the_next(upstream: Target) -> None:
    stale = Path(tempfile.mkdtemp(prefix=PREFIX))
    (stale / "userlist.txt").write_text('"postgres" "the-managed-password"\n')
    (stale / OWNER).write_text(json.dumps([_dead_pid(), 1.0]))
    foreign = Path(tempfile.mkdtemp(prefix=PREFIX))  # no owner file: not dbbench's to delete
    try:
        with pgbouncer(upstream, pool_size=2):
            pass
        assert not stale.exists()
        assert foreign.exists()
    finally:
        for folder in (stale, foreign):
            subprocess.run(["rm", "-rf", str(folder)], check=False)
    assert os.path.isdir(tempfile.gettempdir())
