"""The model layer on each live backend: migrations, round trips, and JSON lookups that must agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from dbbench.quiz.models import Question, Quiz, QuizAttempt, Student
from tests.helpers import ALIASES, ALL_DATABASES, FIXTURES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

ANSWERS: dict[str, Any] = {
    "q1": {"choice": 2, "time_ms": 5120, "changed": False},
    "q2": {"choice": 0, "time_ms": 830, "changed": True},
}
META: dict[str, Any] = {
    "device": "mobile",
    "browser": {"name": "Firefox", "version": "131.0"},
    "ip": "2001:db8::7",
    "note": "Grüße aus Köln 😀 — ok",
}


def test_migrations_are_applied_and_complete(alias: str) -> None:
    executor = MigrationExecutor(connections[alias])
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
    tables = set(connections[alias].introspection.table_names())
    assert {"quiz_student", "quiz_quiz", "quiz_question", "quiz_quizattempt"} <= tables
    # The parity probes' tables live in the parity suite's scratch databases only (dbbench.parity.routers).
    assert not [t for t in tables if t.startswith("paritylab_")]


def test_no_missing_migrations() -> None:
    call_command("makemigrations", "quiz", check=True, dry_run=True, verbosity=0)


def test_every_model_round_trips(alias: str) -> None:
    when = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    student = Student.objects.using(alias).create(name="Ñoño 😀", email="nono@example.org", signed_up_at=when)
    quiz = Quiz.objects.using(alias).create(title="Ünïcode & co", topic="text", created_at=when)
    question = Question.objects.using(alias).create(
        quiz=quiz, position=1, text="Which one? ✓", choices=["α", "β", "🙂"], correct_choice=2
    )
    attempt = QuizAttempt.objects.using(alias).create(
        student=student, quiz=quiz, started_at=when, finished_at=None, score=50, answers=ANSWERS, meta=META
    )
    s = Student.objects.using(alias).get(pk=student.pk)
    assert (s.name, s.email, s.signed_up_at) == ("Ñoño 😀", "nono@example.org", when)
    assert Quiz.objects.using(alias).get(pk=quiz.pk).title == "Ünïcode & co"
    q = Question.objects.using(alias).get(pk=question.pk)
    assert (q.text, q.choices, q.correct_choice) == ("Which one? ✓", ["α", "β", "🙂"], 2)
    a = QuizAttempt.objects.using(alias).get(pk=attempt.pk)
    assert (a.student_id, a.quiz_id, a.started_at, a.finished_at, a.score) == (student.pk, quiz.pk, when, None, 50)
    # JSON comes back equal in value (key order and escaping may differ by backend; see the parity suite).
    assert a.answers == ANSWERS
    assert a.meta == META


def _lookups(alias: str) -> dict[str, list[int]]:
    attempts = QuizAttempt.objects.using(alias)

    def ids(qs: Any) -> list[int]:
        return sorted(qs.values_list("pk", flat=True))

    return {
        "answers__q3__choice=3": ids(attempts.filter(answers__q3__choice=3)),
        "answers__q1__changed=True": ids(attempts.filter(answers__q1__changed=True)),
        "meta__has_key=referrer": ids(attempts.filter(meta__has_key="referrer")),
        "meta__browser__name=Firefox": ids(attempts.filter(meta__browser__name="Firefox")),
        "answers__contains q2.choice=2": ids(attempts.filter(answers__contains={"q2": {"choice": 2}})),
        "meta__contains device=desktop": ids(attempts.filter(meta__contains={"device": "desktop"})),
    }


def test_json_lookups_agree_on_every_backend() -> None:
    results = {}
    for alias in ALIASES:
        call_command("loaddata", str(FIXTURES / "quiz_small.json"), database=alias, verbosity=0)
        results[alias] = _lookups(alias)
    first = results[ALIASES[0]]
    # The fixture is built so that every lookup matches some rows but not all of them.
    assert first == {
        "answers__q3__choice=3": [2, 4, 5],
        "answers__q1__changed=True": [1, 2, 4],
        "meta__has_key=referrer": [1, 3, 5],
        "meta__browser__name=Firefox": [1, 5],
        "answers__contains q2.choice=2": [2, 3, 5],
        "meta__contains device=desktop": [2, 5, 6],
    }
    for alias in ALIASES[1:]:
        assert results[alias] == first, alias


def test_score_check_constraint_holds(alias: str) -> None:
    from django.db import IntegrityError, transaction

    call_command("loaddata", str(FIXTURES / "quiz_small.json"), database=alias, verbosity=0)
    attempt = QuizAttempt.objects.using(alias).get(pk=1)
    attempt.score = 101
    with pytest.raises(IntegrityError), transaction.atomic(using=alias):
        attempt.save(using=alias)
