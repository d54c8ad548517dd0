"""Rules on SQL held in Python: raw SQL calls, custom lookups/expressions/fields, and joined comprehensions.

The SQL rules only see SQL that is a literal, an f-string, a concatenation or a ``.format()``/``%`` template, or a
name bound once to one of those. SQL in a MySQL/MariaDB branch is read as MySQL, never as PostgreSQL.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from typing import Any

from dbbench.audit import catalog, guards
from dbbench.audit.astutil import chain_names, root_name
from dbbench.audit.rules import MYSQL8
from dbbench.audit.sql import PG_OPERATORS, REWRITE, SEMANTICS, UNTRANSLATABLE, check_mysql, check_sql

_TEMPLATE_VARS = re.compile(r"%\(\w+\)s|%s")
# Constructs MySQL 8 has (MariaDB does not): not a finding when the target is MySQL 8.
_FINE_ON_MYSQL8 = ("->> text extraction", "LATERAL", "~ regular expression")
_MARIADB_SEQUENCE_EXTRAS = re.compile(r"(?i)\bOWNED\s+BY\b|\bAS\s+\w+|;\s*\S")  # or more statements after it
_SQL_START = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|WITH|TRUNCATE)\b", re.IGNORECASE)
_STRING = re.compile(r"""(?s)[rRbBuUfF]{0,2}('''.*?'''|\"\"\".*?\"\"\"|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")""")


def callee(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


class SqlRules:
    """Mixed into :class:`~dbbench.audit.auditor.ModuleAuditor` (which provides ``report``, scopes and guards)."""

    target: str
    report: Any
    guard: Any
    _scopes: list[LazyScope]
    _classes: list[LazyScope]

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
            manager = bool({"objects", "_default_manager", "using"} & set(chain_names(receiver)))
            self._check_sql(arg(0, "raw_query"), ".raw()", strict=manager)
        elif method and name in ("execute", "executemany") and receiver is not None:
            if self._foreign_database(receiver):
                return  # sqlite3.connect(...).cursor(): a side database, not the project's Django one
            names = {root_name(receiver), *chain_names(receiver)}
            if "sqlite3" in self.imports and not {"connection", "connections", "schema_editor"} & names:
                return  # a module working on its own sqlite3 file (conn: sqlite3.Connection passed in)
            cursorish = isinstance(receiver, ast.Call) and callee(receiver.func) == "cursor"
            cursorish = cursorish or bool(catalog.CURSOR_NAME.search(callee(receiver)))
            self._check_sql(arg(0, "sql", "operation", "query"), f"{name}()", strict=cursorish)
        elif method and name == "extra":
            where = kw.get("where")
            for item in where.value.elts if where and isinstance(where.value, ast.List | ast.Tuple) else []:
                self._check_sql(item, ".extra(where=...)", strict=True, fragment="condition")
            select = kw.get("select")
            for item in select.value.values if select and isinstance(select.value, ast.Dict) else []:
                self._check_sql(item, ".extra(select=...)", strict=True, fragment="expression")
        elif method and name == "join" and isinstance(receiver, ast.Constant) and node.args:
            # ", ".join(f"pg_advisory_xact_lock({k})" for k in keys): the element is the SQL to read
            comp = node.args[0]
            if isinstance(comp, ast.GeneratorExp | ast.ListComp):
                # a conditional element (f"a({k})" if shared else f"b({k})") is both of its SQL texts
                parts = [comp.elt.body, comp.elt.orelse] if isinstance(comp.elt, ast.IfExp) else [comp.elt]
                texts = [self._sql_text(p) for p in parts]
                text = ", ".join(t for t in texts if t) if all(texts) else None
                self._check_sql(
                    comp.elt, "joined SQL", strict=False, fragment="expression", only_untranslatable=True, text=text
                )
        if "template" in kw or "function" in kw:
            self._check_template(kw.get("template"), kw.get("function"), f"{name}(template=...)", kw.get("arg_joiner"))

    def _check_sql(
        self,
        node: ast.expr | None,
        via: str,
        *,
        strict: bool,
        fragment: str | None = None,
        only_untranslatable: bool = False,
        text: str | None = None,
    ) -> None:
        if node is None or (isinstance(node, ast.Attribute) and node.attr == "noop"):
            return
        text = text if text is not None else self._sql_text(node)
        if text is None and isinstance(node, ast.Name) and self._scopes:
            choices = self._scopes[-1].bindings(node.id)  # sql = "..." in each branch of an if: check each
            texts = [self._sql_text(value) for value in choices]
            if len(texts) > 1 and all(t is not None for t in texts):
                for choice in dict.fromkeys(texts):
                    self._check_sql(node, via, strict=strict, fragment=fragment, text=choice)
                return
        if text is None:
            if strict and not self._djangos_own(node):
                self.report("raw-sql-dynamic", node, f"{via}: SQL built at run time; dbbench cannot check it")
            return
        if text is not None and not text.strip():
            return  # RunSQL(sql="") is a no-op
        if self.guard is not None and self.guard.kind == guards.OTHER:
            return  # SQLite/Oracle-only SQL: it never runs on PostgreSQL or on the target
        if self.guard is not None and self.guard.kind == guards.MYSQL:
            error = check_mysql(text)  # a MySQL/MariaDB branch: its SQL is MySQL's, never judged as PostgreSQL
            if error and strict:
                self.report("raw-sql-unparsed", node, f"{via}: sqlglot cannot read this as MySQL ({error})")
            return
        check = check_sql(text, fragment=fragment)
        if check.parse_error and catalog.EXPR in text:  # f"{cte()} SELECT ...": the unreadable part is run-time
            if strict:
                self.report("raw-sql-dynamic", node, f"{via}: SQL built at run time; dbbench cannot check it")
            return
        if check.parse_error:
            if strict:
                message = f"{via}: sqlglot cannot read this as PostgreSQL ({check.parse_error})"
                self.report("raw-sql-unparsed", node, message)
            return
        skip: tuple[str, ...] = _FINE_ON_MYSQL8 if self.target == MYSQL8 else ()
        if self.target != MYSQL8 and not _MARIADB_SEQUENCE_EXTRAS.search(text):
            skip = ("statement CREATE SEQUENCE",)  # MariaDB 10.3+ has sequences (not OWNED BY, not AS type)
        self._report_constructs(node, via, check, only_untranslatable, skip)

    def _report_constructs(
        self, node: ast.AST, via: str, check: Any, only_untranslatable: bool = False, skip: tuple[str, ...] = ()
    ) -> None:
        bad = [c for c in check.of_kind(UNTRANSLATABLE) if c.label not in skip]
        if bad:
            message = f"{via}: no faithful MySQL/MariaDB translation for {_labels(bad)}"
            self.report("raw-sql-untranslatable", node, message, _advice(bad))
        if only_untranslatable:
            return
        rewrite = check.of_kind(REWRITE)
        if rewrite:
            if check.translation:
                instead = f"MySQL/MariaDB version (sqlglot): {check.translation}"
            else:
                instead = "no faithful rewrite: " + _advice(rewrite)
            message = f"{via}: PostgreSQL syntax that fails or misreads on MySQL/MariaDB: {_labels(rewrite)}"
            self.report("raw-sql-rewrite", node, message, instead[:400])
        semantics = check.of_kind(SEMANTICS)
        if semantics:
            message = f"{via}: runs on MySQL/MariaDB but returns different results: {_labels(semantics)}"
            self.report("raw-sql-semantics", node, message, _advice(semantics))

    # --- custom lookups, expressions and fields ------------------------------------------------------------

    def _check_template(self, template: Any, function: Any, via: str, joiner: Any = None) -> None:
        """Func/Lookup SQL: ``template = "%(left)s || %(right)s"``, ``function = "jsonb_set"``, ``arg_joiner``."""
        template, function, joiner = (
            n.value if isinstance(n, ast.keyword) else n for n in (template, function, joiner)
        )
        fname = function.value if isinstance(function, ast.Constant) and isinstance(function.value, str) else None
        glue = joiner.value if isinstance(joiner, ast.Constant) and isinstance(joiner.value, str) else ", "
        if isinstance(template, ast.Constant) and isinstance(template.value, str):
            text = template.value.replace("%(function)s", fname or catalog.EXPR)
            text = text.replace("%(expressions)s", f"{catalog.EXPR}{glue}{catalog.EXPR}")
            text = _TEMPLATE_VARS.sub(catalog.EXPR, text).replace("%%", "%")
            check = check_sql(text, fragment="expression")
            if not check.parse_error:
                self._report_custom(template, via, check)
            else:
                self._pg_operators(template, via, text)
        elif fname and re.fullmatch(r"\w+", fname):
            check = check_sql(f"{fname}({catalog.EXPR})", fragment="expression")
            self._report_custom(function, via.replace("template", "function"), check)

    def _foreign_database(self, node: ast.expr, depth: int = 0) -> bool:
        """A cursor or connection made by a DB-API module directly (``sqlite3.connect(...)``), never Django's."""
        if depth > 5:
            return False
        if isinstance(node, ast.Call):
            if _FOREIGN_DRIVERS & set(chain_names(node.func)):
                return True
            func = node.func
            return isinstance(func, ast.Attribute) and self._foreign_database(func.value, depth + 1)
        if isinstance(node, ast.Attribute):
            return self._foreign_database(node.value, depth + 1)
        if isinstance(node, ast.Name):
            for scope in reversed(self._scopes):
                if node.id in scope:
                    value = scope[node.id]
                    return value is not None and self._foreign_database(value, depth + 1)
        return False

    def _pg_operators(self, node: ast.AST, via: str, text: str) -> None:
        """SQL sqlglot cannot read (``%s >>= %s``): PostgreSQL-only operators found by pattern."""
        found = sorted(set(PG_OPERATORS.findall(text)))
        if found:
            if self.guard is not None and self.guard.kind in (guards.MYSQL, guards.OTHER):
                return
            labels = ", ".join(f"{op} operator" for op in found)
            advice = "no MySQL/MariaDB operator: an as_mysql() with equivalent SQL, or filter in Python"
            self.report("pg-sql-expression", node, f"{via}: PostgreSQL SQL: {labels}", advice)

    def _djangos_own(self, node: ast.expr) -> bool:
        """SQL Django writes per vendor itself: ``connection.ops.sequence_reset_sql(...)`` (or ``sql_flush``), run
        directly, through a name, or by a loop over it."""
        if _from_ops(node):
            return True
        if not isinstance(node, ast.Name) or not self._scopes:
            return False
        scope = self._scopes[-1]
        value = scope.get(node.id)
        if value is not None:
            return _from_ops(value)
        for sub in _walk_scope(scope.body):
            if isinstance(sub, ast.For) and isinstance(sub.target, ast.Name) and sub.target.id == node.id:
                source = sub.iter
                if isinstance(source, ast.Name):
                    source = scope.get(source.id) or source
                return _from_ops(source)
        return False

    def _report_custom(self, node: ast.AST, via: str, check: Any) -> None:
        if self.guard is not None and self.guard.kind in (guards.MYSQL, guards.OTHER):
            return  # SQL for MySQL/MariaDB (or SQLite/Oracle) only: never judged as PostgreSQL
        bad = [*check.of_kind(UNTRANSLATABLE), *check.of_kind(REWRITE)]
        if bad:
            self.report("pg-sql-expression", node, f"{via}: PostgreSQL SQL: {_labels(bad)}", _advice(bad))

    def _custom_sql_class(self, node: ast.ClassDef) -> None:
        attrs = {
            s.targets[0].id: s.value
            for s in node.body
            if isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name)
        }
        if "template" in attrs or "function" in attrs:
            via = f"{node.name}.template"
            self._check_template(attrs.get("template"), attrs.get("function"), via, attrs.get("arg_joiner"))

    def _custom_sql_method(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if node.name == "db_type":
            for value in _returns(node):
                if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value.strip():
                    check = check_sql(f"CREATE TABLE dbbench_t (c {value.value})")
                    if not check.parse_error:
                        self._report_custom(value, f"{node.name}() column type", check)
        elif node.name in ("as_sql", "as_postgresql"):
            for value in _returns(node):
                first = value.elts[0] if isinstance(value, ast.Tuple) and value.elts else value
                text = self._sql_text(first)
                if text is not None and not _TEMPLATE_VARS.fullmatch(text.strip()):
                    check = check_sql(_TEMPLATE_VARS.sub(catalog.EXPR, text), fragment="expression")
                    if not check.parse_error:
                        self._report_custom(first, f"{node.name}()", check)
                    else:
                        self._pg_operators(first, f"{node.name}()", text)

    def scan_strings(self, source: str) -> None:
        """For a file this Python cannot parse: read SQL-looking string literals with a regex."""
        for match in _STRING.finditer(source):
            body = match.group(1)
            quote = 3 if body[:3] in ('"""', "'''") else 1
            text = body[quote:-quote]
            if _SQL_START.match(text):
                node = ast.Constant(text)
                node.lineno, node.col_offset = source.count("\n", 0, match.start()) + 1, 0
                self._check_sql(node, "SQL string", strict=False)

    def _sql_text(self, node: ast.expr, depth: int = 0) -> str | None:
        """The SQL a node evaluates to, with run-time parts replaced by a placeholder identifier; None if unknown."""
        if depth > 8:
            return None
        if isinstance(node, ast.Constant):
            return node.value if isinstance(node.value, str) else None
        if isinstance(node, ast.JoinedStr):
            parts = (v.value if isinstance(v, ast.Constant) else catalog.EXPR for v in node.values)
            return "".join(str(p) for p in parts)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self._sql_text(node.left, depth + 1), self._sql_text(node.right, depth + 1)
            return None if left is None and right is None else (left or catalog.EXPR) + (right or catalog.EXPR)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            left = self._sql_text(node.left, depth + 1)
            return None if left is None else re.sub(r"%(\([^)]*\))?[sdfr]", catalog.EXPR, left).replace("%%", "%")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "format":
                base = self._sql_text(node.func.value, depth + 1)
                if base is not None:
                    return re.sub(r"\{[^{}]*\}", catalog.EXPR, base).replace("{{", "{").replace("}}", "}")
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


_FOREIGN_DRIVERS = frozenset({"sqlite3", "duckdb", "apsw", "clickhouse_driver", "pymssql", "cx_Oracle", "oracledb"})


def _from_ops(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and "ops" in chain_names(node.func)


class LazyScope:
    """A scope's constants, computed on the first SQL name looked up in it (most scopes never are)."""

    def __init__(self, body: list[ast.stmt], params: Iterable[str]) -> None:
        self._body, self._params = body, tuple(params)
        self.body = body
        self._names: dict[str, ast.expr | None] | None = None

    @property
    def names(self) -> dict[str, ast.expr | None]:
        if self._names is None:
            self._names = constants(self._body, self._params)
        return self._names

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __getitem__(self, name: str) -> ast.expr | None:
        return self.names[name]

    def get(self, name: str) -> ast.expr | None:
        return self.names.get(name)

    def bindings(self, name: str) -> list[ast.expr]:
        """Every value a name is bound to by a plain assignment in this scope (empty if any other binding)."""
        found: list[ast.expr] = []
        for node in _walk_scope(self.body):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                if len(node.targets) != 1:
                    return []
                found.append(node.value)
            elif isinstance(node, ast.For | ast.AugAssign | ast.NamedExpr) and name in {
                n.id for n in ast.walk(getattr(node, "target", node)) if isinstance(n, ast.Name)
            }:
                return []
        return found


def constants(body: list[ast.stmt], params: Iterable[str]) -> dict[str, ast.expr | None]:
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


def _returns(node: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.expr]:
    for sub in _walk_scope(node.body):
        if isinstance(sub, ast.Return) and sub.value is not None:
            yield sub.value


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
    by_advice: dict[str, list[str]] = {}  # constructs that share advice (two advisory lock calls) share one line
    for c in constructs:
        by_advice.setdefault(c.advice, []).append(c.label)
    return "; ".join(f"{', '.join(labels)}: {advice}" for advice, labels in by_advice.items())
