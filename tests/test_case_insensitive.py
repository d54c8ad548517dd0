"""A MariaDB that files names in lower case (``lower_case_table_names=1``, as on Windows and in many a my.cnf):
``migrate-data --into DBBENCH`` is the source ``dbbench`` there, and is refused before anything is written.

The server is a private ``mariadbd`` of this module's own (its own data directory, socket and port), never the
system server, whose settings are not ours to change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbbench.backends.targets import Target, parse_target
from dbbench.errors import ConfigError
from dbbench.processes import free_port
from dbbench.rehearsal.rehearse import copy_target_for, refuse_same_database
from dbbench.servers.mariadb import MariaDBEngine
from tests.helpers import admin_sql, row_counts, run_cli

pytestmark = pytest.mark.slow
DATABASE = "dbbench_lctn"


@pytest.fixture(scope="module")
def lctn_server() -> Iterator[Target]:
    """A private MariaDB started with --lower-case-table-names=1, stopped and deleted afterwards."""
    try:
        programs = MariaDBEngine().binaries()
    except ConfigError as exc:
        pytest.skip(str(exc))
    home = Path(tempfile.mkdtemp(prefix="dbbench-lctn-", dir="/tmp"))
    data, sock = home / "data", home / "mariadb.sock"
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    # A temporary folder of its own: bootstraps sharing /tmp at once clash on their temporary tables' files.
    install = [str(programs["mariadb-install-db"]), "--no-defaults", f"--datadir={data}", f"--tmpdir={home}"]
    install.append("--skip-test-db")
    subprocess.run([*install, "--auth-root-authentication-method=normal", *as_root], check=True, capture_output=True)
    port = free_port()
    argv = [
        str(programs["mariadbd"]),
        "--no-defaults",
        f"--datadir={data}",
        f"--socket={sock}",
        f"--pid-file={home / 'mariadb.pid'}",
        f"--tmpdir={home}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        "--skip-name-resolve",
        "--lower-case-table-names=1",
        "--innodb-buffer-pool-size=32M",
        *as_root,
    ]
    with open(home / "log", "wb") as log:
        server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        client = [str(programs["mariadb"]), "--no-defaults", f"--socket={sock}", "--user=root"]
        grant = (
            "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
        )
        end = time.monotonic() + 60
        while subprocess.run([*client, "-e", grant], capture_output=True).returncode != 0:
            assert server.poll() is None and time.monotonic() < end, (home / "log").read_text()[-2000:]
            time.sleep(0.3)
        yield parse_target("lctn", f"mysql://root@127.0.0.1:{port}/{DATABASE}")
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(home, ignore_errors=True)


def test_the_server_files_names_in_lower_case(lctn_server: Target) -> None:
    with lctn_server.spec.connection(lctn_server, None) as conn:
        cur = conn.cursor()
        cur.execute("SELECT @@lower_case_table_names")
        assert int(cur.fetchone()[0]) == 1


def test_an_upper_case_copy_of_the_source_is_refused(lctn_server: Target) -> None:
    copy = copy_target_for(lctn_server, lctn_server, DATABASE.upper())
    with pytest.raises(ConfigError, match="overwrite its source"):
        refuse_same_database(lctn_server, copy)


def test_migrate_data_into_the_upper_case_source_leaves_it_whole(lctn_server: Target) -> None:
    env = {"DBBENCH_TARGETS": f"lctn={lctn_server.url}"}
    seeded = run_cli("seed", "--attempts", "50", env=env, timeout=240)
    assert seeded.returncode == 0, seeded.stderr
    before = _counts(lctn_server)
    assert before["quiz_quizattempt"] == 50
    proc = run_cli(
        "migrate-data", "--from", "lctn", "--to", "lctn", "--into", DATABASE.upper(), "--replace", env=env, timeout=120
    )
    assert proc.returncode != 0
    assert "overwrite its source" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert _counts(lctn_server) == before


def test_the_copys_sessions_wait_for_locks_a_bounded_time(lctn_server: Target) -> None:
    admin_sql(lctn_server, f"CREATE DATABASE IF NOT EXISTS {DATABASE}_locks")
    with lctn_server.spec.connection(lctn_server, None) as conn:
        cur = conn.cursor()
        cur.execute(lctn_server.spec.bounded_lock_wait_sql(120))
        cur.execute("SELECT @@SESSION.lock_wait_timeout")
        assert int(cur.fetchone()[0]) == 120


def _counts(target: Target) -> dict[str, int]:
    return row_counts(target, ("quiz_student", "quiz_quiz", "quiz_question", "quiz_quizattempt"))


def test_a_case_variant_on_a_case_sensitive_server_is_refused_before_anything_is_made() -> None:
    """L7: lower_case_table_names=0 keeps "DBBENCH_X" and "dbbench_x" apart, but InnoDB's foreign key names clash:
    the copy stopped half-built. Now it is refused up front, naming the database (not an alias)."""
    from dbbench.backends.database import drop_database, ensure_database
    from tests.helpers import TARGETS

    mysql = next((t for t in TARGETS if t.family == "mysql"), None)
    if mysql is None:
        pytest.skip("needs a MySQL-family target")
    with mysql.spec.connection(mysql, None) as conn:
        cur = conn.cursor()
        cur.execute("SELECT @@lower_case_table_names")
        if int(cur.fetchone()[0]):
            pytest.skip("the configured server files names in lower case")
    existing = mysql.with_database(f"{mysql.database}_l7")
    ensure_database(existing)
    try:
        variant = copy_target_for(mysql, mysql, existing.database.upper())
        with pytest.raises(ConfigError, match=f"differs only in case from '{existing.database}'"):
            refuse_same_database(mysql, variant)
        with mysql.spec.connection(mysql, None) as conn:
            cur = conn.cursor()
            cur.execute(mysql.spec.database_exists_sql(), (variant.database,))
            assert cur.fetchone() is None
    finally:
        drop_database(existing)
