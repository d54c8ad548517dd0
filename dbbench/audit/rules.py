"""The portability rules: what in a Django project's Python code ties it to PostgreSQL, found with ``ast``.

Static analysis cannot know a queryset's model, so the JSON rule treats a name as a JSONField wherever the
project declares a JSONField of that name (models, migrations); the SQL rules only see SQL that is a literal,
an f-string, a concatenation or a ``.format()``/``%`` template, or a name bound once to one of those.
Each rule's facts come from Django 5.2's source (``NotSupportedError`` checks, ``connection.features``) and from
the parity suite for JSON lookups; see ../shared/DJANGO_BACKENDS.md.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from dbbench.audit.sql import REWRITE, SEMANTICS, UNTRANSLATABLE, check_sql

BLOCKER = "blocker"
BEHAVIOUR = "behaviour change"
PERFORMANCE = "performance risk"
SEVERITIES = (BLOCKER, BEHAVIOUR, PERFORMANCE)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    title: str
    instead: str


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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# fmt: off
_RULE_LIST = [
    Rule("pg-import", BLOCKER, "imports django.contrib.postgres",
         "replace what it provides, then drop the import (the module needs psycopg, PostgreSQL's driver, to load)"),
    Rule("pg-app", BLOCKER, "django.contrib.postgres in INSTALLED_APPS",
         "remove it once its fields, lookups and search are replaced"),
    Rule("pg-field", BLOCKER, "PostgreSQL-only model field",
         "a JSONField, separate columns or a child table (no MySQL/MariaDB column type matches)"),
    Rule("pg-index", BLOCKER, "PostgreSQL-only index type",
         "a plain models.Index (B-tree), or a FULLTEXT index through RunSQL for text search"),
    Rule("pg-aggregate", BLOCKER, "PostgreSQL-only aggregate",
         "django-mysql's GroupConcat for StringAgg, or aggregate in Python"),
    Rule("pg-search", BLOCKER, "PostgreSQL full-text or trigram search",
         "a FULLTEXT index with MATCH ... AGAINST (custom lookup or raw SQL), or an external search engine"),
    Rule("pg-constraint", BLOCKER, "ExclusionConstraint",
         "enforce the rule in application code inside a select_for_update() transaction"),
    Rule("pg-operation", BLOCKER, "PostgreSQL-only migration operation",
         "drop extensions and collations; AddIndex/AddConstraint instead of the Concurrently/NotValid variants"),
    Rule("pg-function", BLOCKER, "PostgreSQL-only database function",
         "RandomUUID: default=uuid.uuid4 in Python; TransactionNow: Now(); ArraySubquery: a JSON aggregate"),
    Rule("pg-lookup", BLOCKER, "lookup registered by django.contrib.postgres",
         "icontains or a FULLTEXT search for search/trigram/unaccent; JSON_OVERLAPS via a custom lookup for overlap"),
    Rule("distinct-on", BLOCKER, ".distinct(*fields) is DISTINCT ON",
         "a Window(RowNumber(), partition_by=...) annotation filtered to 1, or a Subquery picking one pk per group"),
    Rule("select-for-update-no-key", BLOCKER, "select_for_update(no_key=True)",
         "plain select_for_update() (it also blocks inserts referencing the rows), or branch on "
         "connection.features.has_select_for_no_key_update"),
    Rule("select-for-update-of", BLOCKER, "select_for_update(of=...)",
         "MariaDB has no FOR UPDATE OF (MySQL 8 has): lock the related rows in their own query, or branch on "
         "connection.features.has_select_for_update_of"),
    Rule("upsert-unique-fields", BLOCKER, "bulk_create(update_conflicts=True, unique_fields=...)",
         "pass unique_fields only when connection.features.supports_update_conflicts_with_target "
         "(PostgreSQL requires it, MySQL/MariaDB raise NotSupportedError)"),
    Rule("ignore-conflicts", BEHAVIOUR, "bulk_create(ignore_conflicts=True) is INSERT IGNORE",
         "validate rows first: INSERT IGNORE also downgrades bad values, NULLs and foreign-key errors to warnings"),
    Rule("iterator-buffered", PERFORMANCE, ".iterator() does not stream on MySQL/MariaDB",
         "walk the table in primary-key chunks (filter(pk__gt=last).order_by('pk')[:n]) to bound memory"),
    Rule("json-lookup", BEHAVIOUR, "JSON lookup that the parity suite found to differ",
         "test this query on MariaDB; cast keys explicitly (Cast(KT('field__key'), IntegerField())) for numbers "
         "and compare text in Python when case or non-ASCII text matters"),
    Rule("json-db-index", PERFORMANCE, "JSONField(db_index=True)",
         "MySQL/MariaDB create no index (fields.W162): index a GeneratedField over KT('field__key') instead"),
    Rule("unique-string-ci", BEHAVIOUR, "case-sensitive unique string field",
         "normalise values (e.g. lower()) before saving, or give the column a _bin collation on MySQL/MariaDB"),
    Rule("db-collation", BLOCKER, "PostgreSQL collation name in db_collation",
         "a MySQL/MariaDB collation (utf8mb4_bin, utf8mb4_unicode_ci) set in a backend-specific migration"),
    Rule("index-skipped", PERFORMANCE, "index MySQL/MariaDB silently do not create",
         "a plain index on the columns, or a GeneratedField with db_index=True for an expression"),
    Rule("constraint-skipped", BEHAVIOUR, "unique constraint MySQL/MariaDB silently do not create",
         "uniqueness is not enforced there: a GeneratedField plus a plain UniqueConstraint, or a check in code"),
    Rule("raw-sql-untranslatable", BLOCKER, "raw SQL with no faithful MySQL/MariaDB translation",
         "redesign the query (per construct below) or express it with the ORM"),
    Rule("raw-sql-rewrite", BLOCKER, "raw SQL that needs rewriting for MySQL/MariaDB",
         "keep one SQL text per backend (keyed by connection.vendor) or use the ORM"),
    Rule("raw-sql-semantics", BEHAVIOUR, "raw SQL that runs but returns different results",
         "adjust the SQL as described per construct"),
    Rule("raw-sql-unparsed", BEHAVIOUR, "raw SQL sqlglot cannot read as PostgreSQL",
         "check this SQL by hand"),
    Rule("raw-sql-dynamic", BEHAVIOUR, "raw SQL built at run time",
         "check the strings it is built from by hand, or move the query to the ORM"),
    Rule("python-syntax", BLOCKER, "file that is not valid Python",
         "fix it, or leave it out with --exclude: the audit cannot vouch for code it could not read"),
]
# fmt: on
RULES: dict[str, Rule] = {rule.id: rule for rule in _RULE_LIST}


def _names(text: str) -> list[str]:
    return text.split()


# django.contrib.postgres names -> rule; anything else under a submodule falls back to _PG_SUBMODULES.
_PG_SYMBOLS: dict[str, str] = {
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
_PG_SUBMODULES = {
    "fields": "pg-field",
    "indexes": "pg-index",
    "aggregates": "pg-aggregate",
    "search": "pg-search",
    "constraints": "pg-constraint",
    "operations": "pg-operation",
    "functions": "pg-function",
    "expressions": "pg-function",
}
_PG_ADVICE = {
    "ArrayField": "a JSONField holding the list (JSON_CONTAINS for membership), a child table, or django-mysql's "
    "ListCharField for short lists",
    "HStoreField": "a JSONField",
    "JSONField": "django.db.models.JSONField",
    "StringAgg": "django-mysql's GroupConcat (Django 6.0 adds a portable django.db.models.StringAgg)",
    "ArrayAgg": "aggregate in Python, or JSON_ARRAYAGG through a Func subclass",
    "JSONBAgg": "aggregate in Python, or JSON_ARRAYAGG through a Func subclass",
    "BoolAnd": "Min() over the boolean (stored as 0/1)",
    "BoolOr": "Max() over the boolean (stored as 0/1)",
    "CICharField": "CharField: MariaDB's default utf8mb4_general_ci collation already ignores case",
    "CIEmailField": "EmailField: MariaDB's default utf8mb4_general_ci collation already ignores case",
    "CITextField": "TextField: MariaDB's default utf8mb4_general_ci collation already ignores case",
}
_PG_APPS = frozenset({"django.contrib.postgres", "django.contrib.postgres.apps.PostgresConfig"})
_PG_LOOKUPS = frozenset(
    {"search", "trigram_similar", "trigram_word_similar", "trigram_strict_word_similar", "unaccent", "overlap"}
)

# Lookup names that can end a JSON lookup path; anything else at the end is a key (an implicit ``exact``).
_LOOKUPS = frozenset(
    _names(
        "exact iexact contains icontains in gt gte lt lte startswith istartswith endswith iendswith range isnull "
        "regex iregex contained_by has_key has_keys has_any_keys"
    )
)
_FILTER_CALLS = frozenset(
    _names("filter exclude get get_or_create update_or_create aget aget_or_create aupdate_or_create Q When")
)
_NOT_LOOKUPS = frozenset({"defaults", "create_defaults", "then"})
_QUERYSET_HINTS = frozenset(
    _names(
        "objects _default_manager _base_manager filter exclude all order_by values values_list select_related "
        "prefetch_related only defer annotate using distinct"
    )
)
# Index/constraint options MySQL and MariaDB lack; Django skips the whole index or constraint (checks W036-W047).
_SKIPPED_OPTIONS = {
    "condition": "partial",
    "include": "covering",
    "deferrable": "deferred checking",
    "nulls_distinct": "NULLS NOT DISTINCT",
}
_STRING_FIELDS = frozenset({"CharField", "EmailField", "SlugField", "TextField", "URLField"})
_CURSOR_NAME = re.compile(r"(^|_)(cursor|cur|c)$|^schema_editor$")
_MYSQL_COLLATION = re.compile(r"^(binary|(utf8mb4|utf8mb3|utf8|latin\d|ascii|ucs2|utf16|utf16le|utf32|cp\d+)_\w+)$")
_EXPR = "dbbench_expr"  # stands in for a run-time value inside a SQL template: a plain identifier to sqlglot


def _callee(node: ast.expr) -> str:
    """The last name of a call's function: ``models.Index`` -> ``Index``, ``qs.filter`` -> ``filter``."""
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _kw(call: ast.Call) -> dict[str, ast.keyword]:
    return {k.arg: k for k in call.keywords if k.arg}


def _false(node: ast.expr) -> bool:
    """A literal that switches an option off (False, None, (), [])."""
    if isinstance(node, ast.Constant):
        return not node.value
    return isinstance(node, ast.Tuple | ast.List) and not node.elts


def _chain_names(node: ast.expr) -> Iterator[str]:
    """Attribute and method names along a call chain: ``A.objects.filter(x).iterator`` -> objects, filter..."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            yield node.attr
            node = node.value
        else:
            return


def collect_json_fields(trees: Iterable[ast.AST]) -> set[str]:
    """Names the project declares as JSON fields: in model classes, CreateModel tuples and AddField calls."""
    classes: list[ast.ClassDef] = []
    candidates: list[tuple[str, ast.Call]] = []  # (field name, the call that makes the field)
    for tree in trees:  # one walk per file; the type check below runs on this short list
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                classes.append(node)
            elif isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Call):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                candidates += [(t.id, node.value) for t in targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.Tuple) and len(node.elts) == 2 and isinstance(node.elts[1], ast.Call):
                first = node.elts[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    candidates.append((first.value, node.elts[1]))
            elif isinstance(node, ast.Call):
                kw = _kw(node)
                name = kw["name"].value if "name" in kw else None
                field = kw["field"].value if "field" in kw else None
                if isinstance(name, ast.Constant) and isinstance(name.value, str) and isinstance(field, ast.Call):
                    candidates.append((name.value, field))
    types = {"JSONField"}
    for _ in range(3):  # the project's own subclasses of JSONField, and theirs
        types |= {c.name for c in classes if any(_callee(b) in types for b in c.bases)}
    return {name for name, call in candidates if _callee(call.func) in types}


class ModuleAuditor(ast.NodeVisitor):
    """Runs every rule over one parsed file."""

    def __init__(self, file: str, source: str, json_fields: set[str], json_notes: Mapping[str, str]) -> None:
        self.file = file
        self.lines = source.splitlines()
        self.json_fields = json_fields
        self.json_notes = json_notes  # differing JSON lookup -> how it differs (from the parity suite)
        self.findings: list[Finding] = []
        self.imports: dict[str, str] = {}
        self._seen: set[tuple[str, int, int, str]] = set()
        self._scopes: list[dict[str, ast.expr | None]] = []
        self._classes: list[dict[str, ast.expr | None]] = []

    # --- reporting ----------------------------------------------------------------------------------------

    def report(self, rule_id: str, node: ast.AST, message: str, instead: str | None = None) -> None:
        rule = RULES[rule_id]
        line, col = getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1
        key = (rule_id, line, col, message)
        if key in self._seen:
            return
        self._seen.add(key)
        code = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        self.findings.append(
            Finding(self.file, line, col, rule_id, rule.severity, message, instead or rule.instead, code[:160])
        )

    def run(self, tree: ast.Module) -> list[Finding]:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    self.imports[bound] = alias.name if alias.asname else bound
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        self._scopes.append(_constants(tree.body, ()))
        self.visit(tree)
        return sorted(self.findings, key=lambda f: (f.line, f.col, f.rule))

    # --- imports and django.contrib.postgres names ----------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.startswith("django.contrib.postgres"):
                self.report("pg-import", node, f"imports {alias.name}: PostgreSQL-only")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        names = [a.name for a in node.names]
        if module == "django.contrib" and "postgres" in names:
            module, names = "django.contrib.postgres", []
        if module.startswith("django.contrib.postgres") and not node.level:
            listed = f" ({', '.join(names)})" if names else ""
            self.report("pg-import", node, f"imports {module}{listed}: PostgreSQL-only")

    def visit_Name(self, node: ast.Name) -> None:
        self._pg_reference(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if not self._pg_reference(node):
            self.generic_visit(node)

    def _pg_reference(self, node: ast.Name | ast.Attribute) -> bool:
        dotted = _dotted(node)
        if not dotted:
            return False
        head, _, rest = dotted.partition(".")
        qualified = self.imports.get(head, head) + (f".{rest}" if rest else "")
        parts = qualified.split(".")
        if parts[:3] != ["django", "contrib", "postgres"] or len(parts) < 4:
            return False
        symbol = next((p for p in parts[3:] if p in _PG_SYMBOLS), None)
        rule_id = _PG_SYMBOLS.get(symbol or "") or (_PG_SUBMODULES.get(parts[3]) if len(parts) > 4 else None)
        if rule_id is None:
            return False
        symbol = symbol or parts[-1]
        self.report(rule_id, node, f"{symbol} is PostgreSQL-only (django.contrib.postgres)", _PG_ADVICE.get(symbol))
        return True

    def visit_Assign(self, node: ast.Assign | ast.AugAssign) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(_callee(t) == "INSTALLED_APPS" for t in targets):
            self._installed_apps(node.value)
        self.generic_visit(node)

    visit_AugAssign = visit_Assign  # type: ignore[assignment]

    def _installed_apps(self, value: ast.AST) -> None:
        for item in ast.walk(value):
            if isinstance(item, ast.Constant) and item.value in _PG_APPS:
                message = f"'{item.value}' in INSTALLED_APPS: its fields, lookups and search need PostgreSQL"
                self.report("pg-app", item, message)

    # --- scopes (for resolving SQL held in names) -------------------------------------------------------------

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        params = [a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)]
        params += [a.arg for a in (node.args.vararg, node.args.kwarg) if a]
        self._scopes.append(_constants(node.body, params))
        self.generic_visit(node)
        self._scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._model_fields(node)
        scope = _constants(node.body, ())
        self._classes.append(scope)
        self._scopes.append(scope)  # class-body names, e.g. a Migration's SQL constant used in operations
        self.generic_visit(node)
        self._scopes.pop()
        self._classes.pop()

    # --- calls --------------------------------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        name = _callee(node.func)
        kw = _kw(node)
        method = isinstance(node.func, ast.Attribute)
        if name in _FILTER_CALLS:
            self._lookups(node)
        if method and name in ("append", "insert", "extend") and _callee(node.func.value) == "INSTALLED_APPS":
            for value in node.args:
                self._installed_apps(value)
        if method and name == "order_by":
            self._order_by(node)
        if method and name == "distinct" and node.args:
            self.report("distinct-on", node, ".distinct(*fields) emits DISTINCT ON: NotSupportedError on MySQL/MariaDB")
        if method and name == "select_for_update":
            if "no_key" in kw and not _false(kw["no_key"].value):
                self.report(
                    "select-for-update-no-key", kw["no_key"], "FOR NO KEY UPDATE: NotSupportedError on MySQL/MariaDB"
                )
            if "of" in kw and not _false(kw["of"].value):
                self.report("select-for-update-of", kw["of"], "FOR UPDATE OF: NotSupportedError on MariaDB")
        if method and name in ("bulk_create", "abulk_create"):
            self._bulk_create(node, kw)
        if method and name in ("iterator", "aiterator") and _QUERYSET_HINTS & set(_chain_names(node.func)):
            self.report("iterator-buffered", node, ".iterator(): the MySQL drivers fetch the whole result into memory")
        if name == "Index" and (node.args or "condition" in kw or "include" in kw):
            self._skipped_index(node, kw)
        if name == "UniqueConstraint":
            self._skipped_constraint(node, kw)
        if name.endswith("Field"):
            self._field_options(node, name, kw)
        self._raw_sql(node, name, kw, method)
        self.generic_visit(node)

    def _lookup_names(self, node: ast.Call) -> Iterator[tuple[str, ast.AST]]:
        for keyword in node.keywords:
            if keyword.arg and keyword.arg not in _NOT_LOOKUPS:
                yield keyword.arg, keyword
            elif keyword.arg is None and isinstance(keyword.value, ast.Dict):  # **{"data__k__in": [...]}
                for key in keyword.value.keys:
                    if isinstance(key, ast.Constant) and isinstance(key.value, str):
                        yield key.value, key

    def _lookups(self, node: ast.Call) -> None:
        for name, where in self._lookup_names(node):
            parts = name.split("__")
            for part in parts[1:]:
                if part in _PG_LOOKUPS:
                    self.report(
                        "pg-lookup", where, f"{name}: the '{part}' lookup exists only with django.contrib.postgres"
                    )
            self._json_lookup(name, parts, where)

    def _json_lookup(self, name: str, parts: list[str], where: ast.AST) -> None:
        index = next((i for i, p in enumerate(parts) if p in self.json_fields), None)
        if index is None:
            return
        rest = parts[index + 1 :]
        lookup, keys = (rest[-1], rest[:-1]) if rest and rest[-1] in _LOOKUPS else ("exact", rest)
        # The parity suite's "exact" difference is about key values (1 vs '1', None vs 'null'); comparing a whole
        # document (data=None, data={...}) agreed, so it is left alone.
        if lookup not in self.json_notes or (lookup == "exact" and not keys):
            return
        subject = f"key '{'__'.join(keys)}'" if keys else f"the whole '{parts[index]}' value"
        note = self.json_notes[lookup]
        self.report(
            "json-lookup",
            where,
            f"{name}: JSON '{lookup}' on {subject} differs between PostgreSQL and MariaDB (dbbench parity)"
            + (f": {note}" if note else ""),
        )

    def _order_by(self, node: ast.Call) -> None:
        if "order_by" not in self.json_notes:
            return
        for arg in node.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                parts = arg.value.lstrip("-?").split("__")
                index = next((i for i, p in enumerate(parts) if p in self.json_fields), None)
                if index is not None and index + 1 < len(parts):
                    note = self.json_notes["order_by"]
                    self.report(
                        "json-lookup",
                        arg,
                        f"order_by('{arg.value}') orders by a JSON key (dbbench parity)"
                        + (f": {note}" if note else ""),
                    )

    def _bulk_create(self, node: ast.Call, kw: dict[str, ast.keyword]) -> None:
        unique = kw.get("unique_fields")
        update = kw.get("update_conflicts")
        # A conditional value (x if connection.features... else None) is the portable pattern: leave it alone.
        conditional = unique is not None and isinstance(unique.value, ast.IfExp)
        if unique and update and not conditional and not _false(unique.value) and not _false(update.value):
            self.report(
                "upsert-unique-fields",
                unique,
                "update_conflicts with unique_fields: MySQL/MariaDB raise NotSupportedError (they upsert on any "
                "unique key)",
            )
        ignore = kw.get("ignore_conflicts")
        if ignore and not _false(ignore.value):
            self.report(
                "ignore-conflicts",
                ignore,
                "ignore_conflicts=True is INSERT IGNORE on MySQL/MariaDB, which "
                "also ignores other errors (not only duplicates)",
            )

    def _skipped_index(self, node: ast.Call, kw: dict[str, ast.keyword]) -> None:
        reasons = [f"{k}= ({_SKIPPED_OPTIONS[k]})" for k in ("condition", "include") if k in kw]
        if node.args:
            reasons.insert(0, "expressions (MariaDB has no expression indexes; MySQL 8.0.13+ has)")
        who = "MariaDB skips" if reasons == reasons[:1] and node.args else "MySQL and MariaDB skip"
        self.report("index-skipped", node, f"Index with {', '.join(reasons)}: {who} it without an error")

    def _skipped_constraint(self, node: ast.Call, kw: dict[str, ast.keyword]) -> None:
        reasons = [f"{k}= ({_SKIPPED_OPTIONS[k]})" for k in _SKIPPED_OPTIONS if k in kw]
        if node.args:
            reasons.insert(0, "expressions (MariaDB has no expression indexes; MySQL 8.0.13+ has)")
        if reasons:
            who = "MariaDB skips" if len(reasons) == 1 and node.args else "MySQL and MariaDB skip"
            message = (
                f"UniqueConstraint with {', '.join(reasons)}: {who} it without an error: uniqueness is not enforced"
            )
            self.report("constraint-skipped", node, message)

    def _field_options(self, node: ast.Call, name: str, kw: dict[str, ast.keyword]) -> None:
        collation = kw.get("db_collation")
        value = collation.value if collation else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str) and not _MYSQL_COLLATION.match(value.value):
            message = f"db_collation={value.value!r} is not a MySQL/MariaDB collation: the migration fails there"
            self.report("db-collation", collation or node, message)
        index = kw.get("db_index")
        if name.endswith("JSONField") and index and not _false(index.value):
            self.report("json-db-index", index, "JSONField(db_index=True): MySQL/MariaDB create no index")

    # --- model classes: case-insensitive uniqueness -----------------------------------------------------------

    def _model_fields(self, node: ast.ClassDef) -> None:
        strings: dict[str, ast.Call] = {}
        for stmt in node.body:
            target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else None
            target = stmt.target if isinstance(stmt, ast.AnnAssign) else target
            value = stmt.value if isinstance(stmt, ast.Assign | ast.AnnAssign) else None
            if isinstance(target, ast.Name) and isinstance(value, ast.Call) and _callee(value.func) in _STRING_FIELDS:
                kw = _kw(value)
                if "db_collation" not in kw:  # an explicit collation is handled by the db-collation rule
                    strings[target.id] = value
                    unique = next(
                        (kw[k] for k in ("unique", "primary_key") if k in kw and not _false(kw[k].value)), None
                    )
                    if unique is not None:
                        self._ci_unique(value, f"{target.id} ({_callee(value.func)}, {unique.arg}=True)")
        meta = next((s for s in node.body if isinstance(s, ast.ClassDef) and s.name == "Meta"), None)
        if meta is None or not strings:
            return
        for stmt in meta.body:
            if not (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name)):
                continue
            if stmt.targets[0].id == "unique_together":
                groups = stmt.value.elts if isinstance(stmt.value, ast.List | ast.Tuple) else []
                if groups and all(isinstance(g, ast.Constant) for g in groups):
                    groups = [stmt.value]  # unique_together = ("a", "b"): one group
                for group in groups:
                    self._ci_group(group, strings, "unique_together")
            elif stmt.targets[0].id == "constraints" and isinstance(stmt.value, ast.List | ast.Tuple):
                for call in stmt.value.elts:
                    if isinstance(call, ast.Call) and _callee(call.func) == "UniqueConstraint":
                        fields = _kw(call).get("fields")
                        if fields is not None:
                            self._ci_group(fields.value, strings, "UniqueConstraint", at=call)

    def _ci_group(self, group: ast.AST, strings: dict[str, ast.Call], what: str, at: ast.AST | None = None) -> None:
        names = [e.value for e in getattr(group, "elts", []) if isinstance(e, ast.Constant)]
        text = [n for n in names if n in strings]
        if text:
            self._ci_unique(at or group, f"{what} over {', '.join(names)} (text: {', '.join(text)})")

    def _ci_unique(self, node: ast.AST, what: str) -> None:
        self.report(
            "unique-string-ci",
            node,
            f"{what}: PostgreSQL keeps 'Ann' and 'ann' apart; MariaDB's default "
            "utf8mb4_general_ci (MySQL 8: utf8mb4_0900_ai_ci) treats them, and accents, as equal, so the "
            "second insert raises IntegrityError",
        )

    # --- raw SQL --------------------------------------------------------------------------------------------------

    def _raw_sql(self, node: ast.Call, name: str, kw: dict[str, ast.keyword], method: bool) -> None:
        def arg(index: int, *names: str) -> ast.expr | None:
            for n in names:
                if n in kw:
                    return kw[n].value
            return node.args[index] if len(node.args) > index else None

        receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
        if name == "RunSQL":
            for value in (arg(0, "sql"), arg(1, "reverse_sql")):
                for item in _sql_items(value):
                    self._check_sql(item, "RunSQL", strict=True)
        elif name == "RawSQL":
            self._check_sql(arg(0, "sql"), "RawSQL", strict=True, fragment="expression")
        elif method and name == "raw" and receiver is not None:
            manager = bool({"objects", "_default_manager", "using"} & set(_chain_names(receiver)))
            self._check_sql(arg(0, "raw_query"), ".raw()", strict=manager)
        elif method and name in ("execute", "executemany") and receiver is not None:
            cursorish = isinstance(receiver, ast.Call) and _callee(receiver.func) == "cursor"
            cursorish = cursorish or bool(_CURSOR_NAME.search(_callee(receiver)))
            self._check_sql(arg(0, "sql", "operation", "query"), f"{name}()", strict=cursorish)
        elif method and name == "extra":
            where = kw.get("where")
            for item in where.value.elts if where and isinstance(where.value, ast.List | ast.Tuple) else []:
                self._check_sql(item, ".extra(where=...)", strict=True, fragment="condition")
            select = kw.get("select")
            for item in select.value.values if select and isinstance(select.value, ast.Dict) else []:
                self._check_sql(item, ".extra(select=...)", strict=True, fragment="expression")

    def _check_sql(self, node: ast.expr | None, via: str, *, strict: bool, fragment: str | None = None) -> None:
        if node is None or (isinstance(node, ast.Attribute) and node.attr == "noop"):
            return
        text = self._sql_text(node)
        if text is None:
            if strict:
                self.report("raw-sql-dynamic", node, f"{via}: SQL built at run time; dbbench cannot check it")
            return
        check = check_sql(text, fragment=fragment)
        if check.parse_error:
            if strict:
                self.report(
                    "raw-sql-unparsed", node, f"{via}: sqlglot cannot read this as PostgreSQL ({check.parse_error})"
                )
            return
        bad = check.of_kind(UNTRANSLATABLE)
        if bad:
            self.report(
                "raw-sql-untranslatable",
                node,
                f"{via}: no faithful MySQL/MariaDB translation for {_labels(bad)}",
                _advice(bad),
            )
        rewrite = check.of_kind(REWRITE)
        if rewrite:
            instead = f"MySQL/MariaDB version (sqlglot): {check.translation}" if check.translation else _advice(rewrite)
            self.report(
                "raw-sql-rewrite",
                node,
                f"{via}: PostgreSQL syntax that fails or misreads on MySQL/MariaDB: {_labels(rewrite)}",
                instead[:400],
            )
        semantics = check.of_kind(SEMANTICS)
        if semantics:
            self.report(
                "raw-sql-semantics",
                node,
                f"{via}: runs on MySQL/MariaDB but returns different results: {_labels(semantics)}",
                _advice(semantics),
            )

    def _sql_text(self, node: ast.expr, depth: int = 0) -> str | None:
        """The SQL a node evaluates to, with run-time parts replaced by a placeholder identifier; None if unknown."""
        if depth > 8:
            return None
        if isinstance(node, ast.Constant):
            return node.value if isinstance(node.value, str) else None
        if isinstance(node, ast.JoinedStr):
            return "".join(
                v.value if isinstance(v, ast.Constant) else _EXPR for v in node.values if isinstance(v, ast.expr)
            )
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self._sql_text(node.left, depth + 1), self._sql_text(node.right, depth + 1)
            return None if left is None and right is None else (left or _EXPR) + (right or _EXPR)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            left = self._sql_text(node.left, depth + 1)
            return None if left is None else re.sub(r"%(\([^)]*\))?[sdfr]", _EXPR, left).replace("%%", "%")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "format":
                base = self._sql_text(node.func.value, depth + 1)
                if base is not None:
                    return re.sub(r"\{[^{}]*\}", _EXPR, base).replace("{{", "{").replace("}}", "}")
            if node.func.attr == "dedent" and node.args:
                return self._sql_text(node.args[0], depth + 1)
            return None
        if isinstance(node, ast.Name):
            for scope in reversed(self._scopes):
                if node.id in scope:
                    value = scope[node.id]
                    return None if value is None else self._sql_text(value, depth + 1)
            return None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            value = self._classes[-1].get(node.attr) if self._classes else None
            return None if value is None else self._sql_text(value, depth + 1)
        return None


def _constants(body: list[ast.stmt], params: Iterable[str]) -> dict[str, ast.expr | None]:
    """Names bound exactly once in a scope, to the expression they are bound to (None: a parameter or rebound)."""
    scope: dict[str, ast.expr | None] = dict.fromkeys(params)
    counts: dict[str, int] = {}
    simple: set[int] = set()
    for node in _walk_scope(body):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            simple.add(id(node.targets[0]))
            counts[node.targets[0].id] = counts.get(node.targets[0].id, 0) + 1
            scope.setdefault(node.targets[0].id, node.value)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and id(node) not in simple:
            counts[node.id] = counts.get(node.id, 0) + 2  # loop, tuple and walrus targets: not a constant
    for name, count in counts.items():
        if count != 1:
            scope[name] = None
    return scope


def _walk_scope(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node of a scope, without descending into nested functions and classes (their own scopes)."""
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _sql_items(node: ast.expr | None) -> Iterator[ast.expr]:
    """RunSQL takes a string, or a list of strings and (sql, params) pairs."""
    if isinstance(node, ast.List | ast.Tuple):
        for item in node.elts:
            if isinstance(item, ast.List | ast.Tuple) and item.elts:
                yield item.elts[0]
            else:
                yield item
    elif node is not None:
        yield node


def _labels(constructs: list[Any]) -> str:
    return ", ".join(c.label for c in constructs)


def _advice(constructs: list[Any]) -> str:
    return "; ".join(f"{c.label}: {c.advice}" for c in constructs)
