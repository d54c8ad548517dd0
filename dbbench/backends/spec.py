"""Everything that differs between PostgreSQL and the MySQL family, in one place.

Code elsewhere asks a :class:`BackendSpec` (or Django's ``connection.features``) instead of branching on the
vendor. The raw-driver helpers here are used where Django is not configured yet: creating the database,
``dbbench doctor``, and the raw-SQL twins of the benchmarks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypedDict

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


class ServerRecord(TypedDict):
    """:class:`ServerInfo` as result files record it (the doctor, the benchmark's and the seeder's results)."""

    vendor: str
    version: str
    settings: dict[str, str]
    durable: bool
    buffer_bytes: int


@dataclass(frozen=True)
class ServerInfo:
    """What ``dbbench doctor`` learns about one server."""

    vendor: str  # "PostgreSQL", "MariaDB" or "MySQL": the server's own word, never guessed from the URL
    version: str
    settings: dict[str, str]
    durable: bool  # every commit reaches the disk before the client hears "ok"
    buffer_bytes: int  # the server's own cache of table pages (shared_buffers / innodb_buffer_pool_size)

    def as_dict(self) -> ServerRecord:
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


class BackendSpec(ABC):
    """A family of servers that one Django backend and one driver serve.

    Built as Django's backends are: what every family must provide is an abstract method or a required class
    attribute (:data:`REQUIRED_ATTRIBUTES`); what a family may support is a feature flag with the conservative default
    (``copies_out = False``), and the methods behind a flag (:data:`FEATURE_METHODS`) must exist when it is on. A
    class that names its ``family`` is checked when it is defined: a missing method fails at import, not mid-run.
    A class without ``family`` is a shared base and is not checked.

    A fact that depends on the server's version or configuration (MySQL 8 vs MariaDB, ``local_infile``) is a
    method taking a cursor, asked once per connection by its caller, never a class attribute: one spec object
    serves every server of its family (a PostgreSQL 15 and a 17 side by side).
    """

    # --- Identity: required of every family -----------------------------------------------------------------------
    family: ClassVar[str]  # the registry's key: "postgresql", "mysql" (as Django's connection.vendor for both)
    engine: ClassVar[str]  # DATABASES ENGINE
    schemes: ClassVar[tuple[str, ...]]  # URL schemes that select it
    default_port: ClassVar[int]
    default_user: ClassVar[str]
    # What server_info() may call a server of this family: the server's own word ("MariaDB", never "MySQL" for it).
    vendors: ClassVar[tuple[str, ...]]
    # Transaction isolation, as a Django user configures it (Django has no portable API for these).
    lock_timeout_sql: ClassVar[str]  # shortens this session's lock waits to a second or two
    isolation_level_sql: ClassVar[str]  # reads the level in force in this session (the first row's last column)

    driver_errors: tuple[type[BaseException], ...] = ()  # set by __init__, which imports the driver

    # --- Features: what the family supports (the conservative answer by default) ----------------------------------
    # The team's current database: every other family is compared with it (the first target of a baseline
    # family is the run's baseline; the report picks the first backend whose vendor is one of its ``vendors``).
    baseline = False
    # (alias, URL) of the target used when none is configured: a local server with the distribution's defaults.
    default_target: ClassVar[tuple[str, str] | None] = None
    # Connection pooling a site on this family can adopt without migrating (``dbbench load`` measures each):
    # Django's own pool (DATABASES OPTIONS "pool"; Django 5.1+ offers it for PostgreSQL with psycopg 3 only) and
    # an external pooler dbbench knows how to start in front of the server (dbbench.load.variants.SERVICES).
    django_pool = False
    pooler: str | None = None
    # Bulk loading, the seeder's fast path (dbbench.backends.bulkload): bulk_load(). The file is tab-separated with
    # backslash escapes, \N for NULL and naive UTC timestamps: PostgreSQL's COPY text format and LOAD DATA's alike.
    supports_bulk_load = False
    bulk_load_name = "bulk_create"
    # Bulk loads drop secondary indexes and foreign keys first and build them afterwards: deferrables() and friends.
    defers_constraints = False
    # Migration rehearsal's fast path (dbbench.rehearsal): the source's rows as bulk-load text made by the server.
    copies_out = False
    # A data copy of any Django project (migrate-data --app): every field type as portable text, digests of
    # non-integer keys, the pre-copy check's queries (the methods in FEATURE_METHODS["copies_projects"]).
    copies_projects = False

    # --- Vendor facts: setting names ------------------------------------------------------------------------------
    SETTINGS: ClassVar[tuple[str, ...]] = ()  # what ``dbbench doctor`` reads: durability, memory, encoding, limits
    durability_settings: ClassVar[tuple[str, ...]] = ()  # those of SETTINGS that decide whether a commit waits
    buffer_setting: ClassVar[str] = ""  # the server's own cache of table pages (ServerInfo.buffer_bytes)
    managed_description: ClassVar[str] = ""  # what managed_settings() amounts to, for ``dbbench servers status``

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "family" in cls.__dict__:
            check_family(cls)

    # --- Django and the raw driver --------------------------------------------------------------------------------
    @abstractmethod
    def django_settings(self, target: Target) -> dict[str, object]:
        """The ``DATABASES`` entry for ``target``."""

    @abstractmethod
    def raw_connect(self, target: Target, database: str | None) -> Any:
        """A raw driver connection in autocommit mode (to the server's default database when ``database`` is None)."""

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

    @abstractmethod
    def quote_name(self, name: str) -> str: ...

    # --- dbbench's own databases (dbbench.backends.database) ------------------------------------------------------
    @abstractmethod
    def database_exists_sql(self) -> str: ...

    @abstractmethod
    def create_database_sql(self, name: str) -> str: ...

    @abstractmethod
    def drop_database_sql(self, name: str) -> str: ...

    @abstractmethod
    def list_tables_sql(self) -> str:
        """Every table of the current database, whoever owns it and whatever this user may read of it."""

    @abstractmethod
    def other_objects_sql(self) -> str:
        """``(kind, name)`` of every object of the current database that is not a table (sequences, functions,
        types, large objects, schemas; procedures, events): a database holding any is not empty, so not dbbench's."""

    @abstractmethod
    def resolved_database_name(self, cursor: Any, name: str) -> str:
        """The name the server itself files database ``name`` under (two spellings of one database give one)."""

    def clashing_databases(self, cursor: Any, name: str) -> list[str]:
        """Other databases whose names differ from ``name`` in case only, where the server cannot hold both
        (none by default: PostgreSQL keeps "DBBENCH" and "dbbench" apart entirely)."""
        return []

    @abstractmethod
    def bounded_lock_wait_sql(self, seconds: int) -> str:
        """A session setting that bounds how long a statement waits for a lock (DDL behind a reader, TRUNCATE)."""

    @abstractmethod
    def try_lock_sql(self) -> str:
        """SQL that takes a session-level named lock without waiting; returns one row, truthy when taken."""

    # --- What the server is (dbbench doctor) ----------------------------------------------------------------------
    @abstractmethod
    def server_identity(self, cursor: Any) -> str:
        """The server's own answer to "which server is this?": the same for every URL that reaches it."""

    @abstractmethod
    def server_info(self, cursor: Any, database: str | None) -> ServerInfo:
        """Vendor (one of :attr:`vendors`), version and :attr:`SETTINGS` as the running server reports them."""

    def managed_settings(self, memory_bytes: int, max_connections: int) -> dict[str, str]:
        """The settings a server dbbench manages gets on its command line (dbbench.servers.profile): equal
        buffers (``memory_bytes``), durable commits, the same connection limit. Only families dbbench can start a
        server of need it."""
        return {}

    # --- Benchmarks: table sizes and settling between sizes -------------------------------------------------------
    @abstractmethod
    def table_bytes_sql(self) -> str:
        """One value: bytes of the table named by the single parameter, indexes included (current database)."""

    @abstractmethod
    def settle_sql(self, table: str) -> list[str]:
        """Statements that leave a table as a fresh load would: compact, with fresh planner statistics.

        Run between benchmark sizes (autocommit connection): after the seeder shrank or grew a table, or after
        rows were inserted and deleted, both engines then read equally compact tables.
        """

    @abstractmethod
    def reclaim_sql(self, table: str) -> list[str]:
        """Statements that make the space of deleted rows reusable now (autocommit connection), if any are needed."""

    @abstractmethod
    def statistics_sql(self, table: str) -> list[str]:
        """Statements that give a freshly loaded table its planner statistics (autocommit connection)."""

    @abstractmethod
    def quiesce(self, cursor: Any, timeout_s: float) -> float:
        """Let the server write out what earlier loads left in memory, so the next timed step does not pay for
        it (autocommit connection); returns the seconds waited."""

    # --- Bulk loading (supports_bulk_load, defers_constraints) ----------------------------------------------------
    def bulk_load_available(self, cursor: Any) -> bool:
        """Whether this server takes :meth:`bulk_load` (else dbbench falls back to ``bulk_create``)."""
        return self.supports_bulk_load

    def bulk_load(
        self,
        cursor: Any,
        table: str,
        columns: Sequence[str],
        path: str,
        convert: Mapping[str, str] | None = None,
        time_zone: str = "UTC",
    ) -> int:
        """Load the file at ``path`` into ``table`` within the cursor's transaction; returns rows loaded.

        ``convert``: column -> SQL that makes its value from the loaded text (``{}``), from :meth:`load_text_sql`.
        ``time_zone``: the zone of the file's naive timestamps (:meth:`zoned_text_sql`).
        """
        raise NotImplementedError(f"{self.family} does not support bulk loading")

    def deferrables(self, cursor: Any, table: str) -> list[Deferrable]:
        """``table``'s secondary indexes (not those behind a primary key or unique constraint) and its foreign
        keys, read from the catalog: whatever Django's migrations created (none without ``defers_constraints``)."""
        return []

    def drop_deferrables_sql(self, table: str, items: Sequence[Deferrable]) -> list[str]:
        """Statements that drop ``items`` (foreign keys before the indexes they may rest on)."""
        return []

    def create_deferrables_sql(self, table: str, items: Sequence[Deferrable]) -> list[str]:
        """Statements that re-create ``items``: indexes first, then foreign keys without checking the rows
        (:meth:`validate_foreign_key` does that afterwards, in one pass)."""
        return []

    def validate_foreign_key(self, cursor: Any, table: str, name: str) -> None:
        """Check every row of ``table`` against foreign key ``name``; raise if one points nowhere."""
        raise NotImplementedError(f"{self.family} does not defer constraints")

    # --- Migration rehearsal (dbbench.rehearsal) ------------------------------------------------------------------
    # Read a source without writing to it, in one snapshot, as text in the bulk-load format; then make the copy's
    # generated ids continue after the explicit ids it was given. Verification compares row digests computed by
    # the servers, so that it moves a sum per id range instead of the rows.
    @abstractmethod
    def begin_read_only_snapshot(self, conn: Any) -> None:
        """Start a read-only transaction on a raw connection that sees one snapshot of every table."""

    @abstractmethod
    def read_only_session_sql(self) -> str:
        """Makes every later transaction of a (Django) session read-only: a write fails instead of happening."""

    @abstractmethod
    def streaming_cursor(self, conn: Any, name: str, batch_size: int) -> Any:
        """A server-side cursor: rows come over as they are fetched, not all at once (bounded memory)."""

    @abstractmethod
    def utc_text_sql(self, column: str) -> str:
        """A timestamp column as naive UTC text with microseconds (``2024-01-02 03:04:05.000006``)."""

    @abstractmethod
    def json_text_sql(self, column: str) -> str:
        """A JSON column as JSON text (the driver would otherwise hand over parsed objects, or text)."""

    @abstractmethod
    def boolean_text_sql(self, column: str) -> str:
        """A boolean column as 1 or 0 (what both loaders read as true and false)."""

    @abstractmethod
    def continue_ids(self, cursor: Any, table: str, column: str) -> int:
        """Make ``table``'s generated ids continue after the highest ``column`` value; returns the next id."""

    @abstractmethod
    def columns_sql(self) -> str:
        """(table, column, type, datetime precision, collation or '') of each column in the current database."""

    @abstractmethod
    def row_digest_sql(self, texts: Sequence[str]) -> str:
        """An integer in [0, 2**60) per row: the md5 of ``texts`` (SQL expressions) each as ``<characters>:<text>``
        (a NULL value as ``~``). Values of equal UTF-8 text give equal digests on every server."""

    @abstractmethod
    def chunk_sql(self, column: str, size: int) -> str:
        """Integer ``column`` divided by ``size``, truncated toward zero."""

    def copy_out(self, cursor: Any, select: str) -> Iterator[bytes]:
        """The rows of ``select`` in the bulk-load text format as the server writes them, in pieces of whole rows."""
        raise NotImplementedError(f"{self.family} does not copy out")

    # --- Data copy of any Django project (copies_projects; dbbench.rehearsal.fields) --------------------------------
    # Each column as the text both loaders read, the same text on both servers for the digests: Django's own
    # storage per field type differs between the families.
    def zoned_text_sql(self, column: str, zone: str) -> str:
        """A timestamp column as naive text in ``zone`` with microseconds: what Django stores on the MySQL family,
        UTC with ``USE_TZ`` (the default), local ``TIME_ZONE`` time without."""
        raise NotImplementedError(f"{self.family} does not copy Django projects")

    def time_text_sql(self, column: str) -> str:
        """A time column as ``HH:MM:SS.ffffff`` (always six fractional digits)."""
        raise NotImplementedError(f"{self.family} does not copy Django projects")

    def duration_text_sql(self, column: str) -> str:
        """A DurationField column as seconds with six decimals (``-259199.999999``): exact, and what both loaders
        read (PostgreSQL takes a bare number as seconds of an interval)."""
        raise NotImplementedError(f"{self.family} does not copy Django projects")

    def uuid_text_sql(self, column: str) -> str:
        """A UUIDField column as 32 lower-case hex digits, whatever the column type."""
        raise NotImplementedError(f"{self.family} does not copy Django projects")

    def binary_text_sql(self, column: str) -> str:
        """A BinaryField column as a backslash, ``x`` and lower-case hex (PostgreSQL's bytea input)."""
        raise NotImplementedError(f"{self.family} does not copy Django projects")

    def inet_text_sql(self, column: str) -> str:
        """A GenericIPAddressField column as the address alone (no netmask)."""
        return self.quote_name(column)

    def load_text_sql(self, kind: str, variable: str) -> str | None:
        """SQL turning the loaded text ``variable`` of a field of Django type ``kind`` into the column's value, where
        the bulk loader cannot read the text as it is (None: it can)."""
        return None

    def skip_foreign_key_checks(self, cursor: Any) -> str | None:
        """Stop checking foreign keys in this session (tables in a reference cycle are loaded with their keys in
        place); returns the statement that turns the checks on again."""
        raise NotImplementedError(f"{self.family} does not copy Django projects")

    def text_bucket_sql(self, text: str, buckets: int) -> str:
        """An integer in [0, buckets) from the md5 of the SQL text expression ``text``: equal on every server."""
        raise NotImplementedError(f"{self.family} does not copy Django projects")

    # Column types (columns_sql's words) no other family has, with the ``dbbench audit`` rule that explains each:
    # a data copy refuses them up front.
    unportable_types: Mapping[str, str] = {}

    # Pre-copy checks (dbbench.rehearsal.precheck): what a column of this family cannot hold.
    case_insensitive_unique = False  # unique keys compare under a collation that ignores case (and accents)
    date_range: tuple[str, str] | None = None  # the documented DATE/DATETIME range, when narrower than Python's
    finite_floats_only = False  # no Infinity / NaN in double columns
    duration_limit_us: int | None = None  # DurationField stored as signed bigint microseconds

    def prefix_unique_sql(self) -> str | None:
        """(table, column, characters) of unique keys that index only a prefix of a column, in the current
        database (None: the family has no prefix indexes)."""
        return None

    def nonfinite_sql(self, column: str) -> str:
        """A condition: the float column holds Infinity or NaN (false where the family has none)."""
        return "1 = 0"

    def fold_text_sql(self, column: str) -> str:
        """``column`` lower-cased, accents and trailing spaces removed: candidates for a unique key that a
        case- and accent-insensitive collation would see as duplicates."""
        raise NotImplementedError(f"{self.family} does not copy Django projects")

    def collation_equal_sql(self) -> str:
        """SQL with two parameters, true when they are equal under the collation formatted in with ``format``."""
        raise NotImplementedError(f"{self.family} does not copy Django projects")

    def json_rewritten_sql(self, column: str) -> str:
        """A condition: the copy writes this JSON column's text another way on the other family (non-ASCII:
        PostgreSQL's jsonb text has the characters, Django on the MySQL family writes ``\\u`` escapes). Such
        values are digested as a marker and compared by value instead (``dbbench.rehearsal.jsonpass``)."""
        return "1 = 0"

    def skip_row_checks(self, cursor: Any) -> str | None:
        """Stop checking CHECK constraints row by row in this session, for loading rows that are compared with their
        source afterwards; returns the statement that turns the checks on again (None: nothing was turned off)."""
        return None

    # --- Parity probes: isolation ---------------------------------------------------------------------------------
    @abstractmethod
    def isolation_options(self, level: str | None, options: dict[str, Any]) -> dict[str, Any]:
        """Django ``OPTIONS`` asking for isolation ``level`` (``read_committed``...; None: the server's default)."""


# Class attributes every family sets (no default can be right for them).
REQUIRED_ATTRIBUTES = (
    "family",
    "engine",
    "schemes",
    "default_port",
    "default_user",
    "vendors",
    "lock_timeout_sql",
    "isolation_level_sql",
)
# A feature flag that is on needs the methods behind it (the base class's are placeholders).
FEATURE_METHODS: dict[str, tuple[str, ...]] = {
    "supports_bulk_load": ("bulk_load",),
    "defers_constraints": ("deferrables", "drop_deferrables_sql", "create_deferrables_sql", "validate_foreign_key"),
    "copies_out": ("copy_out",),
    "copies_projects": (
        "zoned_text_sql",
        "time_text_sql",
        "duration_text_sql",
        "uuid_text_sql",
        "binary_text_sql",
        "skip_foreign_key_checks",
        "text_bucket_sql",
        "fold_text_sql",
        "collation_equal_sql",
    ),
}


def missing(cls: type) -> list[str]:
    """What ``cls`` lacks to be a family: abstract methods left, required attributes unset, and the methods behind
    a feature flag it turned on."""
    gaps = sorted(name for name in dir(cls) if getattr(getattr(cls, name, None), "__isabstractmethod__", False))
    gaps += [name for name in REQUIRED_ATTRIBUTES if not hasattr(cls, name)]
    for flag, methods in FEATURE_METHODS.items():
        if getattr(cls, flag):
            gaps += [f"{m} (for {flag})" for m in methods if getattr(cls, m) is getattr(BackendSpec, m)]
    return gaps


def check_family(cls: type) -> None:
    """Raise TypeError naming everything ``cls`` lacks (called when a class naming its family is defined)."""
    gaps = missing(cls)
    if gaps:
        raise TypeError(f"backend family {cls.__name__} ({cls.__dict__.get('family')!r}) lacks: {', '.join(gaps)}")


def first_line(exc: BaseException) -> str:
    args: tuple[Any, ...] = getattr(exc, "args", ())
    # MySQLdb errors are (code, message) tuples; psycopg puts the server's text in str().
    text = str(args[1]) if len(args) == 2 and isinstance(args[0], int) else str(exc)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
