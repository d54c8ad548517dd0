"""The quiz site's database work, one function per operation, plus raw-SQL twins through the driver.

Every ORM operation takes the database alias first (``using``, as in Django) and returns what a view would use, so
tests can check it. The raw twins run *the statement Django would send*, with Django's own parameters, straight
through the DB-API connection: the SQL and its parameters are compiled by Django beforehand (``prepare_raw``, not
timed), so the timed part of a raw twin is driver + server only and ``orm - raw`` is the ORM's own cost.

:data:`OPERATIONS` lists them in the order the benchmark suite runs them. Nothing here imports pytest.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.db import connections, transaction
from django.db.models import Avg, Count, Max, QuerySet
from django.db.models.query import MAX_GET_RESULTS
from django.db.models.sql import InsertQuery, UpdateQuery

from dbbench.backends.targets import Target
from dbbench.bench.cursor import kept_cursor
from dbbench.bench.dataset import (  # noqa: F401 - the data an operation uses, re-exported as workloads.*
    BROWSERS,
    DEVICES,
    NEW_ATTEMPTS_FROM,
    AttemptData,
    Dataset,
    QuestionKey,
    attempt_count,
    delete_attempts_after,
    last_attempt_id,
    load_dataset,
    make_answers,
    make_attempt,
    reclaim_space,
    restore_scores,
    score_answers,
    score_of,
    target_for,
)
from dbbench.quiz.models import Question, Quiz, QuizAttempt

BULK_ROWS = 1_000  # rows per bulk insert
RECENT_LIMIT = 20  # a student's dashboard
LEADERBOARD_LIMIT = 10

Statement = tuple[str, Sequence[Any]]


# --- the twelve operations through the ORM ------------------------------------------------------------------


def insert_attempt(using: str, data: AttemptData) -> int:
    """1. Record one attempt: a single INSERT in autocommit (what the seed's "insert per request" does)."""
    return QuizAttempt.objects.using(using).create(**data.values()).pk


def submit_quiz(using: str, data: AttemptData) -> tuple[int, int]:
    """2. Submit a quiz as a view would: read the quiz and its questions, score, insert; one transaction.

    ``data.score`` is ignored: the score comes from the questions read here. Returns ``(attempt id, score)``.
    """
    with transaction.atomic(using=using):
        quiz = Quiz.objects.using(using).get(pk=data.quiz_id)
        questions = list(quiz.questions.all())
        score = score_answers([(q.position, q.correct_choice) for q in questions], data.answers)
        attempt = QuizAttempt.objects.using(using).create(**{**data.values(), "quiz_id": quiz.pk, "score": score})
    return attempt.pk, score


def bulk_insert(using: str, rows: Sequence[AttemptData]) -> int:
    """3. Insert attempts in bulk (``bulk_create``, one statement for :data:`BULK_ROWS` rows)."""
    # batch_size: MySQL-family servers refuse statements beyond max_allowed_packet; 1,000 rows are ~0.5 MB.
    return len(QuizAttempt.objects.using(using).bulk_create([r.model() for r in rows], batch_size=BULK_ROWS))


def pk_lookup(using: str, pk: int) -> QuizAttempt:
    """4. Fetch one attempt by primary key."""
    return QuizAttempt.objects.using(using).get(pk=pk)


def _recent_qs(using: str, student_id: int) -> QuerySet[QuizAttempt]:
    return QuizAttempt.objects.using(using).filter(student_id=student_id).order_by("-started_at")[:RECENT_LIMIT]


def student_recent(using: str, student_id: int) -> list[QuizAttempt]:
    """5. A student's 20 most recent attempts (the dashboard)."""
    return list(_recent_qs(using, student_id))


def _leaderboard_qs(using: str, quiz_id: int) -> QuerySet[QuizAttempt, dict[str, Any]]:
    return (
        QuizAttempt.objects.using(using)
        .filter(quiz_id=quiz_id)
        .values("student_id")
        .annotate(best=Max("score"))
        .order_by("-best", "student_id")[:LEADERBOARD_LIMIT]
    )


def leaderboard(using: str, quiz_id: int) -> list[dict[str, Any]]:
    """6. A quiz's leaderboard: best score per student, top 10 (ties by student id)."""
    return list(_leaderboard_qs(using, quiz_id))


def count_by_quiz(using: str) -> list[dict[str, Any]]:
    """7. Per-quiz statistics across all quizzes: attempts and average score (a full pass over the attempts)."""
    rows = QuizAttempt.objects.using(using).values("quiz_id").annotate(attempts=Count("id"), avg_score=Avg("score"))
    return list(rows.order_by("quiz_id"))


def json_filter(using: str, question: str, choice: int) -> int:
    """8. Count attempts whose answer to ``question`` is ``choice`` (key transform: ``answers__q3__choice=2``)."""
    return QuizAttempt.objects.using(using).filter(**{f"answers__{question}__choice": choice}).count()


def json_contains(using: str, question: str, choice: int) -> int:
    """9. The same question through JSON containment (``answers__contains={"q3": {"choice": 2}}``), counted."""
    return QuizAttempt.objects.using(using).filter(answers__contains={question: {"choice": choice}}).count()


def json_has_key(using: str, key: str) -> int:
    """10. Count attempts whose ``meta`` has ``key`` (``meta__has_key``)."""
    return QuizAttempt.objects.using(using).filter(meta__has_key=key).count()


def update_attempt(using: str, pk: int, score: int) -> int:
    """11. Update one attempt's score (a regrade); returns the rows matched (1)."""
    return QuizAttempt.objects.using(using).filter(pk=pk).update(score=score)


def new_connection(using: str, pk: int) -> QuizAttempt:
    """12. Open a new connection and run one query: what ``CONN_MAX_AGE=0`` costs every request.

    The query is :func:`pk_lookup`, so ``new_connection - pk_lookup`` is the price of the connection alone.
    """
    connections[using].close()
    return pk_lookup(using, pk)


# --- raw-SQL twins: Django's statement, Django's parameters, the driver alone --------------------------------


@dataclass(frozen=True)
class RawCall:
    """Statements compiled by Django, ready to run on a DB-API connection."""

    connection: Any  # Django's own DB-API connection, so session settings (time zone, sql_mode) are the same
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class RawSubmit:
    connection: Any
    quiz: Statement
    questions: Statement
    insert: Statement  # its score parameter (at ``score_index``) is filled in after the questions are read
    score_index: int
    position_col: int
    correct_col: int
    answers: dict[str, Any]


@dataclass(frozen=True)
class RawConnect:
    target: Target
    statement: Statement


def driver_connection(using: str) -> Any:
    """Django's underlying DB-API connection for ``using`` (opened if needed)."""
    wrapper = connections[using]
    wrapper.ensure_connection()
    return wrapper.connection


def compile_select(qs: QuerySet[Any, Any]) -> Statement:
    """The SELECT Django sends for ``qs`` (``qs.db`` decides the dialect)."""
    return qs.query.get_compiler(using=qs.db).as_sql()


def compile_get(qs: QuerySet[Any, Any]) -> Statement:
    """The SELECT that ``qs.get()`` sends: Django caps it at MAX_GET_RESULTS rows to report duplicates."""
    clone = qs.all()  # a copy, as QuerySet.get makes
    clone.query.set_limits(high=MAX_GET_RESULTS)
    return compile_select(clone)


def compile_insert(using: str, objs: Sequence[QuizAttempt]) -> tuple[Statement, ...]:
    """The INSERT(s) that ``create()`` (one object) or ``bulk_create()`` (several) send, with RETURNING if used."""
    opts = QuizAttempt._meta
    fields = [f for f in opts.concrete_fields if not f.primary_key and not f.generated]
    features = connections[using].features
    returns = features.can_return_columns_from_insert if len(objs) == 1 else features.can_return_rows_from_bulk_insert
    query = InsertQuery(QuizAttempt)
    query.insert_values(fields, list(objs))
    compiler = query.get_compiler(using=using)
    compiler.returning_fields = opts.db_returning_fields if returns else None
    return tuple(compiler.as_sql())


def compile_update(qs: QuerySet[Any, Any], **values: Any) -> Statement:
    """The UPDATE that ``qs.update(**values)`` sends."""
    query = cast(UpdateQuery, qs.query.chain(UpdateQuery))
    query.add_update_values(values)
    query.clear_select_clause()
    return query.get_compiler(using=qs.db).as_sql()


def prepare_insert(using: str, data: AttemptData) -> RawCall:
    return RawCall(driver_connection(using), compile_insert(using, [data.model()]))


def prepare_bulk(using: str, rows: Sequence[AttemptData]) -> RawCall:
    return RawCall(driver_connection(using), compile_insert(using, [r.model() for r in rows]))


def prepare_pk_lookup(using: str, pk: int) -> RawCall:
    return RawCall(driver_connection(using), (compile_get(QuizAttempt.objects.using(using).filter(pk=pk)),))


def prepare_recent(using: str, student_id: int) -> RawCall:
    return RawCall(driver_connection(using), (compile_select(_recent_qs(using, student_id)),))


def prepare_leaderboard(using: str, quiz_id: int) -> RawCall:
    return RawCall(driver_connection(using), (compile_select(_leaderboard_qs(using, quiz_id)),))


def prepare_update(using: str, pk: int, score: int) -> RawCall:
    return RawCall(
        driver_connection(using), (compile_update(QuizAttempt.objects.using(using).filter(pk=pk), score=score),)
    )


def prepare_submit(using: str, data: AttemptData) -> RawSubmit:
    quiz = Quiz.objects.using(using).filter(pk=data.quiz_id)
    questions = Question.objects.using(using).filter(quiz_id=data.quiz_id)  # what quiz.questions.all() sends
    (insert,) = compile_insert(using, [data.model()])
    names = [f.attname for f in Question._meta.concrete_fields]
    fields = [f.attname for f in QuizAttempt._meta.concrete_fields if not f.primary_key]
    return RawSubmit(
        connection=driver_connection(using),
        quiz=compile_get(quiz),
        questions=compile_select(questions),
        insert=(insert[0], list(insert[1])),
        score_index=fields.index("score"),
        position_col=names.index("position"),
        correct_col=names.index("correct_choice"),
        answers=data.answers,
    )


def prepare_connect(using: str, pk: int) -> RawConnect:
    return RawConnect(target_for(using), compile_get(QuizAttempt.objects.using(using).filter(pk=pk)))


def _returned_id(cursor: Any) -> int:
    # INSERT ... RETURNING (PostgreSQL, MariaDB >= 10.5) or the driver's last insert id (MySQL).
    return int(cursor.fetchone()[0]) if cursor.description else int(cursor.lastrowid)


def raw_insert(call: RawCall) -> int:
    cur = kept_cursor(call.connection)
    cur.execute(*call.statements[0])
    return _returned_id(cur)


def raw_bulk_insert(call: RawCall) -> int:
    inserted = 0
    cur = kept_cursor(call.connection)
    for sql, params in call.statements:
        cur.execute(sql, params)
        inserted += len(cur.fetchall()) if cur.description else cur.rowcount
    return inserted


def raw_select(call: RawCall) -> list[tuple[Any, ...]]:
    cur = kept_cursor(call.connection)
    cur.execute(*call.statements[0])
    return list(cur.fetchall())


def raw_update(call: RawCall) -> int:
    cur = kept_cursor(call.connection)
    cur.execute(*call.statements[0])
    return int(cur.rowcount)


def raw_submit_quiz(call: RawSubmit) -> tuple[int, int]:
    # START TRANSACTION/COMMIT are the same words on both servers; the connection is in autocommit otherwise.
    cur = kept_cursor(call.connection)
    cur.execute("START TRANSACTION")
    try:
        cur.execute(*call.quiz)
        if not cur.fetchall():
            raise LookupError("quiz not found")
        cur.execute(*call.questions)
        keys = [(row[call.position_col], row[call.correct_col]) for row in cur.fetchall()]
        score = score_answers(keys, call.answers)
        params = list(call.insert[1])
        params[call.score_index] = score
        cur.execute(call.insert[0], params)
        new_id = _returned_id(cur)
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    return new_id, score


def raw_new_connection(call: RawConnect) -> list[tuple[Any, ...]]:
    conn = call.target.spec.raw_connect(call.target, call.target.database)
    try:
        cur = conn.cursor()
        cur.execute(*call.statement)
        return list(cur.fetchall())
    finally:
        conn.close()


# --- the registry the benchmark suite walks -----------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One operation of the quiz site, how to draw its arguments, and its raw twin if it has one."""

    name: str
    orm: Callable[..., Any]  # orm(using, *arguments)
    arguments: Callable[[Dataset, random.Random], tuple[Any, ...]]
    prepare_raw: Callable[..., Any] | None = None  # prepare_raw(using, *arguments), not timed
    raw: Callable[[Any], Any] | None = None  # raw(prepared), timed
    inserts: int = 0  # attempts one call adds
    scans: bool = False  # reads every attempt: its time grows with the table
    updates: bool = False  # changes the attempt whose pk is its first argument

    @property
    def variants(self) -> tuple[str, ...]:
        return ("orm", "raw") if self.raw else ("orm",)

    @property
    def summary(self) -> str:
        return (self.orm.__doc__ or self.name).strip().splitlines()[0]

    def bind(self, variant: str) -> tuple[Callable[[str, tuple[Any, ...]], Any], Callable[..., Any]]:
        """``(make_call_arguments(using, arguments), timed_function)`` for ``variant`` (``orm`` or ``raw``)."""
        if variant == "orm":
            return (lambda using, args: (using, *args)), self.orm
        if variant == "raw" and self.raw and self.prepare_raw:
            prepare = self.prepare_raw
            return (lambda using, args: (prepare(using, *args),)), self.raw
        raise ValueError(f"operation {self.name!r} has no {variant!r} variant (has: {', '.join(self.variants)})")


def _question(ds: Dataset, rng: random.Random) -> tuple[str, int]:
    return f"q{rng.randint(1, ds.questions_per_quiz)}", rng.randrange(ds.choices_per_question)


# An optional meta key that the seeded data has on some attempts, not all: the lookup then has to look.
HAS_KEY = "referrer"

OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "insert_attempt",
            insert_attempt,
            lambda ds, rng: (make_attempt(ds, rng),),
            prepare_insert,
            raw_insert,
            inserts=1,
        ),
        Operation(
            "submit_quiz",
            submit_quiz,
            lambda ds, rng: (make_attempt(ds, rng),),
            prepare_submit,
            raw_submit_quiz,
            inserts=1,
        ),
        Operation(
            "bulk_insert",
            bulk_insert,
            lambda ds, rng: ([make_attempt(ds, rng) for _ in range(BULK_ROWS)],),
            prepare_bulk,
            raw_bulk_insert,
            inserts=BULK_ROWS,
        ),
        Operation("pk_lookup", pk_lookup, lambda ds, rng: (rng.choice(ds.attempt_ids),), prepare_pk_lookup, raw_select),
        Operation(
            "student_recent", student_recent, lambda ds, rng: (rng.choice(ds.student_ids),), prepare_recent, raw_select
        ),
        Operation(
            "leaderboard", leaderboard, lambda ds, rng: (rng.choice(ds.quiz_ids),), prepare_leaderboard, raw_select
        ),
        Operation("count_by_quiz", count_by_quiz, lambda ds, rng: (), scans=True),
        Operation("json_filter", json_filter, _question, scans=True),
        Operation("json_contains", json_contains, _question, scans=True),
        Operation("json_has_key", json_has_key, lambda ds, rng: (HAS_KEY,), scans=True),
        Operation(
            "update_attempt",
            update_attempt,
            lambda ds, rng: (rng.choice(ds.attempt_ids), rng.randint(0, 100)),
            prepare_update,
            raw_update,
            updates=True,
        ),
        Operation(
            "new_connection",
            new_connection,
            lambda ds, rng: (rng.choice(ds.attempt_ids),),
            prepare_connect,
            raw_new_connection,
        ),
    )
}
