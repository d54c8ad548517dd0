"""Names the audit recognises: django.contrib.postgres symbols, lookups, PostgreSQL drivers and libraries."""

from __future__ import annotations

import re


def _names(text: str) -> list[str]:
    return text.split()


# django.contrib.postgres names -> rule; anything else under a submodule falls back to PG_SUBMODULES.
PG_SYMBOLS: dict[str, str] = {
    **dict.fromkeys(
        _names(
            "ArrayField HStoreField RangeField IntegerRangeField BigIntegerRangeField DecimalRangeField "
            "DateTimeRangeField DateRangeField CICharField CIEmailField CITextField RangeBoundary RangeOperators "
            "JSONField"
        ),
        "pg-field",
    ),
    **dict.fromkeys(
        _names("PostgresIndex GinIndex GistIndex BrinIndex BloomIndex HashIndex SpGistIndex BTreeIndex OpClass"),
        "pg-index",
    ),
    **dict.fromkeys(
        _names(
            "ArrayAgg StringAgg JSONBAgg BitAnd BitOr BitXor BoolAnd BoolOr Corr CovarPop RegrAvgX RegrAvgY RegrCount "
            "RegrIntercept RegrR2 RegrSlope RegrSXX RegrSXY RegrSYY StatAggregate"
        ),
        "pg-aggregate",
    ),
    **dict.fromkeys(
        _names(
            "SearchVector SearchQuery SearchRank SearchHeadline SearchVectorField SearchConfig TrigramSimilarity "
            "TrigramDistance TrigramWordDistance TrigramStrictWordDistance TrigramWordSimilarity "
            "TrigramStrictWordSimilarity"
        ),
        "pg-search",
    ),
    "ExclusionConstraint": "pg-constraint",
    **dict.fromkeys(
        _names(
            "CreateExtension BloomExtension BtreeGinExtension BtreeGistExtension CITextExtension CryptoExtension "
            "HStoreExtension TrigramExtension UnaccentExtension AddIndexConcurrently RemoveIndexConcurrently "
            "CreateCollation RemoveCollation AddConstraintNotValid ValidateConstraint"
        ),
        "pg-operation",
    ),
    **dict.fromkeys(_names("RandomUUID TransactionNow ArraySubquery"), "pg-function"),
}
PG_SUBMODULES = {
    "fields": "pg-field",
    "indexes": "pg-index",
    "aggregates": "pg-aggregate",
    "search": "pg-search",
    "constraints": "pg-constraint",
    "operations": "pg-operation",
    "functions": "pg-function",
    "expressions": "pg-function",
}
PG_ADVICE = {
    "ArrayField": "a JSONField holding the list (JSON_CONTAINS for membership), a child table, or "
    "django_mysql.models.ListCharField / ListTextField for short lists of strings or integers",
    "HStoreField": "a JSONField",
    "JSONField": "django.db.models.JSONField",
    "StringAgg": "django_mysql.models.GroupConcat (GROUP_CONCAT; mind group_concat_max_len)",
    "ArrayAgg": "aggregate in Python, or JSON_ARRAYAGG through a Func subclass",
    "JSONBAgg": "aggregate in Python, or JSON_ARRAYAGG through a Func subclass",
    "BoolAnd": "Min() over the boolean (stored as 0/1)",
    "BoolOr": "Max() over the boolean (stored as 0/1)",
    "CICharField": "CharField: MariaDB's default utf8mb4_general_ci collation already ignores case",
    "CIEmailField": "EmailField: MariaDB's default utf8mb4_general_ci collation already ignores case",
    "CITextField": "TextField: MariaDB's default utf8mb4_general_ci collation already ignores case",
}
# django.contrib.postgres modules that import psycopg when loaded (Django 5.2, checked by importing each with psycopg
# blocked); the others (constraints, functions, indexes, lookups, search, validators, serializers) load without it,
# so importing them is not a finding: what the code uses from them is.
PG_NEEDS_DRIVER = ("aggregates", "expressions", "operations", "fields", "forms", "apps", "signals")
PG_APPS = frozenset({"django.contrib.postgres", "django.contrib.postgres.apps.PostgresConfig"})
PG_LOOKUPS = frozenset(
    {"search", "trigram_similar", "trigram_word_similar", "trigram_strict_word_similar", "unaccent", "overlap"}
)

# Lookup names that can end a JSON lookup path; anything else at the end is a key (an implicit ``exact``).
LOOKUPS = frozenset(
    _names(
        "exact iexact contains icontains in gt gte lt lte startswith istartswith endswith iendswith range isnull "
        "regex iregex contained_by has_key has_keys has_any_keys"
    )
)
FILTER_CALLS = frozenset(
    _names("filter exclude get get_or_create update_or_create aget aget_or_create aupdate_or_create Q When")
)
NOT_LOOKUPS = frozenset({"defaults", "create_defaults", "then"})
QUERYSET_HINTS = frozenset(
    _names(
        "objects _default_manager _base_manager filter exclude all order_by values values_list select_related "
        "prefetch_related only defer annotate using distinct"
    )
)
# Index/constraint options MySQL and MariaDB lack; Django skips the whole index or constraint (checks W036-W047).
SKIPPED_OPTIONS = {
    "condition": "partial",
    "include": "covering",
    "deferrable": "deferred checking",
    "nulls_distinct": "NULLS NOT DISTINCT",
}
STRING_FIELDS = frozenset({"CharField", "EmailField", "SlugField", "TextField", "URLField"})
CURSOR_NAME = re.compile(r"(^|_)(cursor|cur|c)$|^schema_editor$")
MYSQL_COLLATION = re.compile(r"^(binary|(utf8mb4|utf8mb3|utf8|latin\d|ascii|ucs2|utf16|utf16le|utf32|cp\d+)_\w+)$")
EXPR = "dbbench_expr"  # stands in for a run-time value inside a SQL template: a plain identifier to sqlglot


# Modules that load only with PostgreSQL: the backend, its drivers, and lock/queue libraries built on its SQL.
PG_MODULES = (
    "django.db.backends.postgresql",
    "psycopg",
    "psycopg2",
    "asyncpg",
    "pg8000",
    "django_pglocks",
    "pglock",
    "pgtrigger",
    "pgpubsub",
    "procrastinate",
    "django_pgviews",
    "pghistory",
)
