"""The data the quiz site's operations draw their arguments from, and keeping it exact between sizes.

Arguments are drawn from what the seeder wrote (ids, questions, choices), the same on every backend for the same
seed; rows an operation adds are removed and scores it changes are put back, so every size measures the seeded data.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connections, transaction
from django.db.models import Max

from dbbench.backends.targets import Target
from dbbench.quiz.models import Question, QuizAttempt, Student

# New attempts start in the month after the seeded data's era; any fixed date keeps the arguments deterministic.
NEW_ATTEMPTS_FROM = datetime(2026, 6, 1, tzinfo=UTC)
DEVICES = ("desktop", "mobile", "tablet")
BROWSERS = (("Firefox", "131.0"), ("Chrome", "130.0"), ("Safari", "18.1"), ("Edge", "130.0"))


# --- the data an operation draws its arguments from ---------------------------------------------------------


@dataclass(frozen=True)
class QuestionKey:
    position: int
    choices: int  # number of options
    correct: int  # index of the right option


@dataclass(frozen=True)
class Dataset:
    """What the operations need to know about the data on one alias: ids to pick from, the quizzes' questions.

    Ids are sorted and arguments pick by position, so the *n*-th id names the same logical row on every backend
    seeded the same way, whatever numbers the servers gave the rows.
    """

    alias: str
    attempt_ids: tuple[int, ...]
    student_ids: tuple[int, ...]
    quizzes: dict[int, tuple[QuestionKey, ...]]  # quiz id -> its questions by position
    quiz_ids: tuple[int, ...] = field(init=False)
    questions_per_quiz: int = field(init=False)  # the fewest questions any quiz has (at least 1)
    choices_per_question: int = field(init=False)  # the fewest options any question has (at least 1)

    def __post_init__(self) -> None:
        questions = [q for qs in self.quizzes.values() for q in qs]
        object.__setattr__(self, "quiz_ids", tuple(sorted(self.quizzes)))
        object.__setattr__(self, "questions_per_quiz", max(1, min((len(q) for q in self.quizzes.values()), default=1)))
        object.__setattr__(self, "choices_per_question", max(1, min((q.choices for q in questions), default=1)))

    @property
    def attempts(self) -> int:
        return len(self.attempt_ids)


def load_dataset(using: str) -> Dataset:
    """Read the ids and the quizzes' questions from ``using`` (a quiz must have questions to be used)."""
    quizzes: dict[int, list[QuestionKey]] = {}
    rows = Question.objects.using(using).order_by("quiz_id", "position")
    for quiz_id, position, choices, correct in rows.values_list("quiz_id", "position", "choices", "correct_choice"):
        quizzes.setdefault(quiz_id, []).append(QuestionKey(position, len(choices), correct))
    attempts = QuizAttempt.objects.using(using)
    return Dataset(
        alias=using,
        attempt_ids=tuple(attempts.order_by("pk").values_list("pk", flat=True)),
        student_ids=tuple(Student.objects.using(using).order_by("pk").values_list("pk", flat=True)),
        quizzes={quiz_id: tuple(qs) for quiz_id, qs in quizzes.items()},
    )


@dataclass(frozen=True)
class AttemptData:
    """The fields of one new attempt, as a view would have them."""

    student_id: int
    quiz_id: int
    started_at: datetime
    finished_at: datetime | None
    score: int
    answers: dict[str, Any]
    meta: dict[str, Any]

    def values(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies the answers and would cost more than the ORM being measured.
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def model(self) -> QuizAttempt:
        return QuizAttempt(**self.values())


def score_answers(questions: Sequence[QuestionKey] | Sequence[tuple[int, int]], answers: dict[str, Any]) -> int:
    """Percent of questions answered right, rounded (the quiz site's scoring rule)."""
    keyed = [(q.position, q.correct) if isinstance(q, QuestionKey) else (q[0], q[1]) for q in questions]
    if not keyed:
        return 0
    right = sum(1 for position, correct in keyed if (answers.get(f"q{position}") or {}).get("choice") == correct)
    return round(100 * right / len(keyed))


def make_answers(questions: Sequence[QuestionKey], rng: random.Random) -> dict[str, Any]:
    return {
        f"q{q.position}": {
            "choice": rng.randrange(q.choices),
            "time_ms": rng.randint(800, 60_000),
            "changed": rng.random() < 0.2,
        }
        for q in questions
    }


def make_attempt(ds: Dataset, rng: random.Random) -> AttemptData:
    """A plausible new attempt by a random student at a random quiz (deterministic for a given ``rng``)."""
    quiz_id = rng.choice(ds.quiz_ids)
    answers = make_answers(ds.quizzes[quiz_id], rng)
    started = NEW_ATTEMPTS_FROM + timedelta(seconds=rng.randrange(30 * 86_400), microseconds=rng.randrange(10**6))
    browser, version = rng.choice(BROWSERS)
    return AttemptData(
        student_id=rng.choice(ds.student_ids),
        quiz_id=quiz_id,
        started_at=started,
        finished_at=started + timedelta(milliseconds=sum(a["time_ms"] for a in answers.values())),
        score=score_answers(ds.quizzes[quiz_id], answers),
        answers=answers,
        meta={
            "device": rng.choice(DEVICES),
            "browser": {"name": browser, "version": version},
            "ip": f"198.51.100.{rng.randrange(1, 255)}",
        },
    )


def target_for(using: str) -> Target:
    """The dbbench target behind a Django alias (they share names), on the database Django really uses."""
    from dbbench.backends.targets import targets_from_env

    for target in targets_from_env():
        if target.name == using:
            # Under pytest-django the alias points at a test database; a fresh connection must go there too.
            return target.with_database(str(connections[using].settings_dict["NAME"]))
    raise LookupError(f"no dbbench target named {using!r}")


# --- keeping the data exact between sizes -------------------------------------------------------------------


def last_attempt_id(using: str) -> int:
    """The highest attempt id (0 when empty): rows above it after a benchmark are the benchmark's own."""
    return QuizAttempt.objects.using(using).aggregate(m=Max("pk"))["m"] or 0


def delete_attempts_after(using: str, last_id: int) -> int:
    """Remove attempts a benchmark added (ids above ``last_id``); returns how many went."""
    deleted, _ = QuizAttempt.objects.using(using).filter(pk__gt=last_id).delete()
    return deleted


def reclaim_space(using: str) -> None:
    """Make deleted attempts' space reusable now, as a long-running server's background cleanup would.

    The suite calls it after removing its own rows, so that a table that had 1,000 rows inserted and deleted sixty
    times is not sixty thousand rows' worth bigger at the next size (PostgreSQL: VACUUM; InnoDB purges by itself).
    Needs autocommit (VACUUM cannot run inside a transaction).
    """
    statements = target_for(using).spec.reclaim_sql(QuizAttempt._meta.db_table)
    with connections[using].cursor() as cur:
        for sql in statements:
            cur.execute(sql)


def attempt_count(using: str) -> int:
    return QuizAttempt.objects.using(using).count()


def score_of(using: str, pk: int) -> int:
    return QuizAttempt.objects.using(using).values_list("score", flat=True).get(pk=pk)


def restore_scores(using: str, scores: dict[int, int]) -> None:
    """Put back the scores an update benchmark changed, so the seeded data stays what the seeder wrote."""
    with transaction.atomic(using=using):
        for pk, score in scores.items():
            QuizAttempt.objects.using(using).filter(pk=pk).update(score=score)
