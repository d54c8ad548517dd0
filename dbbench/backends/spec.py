"""Everything that differs between PostgreSQL and the MySQL family, in one place.

Code elsewhere asks a :class:`BackendSpec` (or Django's ``connection.features``) instead of branching on the
vendor. The raw-driver helpers here are used where Django is not configured yet: creating the database,
``dbbench doctor``, and the raw-SQL twins of the benchmarks.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dbbench.errors import ConnectionFailed, DbbenchError, mask_secrets

if TYPE_CHECKING:
    from dbbench.backends.targets import Target

CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class ServerInfo:
    """What ``dbbench doctor`` learns about one server."""

    vendor: str  # "PostgreSQL", "MariaDB" or "MySQL": the server's own word, never guessed from the URL
    version: str
    settings: dict[str, str]
    durable: bool  # every commit reaches the disk before the client hears "ok"
    buffer_bytes: int  # the server's own cache of table pages (shared_buffers / innodb_buffer_pool_size)

    def as_dict(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "version": self.version,
            "settings": self.settings,
            "durable": self.durable,
            "buffer_bytes": self.buffer_bytes,
        }


class BackendSpec:
    """A family of servers that one Django backend and one driver serve."""

    family: str
    engine: str
    schemes: tuple[str, ...]
    default_port: int
    default_user: str
    driver_errors: tuple[type[BaseException], ...] = ()

    def django_settings(self, target: Target) -> dict[str, object]:
        raise NotImplementedError

    def raw_connect(self, target: Target, database: str | None) -> Any:
        raise NotImplementedError

    def database_exists_sql(self) -> str:
        raise NotImplementedError

    def create_database_sql(self, name: str) -> str:
        raise NotImplementedError

    def drop_database_sql(self, name: str) -> str:
        raise NotImplementedError

    def list_tables_sql(self) -> str:
        raise NotImplementedError

    def server_info(self, cursor: Any, database: str | None) -> ServerInfo:
        raise NotImplementedError

    def quote_name(self, name: str) -> str:
        raise NotImplementedError

    def try_lock_sql(self) -> str:
        """SQL that takes a session-level named lock without waiting; returns one row, truthy when taken."""
        raise NotImplementedError

    def table_bytes_sql(self) -> str:
        """One value: bytes of the table named by the single parameter, indexes included (current database)."""
        raise NotImplementedError

    def settle_sql(self, table: str) -> list[str]:
        """Statements that leave a table as a fresh load would: compact, with fresh planner statistics.

        Run between benchmark sizes (autocommit connection): after the seeder shrank or grew a table, or after
        rows were inserted and deleted, both engines then read equally compact tables.
        """
        raise NotImplementedError

    def reclaim_sql(self, table: str) -> list[str]:
        """Statements that make the space of deleted rows reusable now (autocommit connection), if any are needed."""
        raise NotImplementedError

    # Bulk loading, the seeder's fast path (dbbench.backends.bulkload). The file is tab-separated with backslash
    # escapes, \N for NULL and naive UTC timestamps: PostgreSQL's COPY text format and LOAD DATA's defaults alike.
    bulk_load_name = "bulk_create"

    def bulk_load_available(self, cursor: Any) -> bool:
        """Whether this server takes :meth:`bulk_load` (else dbbench falls back to ``bulk_create``)."""
        return False

    def bulk_load(self, cursor: Any, table: str, columns: Sequence[str], path: str) -> int:
        """Load the file at ``path`` into ``table`` within the cursor's transaction; returns rows loaded."""
        raise NotImplementedError

    def quiesce(self, cursor: Any, timeout_s: float) -> float:
        """Let the server write out what earlier loads left in memory, so the next timed step does not pay for
        it (autocommit connection); returns the seconds waited."""
        raise NotImplementedError

    # Migration rehearsal (dbbench.rehearsal.rehearse): read a source without writing to it, in one snapshot, as text in
    # the bulk-load format; then make the copy's generated ids continue after the explicit ids it was given.
    def begin_read_only_snapshot(self, conn: Any) -> None:
        """Start a read-only transaction on a raw connection that sees one snapshot of every table."""
        raise NotImplementedError

    def read_only_session_sql(self) -> str:
        """Makes every later transaction of a (Django) session read-only: a write fails instead of happening."""
        raise NotImplementedError

    def streaming_cursor(self, conn: Any, name: str, batch_size: int) -> Any:
        """A server-side cursor: rows come over as they are fetched, not all at once (bounded memory)."""
        raise NotImplementedError

    def utc_text_sql(self, column: str) -> str:
        """A timestamp column as naive UTC text with microseconds (``2024-01-02 03:04:05.000006``)."""
        raise NotImplementedError

    def json_text_sql(self, column: str) -> str:
        """A JSON column as JSON text (the driver would otherwise hand over parsed objects, or text)."""
        raise NotImplementedError

    def continue_ids(self, cursor: Any, table: str, column: str) -> int:
        """Make ``table``'s generated ids continue after the highest ``column`` value; returns the next id."""
        raise NotImplementedError

    def columns_sql(self) -> str:
        """(table, column, type, datetime precision, collation or '') of each column in the current database."""
        raise NotImplementedError

    def statistics_sql(self, table: str) -> list[str]:
        """Statements that give a freshly loaded table its planner statistics (autocommit connection)."""
        raise NotImplementedError

    @contextmanager
    def connection(self, target: Target, database: str | None) -> Iterator[Any]:
        """A raw driver connection in autocommit mode, closed on exit; errors become one line."""
        try:
            conn = self.raw_connect(target, database)
        except self.driver_errors as exc:
            raise ConnectionFailed(
                f"{target.name}: cannot connect to {target.safe_url}: {mask_secrets(_first_line(exc), [target])}"
            ) from None
        try:
            yield conn
        finally:
            conn.close()


def _first_line(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    # MySQLdb errors are (code, message) tuples; psycopg2 puts the server's text in str().
    text = str(args[1]) if len(args) == 2 and isinstance(args[0], int) else str(exc)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


class PostgresSpec(BackendSpec):
    family = "postgresql"
    engine = "django.db.backends.postgresql"
    schemes = ("postgres", "postgresql", "pgsql")
    default_port = 5432
    default_user = "postgres"

    def __init__(self) -> None:
        import psycopg2

        self.driver_errors = (psycopg2.Error,)

    def django_settings(self, target: Target) -> dict[str, object]:
        return {
            "ENGINE": self.engine,
            "NAME": target.database,
            "USER": target.user,
            "PASSWORD": target.password,
            "HOST": target.host,
            "PORT": str(target.port),
            "OPTIONS": {"connect_timeout": CONNECT_TIMEOUT_S, **target.options},
            "TEST": {"NAME": f"test_{target.database}_{target.name}"},
        }

    def raw_connect(self, target: Target, database: str | None) -> Any:
        import psycopg2

        conn = psycopg2.connect(
            host=target.host,
            port=target.port,
            user=target.user,
            password=target.password,
            dbname=database or "postgres",
            connect_timeout=CONNECT_TIMEOUT_S,
            **target.options,
        )
        conn.autocommit = True
        return conn

    def database_exists_sql(self) -> str:
        return "SELECT 1 FROM pg_database WHERE datname = %s"

    def create_database_sql(self, name: str) -> str:
        return f"CREATE DATABASE {self.quote_name(name)} ENCODING 'UTF8' TEMPLATE template0"

    def drop_database_sql(self, name: str) -> str:
        return f"DROP DATABASE IF EXISTS {self.quote_name(name)}"

    def list_tables_sql(self) -> str:
        return (
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
        )

    def quote_name(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def try_lock_sql(self) -> str:
        # Advisory locks are keyed by integers; hashtext() maps the name onto one (collisions only over-lock).
        return "SELECT pg_try_advisory_lock(hashtext(%s))"

    def table_bytes_sql(self) -> str:
        return "SELECT pg_total_relation_size(%s::regclass)"

    def settle_sql(self, table: str) -> list[str]:
        # VACUUM FULL rewrites the table and its indexes without dead space (DELETE never gives it back); the
        # plain VACUUM after it sets the visibility map, without which index-only scans visit the heap.
        name = self.quote_name(table)
        return [f"VACUUM FULL {name}", f"VACUUM (ANALYZE) {name}"]

    def reclaim_sql(self, table: str) -> list[str]:
        # Without it, rows inserted after a DELETE go to new pages until autovacuum comes by: the table bloats.
        return [f"VACUUM {self.quote_name(table)}"]

    # Settings that decide whether a comparison is fair: durability, memory, encoding, limits.
    SETTINGS = (
        "fsync",
        "synchronous_commit",
        "full_page_writes",
        "wal_level",
        "shared_buffers",
        "effective_cache_size",
        "work_mem",
        "max_connections",
        "server_encoding",
        "jit",
    )

    def server_info(self, cursor: Any, database: str | None) -> ServerInfo:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0].split()[0]
        cursor.execute("SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s)", (list(self.SETTINGS),))
        settings: dict[str, str] = {}
        for name, setting, unit in cursor.fetchall():
            settings[name] = f"{setting}{'' if unit in (None, '') else ' x ' + unit}"
        cursor.execute("SELECT current_setting(name) FROM unnest(%s::text[]) AS name", (list(self.SETTINGS),))
        for name, (pretty,) in zip(self.SETTINGS, cursor.fetchall(), strict=True):
            settings[name] = pretty
        cursor.execute("SELECT pg_size_bytes(current_setting('shared_buffers'))")
        buffer_bytes = int(cursor.fetchone()[0])
        cursor.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()")
        settings["collation"] = cursor.fetchone()[0]
        durable = settings["fsync"] == "on" and settings["synchronous_commit"] != "off"
        return ServerInfo("PostgreSQL", version, settings, durable, buffer_bytes)

    bulk_load_name = "COPY"

    def bulk_load_available(self, cursor: Any) -> bool:
        return True

    def bulk_load(self, cursor: Any, table: str, columns: Sequence[str], path: str) -> int:
        # timestamptz reads the file's naive timestamps in the session time zone (Django's is UTC; a raw one's
        # is the server default).
        cursor.execute("SET TIME ZONE 'UTC'")
        names = ", ".join(self.quote_name(c) for c in columns)
        with open(path, "rb") as handle:
            # Big reads: psycopg2 takes the GIL for each, and the seeder's generating thread holds it most of
            # the time (the 8 KiB default made COPY wait on it).
            cursor.copy_expert(f"COPY {self.quote_name(table)} ({names}) FROM STDIN", handle, size=4 << 20)
        return int(cursor.rowcount)

    def quiesce(self, cursor: Any, timeout_s: float) -> float:
        import psycopg2

        started = time.perf_counter()
        with contextlib.suppress(psycopg2.errors.InsufficientPrivilege):  # needs superuser or pg_checkpoint
            cursor.execute("CHECKPOINT")  # returns when the dirty buffers are on disk
        return time.perf_counter() - started

    def begin_read_only_snapshot(self, conn: Any) -> None:
        # REPEATABLE READ holds one snapshot for the whole transaction: tables copied one after another still
        # agree with each other while the app keeps writing.
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True, autocommit=False)

    def read_only_session_sql(self) -> str:
        return "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"

    def streaming_cursor(self, conn: Any, name: str, batch_size: int) -> Any:
        # A named cursor is a server-side one: the server keeps the result, fetchmany() pulls a batch at a time.
        cursor = conn.cursor(name=name)
        cursor.itersize = batch_size
        return cursor

    def utc_text_sql(self, column: str) -> str:
        return f"to_char({self.quote_name(column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"

    def json_text_sql(self, column: str) -> str:
        # jsonb's text form: keys in jsonb's order (shorter first), ", " and ": " separators.
        return f"{self.quote_name(column)}::text"

    def continue_ids(self, cursor: Any, table: str, column: str) -> int:
        # Explicit ids (COPY) leave the identity sequence where it was: the next insert would collide.
        cursor.execute(f"SELECT COALESCE(MAX({self.quote_name(column)}), 0) + 1 FROM {self.quote_name(table)}")
        next_id = int(cursor.fetchone()[0])
        cursor.execute("SELECT setval(pg_get_serial_sequence(%s, %s), %s, false)", [table, column, next_id])
        return next_id

    def columns_sql(self) -> str:
        # A column without its own collation uses the database's (pg_database.datcollate).
        return (
            "SELECT c.table_name, c.column_name, c.data_type, c.datetime_precision, "
            "CASE WHEN c.collation_name IS NOT NULL THEN c.collation_name "
            "WHEN c.data_type IN ('character varying', 'text', 'character') THEN d.datcollate ELSE '' END "
            "FROM information_schema.columns c JOIN pg_database d ON d.datname = current_database() "
            "WHERE c.table_schema = current_schema()"
        )

    def statistics_sql(self, table: str) -> list[str]:
        # VACUUM also sets the visibility map, without which index-only scans visit the heap after a COPY.
        return [f"VACUUM (ANALYZE) {self.quote_name(table)}"]


class MySQLSpec(BackendSpec):
    """MySQL and MariaDB: one Django backend, one driver; the server tells which it is."""

    family = "mysql"
    engine = "django.db.backends.mysql"
    schemes = ("mysql", "mariadb")
    default_port = 3306
    default_user = "root"

    def __init__(self) -> None:
        import MySQLdb

        self.driver_errors = (MySQLdb.Error,)

    def django_settings(self, target: Target) -> dict[str, object]:
        return {
            "ENGINE": self.engine,
            "NAME": target.database,
            "USER": target.user,
            "PASSWORD": target.password,
            "HOST": target.host,
            "PORT": str(target.port),
            "OPTIONS": {
                "charset": "utf8mb4",
                # Strict mode turns silent truncation into errors, as PostgreSQL does.
                "init_command": "SET sql_mode='STRICT_TRANS_TABLES,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO'",
                # Django's recommended level; the server default REPEATABLE READ breaks get_or_create.
                "isolation_level": "read committed",
                # The seeder's fast path (LOAD DATA LOCAL INFILE) needs it on the client side too.
                "local_infile": 1,
                "connect_timeout": CONNECT_TIMEOUT_S,
                **target.options,
            },
            "TEST": {"NAME": f"test_{target.database}_{target.name}", "CHARSET": "utf8mb4"},
        }

    def raw_connect(self, target: Target, database: str | None) -> Any:
        import MySQLdb

        kwargs: dict[str, Any] = {
            "host": target.host,
            "port": target.port,
            "user": target.user,
            "password": target.password,
            "charset": "utf8mb4",
            "connect_timeout": CONNECT_TIMEOUT_S,
            "local_infile": 1,
            "autocommit": True,
        }
        if database:
            kwargs["database"] = database
        return MySQLdb.connect(**kwargs)

    def database_exists_sql(self) -> str:
        return "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s"

    def create_database_sql(self, name: str) -> str:
        # utf8mb4 so that 4-byte characters (emoji) fit; the collation is the server's default for it.
        return f"CREATE DATABASE {self.quote_name(name)} CHARACTER SET utf8mb4"

    def drop_database_sql(self, name: str) -> str:
        return f"DROP DATABASE IF EXISTS {self.quote_name(name)}"

    def list_tables_sql(self) -> str:
        return "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1"

    def quote_name(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def try_lock_sql(self) -> str:
        # GET_LOCK names are server-wide (max 64 characters) and released when the session ends.
        return "SELECT GET_LOCK(%s, 0)"

    def table_bytes_sql(self) -> str:
        # InnoDB's figures are estimates refreshed by ANALYZE TABLE (persistent statistics).
        return (
            "SELECT data_length + index_length FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_name = %s"
        )

    def settle_sql(self, table: str) -> list[str]:
        # On InnoDB, OPTIMIZE TABLE rebuilds the table and its indexes, then analyzes it.
        return [f"OPTIMIZE TABLE {self.quote_name(table)}"]

    def reclaim_sql(self, table: str) -> list[str]:
        return []  # InnoDB's purge threads free deleted rows' space by themselves

    SETTINGS = (
        "innodb_flush_log_at_trx_commit",
        "sync_binlog",
        "log_bin",
        "innodb_doublewrite",
        "innodb_buffer_pool_size",
        "innodb_flush_method",
        "max_connections",
        "max_allowed_packet",
        "local_infile",
        "character_set_server",
        "collation_server",
        "sql_mode",
    )

    def server_info(self, cursor: Any, database: str | None) -> ServerInfo:
        cursor.execute("SELECT VERSION(), @@version_comment")
        version, comment = cursor.fetchone()
        # MariaDB says so in VERSION() ("10.11.19-MariaDB-0+deb12u1"); MySQL does not.
        vendor = "MariaDB" if "mariadb" in f"{version} {comment}".lower() else "MySQL"
        placeholders = ", ".join(["%s"] * len(self.SETTINGS))
        cursor.execute(
            "SELECT LOWER(variable_name), variable_value FROM information_schema.global_variables "
            f"WHERE LOWER(variable_name) IN ({placeholders})",
            self.SETTINGS,
        )
        settings = {name: str(value) for name, value in cursor.fetchall()}
        if database:
            cursor.execute(
                "SELECT default_character_set_name, default_collation_name FROM information_schema.schemata "
                "WHERE schema_name = %s",
                (database,),
            )
            row = cursor.fetchone()
            if row:
                settings["database_charset"], settings["collation"] = row
        settings.setdefault("collation", settings.get("collation_server", ""))
        binlog_on = settings.get("log_bin", "OFF").upper() == "ON"
        durable = settings.get("innodb_flush_log_at_trx_commit") == "1" and (
            not binlog_on or settings.get("sync_binlog") == "1"
        )
        buffer_bytes = int(settings.get("innodb_buffer_pool_size", "0") or 0)
        return ServerInfo(vendor, version.split("-")[0], settings, durable, buffer_bytes)

    bulk_load_name = "LOAD DATA LOCAL INFILE"

    def bulk_load_available(self, cursor: Any) -> bool:
        # Off by default on MySQL 8; the client side is enabled in django_settings/raw_connect.
        cursor.execute("SELECT @@GLOBAL.local_infile")
        return str(cursor.fetchone()[0]).upper() in ("1", "ON")

    def bulk_load(self, cursor: Any, table: str, columns: Sequence[str], path: str) -> int:
        names = ", ".join(self.quote_name(c) for c in columns)
        cursor.execute(
            f"LOAD DATA LOCAL INFILE %s INTO TABLE {self.quote_name(table)} CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
            f"({names})",
            [path],
        )
        loaded = int(cursor.rowcount)
        # LOCAL implies IGNORE: duplicate keys and unconvertible values become warnings, even in strict mode.
        cursor.execute("SHOW WARNINGS LIMIT 1")
        warning = cursor.fetchone()
        if warning:
            raise DbbenchError(f"LOAD DATA into {table} raised {warning[0].lower()} {warning[1]}: {warning[2]}")
        return loaded

    def quiesce(self, cursor: Any, timeout_s: float) -> float:
        # InnoDB flushes dirty pages in the background at innodb_io_capacity: wait until <= 1% of the pool.
        started = time.perf_counter()
        while time.perf_counter() - started < timeout_s:
            cursor.execute(
                "SELECT variable_name, variable_value FROM information_schema.global_status "
                "WHERE variable_name IN ('INNODB_BUFFER_POOL_PAGES_DIRTY', 'INNODB_BUFFER_POOL_PAGES_TOTAL')"
            )
            pages = {name.upper(): int(value) for name, value in cursor.fetchall()}
            if pages.get("INNODB_BUFFER_POOL_PAGES_DIRTY", 0) <= pages.get("INNODB_BUFFER_POOL_PAGES_TOTAL", 0) // 100:
                break
            time.sleep(0.5)
        return time.perf_counter() - started

    def begin_read_only_snapshot(self, conn: Any) -> None:
        conn.autocommit(False)
        cursor = conn.cursor()
        # Without CONSISTENT SNAPSHOT, InnoDB takes the snapshot at the first read, table by table.
        cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT")
        cursor.close()

    def read_only_session_sql(self) -> str:
        return "SET SESSION TRANSACTION READ ONLY"

    def streaming_cursor(self, conn: Any, name: str, batch_size: int) -> Any:
        import MySQLdb.cursors

        # SSCursor leaves the result on the server and reads rows as fetched (the default cursor buffers all).
        return conn.cursor(MySQLdb.cursors.SSCursor)

    def utc_text_sql(self, column: str) -> str:
        # Django stores naive UTC in datetime(6); no time zone conversion is involved.
        return f"DATE_FORMAT({self.quote_name(column)}, '%Y-%m-%d %H:%i:%s.%f')"

    def json_text_sql(self, column: str) -> str:
        # MariaDB keeps JSON as the text Django wrote (LONGTEXT); MySQL 8 hands its normalised text over.
        return self.quote_name(column)

    def continue_ids(self, cursor: Any, table: str, column: str) -> int:
        cursor.execute(f"SELECT COALESCE(MAX({self.quote_name(column)}), 0) + 1 FROM {self.quote_name(table)}")
        next_id = int(cursor.fetchone()[0])
        # Explicit ids already push AUTO_INCREMENT past them; setting it says so outright, and lowers it again
        # after a rolled-back insert (InnoDB accepts any value above the highest id).
        cursor.execute(f"ALTER TABLE {self.quote_name(table)} AUTO_INCREMENT = {next_id:d}")
        return next_id

    def columns_sql(self) -> str:
        return (
            "SELECT table_name, column_name, column_type, datetime_precision, COALESCE(collation_name, '') "
            "FROM information_schema.columns WHERE table_schema = DATABASE()"
        )

    def statistics_sql(self, table: str) -> list[str]:
        return [f"ANALYZE TABLE {self.quote_name(table)}"]


def _build_backends() -> dict[str, BackendSpec]:
    specs: list[BackendSpec] = [PostgresSpec(), MySQLSpec()]
    return {spec.family: spec for spec in specs}


BACKENDS: dict[str, BackendSpec] = _build_backends()


def spec_for_scheme(scheme: str) -> BackendSpec | None:
    """The backend for a URL scheme (``postgres``, ``mysql``, ``mariadb``...), or None."""
    for spec in BACKENDS.values():
        if scheme.lower() in spec.schemes:
            return spec
    return None
