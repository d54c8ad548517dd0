"""Rules on model declarations: case-insensitive uniqueness, collations, indexes and constraints MySQL skips."""

from __future__ import annotations

import ast
import re
from typing import Any

from dbbench.audit import catalog
from dbbench.audit.astutil import callee
from dbbench.audit.rules import MYSQL8

# Values that are lower-case (or case-free) by construction: digests, tokens, UUIDs, hex keys.
# Codes from standards that fix or ignore case (BCP 47 language tags, ISO 3166 countries, ISO 4217 currencies).
_CASE_FREE = re.compile(
    r"(?i)(hash|digest|sha\d*|md5|checksum|fingerprint|uuid|token|hex|nonce|signature|session_key|phone|number$|"
    r"^(language|lang|locale)(_code)?$|^(country|currency)(_code)?$|^iso_?\d*|^language_code$)"
)


def _kw(call: ast.Call) -> dict[str, ast.keyword]:
    return {k.arg: k for k in call.keywords if k.arg}


def _false(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return not node.value
    return isinstance(node, ast.Tuple | ast.List) and not node.elts


# Field types whose columns MySQL/MariaDB cannot index without a key length (TEXT, JSON) or cannot create at all.
_UNINDEXABLE = ("TextField", "JSONField", "SearchVectorField", "ArrayField", "HStoreField", "RangeField", "CITextField")


class ModelRules:
    """Mixed into :class:`~dbbench.audit.auditor.ModuleAuditor` (which provides ``report`` and ``target``)."""

    target: str
    report: Any
    fields: Any
    _class_names: list[str]
    _index_model: str | None

    def _skipped_index(self, node: ast.Call, kw: dict[str, ast.keyword]) -> None:
        reasons = [f"{k}= ({catalog.SKIPPED_OPTIONS[k]})" for k in ("condition", "include") if k in kw]
        if node.args and self.target != MYSQL8:  # MySQL 8.0.13+ builds functional indexes
            reasons.insert(0, "expressions (MariaDB has no expression indexes; MySQL 8.0.13+ has)")
        if not reasons:
            return
        who = (
            "MariaDB skips"
            if reasons == reasons[:1] and node.args and self.target != MYSQL8
            else "MySQL and MariaDB skip"
        )
        self.report("index-skipped", node, f"Index with {', '.join(reasons)}: {who} it without an error")

    def _skipped_constraint(self, node: ast.Call, kw: dict[str, ast.keyword]) -> None:
        reasons = [f"{k}= ({catalog.SKIPPED_OPTIONS[k]})" for k in catalog.SKIPPED_OPTIONS if k in kw]
        if node.args and self.target != MYSQL8:
            reasons.insert(0, "expressions (MariaDB has no expression indexes; MySQL 8.0.13+ has)")
        if reasons:
            who = (
                "MariaDB skips"
                if len(reasons) == 1 and node.args and self.target != MYSQL8
                else "MySQL and MariaDB skip"
            )
            message = f"UniqueConstraint with {', '.join(reasons)}: {who} it without an error"
            message += " (the database does not check it)"
            self.report("constraint-skipped", node, message)

    def _pg_index(self, node: ast.Call, name: str, kw: dict[str, ast.keyword]) -> bool:
        """A django.contrib.postgres index on MySQL/MariaDB: Django's MySQL schema editor leaves out ``USING gin``
        (its CREATE INDEX template has no ``%(using)s``), so the index is built as a plain B-tree. That fails only
        with storage parameters (``WITH (...)``), operator classes, or a TEXT/JSON column (no key length); a
        BTreeIndex is then the same index. Returns False when it cannot tell (the reference rule reports it)."""
        params = set(kw) - {"fields", "name", "db_tablespace", "condition", "include"}
        model = self._index_model or (self._class_names[-2] if len(self._class_names) > 1 else None)
        columns = kw.get("fields")
        if params or model is None or columns is None or not isinstance(columns.value, ast.List | ast.Tuple):
            return False
        kinds = self.fields.models.get(model.lower(), {})
        names = [e.value.lstrip("-") for e in columns.value.elts if isinstance(e, ast.Constant)]
        # "channel_id" is the column of the relation "channel" (an integer key: indexable)
        types = [kinds.get(n) or (kinds.get(n[:-3]) if n.endswith("_id") else None) for n in names]
        if not names or any(t is None or t.endswith(_UNINDEXABLE) for t in types):
            return False  # a TEXT/JSON/array column, or one it cannot resolve: the pg-index blocker stands
        if "condition" in kw or "include" in kw:  # Django skips a partial or covering index there altogether
            self._skipped_index(node, kw)
        elif name != "BTreeIndex":
            message = f"{name} on {', '.join(names)}: MySQL/MariaDB build a plain B-tree index instead"
            self.report("pg-index-plain", node, message)
        return True

    def _field_options(self, node: ast.Call, name: str, kw: dict[str, ast.keyword]) -> None:
        collation = kw.get("db_collation")
        value = collation.value if collation else None
        named = isinstance(value, ast.Constant) and isinstance(value.value, str) and bool(value.value)
        if named and not catalog.MYSQL_COLLATION.match(value.value):
            message = f"db_collation={value.value!r} is not a MySQL/MariaDB collation: the migration fails there"
            self.report("db-collation", collation or node, message)
        key = next((kw[k] for k in _KEY_OPTIONS if k in kw and not _false(kw[k].value)), None)
        if name.endswith("TextField") and key is not None:
            self.report(
                "text-key",
                key,
                f"TextField({key.arg}=True): MySQL/MariaDB cannot key a TEXT column without a prefix length "
                "(error 1170), so the migration and the test database fail there",
            )
        index = kw.get("db_index")
        if name.endswith("JSONField") and index and not _false(index.value):
            self.report("json-db-index", index, "JSONField(db_index=True): MySQL/MariaDB create no index")

    # --- model classes: case-insensitive uniqueness -----------------------------------------------------------

    def _model_fields(self, node: ast.ClassDef) -> None:
        strings: dict[str, ast.Call] = {}
        normalised = _normalised_fields(node)
        for stmt in node.body:
            target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else None
            target = stmt.target if isinstance(stmt, ast.AnnAssign) else target
            value = stmt.value if isinstance(stmt, ast.Assign | ast.AnnAssign) else None
            if not (isinstance(target, ast.Name) and isinstance(value, ast.Call)):
                continue
            if callee(value.func) not in catalog.STRING_FIELDS or not _case_matters(target.id, value):
                continue
            if target.id in normalised:
                continue
            strings[target.id] = value
            kw = _kw(value)
            unique = next((kw[k] for k in ("unique", "primary_key") if k in kw and not _false(kw[k].value)), None)
            if unique is not None and not callee(value.func).endswith("TextField"):  # text-key: no table at all
                self._ci_unique(value, f"{target.id} ({callee(value.func)}, {unique.arg}=True)")
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
                    if isinstance(call, ast.Call) and callee(call.func) == "UniqueConstraint":
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


_KEY_OPTIONS = ("primary_key", "unique", "db_index")


def _case_matters(name: str, call: ast.Call) -> bool:
    """Whether two values of this field can differ only by case: not with choices=, digests or an explicit
    collation (the db-collation rule covers that)."""
    kw = _kw(call)
    if "db_collation" in kw or "choices" in kw:
        return False
    return not _CASE_FREE.search(name)


def _normalised_fields(node: ast.ClassDef) -> set[str]:
    """Fields the model's save()/clean() rewrite from themselves (``self.code = self.code.upper()``,
    ``self.q = normalise(self.q)``): their case is fixed before the database sees them."""
    found: set[str] = set()
    for method in node.body:
        if not (isinstance(method, ast.FunctionDef) and method.name in ("save", "clean", "full_clean", "__init__")):
            continue
        for stmt in ast.walk(method):
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
                continue
            target = stmt.targets[0]
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
                reads = {
                    sub.attr
                    for sub in ast.walk(stmt.value)
                    if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == "self"
                }
                if target.attr in reads and isinstance(stmt.value, ast.Call):
                    found.add(target.attr)
    return found
