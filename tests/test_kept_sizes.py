"""``--keep-sizes`` keeps each smaller size in ``<db>_<size>``: a database of the user's by that name, with tables
or empty, is refused in one line before the suite runs (issue 31, L8), never adopted or failed test by test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbbench.backends.database import drop_database, is_owned
from dbbench.backends.targets import Target
from dbbench.bench.runner import run_benchmarks
from dbbench.errors import ForeignDatabaseError
from tests.helpers import admin_sql


@pytest.fixture
def base(target: Target) -> Iterator[Target]:
    own = target.with_database(f"{target.database}_k{uuid.uuid4().hex[:6]}")
    yield own
    drop_database(own)


@pytest.mark.parametrize("with_table", [True, False])
def test_a_users_database_at_a_kept_size_is_one_line(base: Target, with_table: bool, tmp_path: Path) -> None:
    theirs = base.with_database(f"{base.database}_1k")
    admin_sql(base, base.spec.create_database_sql(theirs.database))
    try:
        if with_table:
            admin_sql(base, "CREATE TABLE mine (id integer PRIMARY KEY)", theirs.database)
        with pytest.raises(ForeignDatabaseError, match=f"{theirs.database}' on .* is not dbbench's"):
            run_benchmarks([base], [1_000, 2_000], "quick", tmp_path, keep_sizes=True, control=False, echo=False)
        assert not is_owned(theirs)  # not marked, so not adopted
        assert not list(tmp_path.glob("*.json"))
    finally:
        admin_sql(base, base.spec.drop_database_sql(theirs.database))
