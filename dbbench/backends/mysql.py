"""The MySQL family's side of :class:`~dbbench.backends.spec.BackendSpec`: MySQL 8 and MariaDB, one driver."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from dbbench.backends.spec import (
    CONNECT_TIMEOUT_S,
    FOREIGN_KEY,
    INDEX,
    BackendSpec,
    Deferrable,
    ServerInfo,
    Target,
)
from dbbench.errors import DbbenchError

# SHOW CREATE TABLE's lines for a plain secondary index and a foreign key (names quote ` as ``).
_KEY_LINE = re.compile(r"^KEY `((?:[^`]|``)+)` ")
_FOREIGN_KEY_LINE = re.compile(r"^CONSTRAINT `((?:[^`]|``)+)` FOREIGN KEY ")


QUIESCE_STALL_S = 3.0  # quiesce() gives up when InnoDB's dirty page count has not fallen for this long (its page
# cleaner runs every second: three passes without progress is a stall)


class MySQLSpec(BackendSpec):
    """MySQL and MariaDB: one Django backend, one driver; the server tells which it is."""

    family = "mysql"
    engine = "django.db.backends.mysql"
    schemes = ("mysql", "mariadb")
    default_port = 3306
    default_user = "root"
    vendors = ("MariaDB", "MySQL")
    lock_timeout_sql = "SET SESSION innodb_lock_wait_timeout = 1"
    # MySQL 8 dropped tx_isolation, MariaDB before 11.1 lacks transaction_isolation: ask for either by name.
    isolation_level_sql = "SHOW SESSION VARIABLES WHERE Variable_name IN ('transaction_isolation', 'tx_isolation')"
    # On this machine and in docker-compose.yml the MySQL-family server on 3306 is MariaDB.
    default_target = ("mysql", "mysql://root@127.0.0.1:3306/dbbench")
    supports_bulk_load = True  # when the server allows it: bulk_load_available()
    copies_projects = True
    bulk_load_name = "LOAD DATA LOCAL INFILE"
    defers_constraints = True

    def __init__(self) -> None:
        import MySQLdb

        self.driver_errors = (MySQLdb.Error,)

    def django_settings(self, target: Target) -> dict[str, object]:
        return {
            "ENGINE": self.engine,
            "NAME": target.database,
            "USER": target.user,
            "PASSWORD": target.password,
            "HOST": _tcp_host(target.host),
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
                **_driver_options(target.options),
            },
            "TEST": {"NAME": f"test_{target.database}_{target.name}", "CHARSET": "utf8mb4"},
        }

    def raw_connect(self, target: Target, database: str | None) -> Any:
        import MySQLdb

        kwargs: dict[str, Any] = {
            "host": _tcp_host(target.host),
            "port": target.port,
            "user": target.user,
            "password": target.password,
            "charset": "utf8mb4",
            "connect_timeout": CONNECT_TIMEOUT_S,
            "local_infile": 1,
            **_driver_options(target.options),
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

    def resolved_database_name(self, cursor: Any, name: str) -> str:
        # lower_case_table_names=1 (Windows, and many a my.cnf) or 2 (macOS) files database names in lower case,
        # so "DBBENCH" is the database "dbbench" there.
        cursor.execute("SELECT @@lower_case_table_names")
        return name.lower() if int(cursor.fetchone()[0]) else name

    def clashing_databases(self, cursor: Any, name: str) -> list[str]:
        # With lower_case_table_names=0 "DBBENCH" and "dbbench" are two databases, but InnoDB files foreign key
        # names case-insensitively: the second one's CREATE TABLE fails with errno 121 half-way through. (With 1 or
        # 2 the server files both under one name: the same database, which refuse_same_database answers.)
        cursor.execute("SELECT @@lower_case_table_names")
        if int(cursor.fetchone()[0]):
            return []
        cursor.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE LOWER(schema_name) = LOWER(%s) "
            "AND BINARY schema_name <> BINARY %s",  # information_schema compares case-insensitively
            (name, name),
        )
        return [str(row[0]) for row in cursor.fetchall()]

    def bounded_lock_wait_sql(self, seconds: int) -> str:
        return f"SET SESSION lock_wait_timeout = {int(seconds)}"  # the default is a year

    def other_objects_sql(self) -> str:
        return (
            "SELECT LOWER(routine_type), routine_name FROM information_schema.routines "
            "WHERE routine_schema = DATABASE() "
            "UNION ALL SELECT 'event', event_name FROM information_schema.events WHERE event_schema = DATABASE() "
            "UNION ALL SELECT 'trigger', trigger_name FROM information_schema.triggers "
            "WHERE trigger_schema = DATABASE()"
        )

    def quote_name(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def server_identity(self, cursor: Any) -> str:
        import MySQLdb

        # MariaDB's server_uid and MySQL's server_uuid are generated per server; readable by any user.
        for variable in ("server_uid", "server_uuid"):
            try:
                cursor.execute(f"SELECT @@{variable}")
                return f"{variable}:{cursor.fetchone()[0]}"
            except MySQLdb.OperationalError:
                continue
        cursor.execute("SELECT @@hostname, @@datadir, @@port")
        return "host:" + ":".join(str(v) for v in cursor.fetchone())

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
        "innodb_autoinc_lock_mode",
        "innodb_buffer_pool_size",
        "innodb_flush_method",
        "max_connections",
        "max_allowed_packet",
        "local_infile",
        "character_set_server",
        "collation_server",
        "sql_mode",
    )
    durability_settings = ("innodb_flush_log_at_trx_commit", "sync_binlog", "log_bin")
    buffer_setting = "innodb_buffer_pool_size"

    # A managed server (dbbench.servers) is MariaDB. utf8mb4: four-byte UTF-8 (emoji fit, as in PostgreSQL's UTF8);
    # utf8mb4_general_ci is MariaDB 10.11's default for it, stated rather than implied.
    managed_charset = "utf8mb4"
    managed_collation = "utf8mb4_general_ci"
    managed_description = (
        "MariaDB: durable commits (innodb_flush_log_at_trx_commit=1, innodb_doublewrite), binary log off, "
        f"innodb_autoinc_lock_mode=2, {managed_charset} {managed_collation}, time zone tables loaded"
    )

    def managed_settings(self, memory_bytes: int, max_connections: int) -> dict[str, str]:
        return {
            "innodb_buffer_pool_size": str(memory_bytes),
            "innodb_flush_log_at_trx_commit": "1",  # a commit returns once its redo log is on disk
            "innodb_doublewrite": "1",
            # No binary log, as PostgreSQL has no second log to sync: one durable log per commit on both.
            "skip_log_bin": "",
            # MySQL 8's default (MariaDB's is 1, which holds a table lock through each LOAD DATA or INSERT ...
            # SELECT): bulk loads into one table side by side, as PostgreSQL's COPY does. Single-row and
            # multi-row INSERTs take their ids the same way under both. Safe without a statement-based binary log.
            "innodb_autoinc_lock_mode": "2",
            "max_connections": str(max_connections),
            "character_set_server": self.managed_charset,
            "collation_server": self.managed_collation,
            "local_infile": "1",  # the seeder's LOAD DATA LOCAL INFILE, as PostgreSQL's COPY
        }

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

    def bulk_load_available(self, cursor: Any) -> bool:
        # Off by default on MySQL 8; the client side is enabled in django_settings/raw_connect.
        cursor.execute("SELECT @@GLOBAL.local_infile")
        return str(cursor.fetchone()[0]).upper() in ("1", "ON")

    def bulk_load(
        self,
        cursor: Any,
        table: str,
        columns: Sequence[str],
        path: str,
        convert: Mapping[str, str] | None = None,
        time_zone: str = "UTC",
    ) -> int:
        # A column in ``convert`` is read into a variable and set from its SQL (``{}`` stands for the variable).
        convert = convert or {}
        names = ", ".join(f"@v{i}" if c in convert else self.quote_name(c) for i, c in enumerate(columns))
        sets = ", ".join(
            f"{self.quote_name(c)} = {convert[c].format(f'@v{i}')}" for i, c in enumerate(columns) if c in convert
        )
        cursor.execute(
            f"LOAD DATA LOCAL INFILE %s INTO TABLE {self.quote_name(table)} CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
            f"({names})" + (f" SET {sets}" if sets else ""),
            [path],
        )
        loaded = int(cursor.rowcount)
        # LOCAL implies IGNORE: duplicate keys and unconvertible values become warnings, even in strict mode.
        cursor.execute("SHOW WARNINGS LIMIT 1")
        warning = cursor.fetchone()
        if warning:
            raise DbbenchError(f"LOAD DATA into {table} raised {warning[0].lower()} {warning[1]}: {warning[2]}")
        return loaded

    def deferrables(self, cursor: Any, table: str) -> list[Deferrable]:
        # SHOW CREATE TABLE is the catalog's own rendering: each line re-creates its index or key as it was
        # (DESC columns, prefix lengths, ON DELETE rules). Unique keys stay: they are constraints.
        cursor.execute(f"SHOW CREATE TABLE {self.quote_name(table)}")
        items: list[Deferrable] = []
        for line in cursor.fetchone()[1].splitlines():
            line = line.strip().removesuffix(",")
            for kind, pattern in ((INDEX, _KEY_LINE), (FOREIGN_KEY, _FOREIGN_KEY_LINE)):
                match = pattern.match(line)
                if match:
                    items.append(Deferrable(kind, match.group(1).replace("``", "`"), line))
        return items

    def drop_deferrables_sql(self, table: str, items: Sequence[Deferrable]) -> list[str]:
        # Two statements: InnoDB will not drop an index that a foreign key of the same table still rests on.
        quoted = self.quote_name(table)
        drops = [
            ", ".join(f"DROP {word} IF EXISTS {self.quote_name(i.name)}" for i in items if i.kind == kind)
            for kind, word in ((FOREIGN_KEY, "FOREIGN KEY"), (INDEX, "INDEX"))
        ]
        return [f"ALTER TABLE {quoted} {clauses}" for clauses in drops if clauses]

    def create_deferrables_sql(self, table: str, items: Sequence[Deferrable]) -> list[str]:
        # One ALTER builds all indexes in one pass over the table (sorted builds, in place). A foreign key added
        # with foreign_key_checks=0 is a change of metadata; with them on, InnoDB would copy the whole table.
        quoted = self.quote_name(table)
        indexes = ", ".join(f"ADD {i.definition}" for i in items if i.kind == INDEX)
        keys = ", ".join(f"ADD {i.definition}" for i in items if i.kind == FOREIGN_KEY)
        statements = [f"ALTER TABLE {quoted} {indexes}"] if indexes else []
        if keys:
            statements += ["SET foreign_key_checks = 0", f"ALTER TABLE {quoted} {keys}", "SET foreign_key_checks = 1"]
        return statements

    def validate_foreign_key(self, cursor: Any, table: str, name: str) -> None:
        cursor.execute(
            "SELECT column_name, referenced_table_name, referenced_column_name "
            "FROM information_schema.key_column_usage WHERE table_schema = DATABASE() AND table_name = %s "
            "AND constraint_name = %s ORDER BY ordinal_position",
            [table, name],
        )
        pairs = cursor.fetchall()
        if not pairs:
            raise DbbenchError(f"{table}: foreign key {name} is missing")
        parent = self.quote_name(pairs[0][1])
        joined = " AND ".join(f"p.{self.quote_name(ref)} = c.{self.quote_name(col)}" for col, _, ref in pairs)
        present = " AND ".join(f"c.{self.quote_name(col)} IS NOT NULL" for col, _, _ in pairs)
        cursor.execute(
            f"SELECT COUNT(*) FROM {self.quote_name(table)} c WHERE {present} "
            f"AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {joined})"
        )
        orphans = int(cursor.fetchone()[0])
        if orphans:
            raise DbbenchError(f"{table}: {orphans} rows break foreign key {name}")

    def quiesce(self, cursor: Any, timeout_s: float) -> float:
        # InnoDB flushes dirty pages in the background at innodb_io_capacity: wait until <= 1% of the pool. With
        # innodb_max_dirty_pages_pct_lwm = 0 (the default) it may stop flushing well above that (MariaDB 10.11
        # kept 55% of its pool dirty for minutes): when the count stalls, waiting longer gains nothing.
        started = last_drop = time.perf_counter()
        fewest = None
        while time.perf_counter() - started < timeout_s:
            cursor.execute(
                "SELECT variable_name, variable_value FROM information_schema.global_status "
                "WHERE variable_name IN ('INNODB_BUFFER_POOL_PAGES_DIRTY', 'INNODB_BUFFER_POOL_PAGES_TOTAL')"
            )
            pages = {name.upper(): int(value) for name, value in cursor.fetchall()}
            dirty = pages.get("INNODB_BUFFER_POOL_PAGES_DIRTY", 0)
            if dirty <= pages.get("INNODB_BUFFER_POOL_PAGES_TOTAL", 0) // 100:
                break
            if fewest is None or dirty < fewest:
                fewest, last_drop = dirty, time.perf_counter()
            elif time.perf_counter() - last_drop > QUIESCE_STALL_S:
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

    def isolation_options(self, level: str | None, options: dict[str, Any]) -> dict[str, Any]:
        # A missing key means "read committed" to Django's MySQL backend; None leaves the server default in force.
        return {**options, "isolation_level": None if level is None else level.replace("_", " ")}

    def statistics_sql(self, table: str) -> list[str]:
        return [f"ANALYZE TABLE {self.quote_name(table)}"]

    def boolean_text_sql(self, column: str) -> str:
        return self.quote_name(column)  # tinyint(1): 1 or 0 already

    def row_digest_sql(self, texts: Sequence[str]) -> str:
        # MD5() hashes the value's bytes in its character set (utf8mb4 for dbbench's tables); numbers as digits.
        # CHAR_LENGTH counts characters, as PostgreSQL's length() does: the same prefix for the same text.
        parts = ", ".join(f"COALESCE(CONCAT(CHAR_LENGTH({t}), ':', {t}), '~')" for t in texts)
        return f"CAST(CONV(SUBSTRING(MD5(CONCAT({parts})), 1, 15), 16, 10) AS UNSIGNED)"

    def chunk_sql(self, column: str, size: int) -> str:
        return f"{self.quote_name(column)} DIV {size:d}"

    def zoned_text_sql(self, column: str, zone: str) -> str:
        return self.utc_text_sql(column)  # datetime(6) holds the naive text Django wrote, in its storage zone

    def time_text_sql(self, column: str) -> str:
        return f"DATE_FORMAT({self.quote_name(column)}, '%H:%i:%s.%f')"

    def duration_text_sql(self, column: str) -> str:
        # Django stores bigint microseconds; integer arithmetic keeps it exact (a division would round to the
        # server's div_precision_increment).
        q = self.quote_name(column)
        return (
            f"CASE WHEN {q} IS NULL THEN NULL ELSE CONCAT(IF({q} < 0, '-', ''), ABS({q}) DIV 1000000, '.', "
            f"LPAD(ABS({q}) MOD 1000000, 6, '0')) END"
        )

    def uuid_text_sql(self, column: str) -> str:
        # char(32) on MySQL, the native uuid type (with dashes) on MariaDB 10.7+.
        return f"LOWER(REPLACE(CAST({self.quote_name(column)} AS CHAR), '-', ''))"

    def binary_text_sql(self, column: str) -> str:
        q = self.quote_name(column)
        return f"CASE WHEN {q} IS NULL THEN NULL ELSE CONCAT('\\\\x', LOWER(HEX({q}))) END"

    def load_text_sql(self, kind: str, variable: str) -> str | None:
        if kind == "DurationField":
            return f"CAST({variable} AS DECIMAL(30, 6)) * 1000000"
        if kind == "BinaryField":
            return f"UNHEX(SUBSTRING({variable}, 3))"
        return None

    def skip_foreign_key_checks(self, cursor: Any) -> str | None:
        cursor.execute("SET SESSION foreign_key_checks = 0")
        return "SET SESSION foreign_key_checks = 1"

    def text_bucket_sql(self, text: str, buckets: int) -> str:
        return f"CAST(CONV(SUBSTRING(MD5({text}), 1, 8), 16, 10) AS UNSIGNED) % {buckets:d}"

    # Django's MySQL backend creates tables in the database's collation: utf8mb4_general_ci (MariaDB 10.11) or
    # utf8mb4_0900_ai_ci (MySQL 8), both blind to case and accents. DATE and DATETIME are documented for years
    # 1000-9999; a DurationField is a signed bigint of microseconds; a double has no Infinity or NaN.
    case_insensitive_unique = True
    date_range = ("1000-01-01", "9999-12-31")
    finite_floats_only = True
    duration_limit_us = (1 << 63) - 1

    def json_rewritten_sql(self, column: str) -> str:
        # Raw non-ASCII (MySQL 8's JSON type, text another client wrote) or a \u escape of a code point >= 0x80.
        return f"{self.quote_name(column)} REGEXP '[^[:ascii:]]|\\\\\\\\u(00[89a-fA-F]|0[1-9a-fA-F]|[1-9a-fA-F])'"

    def prefix_unique_sql(self) -> str | None:
        # A unique key on a long VARCHAR or TEXT (the project's own SQL) may index only its first N characters:
        # rows that agree on those collide, however they differ after them.
        return (
            "SELECT table_name, column_name, sub_part FROM information_schema.statistics "
            "WHERE table_schema = DATABASE() AND non_unique = 0 AND sub_part IS NOT NULL"
        )

    def fold_text_sql(self, column: str) -> str:
        return f"LOWER(TRIM(TRAILING ' ' FROM {self.quote_name(column)}))"

    def collation_equal_sql(self) -> str:
        return "SELECT CONVERT(%s USING utf8mb4) = CONVERT(%s USING utf8mb4) COLLATE {}"

    def skip_row_checks(self, cursor: Any) -> str | None:
        # MariaDB only (MySQL 8 has no such switch), as mariadb-import does: json_valid() on every JSON value took
        # about a sixth of the server's time loading the attempts. The caller vouches for the rows otherwise.
        cursor.execute("SHOW SESSION VARIABLES LIKE 'check_constraint_checks'")
        if cursor.fetchone() is None:
            return None
        cursor.execute("SET SESSION check_constraint_checks = 0")
        return "SET SESSION check_constraint_checks = 1"


# MySQLdb takes these as integers; a URL's query gives strings ("?connect_timeout=5").
_INTEGER_OPTIONS = frozenset({"connect_timeout", "read_timeout", "write_timeout", "local_infile", "compress"})


def _driver_options(options: Mapping[str, str]) -> dict[str, Any]:
    """A target URL's query as MySQLdb's keywords."""
    return {k: int(v) if k in _INTEGER_OPTIONS and v.strip().isdigit() else v for k, v in options.items()}


def _tcp_host(host: str) -> str:
    """The host to hand the MySQL client library: it takes ``localhost`` to mean its default Unix socket, whatever
    port the URL names, so ``mysql://...@localhost:3307/x`` would reach the server on the socket (likely another
    one). A dbbench URL always names a TCP port: ``localhost`` is spelled as the loopback address."""
    return "127.0.0.1" if host == "localhost" else host
