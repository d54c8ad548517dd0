"""Rules on ORM calls: DISTINCT ON, locking, upserts, iterators, lookups and the expressions parity measures."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dbbench.audit import catalog
from dbbench.audit.astutil import callee, chain_model, chain_names, false, root_name
from dbbench.audit.rules import MYSQL8

if TYPE_CHECKING:
    from dbbench.audit.fields import FieldIndex

_NUMBERS_NOT_INT = frozenset({"FloatField", "DecimalField"})


class QueryRules:
    """Mixed into :class:`~dbbench.audit.auditor.ModuleAuditor` (which provides ``report`` and the state)."""

    # Provided by ModuleAuditor and the other mixins (report, generic_visit, _raw_sql, _skipped_index, ...).
    fields: FieldIndex
    program: Any
    imports: dict[str, str]
    json_notes: Any
    target: str
    report: Any
    generic_visit: Any

    def visit_Call(self, node: ast.Call) -> None:
        name = callee(node.func)
        kw = {k.arg: k for k in node.keywords if k.arg}
        method = isinstance(node.func, ast.Attribute)
        if name in catalog.FILTER_CALLS:
            self._lookups(node)
        if method and name in ("append", "insert", "extend") and callee(node.func.value) == "INSTALLED_APPS":
            for value in node.args:
                self._installed_apps(value)
        if method and name == "order_by":
            self._order_by(node)
        if method and name == "distinct" and node.args:
            self.report("distinct-on", node, ".distinct(*fields) emits DISTINCT ON: NotSupportedError on MySQL/MariaDB")
        if method and name == "select_for_update":
            if "no_key" in kw and not false(kw["no_key"].value):
                message = "FOR NO KEY UPDATE: NotSupportedError on MySQL/MariaDB"
                self.report("select-for-update-no-key", kw["no_key"], message)
            if "of" in kw and not false(kw["of"].value):
                self.report("select-for-update-of", kw["of"], "FOR UPDATE OF: NotSupportedError on MariaDB")
        if method and name in ("bulk_create", "abulk_create"):
            self._bulk_create(kw)
        if method and name in ("iterator", "aiterator") and catalog.QUERYSET_HINTS & set(chain_names(node.func)):
            self.report("iterator-buffered", node, ".iterator(): the MySQL drivers fetch the whole result into memory")
        if method and name in ("update", "aupdate") and _ordered(node.func.value):
            message = ".order_by(...).update(): MySQL/MariaDB update in that order, PostgreSQL in any order"
            self.report("ordered-update", node, message)
        if name in ("AddIndex", "AddIndexConcurrently"):
            model = kw.get("model_name")
            self._index_model = model.value.value if model and isinstance(model.value, ast.Constant) else None
            self.generic_visit(node)
            self._index_model = None
            return
        if not node.args and catalog.PG_SYMBOLS.get(name) == "pg-index" and self._pg_index(node, name, kw):
            for part in node.keywords:
                self.visit(part)
            return
        if node.args and catalog.PG_SYMBOLS.get(name) == "pg-index" and self.target != MYSQL8:
            # Django creates no expression index on MariaDB (supports_expression_indexes is False), whatever its
            # type: a missing index (a performance risk), not a failure. MySQL 8 would build it, USING brin fails.
            message = f"{name} over expressions: MariaDB skips expression indexes without an error"
            self.report("index-skipped", node, message)
            for arg in node.args:
                self.visit(arg)
            for keyword in node.keywords:
                self.visit(keyword)
            return
        if name in ("Index", "UniqueConstraint") and not self._django_name(node.func):
            pass  # tantivy.Index(...), another library's class of the same name
        elif name == "Index" and (node.args or "condition" in kw or "include" in kw):
            self._skipped_index(node, kw)
        if name == "UniqueConstraint" and self._django_name(node.func):
            self._skipped_constraint(node, kw)
        if name == "Round" and node.args:
            self._round(node)
        if name.endswith("Field"):
            self._field_options(node, name, kw)
        self._raw_sql(node, name, kw, method)
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Div) and _f_name(node.left) and _f_name(node.right):
            names = [_f_name(node.left), _f_name(node.right)]
            kinds = set().union(*(self.fields.types_of(n or "") for n in names))
            if not kinds & _NUMBERS_NOT_INT:  # a FloatField or DecimalField operand makes it a real division
                message = (
                    f"F('{names[0]}') / F('{names[1]}'): integer division on PostgreSQL, a decimal on MySQL/MariaDB"
                )
                self.report("int-division", node, message)
        self.generic_visit(node)

    def _round(self, node: ast.Call) -> None:
        name = _f_name(node.args[0]) or (node.args[0].value if isinstance(node.args[0], ast.Constant) else None)
        if isinstance(name, str) and self.fields.types_of(name) == {"FloatField"}:
            message = f"Round() on FloatField '{name}': halves round differently on PostgreSQL and MySQL/MariaDB"
            self.report("round-float", node, message)

    # --- lookups ----------------------------------------------------------------------------------------------

    def _django_name(self, func: ast.expr) -> bool:
        """``models.Index`` or an ``Index`` imported from Django (not ``tantivy.Index``)."""
        if isinstance(func, ast.Name):
            origin = self.imports.get(func.id, "")
            return not origin or origin.startswith("django")  # unknown origin (a star import): assume Django's
        head = root_name(func)
        return head in ("models", "django") or self.imports.get(head, "").startswith("django")

    def _lookup_names(self, node: ast.Call) -> Iterator[tuple[str, ast.AST, ast.expr]]:
        for keyword in node.keywords:
            if keyword.arg and keyword.arg not in catalog.NOT_LOOKUPS:
                yield keyword.arg, keyword, keyword.value
            elif keyword.arg is None and isinstance(keyword.value, ast.Dict):  # **{"data__k__in": [...]}
                for key, value in zip(keyword.value.keys, keyword.value.values, strict=False):
                    if isinstance(key, ast.Constant) and isinstance(key.value, str):
                        yield key.value, key, value

    def _lookups(self, node: ast.Call) -> None:
        model = chain_model(node.func.value) if isinstance(node.func, ast.Attribute) else None
        for name, where, value in self._lookup_names(node):
            parts = name.split("__")
            for part in parts[1:]:
                if part in catalog.PG_LOOKUPS and part not in self.program.lookups:  # not the project's own
                    message = f"{name}: the '{part}' lookup exists only with django.contrib.postgres"
                    self.report("pg-lookup", where, message)
            pattern = value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else ""
            if parts[-1] in ("regex", "iregex") and ("\\b" in pattern or "\\y" in pattern):
                message = f"{name}: \\b and \\y mean different things in PostgreSQL and MySQL/MariaDB regexes"
                self.report("regex-word-boundary", where, message)
            if parts[-1] == "in" and _sliced_queryset(value):
                self.report("in-sliced-subquery", where, f"{name}=<sliced queryset>: LIMIT inside IN (subquery)")
            self._json_lookup(model, name, parts, where, value)

    def _json_lookup(
        self, model: str | None, name: str, parts: list[str], where: ast.AST, value: ast.expr | None = None
    ) -> None:
        index, resolved = self.fields.resolve(model, parts)
        if index is None:
            return
        rest = parts[index + 1 :]
        lookup, keys = (rest[-1], rest[:-1]) if rest and rest[-1] in catalog.LOOKUPS else ("exact", rest)
        # The parity suite's "exact" difference is about key values (1 vs '1', None vs 'null'); comparing a whole
        # document (data=None, data={...}) agreed, so it is left alone.
        if lookup not in self.json_notes or (lookup == "exact" and not keys):
            return
        if lookup == "exact" and not _number_like(value):
            return  # key="hello", key=variable: the measured difference is numbers and None read as text
        subject = f"key '{'__'.join(keys)}'" if keys else f"the whole '{parts[index]}' value"
        note = self.json_notes[lookup]
        how = "" if resolved else " (model not resolved: matched by the field name)"
        self.report(
            "json-lookup",
            where,
            f"{name}: JSON '{lookup}' on {subject} differs between PostgreSQL and MariaDB (dbbench parity)"
            + (f": {note}" if note else "")
            + how,
        )

    def _order_by(self, node: ast.Call) -> None:
        if "order_by" not in self.json_notes:
            return
        model = chain_model(node.func.value) if isinstance(node.func, ast.Attribute) else None
        for arg in node.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                parts = arg.value.lstrip("-?").split("__")
                index, _ = self.fields.resolve(model, parts)
                if index is not None and index + 1 < len(parts):
                    note = self.json_notes["order_by"]
                    message = f"order_by('{arg.value}') orders by a JSON key (dbbench parity)"
                    self.report("json-lookup", arg, message + (f": {note}" if note else ""))

    def _bulk_create(self, kw: dict[str, ast.keyword]) -> None:
        unique = kw.get("unique_fields")
        update = kw.get("update_conflicts")
        if unique and update and not false(unique.value) and not false(update.value):
            message = (
                "update_conflicts with unique_fields: MySQL/MariaDB raise NotSupportedError (they upsert on any "
                "unique key)"
            )
            self.report("upsert-unique-fields", unique, message)
        ignore = kw.get("ignore_conflicts")
        if ignore and not false(ignore.value):
            message = (
                "ignore_conflicts=True is INSERT IGNORE on MySQL/MariaDB, which also ignores other errors (not "
                "only duplicates)"
            )
            self.report("ignore-conflicts", ignore, message)


def _number_like(node: ast.expr | None) -> bool:
    """A literal MariaDB compares differently in a JSON key ``exact``: a number, None, or a number or "null" as
    text. A variable is not flagged: its type is unknown to a static reader."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    if not isinstance(node, ast.Constant) or isinstance(node.value, bool):
        return False
    if node.value is None or isinstance(node.value, int | float):
        return True
    text = str(node.value).strip().lower()
    try:
        float(text)
    except ValueError:
        return text == "null"
    return True


def _ordered(node: ast.expr) -> bool:
    """A call chain with ``.order_by(...)`` given fields (``.order_by()`` alone clears the ordering)."""
    while isinstance(node, ast.Call | ast.Attribute | ast.Subscript):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "order_by"
            and node.args
        ):
            return True
        node = node.func if isinstance(node, ast.Call) else node.value
    return False


def _f_name(node: ast.expr) -> str | None:
    """``F("price")`` -> ``price``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute) and node.args:
        func = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        arg = node.args[0]
        if func == "F" and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
    return None


def _sliced_queryset(node: ast.expr) -> bool:
    if not (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice)):
        return False
    return bool(catalog.QUERYSET_HINTS & set(chain_names(node.value)) | {"values_list"} & set(chain_names(node.value)))
