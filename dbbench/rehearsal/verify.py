"""The checking half of the migration rehearsal: what a comparison found, the smoke test, the conversions.

The comparison itself (``dbbench.rehearsal.compare``) runs on the servers: a digest sum per id range on each side,
rows read back only where the sums differ. A copy keeps its ids, so rows are matched by id.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model

from dbbench.backends.targets import Target
from dbbench.errors import mask_secrets
from dbbench.rehearsal.fields import storage_zone

DIFF_EXAMPLES = 5  # differing rows listed per table


@dataclass
class RowDifference:
    table: str
    pk: Any
    fields: dict[str, tuple[Any, Any]]  # field -> (source value, target value); "row" when one side lacks it

    def describe(self) -> str:
        parts = [f"{name}: source {short(a)}, target {short(b)}" for name, (a, b) in self.fields.items()]
        return f"{self.table} id={self.pk}: " + "; ".join(parts)


@dataclass
class TableCheck:
    table: str
    source_rows: int
    target_rows: int
    source_checksum: str  # ROWS:HEX, the sum of the row digests of each side's text (dbbench.rehearsal.compare)
    target_checksum: str
    differing_rows: int
    examples: list[RowDifference] = field(default_factory=list)
    rewritten: int = 0  # rows whose text differs but not their values (JSON written another way)

    @property
    def ok(self) -> bool:
        # Equal checksums mean equal text; a row written another way (JSON key order, escapes) differs in text
        # only, and was compared value by value.
        return self.differing_rows == 0 and self.source_rows == self.target_rows


@dataclass
class Conversion:
    what: str  # JSON, timestamps, collation, ids
    columns: str  # table.column, ...
    source: str
    target: str
    note: str


@contextmanager
def read_only(target: Target) -> Iterator[None]:
    """Every transaction on the alias's connections is read-only (a write raises) until the end of the block."""
    from django.db import connections
    from django.db.backends.signals import connection_created

    sql = target.spec.read_only_session_sql()

    def on_connect(sender: Any, connection: Any, **kwargs: Any) -> None:
        if connection.alias == target.name:
            with connection.cursor() as cursor:
                cursor.execute(sql)

    connections[target.name].close()  # a fresh session, whatever the connection did before
    connection_created.connect(on_connect, weak=False)
    try:
        yield
    finally:
        connection_created.disconnect(on_connect)
        connections[target.name].close()  # the read-only session ends here


def smoke_test(dst: Target, next_ids: dict[str, int]) -> tuple[bool, list[str]]:
    """The app on the copy through the ORM: its reads work, and new rows get the ids after the copied ones.

    Everything written here is rolled back; the caller sets the id generators back afterwards (sequences and
    AUTO_INCREMENT are not transactional).
    """
    from django.db import DatabaseError, transaction
    from django.utils import timezone

    from dbbench.quiz.models import Question, Quiz, QuizAttempt, Student

    alias = dst.name
    notes: list[str] = []
    ok = True
    try:
        with transaction.atomic(using=alias):
            attempts = QuizAttempt.objects.using(alias)
            # No select_related here: joined and ordered by the attempt's pk, MariaDB 10.11 drives the join from
            # quiz_quiz and sorts all of it (minutes at 1M attempts); a pk lookup per relation is instant.
            latest = attempts.order_by("-pk").first()
            if latest is not None:
                recent = list(attempts.filter(student_id=latest.student_id).order_by("-started_at")[:20])
                keyed = attempts.filter(student_id=latest.student_id, answers__has_key="q1").count()
                notes.append(
                    f"read: attempt {latest.pk} of {latest.student.email} on {latest.quiz.title!r}; "
                    f"the student's {len(recent)} latest attempts, {keyed} with answers.q1"
                )
            now = timezone.now()
            title = f"rehearsal {uuid.uuid4().hex}"
            quiz = Quiz.objects.using(alias).create(title=title, topic="smoke", created_at=now)
            question = Question.objects.using(alias).create(
                quiz=quiz, position=1, text="Still there?", choices=["yes", "no"], correct_choice=0
            )
            student = Student.objects.using(alias).create(
                name="Rehearsal Smoke", email=f"smoke-{uuid.uuid4().hex}@example.org", signed_up_at=now
            )
            answers = {"q1": {"choice": 0, "time_ms": 1200, "changed": False}}
            attempt = attempts.create(
                student=student, quiz=quiz, started_at=now, finished_at=now, score=100, answers=answers
            )
            for obj in (quiz, question, student, attempt):
                table = obj._meta.db_table
                expected = next_ids.get(table)
                fine = obj.pk == expected
                ok &= fine
                flag = "" if fine else "  MISMATCH"
                notes.append(f"write: a new {table} row got id {obj.pk} (expected {expected}){flag}")
            fetched = attempts.select_related("student").get(pk=attempt.pk)
            fine = fetched.answers == answers and fetched.student.email == student.email
            ok &= fine
            notes.append(f"read back the new attempt: {'same' if fine else 'DIFFERENT'}")
            transaction.set_rollback(True, using=alias)
    except DatabaseError as exc:
        ok = False
        notes.append(f"error: {mask_secrets(' '.join(str(exc).split()), [dst])}")
    notes.append("the new rows were rolled back")
    return ok, notes


def conversions(src: Target, dst: Target, models: list[type[Model]]) -> list[Conversion]:
    """What the copy had to convert between the two servers' column types, one entry per kind of change."""
    source_cols, target_cols = _columns(src), _columns(dst)
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    for model in models:
        table = model._meta.db_table
        for f in model._meta.local_concrete_fields:
            key = (table, f.column)
            if key not in source_cols or key not in target_cols:
                continue
            (s_type, s_prec, s_coll), (t_type, t_prec, t_coll) = source_cols[key], target_cols[key]
            kind = f.get_internal_type()
            found: list[tuple[str, str, str, str]] = []
            if kind == "JSONField" and s_type != t_type:
                note = "copied as JSON text, non-ASCII escaped as Django writes it; key order and spacing may change"
                found.append(("JSON", s_type, t_type, note + "; verified by value"))
            if kind == "DateTimeField":
                kept = min((p for p in (s_prec, t_prec) if p is not None), default=None)
                zone = storage_zone()  # UTC, or a USE_TZ = False project's TIME_ZONE
                note = f"copied as naive {zone} text; both keep {kept} fractional digits, verified to that precision"
                found.append(("timestamps", s_type, t_type, note))
            if s_coll and t_coll and s_coll != t_coll:
                note = "string comparisons, ORDER BY and unique keys follow the new collation"
                if t_coll.endswith("_ci"):
                    note += " (case-insensitive: 'A' = 'a')"
                found.append(("collation", s_coll, t_coll, note + "; values copied byte for byte"))
            if f.primary_key and kind.endswith("AutoField"):
                note = "ids copied as they are; the sequence / AUTO_INCREMENT continues after the highest"
                found.append(("ids", s_type, t_type, note))
            for entry in found:
                groups.setdefault(entry, []).append(f"{table}.{f.column}")
    return [Conversion(what, ", ".join(cols), s, t, note) for (what, s, t, note), cols in groups.items()]


def _columns(target: Target) -> dict[tuple[str, str], tuple[str, int | None, str]]:
    from django.db import connections

    with connections[target.name].cursor() as cursor:
        cursor.execute(target.spec.columns_sql())
        return {(t, c): (str(typ), None if p is None else int(p), str(coll or "")) for t, c, typ, p, coll in cursor}


def short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 3] + "..."
