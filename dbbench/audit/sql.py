"""Raw SQL in a Django project: parse it as PostgreSQL with sqlglot and say what will not work on MySQL/MariaDB.

sqlglot does the parsing and the translation; the judgement is a table of constructs (:mod:`.sqlcatalog`)
because sqlglot's MySQL output is not a proof of portability: it passes ``@>``, ``ON CONFLICT``, ``RETURNING``,
``FILTER``, ``generate_series`` and unknown functions through unchanged, and renders ``->>`` and ``REGEXP_LIKE``,
which MySQL 8 has and MariaDB does not. Each construct falls in one of three kinds:

- ``untranslatable``: no faithful automatic translation (the query must be redesigned by hand);
- ``rewrite``: sqlglot's MySQL output is a faithful rewrite (it is shown as the fix);
- ``semantics``: the SQL runs unchanged on MySQL/MariaDB but returns different results.

NULL ordering in ``ORDER BY`` also differs (the parity suite measures it); it is not flagged here because nearly
every query has an ORDER BY and the fix belongs in the query's intent, not in its syntax.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import ErrorLevel, ParseError, TokenError
from sqlglot.tokens import TokenType

from dbbench.audit.sqlcatalog import (  # noqa: F401  (ADVISORY_LOCK_ADVICE, PG_OPERATORS: re-exported)
    _ARRAYS,
    _CAST_TYPES,
    _CATALOG,
    _INET,
    _MODIFY,
    _NODES,
    _PG_FUNCTION_PREFIXES,
    _PG_FUNCTIONS,
    _PG_STATEMENTS,
    _RESERVED,
    _TRANSACTION_CONTROL,
    _TYPES,
    ADVISORY_LOCK_ADVICE,
    PG_OPERATORS,
    REWRITE,
    SEMANTICS,
    UNPARSED,
    UNTRANSLATABLE,
    Construct,
    _c,
)


class _PostgresSource(Postgres):
    # sqlglot emulates PostgreSQL's NULL placement by wrapping every ORDER BY (and even CREATE INDEX columns) in
    # CASE WHEN x IS NULL; that buries the real fix in noise, so the source is read with MySQL's NULL order.
    NULL_ORDERING = "nulls_are_small"


class _DjangoMySQL(MySQL):
    class Generator(MySQL.Generator):
        def placeholder_sql(self, expression: exp.Placeholder) -> str:
            # Django passes %s / %(name)s to both drivers; keep them as written instead of MySQL's "?".
            name = expression.name
            return f"%({name})s" if name and name != "?" else "%s"


@dataclass
class SqlCheck:
    """The verdict on one SQL string: constructs by kind, and sqlglot's MySQL rendering when it has one."""

    constructs: list[Construct] = field(default_factory=list)
    translation: str | None = None
    parse_error: str | None = None

    def of_kind(self, kind: str) -> list[Construct]:
        return [c for c in self.constructs if c.kind == kind]

    @property
    def portable(self) -> bool:
        return not self.constructs and self.parse_error is None


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# What a complete statement parses to; anything else (a bare name, "hello world") is not SQL sqlglot understood.
_STATEMENTS: tuple[type, ...] = tuple(
    getattr(exp, name)
    for name in (
        "Query",
        "DML",
        "DDL",
        "Insert",
        "Update",
        "Delete",
        "Create",
        "Drop",
        "Alter",
        "TruncateTable",
        "Transaction",
        "Commit",
        "Rollback",
        "Set",
        "Command",
        "Analyze",
        "Grant",
        "Comment",
        "Merge",
        "Copy",
        "Use",
    )
    if hasattr(exp, name)
)


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    # sqlglot logs "falling back to parsing as a Command" for every PostgreSQL-only statement; the audit reports
    # those itself, so keep the terminal clean while parsing.
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _as_written(node: exp.Expression) -> Construct | None:
    if isinstance(node, exp.Cast) and isinstance(node.to, exp.DataType):
        name = node.to.this.name if isinstance(node.to.this, exp.DataType.Type) else ""
        if name and name not in _CAST_TYPES and name not in _TYPES:
            return _c(f"CAST(... AS {name}) does not run as written", REWRITE, "a type MySQL/MariaDB's CAST takes")
    if isinstance(node, exp.Identifier) and not node.quoted and node.name.lower() in _RESERVED:
        parent = node.parent
        if isinstance(parent, exp.Column) and parent.args.get("table") is not None:
            return None  # t.order: MySQL takes a reserved word after a qualifier
        if isinstance(parent, exp.Column | exp.Table | exp.TableAlias | exp.Alias | exp.ColumnDef):
            return _c(
                f"reserved word {node.name} as a name does not run as written",
                REWRITE,
                "quote it with backticks on MySQL/MariaDB",
            )
    return None


def _classify(node: exp.Expression) -> Construct | None:
    """The construct a node stands for, or None when it is portable."""
    written = _as_written(node)
    if written is not None:
        return written
    if isinstance(node, exp.Distinct) and node.args.get("on") is not None:
        return _c("DISTINCT ON", REWRITE, "ROW_NUMBER() OVER (PARTITION BY ...) in a subquery (sqlglot's rewrite)")
    if isinstance(node, exp.Identifier) and node.quoted:
        return _c(
            'double-quoted identifiers ("name")',
            REWRITE,
            'backticks or no quotes (MySQL/MariaDB read "name" as a string unless sql_mode has ANSI_QUOTES)',
        )
    if isinstance(node, exp.Any | exp.All) and not isinstance(node.this, exp.Subquery | exp.Select):
        return _c("= ANY(array)", UNTRANSLATABLE, "IN (%s, %s, ...) with one placeholder per value")
    if isinstance(node, exp.Lock) and node.args.get("key"):
        return _c("FOR NO KEY UPDATE / FOR KEY SHARE", UNTRANSLATABLE, "FOR UPDATE / LOCK IN SHARE MODE")
    if isinstance(node, exp.Update) and (node.args.get("from") or node.args.get("from_")):  # sqlglot 26+: from_
        return _c("UPDATE ... FROM", REWRITE, "UPDATE t JOIN u ON ... SET ...")
    if isinstance(node, exp.Table) and (node.name.lower().startswith("pg_") or node.db.lower() == "pg_catalog"):
        return _c(f"PostgreSQL catalog table {node.name}", UNTRANSLATABLE, _CATALOG)
    if isinstance(node, exp.CurrentSchema):
        return _c("current_schema()", UNTRANSLATABLE, _CATALOG)
    if isinstance(node, exp.AlterColumn) and node.args.get("dtype") is not None:
        return _c("ALTER COLUMN ... TYPE", UNTRANSLATABLE, _MODIFY)
    if isinstance(node, exp.Alter) and node.args.get("kind", "").upper() == "INDEX":
        return _c(
            "ALTER INDEX", UNTRANSLATABLE, "ALTER TABLE t RENAME INDEX a TO b (MySQL/MariaDB index names are per table)"
        )
    if isinstance(node, exp.Drop) and (node.args.get("kind") or "").upper() == "SEQUENCE":
        return _c(
            "DROP SEQUENCE",
            UNTRANSLATABLE,
            "nothing on MySQL (AUTO_INCREMENT has no sequence); MariaDB 10.3+ has sequences",
        )
    if isinstance(node, exp.BitwiseRightShift | exp.BitwiseLeftShift):
        # On inet/cidr, >> and << are "contains"/"contained by"; MySQL's are bit shifts: sqlglot's output would run
        # and return wrong rows, so no rewrite is offered.
        return _c("<< / >> (inet containment or bit shift)", UNTRANSLATABLE, _INET)
    if isinstance(node, exp.TruncateTable) and (node.args.get("identity") or node.args.get("option")):
        return _c("TRUNCATE ... RESTART IDENTITY / CASCADE", UNTRANSLATABLE, "TRUNCATE TABLE t, child tables first")
    if isinstance(node, exp.Extract) and getattr(node.this, "name", "").upper() == "EPOCH":
        return _c("extract(epoch ...)", REWRITE, "UNIX_TIMESTAMP()")
    if isinstance(node, exp.Select) and node.args.get("offset") and not node.args.get("limit"):
        return _c("OFFSET without LIMIT", UNTRANSLATABLE, "LIMIT 18446744073709551615 OFFSET n")
    if isinstance(node, exp.DataType):
        name = node.this.name if isinstance(node.this, exp.DataType.Type) else str(node.this).upper()
        if name in _TYPES:
            label = node.sql("postgres") if name == "USERDEFINED" else name
            return _c(f"type {label}", UNTRANSLATABLE, _TYPES[name])
        return None
    if isinstance(node, exp.Anonymous):
        fname = node.name.lower()
        if "advisory" in fname and fname.startswith("pg_"):
            return _c(f"{fname}()", UNTRANSLATABLE, ADVISORY_LOCK_ADVICE)
        if fname in _PG_FUNCTIONS or fname.startswith(_PG_FUNCTION_PREFIXES):
            return _c(f"{fname}()", UNTRANSLATABLE, "a MySQL/MariaDB function chosen by hand (none is equivalent)")
        return None
    if isinstance(node, exp.Command):
        words = node.sql("postgres").upper().split()
        lead = next((w for w in (" ".join(words[:2]), words[0]) if w in _PG_STATEMENTS), None)
        if lead:
            return _c(f"statement {lead}", UNTRANSLATABLE, _PG_STATEMENTS[lead])
        if words[0] == "EXPLAIN" and len(words) > 1 and words[1].startswith("("):
            return _c("EXPLAIN (options)", UNTRANSLATABLE, "EXPLAIN / ANALYZE (MariaDB) or EXPLAIN ANALYZE (MySQL 8)")
        return None  # an opaque statement sqlglot does not model (SHOW WARNINGS, EXPLAIN ...): see check_sql
    if isinstance(node, exp.MatchAgainst) and None in node.expressions:
        return None  # @@name with nothing on the left is a MySQL system variable, not a text search
    if isinstance(node, exp.Create) and node.args.get("concurrently"):
        return _c(
            "CREATE INDEX CONCURRENTLY",
            UNTRANSLATABLE,
            "plain CREATE INDEX (InnoDB builds secondary indexes online: ALGORITHM=INPLACE, LOCK=NONE)",
        )
    if isinstance(node, exp.IndexParameters):
        method = node.args["using"].name.lower() if node.args.get("using") else "btree"
        if method not in ("btree", "hash"):
            return _c(f"index method USING {method}", UNTRANSLATABLE, "a B-tree index, or FULLTEXT for text search")
        if node.args.get("where"):
            return _c("partial index (WHERE)", UNTRANSLATABLE, "a full index on the columns")
        return None
    if type(node).__name__.startswith("Array") and type(node) not in _NODES:
        return _ARRAYS
    if isinstance(node, exp.Array):
        return _ARRAYS
    return _NODES.get(type(node))


def _token_constructs(sql: str) -> list[Construct]:
    """Constructs only visible in the tokens: ``::`` casts and ``INTERVAL '1 day'`` literals."""
    found: list[Construct] = []
    tokens = Postgres().tokenize(sql)
    if any(t.token_type == TokenType.DCOLON for t in tokens):
        found.append(_c(":: casts", REWRITE, "CAST(x AS type)"))
    words = [t.text.upper() for t in tokens if t.token_type == TokenType.VAR]
    if any(a == "NULLS" and b in ("FIRST", "LAST") for a, b in zip(words, words[1:], strict=False)):
        found.append(
            _c("NULLS FIRST / NULLS LAST", REWRITE, "ORDER BY x IS NULL, x (MySQL/MariaDB have no NULLS LAST)")
        )
    for before, after in zip(tokens, tokens[1:], strict=False):
        if before.token_type == TokenType.INTERVAL and after.token_type == TokenType.STRING and " " in after.text:
            found.append(_c("INTERVAL '1 day' literals", REWRITE, "INTERVAL 1 DAY"))
            break
    return found


def check_mysql(sql: str) -> str | None:
    """Why ``sql`` (from a MySQL/MariaDB branch) does not read as MySQL, or None when it does."""
    with _quiet_sqlglot():
        try:
            sqlglot.parse(re.sub(r"%\(\w+\)s|%s", "NULL", sql), read="mysql")  # driver placeholders
        except Exception as exc:  # a heuristic parser: any failure is "cannot read", never a crash
            return _ANSI.sub("", " ".join(str(exc).split()))[:160]
    return None


@functools.lru_cache(maxsize=4096)  # projects repeat the same SQL fragments (templates, column lists)
def check_sql(sql: str, *, fragment: str | None = None) -> SqlCheck:
    """Parse ``sql`` as PostgreSQL and list what does not carry over to MySQL/MariaDB.

    ``fragment`` is None for whole statements, ``"condition"`` for a WHERE fragment (``.extra(where=...)``) or
    ``"expression"`` for a value (``RawSQL``, ``.extra(select=...)``); the translation is then of the fragment.
    """
    try:
        return _check(sql, fragment)
    except Exception as exc:  # sqlglot is a heuristic parser: odd user SQL must not crash the audit
        return SqlCheck(parse_error=f"sqlglot failed: {type(exc).__name__}: {' '.join(str(exc).split())}"[:160])


def _check(sql: str, fragment: str | None) -> SqlCheck:
    if fragment is None:
        early = _statement_precheck(sql)
        if early is not None:
            return early
    wrapped = {None: "{}", "condition": "SELECT 1 WHERE {}", "expression": "SELECT ({})"}[fragment].format(sql)
    result = SqlCheck()
    with _quiet_sqlglot():
        try:
            trees = [t for t in sqlglot.parse(wrapped, read=_PostgresSource) if t is not None]
            tokens = _token_constructs(wrapped)
        except (ParseError, TokenError) as exc:
            result.parse_error = _ANSI.sub("", " ".join(str(exc).split()))[:160]
            return result
        odd = [t for t in trees if not isinstance(t, _STATEMENTS)]
        if odd or not trees:
            kind = type(odd[0]).__name__ if odd else "nothing"
            result.parse_error = f"not a SQL statement (sqlglot read it as {kind})"
            return result
        opaque = [t for t in trees if isinstance(t, exp.Command) and _classify(t) is None]
        if opaque and not any(_classify(t) for t in trees if isinstance(t, exp.Command)):
            words = " ".join(opaque[0].sql("postgres").split()[:2])
            result.parse_error = f"sqlglot keeps {words!r} as an opaque statement"
            return result
        seen: set[Construct] = set()
        for construct in [*tokens, *(c for tree in trees for c in map(_classify, tree.walk()) if c)]:
            if construct not in seen:
                seen.add(construct)
                result.constructs.append(construct)
        rendered: list[str] = []
        messages: list[str] = []
        for tree in trees:
            generator = _DjangoMySQL().generator(unsupported_level=ErrorLevel.IGNORE)
            rendered.append(generator.generate(_fragment_of(tree, fragment)))
            messages.extend(generator.unsupported_messages)

        for message in messages:
            construct = _c(f"sqlglot: {message}", UNTRANSLATABLE, "redesign this part by hand")
            if construct not in seen:
                seen.add(construct)
                result.constructs.append(construct)
    # A rewrite is shown only when every construct has a faithful one: SQL that runs but means something else
    # (LIKE, LENGTH, >>) gets "no faithful rewrite" advice instead.
    if rendered and not result.of_kind(UNTRANSLATABLE) and not result.of_kind(SEMANTICS):
        result.translation = ";\n".join(rendered)
    return result


_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


def _statement_precheck(sql: str) -> SqlCheck | None:
    """Statements decided from their first words, before sqlglot (which misreads some, e.g. LISTEN x)."""
    result = SqlCheck()
    if _TRANSACTION_CONTROL.fullmatch(sql):
        result.translation = sql.strip()
        return result
    words = _COMMENTS.sub(" ", sql).upper().split()  # a leading "-- source" line must not hide a DO block
    lead = next((w for w in (" ".join(words[:2]), words[0] if words else "") if w in _PG_STATEMENTS), None)
    if lead:
        label = " ".join(words[:4]) if lead == "CREATE OR" else lead  # CREATE OR REPLACE FUNCTION
        result.constructs.append(_c(f"statement {label}", UNTRANSLATABLE, _PG_STATEMENTS[lead]))
        return result
    if words[:1] == ["EXPLAIN"] and len(words) > 1 and not words[1].startswith("("):
        inner = check_sql(sql.strip()[len("EXPLAIN") :])  # cached: build a new result, never change it
        explained = f"EXPLAIN {inner.translation}" if inner.translation else None
        return SqlCheck(list(inner.constructs), explained, inner.parse_error)
    return None


def _fragment_of(tree: exp.Expression, fragment: str | None) -> exp.Expression:
    if fragment == "condition" and isinstance(tree, exp.Select) and tree.args.get("where") is not None:
        return tree.args["where"].this
    if fragment == "expression" and isinstance(tree, exp.Select) and tree.expressions:
        node = tree.expressions[0]
        return node.this if isinstance(node, exp.Paren) else node
    return tree
