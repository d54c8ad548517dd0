"""Write probes: bulk inserts, upserts, integer ranges, foreign-key timing. All inside rolled-back transactions.

Fixture slots: a=1, b=2, c=3 (unique ``code``).
"""

from __future__ import annotations

from typing import Any

from django.db import connections

from dbbench.parity.lab.models import Slot
from dbbench.parity.probes import attempt, probe, rolled_back


@probe(
    "writes", "bulk_create sets primary keys on the new objects", hint="none needed on MariaDB (MySQL leaves them None)"
)
def bulk_create_pks(alias: str) -> Any:
    with rolled_back(alias):
        objs = Slot.objects.using(alias).bulk_create([Slot(code="x1"), Slot(code="x2")])
        return [obj.pk is not None for obj in objs]


@probe(
    "writes",
    "bulk_create(ignore_conflicts=True): primary keys and rows inserted (one conflicts)",
    hint="none needed",
)
def bulk_create_ignore_conflicts(alias: str) -> Any:
    with rolled_back(alias):
        objs = Slot.objects.using(alias).bulk_create([Slot(code="a"), Slot(code="y")], ignore_conflicts=True)
        return {"pks_set": [obj.pk is not None for obj in objs], "rows": Slot.objects.using(alias).count()}


@probe(
    "writes",
    "upsert with unique_fields: bulk_create(update_conflicts=True, unique_fields=['code'])",
    hint="branch on connection.features.supports_update_conflicts_with_target: pass unique_fields only where "
    "it is True (PostgreSQL requires it, MySQL/MariaDB refuse it)",
)
def upsert_with_unique_fields(alias: str) -> Any:
    with rolled_back(alias):
        Slot.objects.using(alias).bulk_create(
            [Slot(code="a", value=99)], update_conflicts=True, unique_fields=["code"], update_fields=["value"]
        )
        return Slot.objects.using(alias).get(code="a").value


@probe(
    "writes",
    "upsert without unique_fields: bulk_create(update_conflicts=True, update_fields=['value'])",
    hint="branch on connection.features.supports_update_conflicts_with_target (see upsert_with_unique_fields)",
)
def upsert_without_unique_fields(alias: str) -> Any:
    with rolled_back(alias):
        Slot.objects.using(alias).bulk_create(
            [Slot(code="a", value=99)], update_conflicts=True, update_fields=["value"]
        )
        return Slot.objects.using(alias).get(code="a").value


def _save_slot(alias: str, **values: int) -> str:
    with rolled_back(alias):
        return attempt(alias, lambda: Slot.objects.using(alias).create(code="overflow", **values))


@probe("writes", "SmallIntegerField = 40000 (above 32767)", hint="none needed (strict mode); catch DatabaseError")
def int_overflow_small(alias: str) -> Any:
    return _save_slot(alias, small=40000)


@probe("writes", "BigIntegerField = 2**63 (above the signed 64-bit range)", hint="none needed; catch DatabaseError")
def int_overflow_big(alias: str) -> Any:
    return _save_slot(alias, big=2**63)


@probe(
    "writes",
    "PositiveIntegerField = -1",
    hint="catch DatabaseError rather than IntegrityError (PostgreSQL: CHECK constraint; MySQL family: UNSIGNED "
    "column, out-of-range error)",
)
def positive_negative(alias: str) -> Any:
    return _save_slot(alias, positive=-1)


@probe(
    "writes",
    "PositiveIntegerField = 3,000,000,000 (above 2**31-1)",
    hint="values above 2**31-1 fit the MySQL family's UNSIGNED column but not PostgreSQL's integer: "
    "validate the range in the model (MaxValueValidator) or use PositiveBigIntegerField",
)
def positive_above_int32(alias: str) -> Any:
    return _save_slot(alias, positive=3_000_000_000)


@probe("writes", "filter(small=40000): a lookup outside the column's range", hint="none needed")
def int_filter_out_of_range(alias: str) -> Any:
    return Slot.objects.using(alias).filter(small=40000).count()


@probe(
    "writes",
    "foreign key to a row created later in the same transaction",
    hint="create parents before children; the MySQL family checks foreign keys at once, not at commit",
)
def fk_forward_reference(alias: str) -> Any:
    def child_then_parent() -> None:
        Slot.objects.using(alias).create(code="child", parent_id=999_999)
        Slot.objects.using(alias).create(id=999_999, code="parent")
        connections[alias].check_constraints()

    with rolled_back(alias):
        return attempt(alias, child_then_parent)
