"""The table behind :mod:`dbbench.audit.sql`: PostgreSQL constructs and what to use on MySQL/MariaDB instead.

Each :class:`Construct` falls in one of three kinds: ``untranslatable`` (no faithful automatic translation: the
query must be redesigned by hand), ``rewrite`` (sqlglot's MySQL output is a faithful rewrite, shown as the fix)
and ``semantics`` (the SQL runs unchanged on MySQL/MariaDB but returns different results).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.dialects.mysql import MySQL

UNTRANSLATABLE = "untranslatable"
REWRITE = "rewrite"
SEMANTICS = "semantics"
UNPARSED = "unparsed"


@dataclass(frozen=True)
class Construct:
    """A PostgreSQL construct found in a SQL string, and what to use on MySQL/MariaDB instead."""

    label: str
    kind: str
    advice: str


def _c(label: str, kind: str, advice: str) -> Construct:
    return Construct(label, kind, advice)


_ARRAYS = _c(
    "arrays (ARRAY[...], array functions)",
    UNTRANSLATABLE,
    "MySQL/MariaDB have no array type: store a JSON array (JSON_CONTAINS, JSON_TABLE) or use a child table",
)
_JSONB_KEYS = _c(
    "jsonb key-exists operators (? ?| ?&)",
    UNTRANSLATABLE,
    "JSON_CONTAINS_PATH(col, 'one'|'all', '$.key', ...)",
)

_CATALOG = "information_schema tables (TABLES, COLUMNS, STATISTICS) or SHOW statements; no faithful rewrite"
_MODIFY = (
    "ALTER TABLE t MODIFY col type restating NULL/DEFAULT (MODIFY drops what it does not repeat); no faithful rewrite"
)
_INET = "no faithful rewrite: store addresses as VARBINARY(16) (INET6_ATON) and compare ranges by hand"

# Constructs recognised by the sqlglot node type alone.
_NODES: dict[type[exp.Expression], Construct] = {
    exp.ArrayContainsAll: _c("@> containment", UNTRANSLATABLE, "JSON_CONTAINS(col, %s) for JSON; a join for arrays"),
    exp.ArrayContainedBy: _c("<@ contained-by", UNTRANSLATABLE, "JSON_CONTAINS(%s, col) for JSON; a join for arrays"),
    exp.ArrayOverlaps: _c("&& overlap", UNTRANSLATABLE, "JSON_OVERLAPS (MySQL 8.0.17+, MariaDB 10.9+) on JSON arrays"),
    exp.JSONBContains: _c("@> containment", UNTRANSLATABLE, "JSON_CONTAINS(col, %s)"),
    exp.JSONBContainsTopKey: _JSONB_KEYS,
    exp.JSONBContainsAnyTopKeys: _JSONB_KEYS,
    exp.JSONBContainsAllTopKeys: _JSONB_KEYS,
    exp.JSONBExtract: _c("#> path extraction", UNTRANSLATABLE, "JSON_EXTRACT(col, '$.a.b')"),
    exp.JSONBExtractScalar: _c("#>> path extraction", UNTRANSLATABLE, "JSON_UNQUOTE(JSON_EXTRACT(col, '$.a.b'))"),
    exp.JSONExtractScalar: _c(
        "->> text extraction",
        UNTRANSLATABLE,
        "JSON_UNQUOTE(JSON_EXTRACT(col, '$.key')) (MariaDB has no ->> operator; MySQL 8 does)",
    ),
    exp.Unnest: _c("unnest()", UNTRANSLATABLE, "JSON_TABLE (MySQL 8, MariaDB 10.6+) over a JSON array"),
    exp.Explode: _c("unnest()", UNTRANSLATABLE, "JSON_TABLE (MySQL 8, MariaDB 10.6+) over a JSON array"),
    exp.GenerateSeries: _c("generate_series()", UNTRANSLATABLE, "a recursive CTE (WITH RECURSIVE) or a numbers table"),
    exp.ExplodingGenerateSeries: _c(
        "generate_series()", UNTRANSLATABLE, "a recursive CTE (WITH RECURSIVE) or a numbers table"
    ),
    exp.Returning: _c(
        "RETURNING",
        UNTRANSLATABLE,
        "MySQL has no RETURNING (MariaDB 10.5+ only on INSERT/DELETE): use cursor.lastrowid or a second SELECT",
    ),
    exp.OnConflict: _c(
        "ON CONFLICT",
        UNTRANSLATABLE,
        "INSERT ... ON DUPLICATE KEY UPDATE (DO UPDATE) or INSERT IGNORE (DO NOTHING; it also hides other errors)",
    ),
    exp.Filter: _c(
        "aggregate FILTER (WHERE ...)", UNTRANSLATABLE, "aggregate over CASE: SUM(CASE WHEN ... THEN 1 END)"
    ),
    exp.SimilarTo: _c("SIMILAR TO", UNTRANSLATABLE, "REGEXP with an equivalent pattern"),
    exp.MatchAgainst: _c(
        "full-text search (@@, tsvector/tsquery)", UNTRANSLATABLE, "a FULLTEXT index and MATCH(...) AGAINST(...)"
    ),
    exp.RegexpLike: _c(
        "~ regular expression",
        UNTRANSLATABLE,
        "col REGEXP pattern (MariaDB has no REGEXP_LIKE; POSIX, ICU and PCRE patterns differ: check the pattern)",
    ),
    exp.RegexpILike: _c("~* regular expression", UNTRANSLATABLE, "col REGEXP pattern under a _ci collation"),
    exp.RegexpReplace: _c(
        "regexp_replace()",
        UNTRANSLATABLE,
        "REGEXP_REPLACE(str, pattern, replacement) (it replaces every match; no PostgreSQL flags argument)",
    ),
    exp.TableSample: _c("TABLESAMPLE", UNTRANSLATABLE, "ORDER BY RAND() LIMIT n, or sample by a key range"),
    exp.Lateral: _c("LATERAL", UNTRANSLATABLE, "a correlated subquery or a join (MariaDB has no LATERAL)"),
    exp.Copy: _c("COPY", UNTRANSLATABLE, "LOAD DATA LOCAL INFILE"),
    exp.MaterializedProperty: _c("materialized view", UNTRANSLATABLE, "a summary table refreshed by a job"),
    exp.Set: _c(
        "SET of a PostgreSQL setting",
        UNTRANSLATABLE,
        "the MySQL/MariaDB session variable, if any",
    ),
    exp.ArrayAgg: _c("array_agg()", UNTRANSLATABLE, "JSON_ARRAYAGG (MySQL 8, MariaDB 10.5+) or GROUP_CONCAT"),
    exp.GeneratedAsIdentityColumnConstraint: _c("GENERATED ... AS IDENTITY", REWRITE, "AUTO_INCREMENT"),
    exp.Collate: _c(
        "COLLATE with a PostgreSQL collation",
        UNTRANSLATABLE,
        "a MySQL/MariaDB collation (utf8mb4_bin for case- and accent-sensitive)",
    ),
    exp.Opclass: _c("index operator classes", UNTRANSLATABLE, "a plain column index (no operator classes)"),
    exp.ILike: _c("ILIKE", REWRITE, "LOWER(x) LIKE LOWER(y)"),
    exp.DPipe: _c("|| concatenation", REWRITE, "CONCAT() (in MySQL/MariaDB || means OR)"),
    exp.ByteString: _c("E'...' escape strings", REWRITE, "a plain string literal"),
    exp.JSONExtract: _c("-> JSON extraction", REWRITE, "JSON_EXTRACT(col, '$.key')"),
    exp.TimeToStr: _c("to_char()", REWRITE, "DATE_FORMAT()"),
    exp.TimestampTrunc: _c("date_trunc()", REWRITE, "DATE() / DATE_FORMAT(); sqlglot's rewrite is shown"),
    exp.DateTrunc: _c("date_trunc()", REWRITE, "DATE() / DATE_FORMAT(); sqlglot's rewrite is shown"),
    exp.Fetch: _c("FETCH FIRST n ROWS", REWRITE, "LIMIT n"),
    exp.NullSafeEQ: _c("IS NOT DISTINCT FROM", REWRITE, "<=>"),
    exp.NullSafeNEQ: _c("IS DISTINCT FROM", REWRITE, "NOT (a <=> b)"),
    exp.Host: _c("host()", UNTRANSLATABLE, _INET),
    exp.Uuid: _c("gen_random_uuid()", REWRITE, "UUID()"),
    exp.GroupConcat: _c(
        "string_agg()", REWRITE, "GROUP_CONCAT (MySQL truncates at group_concat_max_len, 1024 bytes by default)"
    ),
    exp.JSONArrayAgg: _c("json_agg()", REWRITE, "JSON_ARRAYAGG (MySQL 8, MariaDB 10.5+)"),
    exp.Like: _c(
        "LIKE",
        SEMANTICS,
        "PostgreSQL's LIKE is case- and accent-sensitive; under MariaDB's default utf8mb4_general_ci (and MySQL 8's "
        "utf8mb4_0900_ai_ci) 'ABC' LIKE 'a%' and 'résumé' LIKE 'resume' are true: LIKE BINARY or a _bin collation",
    ),
    exp.Concat: _c(
        "CONCAT()",
        SEMANTICS,
        "PostgreSQL's CONCAT skips NULL arguments, MySQL/MariaDB's returns NULL: COALESCE(x, '') nullable arguments",
    ),
    exp.Length: _c("LENGTH()", SEMANTICS, "CHAR_LENGTH() (MySQL/MariaDB LENGTH counts bytes, not characters)"),
    exp.Greatest: _c(
        "GREATEST()", SEMANTICS, "PostgreSQL ignores NULL arguments, MySQL/MariaDB return NULL: COALESCE them"
    ),
    exp.Least: _c("LEAST()", SEMANTICS, "PostgreSQL ignores NULL arguments, MySQL/MariaDB return NULL: COALESCE them"),
}

# Column and cast types with no MySQL/MariaDB equivalent of the same meaning.
_TYPES: dict[str, str] = {
    "ARRAY": "a JSON column or a child table",
    "JSONB": "JSON",
    "HSTORE": "JSON",
    "INET": "VARCHAR(45), or INET6 on MariaDB 10.5+",
    "MONEY": "DECIMAL(19, 4)",
    "INTERVAL": "an integer number of seconds or microseconds",
    "UUID": "CHAR(32) on MySQL (what Django uses), UUID on MariaDB 10.7+",
    "SERIAL": "INT AUTO_INCREMENT",
    "BIGSERIAL": "BIGINT AUTO_INCREMENT",
    "SMALLSERIAL": "SMALLINT AUTO_INCREMENT",
    "TIMESTAMPTZ": "DATETIME(6) holding UTC (what Django uses); MySQL TIMESTAMP ends in 2038",
    "TIMETZ": "TIME plus a separate zone",
    "XML": "LONGTEXT",
    "USERDEFINED": "a MySQL/MariaDB type chosen by hand",
}

# Functions sqlglot does not know (it passes them through unchanged) that exist only in PostgreSQL.
_PG_FUNCTIONS = frozenset(
    {
        "to_tsvector",
        "to_tsquery",
        "plainto_tsquery",
        "phraseto_tsquery",
        "websearch_to_tsquery",
        "setweight",
        "similarity",
        "word_similarity",
        "strict_word_similarity",
        "unaccent",
        "nextval",
        "currval",
        "setval",
        "lastval",
        "string_to_array",
        "regexp_matches",
        "generate_subscripts",
        "age",
        "current_setting",
        "set_config",
        "txid_current",
        "to_jsonb",
        "row_to_json",
        "json_build_object",
        "json_build_array",
        "json_object_agg",
        "uuid_generate_v4",
        "crypt",
        "gen_salt",
        "split_part",
        "date_bin",
        "make_interval",
        "clock_timestamp",
        "statement_timestamp",
        "quote_ident",
        "quote_literal",
        "initcap",
        "btrim",
        # inet/cidr functions (MySQL/MariaDB have no network types) and TEXT(x), PostgreSQL's function-style cast
        "host",
        "hostmask",
        "masklen",
        "netmask",
        "network",
        "broadcast",
        "set_masklen",
        "inet_same_family",
        "inet_merge",
        "abbrev",
        "family",
        "text",
    }
)
ADVISORY_LOCK_ADVICE = (
    "django_mysql.locks.Lock (GET_LOCK/RELEASE_LOCK): MySQL/MariaDB locks are named strings and held by the "
    "session, not the transaction, so release them yourself (a with-block); there is no shared mode"
)
# PostgreSQL operators sqlglot cannot read (so a template using them would otherwise pass unnoticed).
PG_OPERATORS = re.compile(r"(>>=|<<=|-\|-|&<|&>|<->|\?\||\?&|@@@?|#>>?|<@|@>|&&|!~\*?|~\*)")
# Statements sqlglot keeps as opaque commands that only PostgreSQL has; other opaque commands are "unparsed".
_PG_STATEMENTS: dict[str, str] = {
    **dict.fromkeys(
        ("CREATE EXTENSION", "DROP EXTENSION", "ALTER EXTENSION"), "nothing: MySQL/MariaDB have no extensions"
    ),
    "DO": "a stored procedure in MySQL/MariaDB syntax, or Python code in a RunPython step",
    **dict.fromkeys(("VACUUM", "CLUSTER", "REINDEX"), "OPTIMIZE TABLE / ANALYZE TABLE, or nothing"),
    "REFRESH": "a summary table refreshed by a job",
    **dict.fromkeys(("LISTEN", "NOTIFY", "UNLISTEN"), "a message queue or polling: MySQL/MariaDB have no LISTEN"),
    **dict.fromkeys(("DISCARD", "RESET"), "nothing, or reconnect"),
    **dict.fromkeys(
        ("CREATE TYPE", "ALTER TYPE", "CREATE DOMAIN"), "a CHECK constraint or an ENUM column instead of a type"
    ),
    **dict.fromkeys(
        ("CREATE FUNCTION", "CREATE OR", "CREATE TRIGGER", "CREATE PROCEDURE"),
        "rewrite the body in MySQL/MariaDB's procedure language (PL/pgSQL does not carry over)",
    ),
    **dict.fromkeys(
        ("CREATE SEQUENCE", "ALTER SEQUENCE"), "AUTO_INCREMENT (MariaDB 10.3+ has sequences; MySQL has none)"
    ),
    "CREATE COLLATION": "a built-in MySQL/MariaDB collation",
    "SHOW": "SHOW VARIABLES LIKE '...' / SELECT @@name for the MySQL/MariaDB setting",
}
# Transaction control: valid on every server, but sqlglot's PostgreSQL reader does not model all of it.
_TRANSACTION_CONTROL = re.compile(
    r"\s*(START\s+TRANSACTION|BEGIN|COMMIT|ROLLBACK(\s+TO(\s+SAVEPOINT)?\s+\w+)?|SAVEPOINT\s+\w+"
    r"|RELEASE(\s+SAVEPOINT)?\s+\w+)\s*;?\s*",
    re.IGNORECASE,
)
_PG_FUNCTION_PREFIXES = ("pg_", "jsonb_", "array_", "ts_", "regexp_split_", "hstore", "akeys", "avals")


# What sqlglot quietly rewrites for MySQL, so that the SQL as written does not run there: cast types MariaDB's
# CAST rejects (checked on MariaDB 10.11: BOOLEAN, TEXT, BIGINT, SMALLINT, TIMESTAMP fail; INTEGER, INT, VARCHAR,
# CHAR, DATE, DECIMAL, FLOAT pass), and reserved words used as bare names (MySQL's list, less the MySQL 8 window
# words MariaDB accepts, such as rank and groups).
_CAST_TYPES = frozenset(
    [
        "INT",
        "UINT",
        "CHAR",
        "NCHAR",
        "VARCHAR",
        "NVARCHAR",
        "BINARY",
        "VARBINARY",
        "DATE",
        "DATETIME",
        "TIME",
        "DECIMAL",
        "DOUBLE",
        "FLOAT",
        "JSON",
    ]
)
_MARIADB_NAMES = frozenset(
    [
        "cume_dist",
        "dense_rank",
        "empty",
        "first_value",
        "grouping",
        "groups",
        "json_table",
        "lag",
        "last_value",
        "lateral",
        "lead",
        "nth_value",
        "ntile",
        "of",
        "percent_rank",
        "rank",
        "system",
        "window",
    ]
)
_RESERVED = frozenset(MySQL.Generator.RESERVED_KEYWORDS) - _MARIADB_NAMES
