"""The audit's rules and findings: one :class:`Rule` per kind of PostgreSQL tie, one :class:`Finding` per place.

Each rule names the parity probe(s) (``dbbench parity``) that show its difference on live servers, so a team can
run the measurement behind a finding; rules with no probe have an empty tuple. The checks themselves live in
:mod:`dbbench.audit.auditor` (Python code) and :mod:`dbbench.audit.sqlrules` (SQL strings).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

BLOCKER = "blocker"
BEHAVIOUR = "behaviour change"
PERFORMANCE = "performance risk"
# Code under a vendor or feature guard (or in an as_postgresql method): the project already branches, so the
# finding only asks to verify that branch on the target; it never fails CI.
HANDLED = "handled"
SEVERITIES = (BLOCKER, BEHAVIOUR, PERFORMANCE, HANDLED)

MARIADB = "mariadb"
MYSQL8 = "mysql8"
TARGETS = (MARIADB, MYSQL8)

# JSON lookups (Django lookup names, plus "order_by" for ordering by a key) whose results differ between
# PostgreSQL and the MySQL family, with how they differ. Observed by the JSON probes on PostgreSQL 15.20 vs
# MariaDB 10.11.19; tests/test_parity.py fails if a live run's differing lookups stop matching this table.
# The audit flags these lookups on JSONField paths; the parity suite (dbbench.parity.suite) re-exports them.
JSON_LOOKUP_NOTES: dict[str, str] = {
    "exact": "numbers compare as text on MariaDB (key=1 also matches the string '1' but not 1.0; key=None also "
    "matches the string 'null'; with duplicate keys the first one counts)",
    "contains": "a key holding a list also matches an object inside that list on the MySQL family",
    "contained_by": "an object also counts as contained in a list holding it on the MySQL family",
    "in": "top-level data__in misses scalar strings on MySQL/MariaDB before Django 6.1 (#36689); key__in matches "
    "a number against its string form on MariaDB",
    "icontains": "whole-document search misses non-ASCII text on MariaDB (stored as \\uXXXX escapes)",
    "gt": "mixed types: MariaDB compares a string value with a number numerically, jsonb puts strings below numbers",
    "gte": "mixed types: as gt",
    "lt": "mixed types: as gt",
    "lte": "mixed types: as gt",
    "order_by": "MariaDB orders by the JSON text ('-1' < '10' < '100' < '21.9' < '5'), PostgreSQL numerically",
}
DIFFERING_JSON_LOOKUPS: frozenset[str] = frozenset(JSON_LOOKUP_NOTES)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    title: str
    instead: str
    probes: tuple[str, ...] = ()
    fine_on: frozenset[str] = frozenset()  # targets where the construct works as on PostgreSQL


@dataclass(frozen=True)
class Finding:
    """One place in the user's code: where, which rule, how bad, what is wrong, what to do instead."""

    file: str
    line: int
    col: int
    rule: str
    severity: str
    message: str
    instead: str
    code: str
    probes: tuple[str, ...] = ()
    guard: str = ""  # the vendor/feature guard the code sits under ("" when unguarded)
    area: str = "app"  # app, migrations or tests
    why: str = ""  # why it has its severity: which guard was seen, or that none was (``--explain``)
    baselined: bool = field(default=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["probes"] = list(self.probes)
        return data

    @property
    def fingerprint(self) -> str:
        """What identifies a finding across edits (line numbers move, the code text and rule rarely do)."""
        return f"{self.file}|{self.rule}|{' '.join(self.code.split())}"


def _r(rule_id: str, severity: str, title: str, instead: str, *probes: str, fine_on: tuple[str, ...] = ()) -> Rule:
    return Rule(rule_id, severity, title, instead, probes, frozenset(fine_on))


# fmt: off
_RULE_LIST = [
    _r("pg-import", BLOCKER, "imports django.contrib.postgres",
       "replace what it provides, then drop the import (this module needs psycopg, PostgreSQL's driver, to load)"),
    _r("pg-driver-import", BLOCKER, "imports a PostgreSQL driver, backend or lock library",
       "import it only inside a vendor branch; for advisory locks (django_pglocks, pglock) use "
       "django_mysql.locks.Lock (GET_LOCK) on MySQL/MariaDB"),
    _r("pg-engine", BLOCKER, "settings name a database backend built on PostgreSQL",
       "a backend for the target (django.db.backends.mysql), with what the custom backend adds (schemas, "
       "extensions, geometry) redone for MySQL/MariaDB or dropped"),
    _r("pg-app", BLOCKER, "django.contrib.postgres in INSTALLED_APPS",
       "remove it once its fields, lookups and search are replaced"),
    _r("pg-field", BLOCKER, "PostgreSQL-only model field",
       "a JSONField, separate columns or a child table (no MySQL/MariaDB column type matches)"),
    _r("pg-index", BLOCKER, "PostgreSQL-only index type",
       "a plain models.Index (B-tree), or a FULLTEXT index through RunSQL for text search"),
    _r("pg-index-plain", PERFORMANCE, "PostgreSQL index type built as a plain B-tree on MySQL/MariaDB",
       "check the queries it served: a GIN/GiST/BRIN/hash index becomes an ordinary B-tree index on the same "
       "columns there (Django leaves out USING), so containment and range searches lose their index"),
    _r("pg-aggregate", BLOCKER, "PostgreSQL-only aggregate",
       "django_mysql.models.GroupConcat for StringAgg, or aggregate in Python"),
    _r("pg-search", BLOCKER, "PostgreSQL full-text or trigram search",
       "a FULLTEXT index with MATCH ... AGAINST (custom lookup or raw SQL), or an external search engine"),
    _r("pg-constraint", BLOCKER, "ExclusionConstraint",
       "enforce the rule in application code inside a select_for_update() transaction"),
    _r("pg-operation", BLOCKER, "PostgreSQL-only migration operation",
       "drop extensions and collations; AddIndex/AddConstraint instead of the Concurrently/NotValid variants"),
    _r("pg-function", BLOCKER, "PostgreSQL-only database function",
       "RandomUUID: default=uuid.uuid4 in Python; TransactionNow: Now(); ArraySubquery: a JSON aggregate"),
    _r("pg-lookup", BLOCKER, "lookup registered by django.contrib.postgres",
       "icontains or a FULLTEXT search for search/trigram/unaccent; JSON_OVERLAPS via a custom lookup for overlap"),
    _r("distinct-on", BLOCKER, ".distinct(*fields) is DISTINCT ON",
       "a Window(RowNumber(), partition_by=...) annotation filtered to 1, or a Subquery picking one pk per group",
       "distinct_on", "distinct_on_window"),
    _r("select-for-update-no-key", BLOCKER, "select_for_update(no_key=True)",
       "plain select_for_update() (it also blocks inserts referencing the rows), or branch on "
       "connection.features.has_select_for_no_key_update", "sfu_no_key"),
    _r("select-for-update-of", BLOCKER, "select_for_update(of=...)",
       "MariaDB has no FOR UPDATE OF (MySQL 8 has): lock the related rows in their own query, or branch on "
       "connection.features.has_select_for_update_of", "sfu_of", fine_on=(MYSQL8,)),
    _r("upsert-unique-fields", BLOCKER, "bulk_create(update_conflicts=True, unique_fields=...)",
       "pass unique_fields only when connection.features.supports_update_conflicts_with_target "
       "(PostgreSQL requires it, MySQL/MariaDB raise NotSupportedError)",
       "upsert_with_unique_fields", "upsert_without_unique_fields"),
    _r("ignore-conflicts", BEHAVIOUR, "bulk_create(ignore_conflicts=True) is INSERT IGNORE",
       "validate rows first: INSERT IGNORE also downgrades bad values, NULLs and foreign-key errors to warnings",
       "bulk_create_ignore_conflicts"),
    _r("iterator-buffered", PERFORMANCE, ".iterator() does not stream on MySQL/MariaDB",
       "walk the table in primary-key chunks (filter(pk__gt=last).order_by('pk')[:n]) to bound memory"),
    _r("json-lookup", BEHAVIOUR, "JSON lookup that the parity suite found to differ",
       "test this query on MariaDB; cast keys explicitly (Cast(KT('field__key'), IntegerField())) for numbers "
       "and compare text in Python when case or non-ASCII text matters"),
    _r("json-db-index", PERFORMANCE, "JSONField(db_index=True)",
       "MySQL/MariaDB create no index (fields.W162): index a GeneratedField over KT('field__key') instead"),
    _r("unique-string-ci", BEHAVIOUR, "case-sensitive unique string field",
       "normalise values (e.g. lower()) before saving, or give the column a _bin collation on MySQL/MariaDB",
       "str_unique_case", "str_unique_accent"),
    _r("text-key", BLOCKER, "TextField as a primary key, unique or indexed",
       "a CharField with a max_length (up to 768 characters in a utf8mb4 key), or drop the key"),
    _r("db-collation", BLOCKER, "PostgreSQL collation name in db_collation",
       "a MySQL/MariaDB collation (utf8mb4_bin, utf8mb4_unicode_ci) set in a backend-specific migration"),
    _r("index-skipped", PERFORMANCE, "index MySQL/MariaDB silently do not create",
       "a plain index on the columns, or a GeneratedField with db_index=True for an expression",
       "functional_index_lower"),
    _r("constraint-skipped", BEHAVIOUR, "unique constraint MySQL/MariaDB silently do not create",
       "the database does not check it there; Django's validate_constraints() (full_clean(), ModelForm) still "
       "does, but bulk_create(), update() and concurrent saves bypass it: a GeneratedField plus a plain "
       "UniqueConstraint, or a select_for_update() check in code",
       "conditional_unique_constraint", "functional_unique_lower"),
    _r("in-sliced-subquery", BLOCKER, "sliced queryset inside __in",
       "MySQL/MariaDB reject LIMIT inside IN (subquery): list() the ids first, or join on a subquery",
       "in_sliced_subquery", "delete_in_sliced_subquery"),
    _r("ordered-update", BEHAVIOUR, ".order_by(...).update(...)",
       "MySQL/MariaDB apply the ORDER BY (and check unique keys row by row); PostgreSQL ignores it: do not rely "
       "on either order for unique columns", "ordered_update_unique"),
    _r("int-division", BEHAVIOUR, "F() / F() division",
       "PostgreSQL truncates integer / integer, MySQL/MariaDB return a decimal: wrap in Cast(..., FloatField()) "
       "or use an explicit floor", "int_division_filter", "int_division_annotate"),
    _r("round-float", BEHAVIOUR, "Round() on a FloatField",
       "round in Python, or store a DecimalField: halves of floats round differently", "round_float_half"),
    _r("regex-word-boundary", BEHAVIOUR, "regex lookup with \\b or \\y",
       "\\y is PostgreSQL's word boundary and \\b a backspace; MySQL/MariaDB read \\b as the boundary: keep one "
       "pattern per backend", "regex_word_boundary_b", "regex_y_boundary"),
    _r("raw-sql-untranslatable", BLOCKER, "raw SQL with no faithful MySQL/MariaDB translation",
       "redesign the query (per construct below) or express it with the ORM"),
    _r("raw-sql-rewrite", BLOCKER, "raw SQL that needs rewriting for MySQL/MariaDB",
       "keep one SQL text per backend (keyed by connection.vendor) or use the ORM"),
    _r("raw-sql-semantics", BEHAVIOUR, "raw SQL that runs but returns different results",
       "adjust the SQL as described per construct", "str_exact_case", "str_contains_case"),
    _r("raw-sql-unparsed", BEHAVIOUR, "raw SQL sqlglot cannot read as PostgreSQL",
       "check this SQL by hand"),
    _r("raw-sql-dynamic", BEHAVIOUR, "raw SQL built at run time",
       "check the strings it is built from by hand, or move the query to the ORM"),
    _r("pg-sql-expression", BLOCKER, "custom lookup, expression or field with PostgreSQL SQL",
       "give the class an as_mysql() method (or a vendor branch) with MySQL/MariaDB SQL"),
    _r("vendor-refusal", BLOCKER, "code that refuses MySQL/MariaDB: it raises, exits or drops work there",
       "give the MySQL/MariaDB side real code (a per-vendor branch that does the work), or remove the refusal "
       "once the code it protects is portable"),
    _r("python-syntax", BLOCKER, "file that is not valid Python",
       "fix it, or leave it out with --exclude: the audit cannot vouch for code it could not read"),
]
# fmt: on
RULES: dict[str, Rule] = {rule.id: rule for rule in _RULE_LIST}


def rules_for_probe(probe: str, *, json_lookups: tuple[str, ...] = ()) -> list[str]:
    """The audit rules that find, in code, the construct whose difference parity probe ``probe`` shows.

    ``json-lookup`` names no probes of its own: it flags the lookups each JSON probe exercises (``json_lookups``).
    """
    found = [rule.id for rule in _RULE_LIST if probe in rule.probes]
    return [*found, "json-lookup"] if json_lookups else found
