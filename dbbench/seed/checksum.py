"""Content checksums of the quiz tables: equal on every backend when the data is, whatever the ids.

Each row is reduced to its values with foreign keys replaced by natural keys (a student's email, a quiz's title),
timestamps in UTC ISO form and JSON with sorted keys; rows are hashed one by one and the hashes summed, so the
result depends neither on row order nor on primary keys. MariaDB's LOAD DATA can leave gaps in auto-increment
ids and copying tools renumber rows, so ids must never decide equality.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.db.models import Model

from dbbench.backends.targets import Target
from dbbench.quiz import QUIZ_TABLES

CHUNK = 5_000
_MOD = 1 << 128
# Foreign-key column -> the referenced table's natural key (unique by construction in dbbench.seed.datagen).
_NATURAL_KEYS = {"quiz_id": "title", "student_id": "email"}
_ORDER = QUIZ_TABLES


def _columns() -> dict[type[Model], tuple[str, ...]]:
    from dbbench.quiz.models import Question, Quiz, QuizAttempt, Student

    # Quiz and Student first: reading them fills the natural-key maps the others need.
    return {
        Quiz: ("title", "topic", "created_at"),
        Student: ("name", "email", "signed_up_at"),
        Question: ("quiz_id", "position", "text", "choices", "correct_choice"),
        QuizAttempt: ("student_id", "quiz_id", "started_at", "finished_at", "score", "answers", "meta"),
    }


def content_checksums(alias_or_target: str | Target) -> dict[str, str]:
    """``{table: "ROWS:HEX"}`` for each quiz table, read through the ORM alias (Django must be set up)."""
    alias = alias_or_target if isinstance(alias_or_target, str) else alias_or_target.name
    keys: dict[str, dict[int, str]] = {column: {} for column in _NATURAL_KEYS}
    sums: dict[str, str] = {}
    for model, columns in _columns().items():
        fills = [(keys[fk], columns.index(key)) for fk, key in _NATURAL_KEYS.items() if key in columns]
        count = total = 0
        for pk, *values in _pages(model, alias, columns):
            row = tuple(keys[c][v] if c in keys else v for c, v in zip(columns, values, strict=True))
            total = (total + row_digest(row)) % _MOD
            count += 1
            for mapping, index in fills:
                mapping[pk] = row[index]
        sums[model._meta.db_table] = f"{count}:{total:032x}"
    return {table: sums[table] for table in _ORDER}


def row_digest(values: tuple[Any, ...]) -> int:
    """One row's hash as an integer; equal values give equal hashes on every backend."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_canonical)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=16).digest(), "big")


def _canonical(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    raise TypeError(f"no canonical form for {type(value).__name__}")


def _pages(model: type[Model], alias: str, columns: tuple[str, ...]) -> Iterator[tuple[Any, ...]]:
    """One table's rows in primary-key pages: bounded memory (MySQLdb buffers whole results otherwise) and no
    joins (with a join, MariaDB 10.11 sorted the whole table for every page: minutes per page at 1M rows)."""
    last = 0
    base = model._default_manager.using(alias).order_by("pk")
    while True:
        page = list(base.filter(pk__gt=last).values_list("pk", *columns)[:CHUNK])
        yield from page
        if len(page) < CHUNK:
            return
        last = page[-1][0]


# --- Row by row, for comparing a copy with its source (dbbench.rehearsal.verify) -----------------------------
