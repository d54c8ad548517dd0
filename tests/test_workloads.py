"""The quiz site's operations and their raw twins on each live backend, on small hand-made data."""

from __future__ import annotations

import ast
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from dbbench.bench import workloads as w
from dbbench.bench.runner import CONTROL_OPERATIONS
from dbbench.quiz.models import Question, Quiz, QuizAttempt, Student
from dbbench.report.verdict import DEFAULT_MIX, TRAFFIC_KINDS
from tests.helpers import ALIASES, ALL_DATABASES, ROOT

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def answers(*choices: int) -> dict[str, Any]:
    return {f"q{i}": {"choice": c, "time_ms": 1000 * i, "changed": False} for i, c in enumerate(choices, 1)}


def build(alias: str) -> dict[str, Any]:
    """Two quizzes (A: 3 questions, right answers 1,2,3; B: 2 questions, right answers 0,0), 3 students, 6 attempts."""
    db = alias
    students = [
        Student.objects.using(db).create(name=f"S{i}", email=f"s{i}@example.org", signed_up_at=T0) for i in (1, 2, 3)
    ]
    quiz_a = Quiz.objects.using(db).create(title="A", topic="t", created_at=T0)
    quiz_b = Quiz.objects.using(db).create(title="B", topic="t", created_at=T0)
    for quiz, correct in ((quiz_a, (1, 2, 3)), (quiz_b, (0, 0))):
        for pos, right in enumerate(correct, 1):
            Question.objects.using(db).create(
                quiz=quiz,
                position=pos,
                text="?",
                choices=["a", "b", "c", "d"][: 4 if quiz is quiz_a else 3],
                correct_choice=right,
            )
    s1, s2, s3 = students
    spec = [  # student, quiz, day, choices, score, has referrer
        (s1, quiz_a, 1, (1, 2, 3), 100, True),
        (s1, quiz_a, 2, (1, 0, 0), 33, False),
        (s2, quiz_a, 3, (0, 2, 3), 67, True),
        (s3, quiz_a, 4, (1, 2, 0), 67, False),
        (s2, quiz_b, 5, (0, 0), 100, True),
        (s3, quiz_b, 6, (1, 0), 50, False),
    ]
    attempts = []
    for student, quiz, day, choices, score, referrer in spec:
        meta: dict[str, Any] = {"device": "mobile", "browser": {"name": "Firefox", "version": "131.0"}}
        if referrer:
            meta["referrer"] = "https://example.org/"
        started = T0 + timedelta(days=day)
        attempts.append(
            QuizAttempt.objects.using(db).create(
                student=student, quiz=quiz, started_at=started, finished_at=started, score=score,
                answers=answers(*choices), meta=meta,
            )
        )  # fmt: skip
    return {"students": students, "a": quiz_a, "b": quiz_b, "attempts": attempts}


@pytest.fixture
def data(alias: str) -> dict[str, Any]:
    return build(alias)


@contextmanager
def recorded(alias: str) -> Iterator[list[tuple[str, Any]]]:
    """Every (sql, params) Django sends on ``alias`` inside the block."""
    calls: list[tuple[str, Any]] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        calls.append((sql, params))
        return execute(sql, params, many, context)

    with connections[alias].execute_wrapper(wrapper):
        yield calls


def plain(params: Any) -> Any:
    """Parameters comparable by value (psycopg wraps JSON in a Jsonb object that has no equality)."""
    if isinstance(params, list | tuple):
        return [plain(p) for p in params]
    return getattr(params, "obj", params)


# --- arguments ------------------------------------------------------------------------------------------------


def test_dataset_knows_ids_and_questions(alias: str, data: dict[str, Any]) -> None:
    ds = w.load_dataset(alias)
    assert ds.attempt_ids == tuple(sorted(a.pk for a in data["attempts"]))
    assert ds.student_ids == tuple(sorted(s.pk for s in data["students"]))
    assert ds.quizzes[data["a"].pk] == (w.QuestionKey(1, 4, 1), w.QuestionKey(2, 4, 2), w.QuestionKey(3, 4, 3))
    assert (ds.questions_per_quiz, ds.choices_per_question, ds.attempts) == (2, 3, 6)


def test_arguments_pick_the_same_logical_rows_whatever_the_ids() -> None:
    quizzes = {1: (w.QuestionKey(1, 4, 0),), 2: (w.QuestionKey(1, 4, 1),)}
    low = w.Dataset("x", tuple(range(1, 101)), (1, 2, 3), quizzes)
    high = w.Dataset("y", tuple(range(1001, 1101)), (1, 2, 3), quizzes)  # same rows, other numbering
    for name, op in w.OPERATIONS.items():
        a = op.arguments(low, random.Random(name))
        b = op.arguments(high, random.Random(name))
        if op.updates or name in ("pk_lookup", "new_connection"):
            assert b[0] - a[0] == 1000 and a[1:] == b[1:], name
        else:
            assert a == b, name


def test_new_attempts_are_scored_like_a_submission() -> None:
    ds = w.Dataset("x", (1,), (1,), {7: (w.QuestionKey(1, 4, 2), w.QuestionKey(2, 4, 0), w.QuestionKey(3, 4, 3))})
    rng = random.Random(1)
    for _ in range(50):
        attempt = w.make_attempt(ds, rng)
        assert attempt.score == w.score_answers(ds.quizzes[7], attempt.answers)
        assert 0 <= attempt.score <= 100 and attempt.finished_at and attempt.finished_at > attempt.started_at
    assert w.score_answers(ds.quizzes[7], answers(2, 0, 1)) == 67
    assert w.score_answers([], {}) == 0


# --- reads ----------------------------------------------------------------------------------------------------


def test_reads_return_the_expected_rows(alias: str, data: dict[str, Any]) -> None:
    s1, s2, s3 = (s.pk for s in data["students"])
    a1, a2 = data["attempts"][:2]
    assert w.pk_lookup(alias, a1.pk).answers == answers(1, 2, 3)
    assert [a.pk for a in w.student_recent(alias, s1)] == [a2.pk, a1.pk]  # newest first
    assert w.leaderboard(alias, data["a"].pk) == [
        {"student_id": s1, "best": 100},
        {"student_id": s2, "best": 67},
        {"student_id": s3, "best": 67},
    ]
    stats = [(r["quiz_id"], r["attempts"], float(r["avg_score"])) for r in w.count_by_quiz(alias)]
    assert stats == [(data["a"].pk, 4, pytest.approx(66.75)), (data["b"].pk, 2, pytest.approx(75.0))]


def test_student_recent_stops_at_twenty(alias: str, data: dict[str, Any]) -> None:
    ds = w.load_dataset(alias)
    rng = random.Random(3)
    student = data["students"][0]
    rows = [w.make_attempt(ds, rng) for _ in range(25)]
    w.bulk_insert(alias, [w.AttemptData(**{**r.values(), "student_id": student.pk}) for r in rows])
    recent = w.student_recent(alias, student.pk)
    assert len(recent) == 20
    assert [a.started_at for a in recent] == sorted((a.started_at for a in recent), reverse=True)


@pytest.mark.parametrize(
    ("question", "choice", "expected"),
    [("q1", 1, 4), ("q2", 0, 3), ("q3", 3, 2), ("q3", 9, 0)],
)
def test_json_lookups_count_the_same_rows(
    alias: str, data: dict[str, Any], question: str, choice: int, expected: int
) -> None:
    assert w.json_filter(alias, question, choice) == expected
    assert w.json_contains(alias, question, choice) == expected


def test_has_key_counts_attempts_with_a_referrer(alias: str, data: dict[str, Any]) -> None:
    assert w.json_has_key(alias, w.HAS_KEY) == 3
    assert w.json_has_key(alias, "no_such_key") == 0


def test_raw_reads_return_the_rows_the_orm_returns(alias: str, data: dict[str, Any]) -> None:
    s1 = data["students"][0].pk
    a1 = data["attempts"][0]
    (row,) = w.raw_select(w.prepare_pk_lookup(alias, a1.pk))
    assert row[0] == a1.pk
    assert [r[0] for r in w.raw_select(w.prepare_recent(alias, s1))] == [a.pk for a in w.student_recent(alias, s1)]
    board = w.raw_select(w.prepare_leaderboard(alias, data["a"].pk))
    assert [tuple(r) for r in board] == [(d["student_id"], d["best"]) for d in w.leaderboard(alias, data["a"].pk)]


# --- writes ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["orm", "raw"])
def test_insert_attempt_stores_the_row(alias: str, data: dict[str, Any], variant: str) -> None:
    new = w.make_attempt(w.load_dataset(alias), random.Random(5))
    make_args, call = w.OPERATIONS["insert_attempt"].bind(variant)
    pk = call(*make_args(alias, (new,)))
    stored = QuizAttempt.objects.using(alias).get(pk=pk)
    assert (stored.student_id, stored.quiz_id, stored.score, stored.answers, stored.meta) == (
        new.student_id, new.quiz_id, new.score, new.answers, new.meta,
    )  # fmt: skip
    assert (stored.started_at, stored.finished_at) == (new.started_at, new.finished_at)


@pytest.mark.parametrize("variant", ["orm", "raw"])
def test_bulk_insert_adds_a_thousand_rows(alias: str, data: dict[str, Any], variant: str) -> None:
    ds = w.load_dataset(alias)
    rows = w.OPERATIONS["bulk_insert"].arguments(ds, random.Random(2))
    make_args, call = w.OPERATIONS["bulk_insert"].bind(variant)
    assert call(*make_args(alias, rows)) == w.BULK_ROWS
    assert w.attempt_count(alias) == 6 + w.BULK_ROWS
    assert w.delete_attempts_after(alias, max(ds.attempt_ids)) == w.BULK_ROWS
    assert w.attempt_count(alias) == 6


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)  # VACUUM refuses to run in a transaction
def test_benchmark_rows_go_and_their_space_is_reclaimed(alias: str, data: dict[str, Any]) -> None:
    last = w.last_attempt_id(alias)
    ds = w.load_dataset(alias)
    w.bulk_insert(alias, [w.make_attempt(ds, random.Random(i)) for i in range(50)])
    assert w.attempt_count(alias) == 56 and w.last_attempt_id(alias) > last
    assert w.delete_attempts_after(alias, last) == 50
    w.reclaim_space(alias)
    assert (w.attempt_count(alias), w.last_attempt_id(alias)) == (6, last)


@pytest.mark.parametrize("variant", ["orm", "raw"])
def test_update_attempt_changes_one_score_and_restores(alias: str, data: dict[str, Any], variant: str) -> None:
    a1, a2 = data["attempts"][:2]
    make_args, call = w.OPERATIONS["update_attempt"].bind(variant)
    assert call(*make_args(alias, (a1.pk, 100))) == 1  # same value: still one matched row on every backend
    assert call(*make_args(alias, (a1.pk, 7))) == 1
    assert (w.score_of(alias, a1.pk), w.score_of(alias, a2.pk)) == (7, 33)
    w.restore_scores(alias, {a1.pk: 100})
    assert w.score_of(alias, a1.pk) == 100


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)  # the raw twin runs its own transaction
@pytest.mark.parametrize("variant", ["orm", "raw"])
def test_submit_quiz_scores_from_the_questions(alias: str, data: dict[str, Any], variant: str) -> None:
    quiz_a, s3 = data["a"], data["students"][2]
    claimed = w.AttemptData(s3.pk, quiz_a.pk, T0, T0, score=0, answers=answers(1, 2, 0), meta={})
    make_args, call = w.OPERATIONS["submit_quiz"].bind(variant)
    pk, score = call(*make_args(alias, (claimed,)))
    assert score == 67  # two of three right; the claimed 0 is ignored
    assert w.score_of(alias, pk) == 67
    assert not connections[alias].in_atomic_block


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)  # closing a connection ends any transaction
@pytest.mark.parametrize("variant", ["orm", "raw"])
def test_new_connection_connects_again(alias: str, data: dict[str, Any], variant: str) -> None:
    a1 = data["attempts"][0]
    before = w.driver_connection(alias)
    make_args, call = w.OPERATIONS["new_connection"].bind(variant)
    result = call(*make_args(alias, (a1.pk,)))
    if variant == "orm":
        assert result.pk == a1.pk
        assert w.driver_connection(alias) is not before  # Django reconnected
    else:
        assert [r[0] for r in result] == [a1.pk]
        assert w.driver_connection(alias) is before  # the driver's own connection, Django's untouched


# --- the raw twins send exactly Django's statements --------------------------------------------------------------


def test_raw_twins_send_the_statements_the_orm_sends(alias: str, data: dict[str, Any]) -> None:
    ds = w.load_dataset(alias)
    rng = random.Random(9)
    checked = []
    for name, op in w.OPERATIONS.items():
        if not op.raw or name in ("submit_quiz", "new_connection"):  # these two: see the next test
            continue
        args = op.arguments(ds, rng)
        prepared = op.prepare_raw(alias, *args)  # type: ignore[misc]
        with recorded(alias) as calls:
            op.orm(alias, *args)
        sent = [(sql, plain(params)) for sql, params in calls]
        assert sent == [(sql, plain(params)) for sql, params in prepared.statements], name
        checked.append(name)
    assert checked == ["insert_attempt", "bulk_insert", "pk_lookup", "student_recent", "leaderboard", "update_attempt"]


def test_raw_submit_and_connect_send_the_orm_statements(alias: str, data: dict[str, Any]) -> None:
    new = w.make_attempt(w.load_dataset(alias), random.Random(4))
    prepared = w.prepare_submit(alias, new)
    with recorded(alias) as calls:
        _, score = w.submit_quiz(alias, new)
    calls = [c for c in calls if "SAVEPOINT" not in c[0]]  # the test's own transaction nests atomic()
    params = list(prepared.insert[1])
    params[prepared.score_index] = score
    expected = [prepared.quiz, prepared.questions, (prepared.insert[0], params)]
    assert [(sql, plain(p)) for sql, p in calls] == [(sql, plain(p)) for sql, p in expected]
    pk = data["attempts"][0].pk
    with recorded(alias) as calls:
        w.pk_lookup(alias, pk)
    assert [(sql, plain(p)) for sql, p in calls] == [(w.prepare_connect(alias, pk).statement[0], [pk])]


# --- the suite covers every operation ---------------------------------------------------------------------------


def _bench_functions() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "dbbench" / "bench" / "suite").glob("bench_*.py"):
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        names |= {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    return names


def test_every_operation_has_a_benchmark() -> None:
    assert {f"test_{name}" for name in w.OPERATIONS} == _bench_functions()
    assert all(op.variants in (("orm",), ("orm", "raw")) for op in w.OPERATIONS.values())
    assert ALIASES  # at least one configured backend to measure


@pytest.mark.nodb
def test_every_list_keyed_by_operation_names_real_operations() -> None:
    """A new operation without a weight in the mix would be measured and then silently left out of the verdict;
    a renamed one would leave a weight (or a traffic kind, or a control operation) pointing at nothing."""
    operations = set(w.OPERATIONS)
    assert set(DEFAULT_MIX) == operations, "DEFAULT_MIX (dbbench.report.verdict) must weigh every operation"
    assert all(weight > 0 for weight in DEFAULT_MIX.values())
    for kind, names in TRAFFIC_KINDS.items():
        assert set(names) <= operations, kind
    assert set(CONTROL_OPERATIONS) <= operations
