"""The seeder on the live servers: the same data on every backend, in one step or several, after kill -9,
through either load path; bad input refused before anything is written.

Seeding runs as users run it (``python -m dbbench seed`` in a subprocess) against scratch databases of its own,
so the configured databases are never touched. Sizes are small: the whole file takes well under a minute.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from dbbench.backends import bulkload
from dbbench.backends.database import drop_database
from dbbench.backends.targets import Target, parse_target
from dbbench.cli import main
from dbbench.seed import STREAMS, datagen
from dbbench.seed.datagen import DataGenerator, students_for
from tests.helpers import ROOT, TARGETS, run_cli

N = 6_000
STEPS = (1_000, 2_500, N)


def _scratch(tag: str) -> list[Target]:
    suffix = f"_{tag}{uuid.uuid4().hex[:6]}"
    return [t.with_database(t.database + suffix) for t in TARGETS]


def _env(targets: list[Target]) -> dict[str, str]:
    return {"DBBENCH_TARGETS": ",".join(f"{t.name}={t.url}" for t in targets)}


def _seed(targets: list[Target], attempts: int, *extra: str) -> dict[str, dict[str, Any]]:
    proc = run_cli("seed", f"--attempts={attempts}", "--json", "--checksum", *extra, env=_env(targets))
    assert proc.returncode == 0, proc.stderr
    return {doc["alias"]: doc for doc in json.loads(proc.stdout)}


def _sql(target: Target, sql: str) -> list[tuple[Any, ...]]:
    with target.spec.connection(target, target.database) as conn:
        cur = conn.cursor()
        cur.execute(sql)
        return list(cur.fetchall()) if cur.description else []


def _exists(target: Target) -> bool:
    with target.spec.connection(target, None) as conn:
        cur = conn.cursor()
        cur.execute(target.spec.database_exists_sql(), (target.database,))
        return cur.fetchone() is not None


@pytest.fixture
def scratch() -> Iterator[Any]:
    """A factory of scratch database sets (one per configured target), all dropped afterwards."""
    made: list[Target] = []

    def make(tag: str) -> list[Target]:
        targets = _scratch(tag)
        made.extend(targets)
        return targets

    yield make
    for target in made:
        drop_database(target)


@pytest.fixture(scope="module")
def one_step() -> Iterator[dict[str, dict[str, Any]]]:
    """N attempts seeded in one uninterrupted step on every backend: the reference checksums."""
    targets = _scratch("one")
    try:
        yield _seed(targets, N)
    finally:
        for target in targets:
            drop_database(target)


# --- determinism ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_backend_holds_the_same_data(one_step: dict[str, dict[str, Any]]) -> None:
    first, *others = one_step.values()
    assert first["checksums"]["quiz_quizattempt"].startswith(f"{N}:")
    assert first["checksums"]["quiz_student"].startswith(f"{students_for(N)}:")
    assert first["checksums"]["quiz_quiz"].startswith(f"{datagen.QUIZZES}:")
    for doc in one_step.values():
        assert (doc["attempts"], doc["added"], doc["removed"], doc["restarted"]) == (N, N, 0, None)
    for doc in others:
        assert doc["checksums"] == first["checksums"], f"{doc['alias']} differs from {first['alias']}"


@pytest.mark.slow
def test_growing_in_steps_gives_the_data_of_one_step(scratch: Any, one_step: dict[str, dict[str, Any]]) -> None:
    targets = scratch("grow")
    previous = 0
    at: dict[int, dict[str, dict[str, Any]]] = {}
    for step in STEPS:
        at[step] = _seed(targets, step)
        for doc in at[step].values():
            assert (doc["attempts"], doc["added"], doc["removed"]) == (step, step - previous, 0)
        previous = step
    for alias, doc in at[N].items():
        assert doc["checksums"] == one_step[alias]["checksums"], alias

    # Rows the seeder did not write (a benchmark's inserts) are removed; the data is the seeder's again.
    for target in targets:
        _sql(target, "INSERT INTO quiz_quizattempt (student_id, quiz_id, started_at, score, answers, meta) "
                     "VALUES (1, 1, '2024-01-01 00:00:00', 50, '{}', '{}')")  # fmt: skip
    again = _seed(targets, N)
    for alias, doc in again.items():
        assert (doc["added"], doc["removed"]) == (0, 1)
        assert doc["checksums"] == one_step[alias]["checksums"], alias

    # Shrinking gives the data of the smaller size: keeping half or more by DELETE (only the rows past it go) ...
    half = N // 2
    shrunk = _seed(targets, half)
    for doc in shrunk.values():
        assert (doc["added"], doc["removed"]) == (0, (N - half) + (students_for(N) - students_for(half)))
    # ... and keeping less by starting over (every row goes, the smaller size is loaded again).
    small = STEPS[0]
    shrunk = _seed(targets, small)
    for alias, doc in shrunk.items():
        assert doc["added"] == small and doc["removed"] > half, alias
        assert doc["checksums"] == at[small][alias]["checksums"], alias


@pytest.mark.slow
def test_one_stream_makes_the_data_of_several(scratch: Any, one_step: dict[str, dict[str, Any]]) -> None:
    assert STREAMS > 1 and all(doc["streams"] == STREAMS for doc in one_step.values())
    for alias, doc in _seed(scratch("single"), N, "--streams=1").items():
        assert doc["streams"] == 1
        assert doc["checksums"] == one_step[alias]["checksums"], alias


@pytest.mark.slow
def test_batches_smaller_than_the_streams(scratch: Any) -> None:
    many = _seed(scratch("many"), 5, "--streams=3", "--batch-rows=1")  # one attempt per batch: 2 of 3 streams idle
    one = _seed(scratch("few"), 5, "--streams=1")
    for alias, doc in many.items():
        assert (doc["attempts"], doc["batches"], doc["streams"]) == (5, 5, 3)
        assert doc["checksums"] == one[alias]["checksums"], alias


@pytest.mark.slow
def test_the_bulk_create_fallback_makes_the_same_data(scratch: Any, one_step: dict[str, dict[str, Any]]) -> None:
    for alias, doc in _seed(scratch("orm"), N, "--load-method=bulk_create").items():
        assert doc["method"] == "bulk_create"
        assert doc["checksums"] == one_step[alias]["checksums"], alias


# --- loading without secondary indexes and foreign keys -------------------------------------------------------


def _schema(target: Target) -> list[tuple[Any, ...]]:
    """The quiz tables' indexes and constraints as the catalog renders them (read here, not through the code
    under test, so a kind of index or key that the seeder overlooks still shows)."""
    if target.spec.family == "postgresql":
        return _sql(
            target,
            "SELECT tablename, indexdef FROM pg_indexes WHERE tablename LIKE 'quiz\\_%' "
            "UNION ALL SELECT conrelid::regclass::text, conname || ' ' || pg_get_constraintdef(oid) || "
            "CASE WHEN convalidated THEN '' ELSE ' (not validated)' END "
            "FROM pg_constraint WHERE conrelid::regclass::text LIKE 'quiz\\_%' ORDER BY 1, 2",
        )
    tables = [row[0] for row in _sql(target, "SHOW TABLES LIKE 'quiz\\_%'")]
    # AUTO_INCREMENT= is the next id, not schema.
    return [(t, re.sub(r" AUTO_INCREMENT=\d+", "", _sql(target, f"SHOW CREATE TABLE {t}")[0][1])) for t in tables]


def _tables(target: Target) -> list[str]:
    return [row[0] for row in _sql(target, target.spec.list_tables_sql())]


@pytest.fixture(scope="module")
def migrated() -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    """Each backend's quiz schema as the migrations create it (``dbbench setup``, no rows)."""
    targets = _scratch("schema")
    try:
        proc = run_cli("setup", env=_env(targets))
        assert proc.returncode == 0, proc.stderr
        yield {t.name: _schema(t) for t in targets}
    finally:
        for target in targets:
            drop_database(target)


@pytest.mark.slow
def test_seeding_from_empty_leaves_the_migrated_schema(
    scratch: Any, migrated: dict[str, list[tuple[Any, ...]]], one_step: dict[str, dict[str, Any]]
) -> None:
    targets = scratch("defer")
    for doc in _seed(targets, N).values():
        assert doc["checksums"] == one_step[doc["alias"]]["checksums"]
        # Dropped for the load and built again: 2 keys and 2 foreign keys at least (PostgreSQL also indexes each FK).
        assert doc["rebuilt"] >= 4
        assert doc["streams"] == STREAMS  # no foreign key to break: the batches went in side by side
    for target in targets:
        assert any("attempt_student_recent" in str(row) for row in migrated[target.name])
        assert _schema(target) == migrated[target.name], target.name
        assert bulkload.DEFERRED_TABLE not in _tables(target)
    for doc in _seed(targets, N + 500).values():  # growing keeps the indexes: nothing to rebuild
        assert (doc["added"], doc["rebuilt"], doc["streams"]) == (500, 0, 1)
    for target in targets:
        assert _schema(target) == migrated[target.name], target.name


@pytest.mark.slow
def test_a_rebuild_cut_short_is_finished_by_the_next_run(
    scratch: Any, migrated: dict[str, list[tuple[Any, ...]]], one_step: dict[str, dict[str, Any]]
) -> None:
    targets = scratch("rebuild")
    _seed(targets, N)
    missing: dict[str, int] = {}
    for target in targets:  # as a seeder killed midway through its rebuild leaves it: one index back, rest not
        with target.spec.connection(target, target.database) as conn:
            cur = conn.cursor()
            dropped = bulkload.defer_constraints(target.spec, cur, "quiz_quizattempt")
            assert {d.kind for d in dropped} == {"index", "foreign key"}
            for sql in target.spec.create_deferrables_sql("quiz_quizattempt", dropped[:1]):
                cur.execute(sql)
        missing[target.name] = len(dropped) - 1
        assert _schema(target) != migrated[target.name]
    for doc in _seed(targets, N).values():
        assert (doc["added"], doc["removed"], doc["rebuilt"]) == (0, 0, missing[doc["alias"]])
        assert doc["checksums"] == one_step[doc["alias"]]["checksums"]
    for target in targets:
        assert _schema(target) == migrated[target.name], target.name
        assert bulkload.DEFERRED_TABLE not in _tables(target)


@pytest.mark.slow
def test_rows_that_break_a_foreign_key_stop_the_rebuild(scratch: Any) -> None:
    targets = scratch("orphan")
    _seed(targets, STEPS[0])
    for target in targets:  # a row pointing at no student, slipped in while the keys were down
        with target.spec.connection(target, target.database) as conn:
            bulkload.defer_constraints(target.spec, conn.cursor(), "quiz_quizattempt")
        _sql(target, "UPDATE quiz_quizattempt SET student_id = 987654 WHERE id = 7")
    proc = run_cli("seed", f"--attempts={STEPS[0]}", env=_env(targets))
    assert proc.returncode != 0
    assert proc.stderr.startswith("dbbench: error:") and proc.stderr.count("\n") == 1, proc.stderr
    assert "foreign key" in proc.stderr and "Traceback" not in proc.stderr
    assert bulkload.DEFERRED_TABLE in _tables(targets[0])  # kept: the next run tries again


# --- resume after kill -9 -----------------------------------------------------------------------------------


def _progress(target: Target) -> int | None:
    try:
        rows = _sql(target, "SELECT attempts FROM quiz_seedstate WHERE id = 1")
    except Exception:  # the database or the table does not exist yet
        return None
    return int(rows[0][0]) if rows else None


@pytest.mark.slow
@pytest.mark.parametrize("alias", [t.name for t in TARGETS])
def test_resume_after_kill_9_ends_at_exactly_n(
    alias: str, scratch: Any, one_step: dict[str, dict[str, Any]], migrated: dict[str, list[tuple[Any, ...]]]
) -> None:
    target = next(t for t in scratch("kill") if t.name == alias)
    env = {**os.environ, **_env([target])}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    # Small batches: 30 transactions, so the kill lands mid-seed, with a batch in flight.
    command = [sys.executable, "-m", "dbbench", "seed", f"--attempts={N}", "--batch-rows=200", "--json"]
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            done = _progress(target)
            if done and done >= 1_000:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        assert proc.wait(timeout=30) == -signal.SIGKILL, "the seeder ended before it could be killed mid-seed"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    committed = _progress(target)
    assert committed is not None and 1_000 <= committed < N
    # What is there is what the progress row says, plus at most the parts of the batch in flight whose streams had
    # committed (its progress row had not): the other parts were rolled back.
    ((count, top),) = _sql(target, "SELECT count(*), max(id) FROM quiz_quizattempt")
    assert _sql(target, f"SELECT count(*) FROM quiz_quizattempt WHERE id <= {committed}") == [(committed,)]
    assert committed <= count <= top <= committed + 200
    # Killed between dropping the indexes and rebuilding them: the record of what to rebuild is there.
    assert bulkload.DEFERRED_TABLE in _tables(target)
    assert _schema(target) != migrated[alias]

    (doc,) = _seed([target], N).values()
    assert (doc["attempts"], doc["added"], doc["restarted"]) == (N, N - committed, None)
    assert doc["removed"] >= count - committed  # the rows past the progress row, and their students
    assert doc["checksums"] == one_step[alias]["checksums"]
    assert _schema(target) == migrated[alias]
    assert bulkload.DEFERRED_TABLE not in _tables(target)


# --- bad input: one line, non-zero exit, nothing written -------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-5", "abc", "1.5", "2.5x", ""])
def test_attempts_must_be_a_positive_count(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed", f"--attempts={value}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dbbench: error: bad --attempts") and err.count("\n") == 1


def test_unknown_backend_and_bad_seed_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed", "--attempts=10", "--backend=oracle"]) == 2
    assert "unknown backend 'oracle'" in capsys.readouterr().err
    assert main(["seed", "--attempts=10", "--seed=-1"]) == 2
    assert "bad seed -1" in capsys.readouterr().err
    assert main(["seed", "--attempts=10", "--streams=0"]) == 2
    assert "bad number of streams 0" in capsys.readouterr().err


@pytest.mark.slow
def test_a_server_that_is_down_stops_everything_before_writing(scratch: Any) -> None:
    targets = scratch("down")
    down = parse_target(targets[-1].name, re.sub(r"@([^/@:]+)(:\d+)?/", r"@\1:1/", targets[-1].url))  # port 1
    proc = run_cli("seed", "--attempts=100", env=_env([*targets[:-1], down]))
    assert proc.returncode != 0
    assert proc.stderr.startswith("dbbench: error:") and proc.stderr.count("\n") == 1
    assert "cannot connect" in proc.stderr
    for target in targets[:-1]:  # the reachable servers got nothing either: not even a database
        assert not _exists(target)


@pytest.mark.slow
def test_a_database_that_is_not_dbbenchs_is_refused(target: Target) -> None:
    foreign = target.with_database(f"{target.database}_notours{uuid.uuid4().hex[:6]}")
    spec = foreign.spec
    with spec.connection(foreign, None) as conn:
        conn.cursor().execute(spec.create_database_sql(foreign.database))
    try:
        _sql(foreign, "CREATE TABLE invoices (id integer PRIMARY KEY)")
        proc = run_cli("seed", "--attempts=100", env=_env([foreign]))
        assert proc.returncode != 0
        assert proc.stderr.count("\n") == 1 and "dbbench did not create" in proc.stderr
        tables = [row[0] for row in _sql(foreign, spec.list_tables_sql())]
        assert tables == ["invoices"]
    finally:
        with spec.connection(foreign, None) as conn:
            conn.cursor().execute(spec.drop_database_sql(foreign.database))


# --- the generator itself (no database) -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def generator() -> DataGenerator:
    return DataGenerator(42)


def test_rows_do_not_depend_on_how_a_run_is_split(generator: DataGenerator) -> None:
    signups = generator.signups(students_for(5_000))
    whole = b"".join(generator.attempt_chunks(0, 5_000, signups))
    pieces = b"".join(
        b"".join(generator.attempt_chunks(a, b, signups)) for a, b in ((0, 1), (1, 2_345), (2_345, 5_000))
    )
    assert whole == pieces and whole.count(b"\n") == 5_000
    students = b"".join(generator.student_chunks(0, 250))
    assert students == b"".join(generator.student_chunks(0, 17)) + b"".join(generator.student_chunks(17, 250))
    assert DataGenerator(42).quiz_text() == generator.quiz_text()
    assert DataGenerator(7).quiz_text() != generator.quiz_text()


def _rows(model: Any, columns: tuple[str, ...], chunks: Iterator[bytes], tmp_path: Any) -> list[dict[str, Any]]:
    path = tmp_path / f"{model.__name__}.tsv"
    path.write_bytes(b"".join(chunks))
    return bulkload.read_rows(model, columns, str(path))


def test_generated_rows_are_plausible(generator: DataGenerator, tmp_path: Any) -> None:
    from dbbench.quiz.models import QuizAttempt, Student

    n = 20_000
    signups = generator.signups(students_for(n))
    students = _rows(Student, datagen.STUDENT_COLUMNS, generator.student_chunks(0, students_for(n)), tmp_path)
    attempts = _rows(QuizAttempt, datagen.ATTEMPT_COLUMNS, generator.attempt_chunks(0, n, signups), tmp_path)
    assert len(students) == n // 20 and len(attempts) == n
    emails = [s["email"] for s in students]
    assert len(set(emails)) == len(emails) and all(e == e.lower() and "@" in e for e in emails)
    assert any(not s["name"].isascii() for s in students)  # some Müller, some Łukasz
    signed_up = {s["id"]: s["signed_up_at"] for s in students}

    unfinished = 0
    for a in attempts:
        quiz = generator.quizzes[a["quiz_id"] - 1]
        assert a["student_id"] <= a["id"] // 20 + 1 and a["started_at"] > signed_up[a["student_id"]]
        answers = a["answers"]
        assert list(answers) == [f"q{i}" for i in range(1, len(answers) + 1)]
        right = 0
        for i, answer in enumerate(answers.values()):
            text, choices, correct = quiz.questions[i]
            assert set(answer) == {"choice", "time_ms", "changed"} and 0 <= answer["choice"] < len(choices)
            right += answer["choice"] == correct
        assert a["score"] == (200 * right + len(quiz.questions)) // (2 * len(quiz.questions))  # rounded half up
        if a["finished_at"] is None:
            unfinished += 1
            assert len(answers) < len(quiz.questions)
        else:
            assert len(answers) == len(quiz.questions)
            spent = sum(x["time_ms"] for x in answers.values())
            assert spent / 1000 + 5 <= (a["finished_at"] - a["started_at"]).total_seconds() <= spent / 1000 + 90
        assert set(a["meta"]) <= {"device", "browser", "ip", "referrer"} and a["meta"]["device"]
        assert isinstance(a["started_at"], datetime) and a["started_at"].year <= 2024
    assert 0.03 < unfinished / n < 0.07
    scores = sorted(a["score"] for a in attempts)
    assert 40 <= scores[n // 2] <= 85  # plausible median score
