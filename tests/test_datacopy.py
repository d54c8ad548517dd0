"""``dbbench migrate-data --app``: the sample project (fixtures/app_projects/atlas) copied PostgreSQL -> MariaDB and
back on the live servers, its planted problem rows found before the copy, a copy killed with SIGKILL restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbbench.backends.targets import Target
from tests.helpers import FIXTURES, ROOT, TARGETS, admin_sql, run_cli

pytestmark = pytest.mark.slow

ATLAS = FIXTURES / "app_projects" / "atlas"
POSTGRES = next((t for t in TARGETS if t.family == "postgresql"), None)
MYSQL = next((t for t in TARGETS if t.family == "mysql"), None)
if POSTGRES is None or MYSQL is None:
    pytest.skip("needs a PostgreSQL and a MySQL-family target", allow_module_level=True)
assert POSTGRES is not None and MYSQL is not None

# Every row of --plant (the fixture's seed command) and what the pre-copy check must say of it: (table, column,
# problem, the planted row's key as a query on the source).
PLANTED = {
    ("library_author", "email"): ("duplicate", "SELECT id FROM library_author WHERE name = 'planted-case'"),
    ("library_publisher", "code"): ("duplicate", "SELECT id FROM library_publisher WHERE name = 'planted-accent'"),
    ("library_country", "code"): ("duplicate", "SELECT code FROM library_country WHERE name = 'planted-key'"),
    ("library_publisher", "name"): ("prefix duplicates", "SELECT id FROM library_publisher WHERE code = 'LONG-2'"),
    ("library_book", "rating"): ("out of range", "SELECT id FROM library_book WHERE title = 'planted-infinity'"),
    ("library_book", "reading_time"): ("out of range", "SELECT id FROM library_book WHERE title = 'planted-duration'"),
    ("library_book", "published"): ("date range", "SELECT id FROM library_book WHERE title = 'planted-date'"),
    ("library_book", "added_at"): ("date range", "SELECT id FROM library_book WHERE title = 'planted-datetime'"),
}


def _source(suffix: str) -> Target:
    assert POSTGRES is not None
    return POSTGRES.with_database(f"{POSTGRES.database}_atlas_{suffix}")


def _manage(source: Target, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": source.url, "PYTHONPATH": str(ATLAS)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run([sys.executable, "manage.py", *args], cwd=ATLAS, env=env, check=True, capture_output=True)


def _fresh(source: Target, *seed: str, migrate_to: str | None = None) -> Target:
    admin_sql(source, f'DROP DATABASE IF EXISTS "{source.database}" WITH (FORCE)')
    admin_sql(source, f'CREATE DATABASE "{source.database}"')
    _manage(source, "migrate", "-v0")
    if migrate_to:  # back to an earlier migration of the sample app
        _manage(source, "migrate", "-v0", "library", migrate_to)
    if seed:
        _manage(source, "seed_library", *seed)
    return source


def _drop(*targets: Target) -> None:
    for t in targets:
        if t.family == "postgresql":
            admin_sql(t, f'DROP DATABASE IF EXISTS "{t.database}" WITH (FORCE)')
        else:
            admin_sql(t, f"DROP DATABASE IF EXISTS `{t.database}`")


def _query(target: Target, sql: str) -> list[tuple[object, ...]]:
    with target.spec.connection(target, target.database) as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall())


def _copy(
    source: Target, to: Target, *extra: str, output: Path, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    # Its own temporary folder, which must be empty again afterwards: the settings shim is not left behind.
    tmp = output.parent / "tmp"
    tmp.mkdir(exist_ok=True)
    done = run_cli(
        "migrate-data", "--app", str(ATLAS), "--target", f"src={source.url}", "--target", f"dst={to.url}",
        "--from", "src", "--to", "dst", "--output", str(output), *extra, timeout=timeout, env={"TMPDIR": str(tmp)},
    )  # fmt: skip
    assert list(tmp.iterdir()) == [], "migrate-data --app left temporary files"
    return done


@pytest.fixture(scope="module")
def clean() -> Iterator[Target]:
    """The sample project on PostgreSQL with its edge-case rows and 300 more books; dropped afterwards."""
    source = _fresh(_source("clean"), "--books", "300")
    yield source
    _drop(source)


@pytest.fixture(scope="module")
def mariadb_copy(clean: Target, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Target, dict]]:
    """The forward copy of ``clean`` into MariaDB (the CLI's result data), dropped afterwards."""
    assert MYSQL is not None
    to = MYSQL.with_database(f"{MYSQL.database}_atlas_fw")
    output = tmp_path_factory.mktemp("fw") / "fw.json"
    done = _copy(clean, to, "--into", f"{to.database}_appcopy", output=output)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    copy = to.with_database(f"{to.database}_appcopy")
    yield copy, json.loads(output.read_text())["data"]
    _drop(copy)


def test_forward_copy_verifies_every_table_and_the_orm_reads_the_same_rows(mariadb_copy: tuple[Target, dict]) -> None:
    copy, data = mariadb_copy
    assert data["ok"] and data["smoke_test"] == "ok"
    tables = {t["table"]: t for t in data["tables"]}
    expected = {
        "auth_user", "auth_group", "auth_permission", "auth_user_groups", "auth_group_permissions",
        "django_content_type", "django_session", "django_admin_log", "library_author", "library_publisher",
        "library_book", "library_book_authors", "library_ebook", "library_review", "library_country",
        "library_edition", "library_tag",
    }  # fmt: skip
    assert expected <= set(tables)
    assert all(t["match"] and t["differing_rows"] == 0 for t in tables.values())
    assert tables["library_book"]["rows"] == 304 and tables["library_review"]["rows"] == 2  # 4 edge cases + 300
    assert data["unowned_tables"] == ["library_import_log"]
    assert data["unmanaged"] == ["library.ShelfStats (library_shelf_stats)"]
    assert _query(copy, "SELECT COUNT(*) FROM library_shelf_stats") == [(0,)]  # listed, not copied
    # Values as Django stores them on MariaDB: bigint microseconds, native uuid, blob bytes, naive UTC.
    row = _query(copy, "SELECT reading_time, cover, added_at, extra FROM library_book WHERE id = 1")[0]
    assert row[0] == -3 * 86400 * 10**6 + 1 and row[1] == bytes(range(256))
    assert str(row[2]) == "2024-02-29 22:59:59.999999"  # 23:59:59.999999 at UTC+1
    assert json.loads(str(row[3]))["emoji"] == "🎉"
    ids = {t["table"]: t["next_id"] for t in data["tables"]}
    assert ids["library_book"] == 305 and ids["library_publisher"] == 3


def test_the_way_back_gives_the_original_content(
    clean: Target, mariadb_copy: tuple[Target, dict], tmp_path: Path
) -> None:
    copy, _ = mariadb_copy
    assert POSTGRES is not None
    back = POSTGRES.with_database(f"{POSTGRES.database}_atlas_back")
    try:
        done = _copy(copy, back, "--into", back.database, output=tmp_path / "back.json")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        # The original against the way back, both on PostgreSQL: every row's text equal, none even rewritten.
        again = _copy(clean, back, "--into", back.database, "--verify-only", output=tmp_path / "same.json")
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
        data = json.loads((tmp_path / "same.json").read_text())["data"]
        assert data["ok"] and all(t["match"] and t["rewritten_rows"] == 0 for t in data["tables"])
        assert sum(t["rows"] for t in data["tables"]) > 400
    finally:
        _drop(back)


def test_the_pre_copy_check_lists_exactly_the_planted_rows(tmp_path: Path) -> None:
    assert MYSQL is not None
    source = _fresh(_source("planted"), "--plant")
    to = MYSQL.with_database(f"{MYSQL.database}_atlas_pl")
    copy = to.with_database(f"{to.database}_appcopy")
    try:
        done = _copy(source, to, output=tmp_path / "planted.json")
        assert done.returncode != 0
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith("dbbench: error: the target cannot hold 8 values, nothing copied: ")
        listed = {}
        for part in line.split("nothing copied: ", 1)[1].split("; "):
            where, problem, count = part.split(": ", 2)
            table, column = where.split(".")
            listed[(table, column)] = (problem, count)
        assert set(listed) == set(PLANTED)
        for key, (problem, count) in listed.items():
            word, query = PLANTED[key]
            assert word in problem
            planted = _query(source, query)[0][0]
            assert count == f"1 rows, e.g. key {planted}"
        assert _query(copy, "SELECT COUNT(*) FROM library_book") == [(0,)]  # nothing copied
    finally:
        _drop(source, copy)


def test_a_source_behind_ahead_or_with_postgres_only_columns_is_refused_in_one_line(tmp_path: Path) -> None:
    assert MYSQL is not None
    to = MYSQL.with_database(f"{MYSQL.database}_atlas_sc")
    source = _fresh(_source("schema"), migrate_to="0001")
    try:
        done = _copy(source, to, output=tmp_path / "a.json")
        assert done.returncode != 0
        assert done.stderr.strip() == (
            "dbbench: error: src: the source is behind the project: migration library.0002_own_sql_tables (and 1 "
            "more) is not applied there (run the project's migrate on the source first)"
        )
        _manage(source, "migrate", "-v0")
        admin_sql(source, "ALTER TABLE library_author ADD COLUMN nick varchar(20)", source.database)
        done = _copy(source, to, output=tmp_path / "b.json")
        assert "ahead of the project: column library_author.nick is not in the project's models" in done.stderr
        admin_sql(source, "ALTER TABLE library_author DROP COLUMN nick", source.database)
        admin_sql(source, "ALTER TABLE library_book ADD COLUMN labels text[]", source.database)
        done = _copy(source, to, output=tmp_path / "c.json")
        assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1
        assert "library_book.labels (array, audit rule pg-field)" in done.stderr
    finally:
        _drop(source, to.with_database(f"{to.database}_appcopy"))


def test_a_copy_killed_with_sigkill_is_restarted_and_verified_by_the_next_run(tmp_path: Path) -> None:
    assert MYSQL is not None
    source = _fresh(_source("kill"), "--books", "20000")
    to = MYSQL.with_database(f"{MYSQL.database}_atlas_kill")
    copy = to.with_database(f"{to.database}_appcopy")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    args = [
        sys.executable, "-m", "dbbench", "migrate-data", "--app", str(ATLAS), "--target", f"src={source.url}",
        "--target", f"dst={to.url}", "--from", "src", "--to", "dst", "--batch-size", "200",
        "--output", str(tmp_path / "killed.json"),
    ]  # fmt: skip
    try:
        child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 240
        loaded = 0
        while time.monotonic() < deadline and child.poll() is None:
            try:
                loaded = int(_query(copy, "SELECT COUNT(*) FROM library_book")[0][0])
            except Exception:  # the database or table is not there yet
                loaded = 0
            if loaded >= 1000:
                break
            time.sleep(0.05)
        assert child.poll() is None, "the copy finished before it could be killed: give it more rows"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert 0 < loaded < 20004
        assert _query(copy, "SELECT state FROM dbbench_rehearsal") == [("incomplete",)]
        done = _copy(source, to, output=tmp_path / "rerun.json")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        data = json.loads((tmp_path / "rerun.json").read_text())["data"]
        assert data["ok"] and data["restarted"] == "an earlier copy was left incomplete"
        book = next(t for t in data["tables"] if t["table"] == "library_book")
        assert book["rows"] == 20004 and book["match"]
        assert _query(copy, "SELECT state FROM dbbench_rehearsal") == [("complete",)]
    finally:
        _drop(source, copy)


def test_a_project_without_time_zone_support_keeps_its_local_times(clean: Target, tmp_path: Path) -> None:
    """USE_TZ = False: Django stores naive local time on MariaDB, and so must the copy (six hours off before)."""
    assert MYSQL is not None
    to = MYSQL.with_database(f"{MYSQL.database}_atlas_lt")
    copy = to.with_database(f"{to.database}_appcopy")
    try:
        done = _copy(clean, to, "--settings", "atlas.settings_localtime", output=tmp_path / "local.json")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        assert json.loads((tmp_path / "local.json").read_text())["data"]["smoke_test"] == "ok"
        # 2024-02-29 22:59:59.999999 UTC is 16:59:59.999999 in Chicago (UTC-6 in winter).
        row = _query(copy, "SELECT added_at FROM library_book WHERE id = 1")[0]
        assert str(row[0]) == "2024-02-29 16:59:59.999999"
    finally:
        _drop(copy)
