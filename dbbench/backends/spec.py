"""Everything that differs between PostgreSQL and the MySQL family, in one place.

Code elsewhere asks a :class:`BackendSpec` (or Django's ``connection.features``) instead of branching on the
vendor. The raw-driver helpers here are used where Django is not configured yet: creating the database,
``dbbench doctor``, and the raw-SQL twins of the benchmarks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from dbbench.errors import ConnectionFailed, mask_secrets

CONNECT_TIMEOUT_S = 5


class Target(Protocol):
    """What a backend needs of a target (:class:`dbbench.backends.targets.Target` is the one implementation).

    A protocol rather than an import: targets are built from a spec, so the spec cannot import them back.
    """

    @property
    def name(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def user(self) -> str: ...
    @property
    def password(self) -> str: ...
    @property
    def database(self) -> str: ...
    @property
    def options(self) -> Mapping[str, str]: ...
    @property
    def safe_url(self) -> str: ...


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


@dataclass(frozen=True)
class Deferrable:
    """A secondary index or a foreign key of one table, in the server catalog's own words.

    Bulk loads drop them first and build them afterwards, as pg_restore does: one sorted build per index and one
    check per foreign key instead of an index update and a look-up per row. ``definition`` is what the catalog
    gives back, so re-creating from it yields the same catalog entry.
    """

    kind: str  # INDEX or FOREIGN_KEY
    name: str
    definition: str


INDEX = "index"
FOREIGN_KEY = "foreign key"


class BackendSpec:
    """A family of servers that one Django backend and one driver serve."""

    family: str
    engine: str
    schemes: tuple[str, ...]
    default_port: int
    default_user: str
    driver_errors: tuple[type[BaseException], ...] = ()
    # Connection pooling a site on this family can adopt without migrating (``dbbench load`` measures each):
    # Django's own pool (DATABASES OPTIONS "pool"; Django 5.1+ offers it for PostgreSQL with psycopg 3 only) and
    # an external pooler dbbench knows how to start in front of the server (dbbench.load.variants.SERVICES).
    django_pool = False
    pooler: str | None = None

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
        """Every table of the current database, whoever owns it and whatever this user may read of it."""
        raise NotImplementedError

    def resolved_database_name(self, cursor: Any, name: str) -> str:
        """The name the server itself files database ``name`` under (two spellings of one database give one)."""
        raise NotImplementedError

    def bounded_lock_wait_sql(self, seconds: int) -> str:
        """A session setting that bounds how long a statement waits for a lock (DDL behind a reader, TRUNCATE)."""
        raise NotImplementedError

    def other_objects_sql(self) -> str:
        """``(kind, name)`` of every object of the current database that is not a table (sequences, functions,
        types, large objects, schemas; procedures, events): a database holding any is not empty, so not dbbench's."""
        raise NotImplementedError

    def server_identity(self, cursor: Any) -> str:
        """The server's own answer to "which server is this?": the same for every URL that reaches it."""
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

    def deferrables(self, cursor: Any, table: str) -> list[Deferrable]:
        """``table``'s secondary indexes (not those behind a primary key or unique constraint) and its foreign
        keys, read from the catalog: whatever Django's migrations created."""
        raise NotImplementedError

    def drop_deferrables_sql(self, table: str, items: Sequence[Deferrable]) -> list[str]:
        """Statements that drop ``items`` (foreign keys before the indexes they may rest on)."""
        raise NotImplementedError

    def create_deferrables_sql(self, table: str, items: Sequence[Deferrable]) -> list[str]:
        """Statements that re-create ``items``: indexes first, then foreign keys without checking the rows
        (:meth:`validate_foreign_key` does that afterwards, in one pass)."""
        raise NotImplementedError

    def validate_foreign_key(self, cursor: Any, table: str, name: str) -> None:
        """Check every row of ``table`` against foreign key ``name``; raise if one points nowhere."""
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

    # Transaction isolation, as a Django user configures it. Django has no portable API for these.
    lock_timeout_sql = ""  # shortens this session's lock waits to a second or two
    isolation_level_sql = ""  # reads the level in force in this session

    def isolation_options(self, level: str | None, options: dict[str, Any]) -> dict[str, Any]:
        """Django ``OPTIONS`` asking for isolation ``level`` (``read_committed``...; None: the server's default)."""
        raise NotImplementedError

    @contextmanager
    def connection(self, target: Target, database: str | None) -> Iterator[Any]:
        """A raw driver connection in autocommit mode, closed on exit; errors become one line."""
        try:
            conn = self.raw_connect(target, database)
        except self.driver_errors as exc:
            raise ConnectionFailed(
                f"{target.name}: cannot connect to {target.safe_url}: {mask_secrets(first_line(exc), [target])}"
            ) from None
        try:
            yield conn
        finally:
            conn.close()

    # Migration rehearsal, the fast paths (dbbench.rehearsal): the source's rows as bulk-load text made by the server,
    # and row digests computed by the servers, so that verification moves a sum per id range instead of the rows.
    copies_out = False  # whether copy_out() is there

    def copy_out(self, cursor: Any, select: str) -> Iterator[bytes]:
        """The rows of ``select`` in the bulk-load text format as the server writes them, in pieces of whole rows."""
        raise NotImplementedError

    def boolean_text_sql(self, column: str) -> str:
        """A boolean column as 1 or 0 (what both loaders read as true and false)."""
        raise NotImplementedError

    def row_digest_sql(self, texts: Sequence[str]) -> str:
        """An integer in [0, 2**60) per row: the md5 of the per-value md5s of ``texts`` (SQL expressions; a NULL
        value as ``~``). Values of equal UTF-8 text give equal digests on every server."""
        raise NotImplementedError

    def chunk_sql(self, column: str, size: int) -> str:
        """Integer ``column`` divided by ``size``, truncated toward zero."""
        raise NotImplementedError

    def skip_row_checks(self, cursor: Any) -> str | None:
        """Stop checking CHECK constraints row by row in this session, for loading rows that are compared with their
        source afterwards; returns the statement that turns the checks on again (None: nothing was turned off)."""
        return None


def first_line(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    # MySQLdb errors are (code, message) tuples; psycopg puts the server's text in str().
    text = str(args[1]) if len(args) == 2 and isinstance(args[0], int) else str(exc)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
