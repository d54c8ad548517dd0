"""The migration rehearsal on the live servers: round trips, a corrupted row, refusals, an interrupted copy.

The source is a scratch PostgreSQL database seeded with 2k attempts (plus one attempt whose strings need escaping);
each copy goes to a scratch database of its own, all dropped afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dbbench.backends import bulkload
from dbbench.backends.database import drop_database
from dbbench.backends.targets import Target
from dbbench.doctor import server_info
from dbbench.errors import ConfigError
from dbbench.quiz import QUIZ_TABLES
from dbbench.rehearsal import rehearse as rehearsal
from dbbench.rehearsal.copy import TableCopy
from dbbench.rehearsal.estimate import estimate, parse_estimate_size
from dbbench.rehearsal.render import render
from dbbench.rehearsal.verify import TableCheck, read_only
from tests.helpers import ROOT, TARGETS, admin_sql, run_cli

ATTEMPTS = 2_000
# None with the targets of one family: the module is skipped, but collection never stops at its import.
POSTGRES = next((t for t in TARGETS if t.spec.family == "postgresql"), None)
MYSQL = next((t for t in TARGETS if t.spec.family == "mysql"), None)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(POSTGRES is None or MYSQL is None, reason="needs a PostgreSQL and a MySQL-family target"),
]
# Tabs, newlines, backslashes, quotes, form feeds, vertical tabs and non-ASCII in strings and JSON: every escape the
# copy path has (COPY writes \f and \v, which LOAD DATA would read as "f" and "v").
AWKWARD_META = {
    "device": "desktop",
    "note": 'Grüße\taus\nKöln \\ "😀"\f\v\b',
    "browser": {"name": "Firefox", "version": "1"},
}
AWKWARD_NAME = "Zoë \\ O'Brien\t😀\f\v\b"
AWKWARD_AT = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def _scratch(target: Target, label: str) -> Target:
    return target.with_database(f"{target.database}_{label}{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def db(django_db_blocker: Any) -> Iterator[None]:
    """Database access for this module's tests (they manage their own databases, not pytest-django's)."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="module")
def source(db: None) -> Iterator[Target]:
    """A scratch PostgreSQL database seeded with 2k attempts and one awkward extra attempt."""
    from dbbench.seed.seeding import seed

    scratch = _scratch(POSTGRES, "s")
    try:
        with rehearsal.django_alias(scratch) as src:
            seed(src, ATTEMPTS, progress=False)
            from dbbench.quiz.models import Quiz, QuizAttempt, Student

            now = AWKWARD_AT
            student = Student.objects.using(src.name).create(
                name=AWKWARD_NAME, email="zoe@example.org", signed_up_at=now
            )
            QuizAttempt.objects.using(src.name).create(
                student=student,
                quiz=Quiz.objects.using(src.name).get(pk=1),
                started_at=now,
                finished_at=None,
                score=0,
                answers={"q1": {"choice": 1, "time_ms": 10, "changed": True}, "ключ": ["ü", None, 1.5]},
                meta=AWKWARD_META,
            )
        yield scratch
    finally:
        drop_database(scratch)


@pytest.fixture
def copies() -> Iterator[list[Target]]:
    """Copy databases a test makes; dropped afterwards (only if dbbench marked them)."""
    made: list[Target] = []
    yield made
    for target in made:
        drop_database(target)


def _copy_into(server: Target, copies: list[Target], label: str = "c") -> str:
    name = f"{server.database}_{label}{uuid.uuid4().hex[:6]}"
    copies.append(server.with_database(name))
    return name


def _checksums(target: Target) -> dict[str, str]:
    from dbbench.seed.checksum import content_checksums

    with rehearsal.django_alias(target) as alias:
        return content_checksums(alias)


def _cli_env(source: Target) -> dict[str, str]:
    return {"DBBENCH_POSTGRES_URL": source.url, "DBBENCH_MYSQL_URL": MYSQL.url, "DBBENCH_TARGETS": ""}


def test_round_trip_postgres_to_mariadb_and_back(source: Target, copies: list[Target]) -> None:
    there = _copy_into(MYSQL, copies)
    forth = rehearsal.rehearse(source, MYSQL, database=there, progress=False)
    assert forth.ok, render(forth)
    # Named as the servers name themselves (MariaDB here, never "MySQL" for it).
    assert (forth.source.vendor, forth.target.vendor) == (server_info(POSTGRES).vendor, server_info(MYSQL).vendor)
    assert [c.table for c in forth.copies] == [
        "quiz_student",
        "quiz_quiz",
        "quiz_seedstate",
        "quiz_question",
        "quiz_quizattempt",
    ]
    assert {c.table: c.rows for c in forth.copies}["quiz_quizattempt"] == ATTEMPTS + 1
    # The shared content checksums (read through the ORM) agree, and so do the servers' own digests, but for the
    # attempt whose JSON has non-ASCII: written with \u escapes, as Django writes it, equal by value.
    original = _checksums(source)
    copied = _checksums(MYSQL.with_database(there))
    assert copied == original
    by_table = {c.table: c for c in forth.checks}
    for table in QUIZ_TABLES:
        check = by_table[table]
        assert check.source_rows == check.target_rows == int(original[table].split(":")[0])
        rewritten = int(table == "quiz_quizattempt")
        assert (check.source_checksum == check.target_checksum, check.rewritten) == (not rewritten, rewritten), table
    _assert_constraints_rebuilt(MYSQL.with_database(there))
    assert forth.next_ids["quiz_quizattempt"] == ATTEMPTS + 2
    assert any(c.what == "JSON" for c in forth.conversions)
    assert rehearsal.state(source, MYSQL, there) == rehearsal.COMPLETE

    # The seeded source is a dbbench database, but its rows are not a copy's: not the rehearsal's to empty.
    with pytest.raises(rehearsal.TargetNotEmpty, match="rows that no copy of dbbench wrote"):
        rehearsal.rehearse(MYSQL.with_database(there), POSTGRES, database=source.database, progress=False)
    assert _checksums(source) == original

    home = _copy_into(POSTGRES, copies)
    back = rehearsal.rehearse(MYSQL.with_database(there), POSTGRES, database=home, progress=False)
    assert back.ok, render(back)
    assert back.source.vendor == forth.target.vendor and back.target.vendor == "PostgreSQL"
    assert _checksums(POSTGRES.with_database(back.target.database)) == original
    # The indexes and foreign keys dropped for the load are back as the catalog had them.
    assert _deferrables(POSTGRES.with_database(back.target.database)) == _deferrables(source)

    # The awkward strings came through both servers intact.
    from dbbench.quiz.models import QuizAttempt, Student

    with rehearsal.django_alias(POSTGRES.with_database(back.target.database)) as alias:
        attempt = QuizAttempt.objects.using(alias.name).get(pk=ATTEMPTS + 1)
        assert attempt.meta == AWKWARD_META
        assert attempt.answers["ключ"] == ["ü", None, 1.5]
        assert attempt.started_at == AWKWARD_AT
        assert Student.objects.using(alias.name).get(email="zoe@example.org").name == AWKWARD_NAME


def _deferrables(target: Target) -> dict[str, list[Any]]:
    from dbbench.backends.bulkload import DEFERRED_TABLE

    with target.spec.connection(target, target.database) as conn:
        cursor = conn.cursor()
        cursor.execute(target.spec.list_tables_sql())
        assert DEFERRED_TABLE not in {row[0] for row in cursor.fetchall()}  # nothing left to rebuild
        return {t: sorted(target.spec.deferrables(cursor, t), key=str) for t in QUIZ_TABLES}


def _assert_constraints_rebuilt(copy: Target) -> None:
    """The copy's secondary indexes and foreign keys are the ones Django's migrations create."""
    from dbbench import djangoenv

    fresh = copy.with_database(f"{copy.database}_f")
    try:
        with rehearsal.django_alias(fresh) as alias:
            djangoenv.prepare(alias)
        assert _deferrables(copy) == _deferrables(fresh)
        assert any(d.kind == "foreign key" for d in _deferrables(copy)["quiz_quizattempt"])
    finally:
        drop_database(fresh)


def test_corrupted_row_is_detected_and_listed(source: Target, copies: list[Target], tmp_path: Path) -> None:
    there = _copy_into(MYSQL, copies)
    assert rehearsal.rehearse(source, MYSQL, database=there, progress=False).ok
    copy = MYSQL.with_database(there)
    with copy.spec.connection(copy, there) as conn:
        cur = conn.cursor()
        # JSON is compared by value: the same object with its keys in another order is not a difference.
        cur.execute(
            "UPDATE quiz_quizattempt SET meta = %s WHERE id = %s",
            [json.dumps(dict(reversed(list(AWKWARD_META.items())))), ATTEMPTS + 1],
        )
    assert rehearsal.verify(source, MYSQL, database=there).ok
    with copy.spec.connection(copy, there) as conn:
        cur = conn.cursor()
        cur.execute("UPDATE quiz_quizattempt SET score = CASE WHEN score < 100 THEN score + 1 ELSE 0 END WHERE id = 17")
        cur.execute("DELETE FROM quiz_quizattempt WHERE id = 1999")

    output = tmp_path / "verify.json"
    proc = run_cli(
        "migrate-data", "--from", "postgres", "--to", "mysql", "--into", there, "--verify-only",
        "--output", str(output), env=_cli_env(source),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "dbbench: error: verification failed: quiz_quizattempt" in proc.stderr
    assert "quiz_quizattempt   rows 2,001 / 2,000" in proc.stdout
    assert "MISMATCH: 2 differing rows" in proc.stdout
    assert "quiz_quizattempt id=17: score: source " in proc.stdout
    assert "quiz_quizattempt id=1999: row: source (row present), target (no such row)" in proc.stdout
    data = json.loads(output.read_text())["data"]
    assert data["ok"] is False
    assert {(d["id"], d["field"]) for d in data["differences"]} == {(17, "score"), (1999, "row")}
    assert rehearsal.state(source, MYSQL, there) == rehearsal.FAILED


def test_verification_names_each_kind_of_difference(source: Target, copies: list[Target]) -> None:
    """Values changed in the copy's text, timestamps shifted (an hour: a time zone slip; a microsecond), a NULL, a
    row too many and a name differing in case only (equal under MariaDB's collation) are named; the same JSON
    written another way is not a difference."""
    there = _copy_into(MYSQL, copies)
    assert rehearsal.rehearse(source, MYSQL, database=there, progress=False).ok
    copy = MYSQL.with_database(there)
    with copy.spec.connection(copy, there) as conn:
        cur = conn.cursor()
        cur.execute("SELECT id FROM quiz_quizattempt WHERE finished_at IS NOT NULL AND id > 100 ORDER BY id LIMIT 3")
        hour, micro, null = (row[0] for row in cur.fetchall())
        update = "UPDATE quiz_quizattempt SET "
        cur.execute(update + f"started_at = started_at + INTERVAL 1 HOUR WHERE id = {hour}")
        cur.execute(update + f"finished_at = finished_at + INTERVAL 1 MICROSECOND WHERE id = {micro}")
        cur.execute(update + f"finished_at = NULL WHERE id = {null}")
        cur.execute("UPDATE quiz_quizattempt SET meta = JSON_SET(meta, '$.device', 'toaster') WHERE id = 30")
        cur.execute("SELECT answers FROM quiz_quizattempt WHERE id = 31")
        answers = json.loads(cur.fetchone()[0])
        reordered = json.dumps(dict(reversed(list(answers.items()))), indent=1)
        cur.execute("UPDATE quiz_quizattempt SET answers = %s WHERE id = 31", [reordered])
        cur.execute(
            "INSERT INTO quiz_quizattempt (id, student_id, quiz_id, started_at, finished_at, score, answers, meta) "
            "SELECT 999999, student_id, quiz_id, started_at, finished_at, score, answers, meta FROM quiz_quizattempt "
            "WHERE id = 1"
        )
        cur.execute("UPDATE quiz_student SET name = UPPER(name) WHERE id = 3")
        cur.execute("SELECT name FROM quiz_student WHERE id = 3")
        renamed = cur.fetchone()[0]
    result = rehearsal.verify(source, MYSQL, database=there)
    assert not result.ok
    by_table = {c.table: c for c in result.checks}
    attempts, students = by_table["quiz_quizattempt"], by_table["quiz_student"]
    found = {(d.pk, name) for d in attempts.examples for name in d.fields}
    assert found == {(hour, "started_at"), (micro, "finished_at"), (null, "finished_at"), (30, "meta"), (999999, "row")}
    assert attempts.differing_rows == 5 and attempts.rewritten == 1 + 1  # id 31, and the awkward non-ASCII attempt
    assert (attempts.source_rows, attempts.target_rows) == (ATTEMPTS + 1, ATTEMPTS + 2)
    (extra,) = [d for d in attempts.examples if d.pk == 999999]
    assert extra.fields == {"row": ("(no such row)", "(row present)")}
    (micro_diff,) = [d for d in attempts.examples if d.pk == micro]
    before, after = micro_diff.fields["finished_at"]
    assert before[:-6] == after[:-6] and before != after  # the same second, another microsecond
    with rehearsal.django_alias(source) as src:
        from dbbench.quiz.models import Student

        original = Student.objects.using(src.name).get(pk=3).name
    assert original != renamed and original.upper() == renamed  # equal under utf8mb4_general_ci, not equal text
    assert [(d.pk, d.fields) for d in students.examples] == [(3, {"name": (original, renamed)})]
    assert all(by_table[t].ok for t in QUIZ_TABLES if t not in ("quiz_quizattempt", "quiz_student"))


def test_a_source_in_another_time_zone_copies_the_same_instants(source: Target, copies: list[Target]) -> None:
    """The source's sessions default to a zone 12:45 ahead of UTC: the copy still holds the UTC instants."""
    from dbbench.backends.bulkload import DEFERRED_TABLE

    admin_sql(source, f"ALTER DATABASE {source.database} SET timezone TO 'Pacific/Chatham'")
    try:
        there = _copy_into(MYSQL, copies)
        result = rehearsal.rehearse(source, MYSQL, database=there, progress=False)
        assert result.ok, render(result)
    finally:
        admin_sql(source, f"ALTER DATABASE {source.database} RESET timezone")
    copy = MYSQL.with_database(there)
    with copy.spec.connection(copy, there) as conn:
        cur = conn.cursor()
        cur.execute("SELECT started_at FROM quiz_quizattempt WHERE id = %s", [ATTEMPTS + 1])
        assert cur.fetchone()[0] == AWKWARD_AT.replace(tzinfo=None)
        # Killed after the attempts' indexes were dropped: verification builds them again before it compares.
        expected = _deferrables(copy)
        bulkload.defer_constraints(copy.spec, cur, "quiz_quizattempt")
        assert not copy.spec.deferrables(cur, "quiz_quizattempt")
        cur.execute(copy.spec.list_tables_sql())
        assert DEFERRED_TABLE in {row[0] for row in cur.fetchall()}
    assert rehearsal.verify(source, MYSQL, database=there).ok
    assert _deferrables(copy) == expected


def test_refuses_a_non_empty_target(source: Target, copies: list[Target], tmp_path: Path) -> None:
    there = _copy_into(MYSQL, copies)
    assert rehearsal.rehearse(source, MYSQL, database=there, progress=False).ok
    output = tmp_path / "again.json"
    proc = run_cli(
        "migrate-data", "--from", "postgres", "--to", "mysql", "--into", there, "--output", str(output),
        env=_cli_env(source),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("dbbench: error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert "already holds a verified copy" in proc.stderr and "--replace" in proc.stderr
    assert not output.exists()
    assert rehearsal.state(source, MYSQL, there) == rehearsal.COMPLETE  # untouched

    again = rehearsal.rehearse(source, MYSQL, database=there, replace=True, progress=False)
    assert again.ok and again.restarted == "--replace"


def test_interrupted_copy_is_marked_incomplete_and_rerun_restarts_cleanly(
    source: Target, copies: list[Target], tmp_path: Path
) -> None:
    from dbbench import djangoenv

    there = _copy_into(MYSQL, copies)
    copy = MYSQL.with_database(there)
    with rehearsal.django_alias(copy) as alias:
        djangoenv.prepare(alias)
    with copy.spec.connection(copy, there) as lock, copy.spec.connection(copy, there) as probe:
        # A read lock lets the copy read the table but holds its load into it: the copy stops with the smaller
        # tables done, and is killed there.
        lock.cursor().execute("LOCK TABLES quiz_quizattempt READ")
        env = {**os.environ, **_cli_env(source)}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "dbbench", "migrate-data", "--from", "postgres", "--to", "mysql", "--into", there],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            cur = probe.cursor()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                cur.execute("SELECT COUNT(*) FROM quiz_question")
                if cur.fetchone()[0] > 0:
                    break
                time.sleep(0.1)
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.5)  # into the blocked load of the attempts
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            lock.cursor().execute("UNLOCK TABLES")
        cur.execute("SELECT COUNT(*) FROM quiz_quizattempt")
        assert cur.fetchone()[0] == 0
    assert rehearsal.state(source, MYSQL, there) == rehearsal.INCOMPLETE

    done = run_cli(
        "migrate-data", "--from", "postgres", "--to", "mysql", "--into", there,
        "--output", str(tmp_path / "rerun.json"), env=_cli_env(source),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "replaced the rows that were there (an earlier copy was left incomplete)" in done.stdout
    assert rehearsal.state(source, MYSQL, there) == rehearsal.COMPLETE
    assert _checksums(copy) == _checksums(source)


@pytest.mark.parametrize("server", [POSTGRES, MYSQL], ids=lambda t: t.name if t else "none")
def test_source_session_is_read_only(server: Target, db: None) -> None:
    from django.db import DatabaseError

    from dbbench.quiz.models import Quiz

    scratch = _scratch(server, "ro")
    try:
        from dbbench import djangoenv

        with rehearsal.django_alias(scratch) as alias:
            djangoenv.prepare(alias)
            now = datetime.now(UTC)
            Quiz.objects.using(alias.name).create(title="before", topic="t", created_at=now)
            with read_only(alias), pytest.raises(DatabaseError, match="(?i)read.only"):
                Quiz.objects.using(alias.name).create(title="during", topic="t", created_at=now)
            assert list(Quiz.objects.using(alias.name).values_list("title", flat=True)) == ["before"]
    finally:
        drop_database(scratch)


def test_a_copy_onto_its_own_source_is_refused() -> None:
    with pytest.raises(ConfigError, match="would overwrite its source"):
        rehearsal.copy_target_for(POSTGRES, POSTGRES, POSTGRES.database)


def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    for args, message in [
        (("--to", "nosuch"), "unknown backend 'nosuch'"),
        (("--to", "mysql", "--batch-size", "0"), "bad batch size 0"),
        (("--to", "mysql", "--estimate-for", "5x"), "bad --estimate-for size '5x'"),
        (("--to", "mysql", "--fit-with", str(tmp_path / "none.json")), "none.json"),
    ]:
        output = tmp_path / "r.json"
        proc = run_cli("migrate-data", "--from", "postgres", *args, "--output", str(output))
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("dbbench: error: ") and message in proc.stderr
        assert "Traceback" not in proc.stderr and not output.exists()


def test_estimates_scale_the_growing_tables_only() -> None:
    endpoint = rehearsal.Endpoint("a", "PostgreSQL", "15", "db", "postgres://h/db")
    result = rehearsal.Rehearsal(endpoint, endpoint)
    result.copies = [
        TableCopy("quiz_quiz", 300, 1.0, 1_000),
        TableCopy("quiz_student", 5_000, 2.0, 2_000_000),
        TableCopy("quiz_quizattempt", 100_000, 8.0, 98_000_000),
    ]
    result.copy_seconds = 12.0  # 1 s of ids and statistics on top
    result.checks = [TableCheck("quiz_quizattempt", 100_000, 100_000, "x", "x", 0)]
    result.verify_seconds = 21.0
    result.verify_table_seconds = {"quiz_quiz": 1.0, "quiz_student": 2.0, "quiz_quizattempt": 18.0}
    one = estimate(result, 1_000_000)
    assert (one["copy_seconds"], one["verify_seconds"], one["downtime_seconds"]) == (111.0, 201.0, 312.0)
    assert one["label"] == "1m"
    # 1 MB of source data per 1k attempts here: 2 GiB is ~2.1m attempts.
    assert parse_estimate_size("2GiB", result) == round(2 * 1024**3 / 1_000)
    assert parse_estimate_size("250k", result) == 250_000
    with pytest.raises(ConfigError):
        parse_estimate_size("lots", result)
