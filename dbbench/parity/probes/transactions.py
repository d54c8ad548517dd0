"""Transaction probes: a caught error inside atomic(), sliced subqueries in ``__in``, an ordered UPDATE.

Fixture slots: a=1, b=2, c=3 (unique ``code``); ranks: pos 1, 2, 3 (unique ``pos``). Everything is rolled back.
"""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, connections
from django.db.models import F

from dbbench.parity.lab.models import Rank, Slot
from dbbench.parity.probes import attempt, probe, rolled_back


def _raw(alias: str, sql: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql)


def _outcome(action: Any) -> str:
    """``"ok"`` or the database error's class name, with no savepoint (the error hits the transaction itself)."""
    try:
        action()
    except DatabaseError as exc:
        return type(exc).__name__
    return "ok"


@probe(
    "transactions",
    "inside atomic(): write, catch a failing query, write again: does the transaction go on?",
    hint="wrap the statement that may fail in its own transaction.atomic() (a savepoint), so the error rolls back "
    "that statement only; PostgreSQL refuses every statement after an uncaught error until the transaction ends",
)
def atomic_after_error(alias: str) -> Any:
    slots = Slot.objects.using(alias)
    with rolled_back(alias):
        slots.create(code="before")
        failed = _outcome(lambda: _raw(alias, "SELECT * FROM paritylab_no_such_table"))
        after = _outcome(lambda: slots.create(code="after"))
        count = _outcome(lambda: slots.filter(code__in=["before", "after"]).count())
        return {"failing_query": failed, "write_after": after, "read_after": count}


def _first_two_slots(alias: str) -> Any:
    return Slot.objects.using(alias).order_by("code").values("pk")[:2]


_SLICED_HINT = (
    "evaluate the subquery first (pks = list(qs.values_list('pk', flat=True)[:2]); filter(pk__in=pks)), or "
    "filter on a window rank; MariaDB and MySQL refuse LIMIT inside IN (error 1235)"
)


@probe("transactions", "filter(pk__in=qs.order_by('code').values('pk')[:2]): a sliced subquery", hint=_SLICED_HINT)
def in_sliced_subquery(alias: str) -> Any:
    return sorted(Slot.objects.using(alias).filter(pk__in=_first_two_slots(alias)).values_list("code", flat=True))


@probe("transactions", "the same sliced subquery in a delete(): filter(pk__in=...[:2]).delete()", hint=_SLICED_HINT)
def delete_in_sliced_subquery(alias: str) -> Any:
    with rolled_back(alias):
        deleted, _ = Slot.objects.using(alias).filter(pk__in=_first_two_slots(alias)).delete()
        left = Slot.objects.using(alias).order_by("code").values_list("code", flat=True)
        return {"deleted": deleted, "left": list(left)}


@probe(
    "transactions",
    "order_by('-pos').update(pos=F('pos') + 1) on a unique pos",
    hint="do not rely on UPDATE order: shift in two steps (add a large offset to every row, then subtract it), "
    "or make the constraint deferrable on PostgreSQL; PostgreSQL ignores the order and checks each row at once",
)
def ordered_update_unique(alias: str) -> Any:
    with rolled_back(alias):
        outcome = attempt(alias, lambda: Rank.objects.using(alias).order_by("-pos").update(pos=F("pos") + 1))
        positions = Rank.objects.using(alias).order_by("pos").values_list("pos", flat=True)
        return {"update": outcome, "positions": list(positions)}
