"""A scratch database (``<db>_parity``, ``<db>_seedbench``) that holds no tables but other objects is somebody's:
dbbench refuses it instead of adopting and dropping it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from dbbench.backends.database import drop_database, ensure_database
from dbbench.backends.targets import Target
from dbbench.errors import ForeignDatabaseError
from dbbench.parity.suite import scratch_alias
from dbbench.seed.benchmark import scratch_target as seedbench_target
from tests.helpers import admin_sql

OBJECTS = {
    "postgresql": {
        "sequence": ["CREATE SEQUENCE kept_seq"],
        "function": ["CREATE FUNCTION kept_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'"],
        "type": ["CREATE TYPE kept_mood AS ENUM ('ok', 'not ok')"],
        "large object": ["SELECT lo_from_bytea(0, 'kept')"],
        "schema": ["CREATE SCHEMA kept_schema"],
    },
    "mysql": {
        "procedure": ["CREATE PROCEDURE kept_proc() SELECT 1"],
        "function": ["CREATE FUNCTION kept_fn() RETURNS int DETERMINISTIC RETURN 1"],
        "event": ["CREATE EVENT kept_event ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 1"],
    },
}
CASES = [(family, kind) for family, kinds in OBJECTS.items() for kind in kinds]
COUNT = {
    "postgresql": "SELECT (SELECT count(*) FROM pg_class WHERE relkind = 'S') + (SELECT count(*) FROM pg_proc "
    "WHERE proname = 'kept_fn') + (SELECT count(*) FROM pg_type WHERE typname = 'kept_mood') + "
    "(SELECT count(*) FROM pg_largeobject_metadata) + "
    "(SELECT count(*) FROM pg_namespace WHERE nspname = 'kept_schema')",
    "mysql": "SELECT (SELECT count(*) FROM information_schema.routines WHERE routine_schema = DATABASE()) + "
    "(SELECT count(*) FROM information_schema.events WHERE event_schema = DATABASE())",
}


@pytest.fixture
def base(target: Target) -> Iterator[Target]:
    """A database name of this test's own: its ``_parity`` / ``_seedbench`` scratch names are the test's too."""
    yield target.with_database(f"{target.database}_o{uuid.uuid4().hex[:6]}")


def _plant(scratch: Target, kind: str) -> None:
    admin_sql(scratch, scratch.spec.create_database_sql(scratch.database))
    for sql in OBJECTS[scratch.family][kind]:
        admin_sql(scratch, sql, scratch.database)


def _objects(scratch: Target) -> int:
    with scratch.spec.connection(scratch, scratch.database) as conn:
        cur = conn.cursor()
        cur.execute(COUNT[scratch.family])
        return int(cur.fetchone()[0])


def _drop(scratch: Target) -> None:
    admin_sql(scratch, scratch.spec.drop_database_sql(scratch.database))


@pytest.mark.parametrize(("family", "kind"), CASES)
@pytest.mark.parametrize("which", ["parity", "seedbench"])
def test_a_scratch_database_with_other_objects_is_refused_and_kept(
    base: Target, family: str, kind: str, which: str
) -> None:
    if base.family != family:
        pytest.skip(f"{kind} is a {family} object")
    scratch = base.with_database(base.database + "_parity") if which == "parity" else seedbench_target(base)
    _plant(scratch, kind)
    try:
        with pytest.raises(ForeignDatabaseError, match=kind):
            if which == "parity":
                with scratch_alias(base):
                    pass
            else:
                drop_database(scratch)  # what seed-benchmark does first with a leftover
                ensure_database(scratch)
        assert _objects(scratch) >= 1, f"the {kind} was dropped"
    finally:
        _drop(scratch)
