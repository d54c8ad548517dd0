"""Everything that differs between PostgreSQL and the MySQL family, in one place.

Code elsewhere asks a :class:`BackendSpec` (or Django's ``connection.features``) instead of branching on the
vendor. The raw-driver helpers here are used where Django is not configured yet: creating the database,
``dbbench doctor``, and the raw-SQL twins of the benchmarks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dbbench.errors import ConnectionFailed

if TYPE_CHECKING:
    from dbbench.targets import Target

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

    @contextmanager
    def connection(self, target: Target, database: str | None) -> Iterator[Any]:
        """A raw driver connection in autocommit mode, closed on exit; errors become one line."""
        from dbbench.targets import mask_secrets

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
