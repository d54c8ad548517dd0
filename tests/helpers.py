"""Helpers the tests share (fixtures live in conftest.py): paths, the configured targets, the CLI in a subprocess."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from dbbench.backends.targets import Target, targets_from_env

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
TARGETS = targets_from_env()
ALIASES = [t.name for t in TARGETS]
# pytest-django sets up a test database per alias; tests that touch the ORM name them all.
ALL_DATABASES = ["default", *ALIASES]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python -m dbbench ARGS`` in a subprocess, the way a user runs it."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "-m", "dbbench", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=ROOT,
    )


def admin_sql(target: Target, sql: str, database: str | None = None) -> None:
    """Run ``sql`` as ``target``'s own user (autocommit), in ``database`` or none: test set-up only."""
    with target.spec.connection(target, database) as conn:
        conn.cursor().execute(sql)


def row_counts(target: Target, tables: list[str] | tuple[str, ...]) -> dict[str, int]:
    """``COUNT(*)`` of each of ``tables`` in ``target``'s database."""
    with target.spec.connection(target, target.database) as conn:
        cur = conn.cursor()
        counts = {}
        for table in tables:
            cur.execute(f"SELECT COUNT(*) FROM {target.spec.quote_name(table)}")
            counts[table] = int(cur.fetchone()[0])
        return counts


def url_for(target: Target, user: str, password: str, database: str | None = None) -> str:
    """``target``'s server as another user (and database), in URL form."""
    scheme = target.url.split("://", 1)[0]
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{target.host}:{target.port}/" + (
        database or target.database
    )


@contextmanager
def scratch_user(target: Target, *, createdb: bool = False, password: str | None = None) -> Iterator[tuple[str, str]]:
    """A login user of its own on ``target``'s server, with a password (servers may not trust local users);
    ``(name, password)``, dropped afterwards. ``createdb``: it may create databases (``<name>...`` on MariaDB)."""
    name, password = f"dbbench_u{uuid.uuid4().hex[:10]}", password or uuid.uuid4().hex
    quoted = password.replace("'", "''")
    if target.family == "postgresql":
        create = f"CREATE ROLE {name} LOGIN PASSWORD '{quoted}'" + (" CREATEDB" if createdb else "")
        drop = [f"DROP ROLE IF EXISTS {name}"]
    else:
        create = f"CREATE USER '{name}'@'%' IDENTIFIED BY '{quoted}'"
        drop = [f"DROP USER IF EXISTS '{name}'@'%'"]
    admin_sql(target, create)
    if createdb and target.family != "postgresql":
        admin_sql(target, f"GRANT ALL PRIVILEGES ON `{name}%`.* TO '{name}'@'%'")  # no parameters: % is literal
    try:
        yield name, password
    finally:
        for sql in drop:
            admin_sql(target, sql)


@functools.cache
def mariadb_has_zone_tables() -> bool:
    """Whether the MySQL-family target has its time-zone tables loaded: dbbench's managed servers do (as a
    production server should), a fresh system install may not. Named time zones then work as on PostgreSQL."""
    mysql = next((t for t in TARGETS if t.family == "mysql"), None)
    if mysql is None:
        return False
    with mysql.spec.connection(mysql, None) as conn:
        cur = conn.cursor()
        cur.execute("SELECT CONVERT_TZ('2000-01-01 00:00:00', 'UTC', 'Europe/Paris')")
        return cur.fetchone()[0] is not None


@contextmanager
def small_sites(suffix: str) -> Iterator[list[Target]]:
    """Scratch databases ``<database>_<suffix><pid>`` on every backend holding ``fixtures/quiz_small.json``,
    migrated and loaded the way a user would (``dbbench setup``, ``django loaddata``), dropped afterwards."""
    from dbbench.backends.database import drop_database

    scratch = [t.with_database(f"{t.database}_{suffix}{os.getpid()}") for t in TARGETS]
    try:
        load_small_fixture(scratch)
        yield scratch
    finally:
        for t in scratch:
            drop_database(t)


def load_small_fixture(targets: list[Target]) -> None:
    """Create ``targets``' databases, migrate them (``dbbench setup``) and load ``fixtures/quiz_small.json``."""
    from dbbench.backends.database import ensure_database

    for t in targets:
        ensure_database(t)
    env = {"DBBENCH_TARGETS": ",".join(f"{t.name}={t.url}" for t in targets)}
    assert run_cli("setup", env=env).returncode == 0
    for t in targets:
        loaded = subprocess.run(
            [sys.executable, "-m", "django", "loaddata", str(FIXTURES / "quiz_small.json"), "--database", t.name],
            env={**os.environ, **env, "DJANGO_SETTINGS_MODULE": "dbbench.settings.all"},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert loaded.returncode == 0, loaded.stderr
