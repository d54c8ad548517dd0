"""Row-locking probes: select_for_update options, and whether skip_locked really skips a locked row."""

from __future__ import annotations

from typing import Any

from django.db import connections, transaction

from dbbench.parity.lab.models import Slot
from dbbench.parity.probes import probe

_LOCK_HINT = "drop the option where connection.features.{feature} is False (lock the whole row instead)"


def _codes_locked(alias: str, **options: Any) -> list[str]:
    with transaction.atomic(using=alias):
        return list(
            Slot.objects.using(alias).select_for_update(**options).order_by("code").values_list("code", flat=True)
        )


@probe(
    "locking",
    "select_for_update(skip_locked=True)",
    hint=_LOCK_HINT.format(feature="has_select_for_update_skip_locked"),
)
def sfu_skip_locked(alias: str) -> Any:
    return _codes_locked(alias, skip_locked=True)


@probe("locking", "select_for_update(nowait=True)", hint=_LOCK_HINT.format(feature="has_select_for_update_nowait"))
def sfu_nowait(alias: str) -> Any:
    return _codes_locked(alias, nowait=True)


@probe("locking", "select_for_update(of=('self',))", hint=_LOCK_HINT.format(feature="has_select_for_update_of"))
def sfu_of(alias: str) -> Any:
    return _codes_locked(alias, of=("self",))


@probe(
    "locking",
    "select_for_update(no_key=True)",
    hint="use plain select_for_update() where connection.features.has_select_for_no_key_update is False "
    "(it blocks inserts of rows referencing the locked one)",
)
def sfu_no_key(alias: str) -> Any:
    return _codes_locked(alias, no_key=True)


@probe(
    "locking",
    "skip_locked while another connection holds a lock on row 'a'",
    hint="none needed",
)
def sfu_skip_locked_behaviour(alias: str) -> Any:
    other = connections.create_connection(alias)
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:
            # Plain SQL that both families accept: the other session locks one row by its unique code.
            cursor.execute("SELECT id FROM paritylab_slot WHERE code = %s FOR UPDATE", ["a"])
            cursor.fetchall()
        return _codes_locked(alias, skip_locked=True)
    finally:
        other.rollback()
        other.close()
