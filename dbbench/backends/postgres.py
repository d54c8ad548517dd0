"""PostgreSQL's side of :class:`~dbbench.backends.spec.BackendSpec`: psycopg 3, COPY, its catalog queries."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

from dbbench.backends.spec import (
    CONNECT_TIMEOUT_S,
    FOREIGN_KEY,
    INDEX,
    BackendSpec,
    Deferrable,
    ServerInfo,
    Target,
)


class PostgresSpec(BackendSpec):
    # The base's types restated where a family built on this one (CockroachDB speaks PostgreSQL's protocol) would
    # set its own value: mypy otherwise takes this class's literal as the type every subclass must match.
    family = "postgresql"
    engine = "django.db.backends.postgresql"
    schemes: ClassVar[tuple[str, ...]] = ("postgres", "postgresql", "pgsql")
    default_port = 5432
    default_user = "postgres"
    vendors: ClassVar[tuple[str, ...]] = ("PostgreSQL",)
    lock_timeout_sql = "SET lock_timeout = '2s'"
    isolation_level_sql = "SHOW transaction_isolation"
    baseline = True  # the database a team on Django would be leaving
    default_target: ClassVar[tuple[str, str] | None] = ("postgres", "postgres://postgres@127.0.0.1:5432/dbbench")
    django_pool = True
    pooler: str | None = "pgbouncer"
    supports_bulk_load = True
    bulk_load_name = "COPY"
    defers_constraints = True
    copies_out = True
    copies_projects = True

    def __init__(self) -> None:
        import psycopg

        self.driver_errors = (psycopg.Error,)

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
        import psycopg

        # ClientCursor binds parameters on the client, as Django's PostgreSQL backend and mysqlclient do: the raw
        # figures then compare drivers that send the same plain SQL text (psycopg's default binds on the server
        # and prepares a statement after five runs, an advantage neither of the others has).
        # libpq parameters from the URL's query (sslmode=...); the URL's own connect_timeout wins over ours.
        options: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S, **target.options}
        return psycopg.connect(
            host=target.host,
            port=target.port,
            user=target.user,
            password=target.password,
            dbname=database or "postgres",
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
            **options,
        )

    def database_exists_sql(self) -> str:
        return "SELECT 1 FROM pg_database WHERE datname = %s"

    def create_database_sql(self, name: str) -> str:
        return f"CREATE DATABASE {self.quote_name(name)} ENCODING 'UTF8' TEMPLATE template0"

    def drop_database_sql(self, name: str) -> str:
        return f"DROP DATABASE IF EXISTS {self.quote_name(name)}"

    def list_tables_sql(self) -> str:
        # The catalog, not information_schema: that one lists only the tables this role has a privilege on, so
        # another role's table in the database would go unseen (and be dropped with it).
        return (
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)' ORDER BY 1"
        )

    def resolved_database_name(self, cursor: Any, name: str) -> str:
        return name  # dbbench quotes database names: PostgreSQL keeps their case, "DBBENCH" and "dbbench" are two

    def bounded_lock_wait_sql(self, seconds: int) -> str:
        return f"SET lock_timeout = '{int(seconds)}s'"

    def other_objects_sql(self) -> str:
        # What an extension made belongs to it (deptype 'e'); what a table owns (its serial's sequence, its row
        # type) goes with the table, which list_tables_sql already counts.
        user_ns = (
            "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'"
        )
        free = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype IN ('a', 'i', 'e'))"
        return (
            "SELECT 'sequence', c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE c.relkind = 'S' AND {user_ns} AND {free.format(oid='c.oid')} "
            "UNION ALL SELECT 'function', p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            f"WHERE {user_ns} AND {free.format(oid='p.oid')} "
            "UNION ALL SELECT 'type', t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            f"WHERE {user_ns} AND t.typtype IN ('c', 'd', 'e', 'r', 'm') AND {free.format(oid='t.oid')} "
            "AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c') "
            "UNION ALL SELECT 'large object', m.oid::text FROM pg_largeobject_metadata m "
            "UNION ALL SELECT 'schema', n.nspname FROM pg_namespace n "
            f"WHERE {user_ns} AND n.nspname <> 'public' AND {free.format(oid='n.oid')} "
            "UNION ALL SELECT 'extension', e.extname FROM pg_extension e WHERE e.extname <> 'plpgsql'"
        )

    def server_identity(self, cursor: Any) -> str:
        import psycopg

        try:  # the cluster's system identifier: set by initdb, kept for life, shared by no other cluster
            cursor.execute("SELECT system_identifier::text FROM pg_control_system()")
            return "pg:" + cursor.fetchone()[0]
        except psycopg.errors.InsufficientPrivilege:
            cursor.connection.rollback()
        cursor.execute("SELECT pg_postmaster_start_time()::text, current_setting('port')")
        started, port = cursor.fetchone()
        return f"pg-start:{started}:{port}"

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
    durability_settings: ClassVar[tuple[str, ...]] = ("fsync", "synchronous_commit")
    buffer_setting = "shared_buffers"

    # A managed server (dbbench.servers): C.UTF-8 is the one UTF-8 locale every Debian has: byte-order collation,
    # no dependence on installed locales.
    managed_locale = "C.UTF-8"
    managed_description = (
        f"PostgreSQL: durable commits (fsync, synchronous_commit=on, full_page_writes), UTF8 {managed_locale}"
    )

    def managed_settings(self, memory_bytes: int, max_connections: int) -> dict[str, str]:
        return {
            "shared_buffers": f"{memory_bytes // 1024}kB",
            "fsync": "on",
            "synchronous_commit": "on",  # a commit returns once its WAL is on disk
            "full_page_writes": "on",  # torn-page protection, as InnoDB's doublewrite buffer
            "max_connections": str(max_connections),
        }

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
        return ServerInfo(self.vendors[0], version, settings, durable, buffer_bytes)

    def bulk_load(
        self,
        cursor: Any,
        table: str,
        columns: Sequence[str],
        path: str,
        convert: Mapping[str, str] | None = None,
        time_zone: str = "UTC",
    ) -> int:
        if convert:  # load_text_sql asks for none: COPY reads every portable text as it is
            raise ValueError(f"COPY cannot convert {', '.join(convert)}")
        # timestamptz reads the file's naive timestamps in the session time zone (Django's is UTC; a raw one's
        # is the server default).
        cursor.execute("SELECT set_config('TimeZone', %s, false)", [time_zone])
        names = ", ".join(self.quote_name(c) for c in columns)
        with open(path, "rb") as handle, cursor.copy(f"COPY {self.quote_name(table)} ({names}) FROM STDIN") as copy:
            # Big writes: each one waits for the GIL, which the seeder's generating thread holds most of the time.
            while chunk := handle.read(4 << 20):
                copy.write(chunk)
        return int(cursor.rowcount)

    def deferrables(self, cursor: Any, table: str) -> list[Deferrable]:
        # Indexes behind a primary key, unique or exclusion constraint stay: they are the constraint itself.
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint k "
            "WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')) "
            "ORDER BY c.relname",
            [table],
        )
        items = [Deferrable(INDEX, name, sql) for name, sql in cursor.fetchall()]
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
            [table],
        )
        return items + [Deferrable(FOREIGN_KEY, name, sql) for name, sql in cursor.fetchall()]

    def drop_deferrables_sql(self, table: str, items: Sequence[Deferrable]) -> list[str]:
        quoted = self.quote_name(table)
        return [
            f"ALTER TABLE {quoted} DROP CONSTRAINT IF EXISTS {self.quote_name(i.name)}"
            for i in items
            if i.kind == FOREIGN_KEY
        ] + [f"DROP INDEX IF EXISTS {self.quote_name(i.name)}" for i in items if i.kind == INDEX]

    def create_deferrables_sql(self, table: str, items: Sequence[Deferrable]) -> list[str]:
        # pg_get_indexdef gives the whole CREATE INDEX statement. NOT VALID adds a foreign key without reading
        # the table; VALIDATE CONSTRAINT then checks all rows in one join, and the catalog ends up as before.
        quoted = self.quote_name(table)
        return [i.definition for i in items if i.kind == INDEX] + [
            f"ALTER TABLE {quoted} ADD CONSTRAINT {self.quote_name(i.name)} {i.definition} NOT VALID"
            for i in items
            if i.kind == FOREIGN_KEY
        ]

    def validate_foreign_key(self, cursor: Any, table: str, name: str) -> None:
        cursor.execute(f"ALTER TABLE {self.quote_name(table)} VALIDATE CONSTRAINT {self.quote_name(name)}")

    def quiesce(self, cursor: Any, timeout_s: float) -> float:
        import psycopg

        started = time.perf_counter()
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):  # needs superuser or pg_checkpoint
            cursor.execute("CHECKPOINT")  # returns when the dirty buffers are on disk
        return time.perf_counter() - started

    def begin_read_only_snapshot(self, conn: Any) -> None:
        # REPEATABLE READ holds one snapshot for the whole transaction: tables copied one after another still
        # agree with each other while the app keeps writing.
        import psycopg

        conn.autocommit = False
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True

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

    def isolation_options(self, level: str | None, options: dict[str, Any]) -> dict[str, Any]:
        from django.db.backends.postgresql.psycopg_any import IsolationLevel

        rest = {k: v for k, v in options.items() if k != "isolation_level"}
        # No key: Django leaves the session at the server's default_transaction_isolation.
        return rest if level is None else {**rest, "isolation_level": IsolationLevel[level.upper()]}

    def statistics_sql(self, table: str) -> list[str]:
        # VACUUM also sets the visibility map, without which index-only scans visit the heap after a COPY.
        return [f"VACUUM (ANALYZE) {self.quote_name(table)}"]

    def copy_out(self, cursor: Any, select: str) -> Iterator[bytes]:
        # COPY's text format is the bulk loaders' (tabs, backslash escapes, \N): the server writes the rows, no
        # value passes through Python. In UTF-8, what LOAD DATA ... CHARACTER SET utf8mb4 reads.
        cursor.execute("SET client_encoding TO 'UTF8'")
        with cursor.copy(f"COPY ({select}) TO STDOUT") as copy:
            yield from copy

    def boolean_text_sql(self, column: str) -> str:
        return f"{self.quote_name(column)}::int"

    def row_digest_sql(self, texts: Sequence[str]) -> str:
        # Each value prefixed with its length keeps the values apart without escaping, and the row is hashed once:
        # half the server time of one md5 per value (200k rows of the sample's 28-column books: 14.4 s -> 6.8 s).
        parts = " || ".join(f"coalesce(length(({t})::text) || ':' || ({t})::text, '~')" for t in texts)
        return f"('x' || substr(md5({parts}), 1, 15))::bit(60)::bigint"

    def chunk_sql(self, column: str, size: int) -> str:
        return f"{self.quote_name(column)} / {size:d}"

    # information_schema's data_type: arrays, hstore, citext and enums ("USER-DEFINED"), ranges, search vectors.
    unportable_types = {
        "ARRAY": "pg-field",
        "USER-DEFINED": "pg-field",
        **dict.fromkeys(("int4range", "int8range", "numrange", "tsrange", "tstzrange", "daterange"), "pg-field"),
        **dict.fromkeys(("int4multirange", "int8multirange", "nummultirange", "datemultirange"), "pg-field"),
        "tsvector": "pg-search",
        "tsquery": "pg-search",
    }

    def zoned_text_sql(self, column: str, zone: str) -> str:
        zone = zone.replace("'", "''")
        return f"to_char({self.quote_name(column)} AT TIME ZONE '{zone}', 'YYYY-MM-DD HH24:MI:SS.US')"

    def time_text_sql(self, column: str) -> str:
        return f"to_char({self.quote_name(column)}, 'HH24:MI:SS.US')"

    def duration_text_sql(self, column: str) -> str:
        # extract() returns an exact numeric (PostgreSQL 14+); Django writes no months.
        return f"extract(epoch FROM {self.quote_name(column)})::numeric(30, 6)"

    def uuid_text_sql(self, column: str) -> str:
        return f"replace({self.quote_name(column)}::text, '-', '')"

    def binary_text_sql(self, column: str) -> str:
        return f"'\\x' || encode({self.quote_name(column)}, 'hex')"

    def inet_text_sql(self, column: str) -> str:
        # inet::text adds the netmask ("/32"); host() is the address as Django wrote it.
        return f"host({self.quote_name(column)})"

    def skip_foreign_key_checks(self, cursor: Any) -> str | None:
        # Foreign keys are triggers; a replica session fires none. Needs a superuser (or, on PostgreSQL 15+, the
        # SET privilege on the parameter).
        cursor.execute("SET session_replication_role = replica")
        return "SET session_replication_role = DEFAULT"

    def text_bucket_sql(self, text: str, buckets: int) -> str:
        return f"(('x' || substr(md5(({text})::text), 1, 8))::bit(32)::bigint % {buckets:d})"

    def json_rewritten_sql(self, column: str) -> str:
        return f"{self.quote_name(column)}::text ~ '[^\\u0001-\\u007f]'"

    def nonfinite_sql(self, column: str) -> str:
        return f"{self.quote_name(column)} IN ('Infinity', '-Infinity', 'NaN')"

    def fold_text_sql(self, column: str) -> str:
        # NFD splits an accented letter into the letter and its combining mark, which the regexp drops.
        return (
            f"regexp_replace(normalize(lower(rtrim({self.quote_name(column)}::text)), NFD), "
            "'[\\u0300-\\u036f]', '', 'g')"
        )

    def collation_equal_sql(self) -> str:
        return 'SELECT %s::text = %s::text COLLATE "{}"'
