"""The per-file visitor: runs every rule over one parsed module, aware of vendor guards and the field index.

Static analysis cannot always know a queryset's model: the JSON rule resolves ``Model.objects.filter(...)``
through the project's field index and falls back to the field name only when the model is unknown (and the name
is a JSONField wherever it is declared), saying so in the message.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping

from dbbench.audit import catalog, guards
from dbbench.audit.astutil import callee, dotted
from dbbench.audit.fields import FieldIndex
from dbbench.audit.modelrules import ModelRules
from dbbench.audit.program import Program
from dbbench.audit.queryrules import QueryRules
from dbbench.audit.rules import HANDLED, MARIADB, RULES, Finding
from dbbench.audit.sqlrules import LazyScope, SqlRules

_NO_GUARD = (
    "no vendor or feature guard seen: not under an if/else on connection.vendor, an ENGINE string or "
    "connection.features, not after an early return on one, not in as_postgresql()/as_mysql(), not in a test "
    "class skipped off PostgreSQL (decorator, setUp/setUpClass, base class), not in a class registered per vendor, "
    "and no guarded name (of this module or imported) is used"
)
_SETTINGS_REFUSAL = (
    "accept the MySQL/MariaDB engine (ENGINE django.db.backends.mysql, OPTIONS charset utf8mb4) and add "
    "'django_mysql' to INSTALLED_APPS on the target: its system checks warn when strict mode or utf8mb4 is missing"
)
_PG_ENGINE = re.compile(r"(?i)postg|psycopg")
_IGNORE = re.compile(r"#\s*dbbench:\s*ignore(?:\[([\w\-, ]+)\])?")


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    stack = list(body)
    while stack:
        node = stack.pop()
        yield node
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            stack.extend(getattr(node, name, ()) or ())


def area_of(rel: str) -> str:
    parts = rel.lower().split("/")
    if "migrations" in parts[:-1] or "south_migrations" in parts[:-1]:
        return "migrations"
    name = parts[-1]
    if (
        any(p in ("tests", "test", "testing") for p in parts[:-1])
        or name.startswith("test")
        or name
        in (
            "conftest.py",
            "tests.py",
        )
    ):
        return "tests"
    return "app"


def _needs_driver(module: str, names: list[str]) -> bool:
    """Whether importing ``module`` (or ``names`` from it) loads psycopg, so fails without PostgreSQL's driver."""
    parts = module.split(".")
    if len(parts) > 3:
        return parts[3] in catalog.PG_NEEDS_DRIVER
    return not names or any(n in catalog.PG_NEEDS_DRIVER for n in names) or not set(names) <= _SUBMODULES


_SUBMODULES = frozenset(
    [
        "aggregates",
        "constraints",
        "expressions",
        "fields",
        "forms",
        "functions",
        "indexes",
        "lookups",
        "operations",
        "search",
        "signals",
        "serializers",
        "validators",
        "apps",
    ]
)


class ModuleAuditor(QueryRules, SqlRules, ModelRules, ast.NodeVisitor):
    """Runs every rule over one parsed file."""

    def __init__(
        self,
        file: str,
        source: str,
        fields: FieldIndex,
        json_notes: Mapping[str, str],
        target: str = MARIADB,
        guard_functions: Mapping[str, guards.Guard] | None = None,
        program: Program | None = None,
    ) -> None:
        self.file = file
        self.area = area_of(file)
        self.lines = source.splitlines()
        self.fields = fields
        self.json_notes = json_notes  # differing JSON lookup -> how it differs (from the parity suite)
        self.target = target
        self.findings: list[Finding] = []
        self.ignored = 0
        self.imports: dict[str, str] = {}
        self._seen: set[tuple[str, int, int, str]] = set()
        self._scopes: list[LazyScope] = []
        self._classes: list[LazyScope] = []
        self._class_names: list[str] = []  # enclosing classes, innermost last (a Meta's model is the one before)
        self._index_model: str | None = None  # AddIndex(model_name=...) being visited
        self._guards: list[guards.Guard] = []
        self._guard_functions = dict(guard_functions or {})
        self._guard_names: dict[str, guards.Guard] = {}
        self.program = program or Program()
        self._pending_else: list[ast.stmt] | None = None  # the statements after an "if ...: return" block
        self._decided: dict[int, tuple[guards.Guard | None, guards.Guard | None]] = {}  # if node -> its guards

    # --- reporting ----------------------------------------------------------------------------------------

    @property
    def guard(self) -> guards.Guard | None:
        return self._guards[-1] if self._guards else None

    def report(self, rule_id: str, node: ast.AST, message: str, instead: str | None = None) -> None:
        rule = RULES[rule_id]
        if self.target in rule.fine_on:
            return
        line, col = getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.end_lineno:
            # the line of ".method(", not of the chain's first name
            line, col = node.func.end_lineno, (node.func.end_col_offset or 0) - len(node.func.attr) + 1
        key = (rule_id, line, col, message)
        if key in self._seen:
            return
        self._seen.add(key)
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        ignore = _IGNORE.search(text)
        if ignore and (ignore.group(1) is None or rule_id in {r.strip() for r in ignore.group(1).split(",")}):
            self.ignored += 1
            return
        guard = self.guard or self._guard_in(node)
        severity = HANDLED if guard and not guard.refused else rule.severity
        if guard and guard.refused:
            message += f" [not handled: {guard.refused}]"
            why = f"under `{guard.text}`, but not handled: {guard.refused}"
        elif guard:
            message += f" [handled: under `{guard.text}`; verify on the target]"
            why = f"under `{guard.text}`" + (f", decided in {guard.origin}" if guard.origin else "")
        else:
            why = _NO_GUARD
        self.findings.append(
            Finding(
                self.file,
                line,
                col,
                rule_id,
                severity,
                message,
                instead or rule.instead,
                text.strip()[:160],
                rule.probes,
                guard.text if guard else "",
                self.area,
                why=why,
            )  # fmt: skip
        )

    def _guard_in(self, node: ast.AST) -> guards.Guard | None:
        """A guarded constant used in the flagged code (``select_for_update(of=OF_SELF)``)."""
        for sub in ast.walk(node):
            if isinstance(sub, ast.IfExp):  # unique_fields=[...] if connection.features.x else None
                inside, _ = guards.branches(sub.test, self._guard_names)
                if inside:
                    return inside
            name = sub.id if isinstance(sub, ast.Name) else sub.attr if isinstance(sub, ast.Attribute) else None
            if name in self._guard_names:
                return self._guard_names[name]
        return None

    def run(self, tree: ast.Module) -> list[Finding]:
        for node in _statements(tree.body):  # imports are statements: no need to walk every expression
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    self.imports[bound] = alias.name if alias.asname else bound
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        imported = self.program.imported_guards(self.file, tree)
        self._guard_names = {**self._guard_functions, **imported, **guards.guarded_names(tree)}
        self._scopes.append(LazyScope(tree.body, ()))
        self._block(tree.body)
        return sorted(self.findings, key=lambda f: (f.line, f.col, f.rule))

    # --- guards ---------------------------------------------------------------------------------------------

    def _under(self, guard: guards.Guard | None, nodes: list) -> None:
        if guard:
            self._guards.append(guard)
        self._block(nodes)
        if guard:
            self._guards.pop()

    def _block(self, nodes: list) -> None:
        """Visit a statement list; ``if vendor != 'postgresql': return`` guards the statements after it."""
        pushed = 0
        for i, node in enumerate(nodes):
            early = isinstance(node, ast.If) and not node.orelse and guards.exits(node.body)
            if early:
                self._pending_else = nodes[i + 1 :]
            self.visit(node)
            self._pending_else = None
            if early:
                _, rest = self._decided.pop(id(node), (None, None))
                if rest:
                    self._guards.append(rest)
                    pushed += 1
        del self._guards[len(self._guards) - pushed :]

    def visit_If(self, node: ast.If) -> None:
        body, orelse = guards.branches(node.test, self._guard_names)
        other = node.orelse or self._pending_else or []
        self._pending_else = None
        body, orelse = self._refusals(node, body, orelse, other)
        self._decided[id(node)] = (body, orelse)
        self.visit(node.test)
        self._under(body, node.body)
        self._under(orelse, node.orelse)

    def _refusals(
        self, node: ast.If, body: guards.Guard | None, orelse: guards.Guard | None, other: list[ast.stmt]
    ) -> tuple[guards.Guard | None, guards.Guard | None]:
        """A branch is handled only if its other side works on the target: a side that runs there and raises,
        exits or builds a queryset it never uses is a ``vendor-refusal`` blocker, and the code it "handles"
        is reported with its own severity and the reason."""
        kind, negated = guards.classify(node.test, self._guard_names)
        if kind is None:
            return body, orelse
        if kind == guards.FEATURE:
            missing = guards.missing_feature(node.test, self.target)
            if not missing:
                return body, orelse
            runs_body = negated  # "if not features.x:" runs its body when x is missing
        else:
            runs_body = body is None or body.kind == guards.MYSQL
        sides = [(node.body, body, orelse)] if runs_body else [(other, orelse, body)]
        for side, _, handled in sides:
            reason = guards.failure(side)
            if not reason:
                continue
            where = side[-1]
            instead = _SETTINGS_REFUSAL if "settings" in self.file.lower() else None
            self.report("vendor-refusal", where, f"on MySQL/MariaDB this branch {reason}", instead)
            refused = f"the other side {reason} (line {where.lineno})"
            if handled is not None:
                handled = guards.Guard(handled.kind, handled.text, handled.origin, refused)
            return (body, handled) if runs_body else (handled, orelse)
        return body, orelse

    def visit_IfExp(self, node: ast.IfExp) -> None:
        body, orelse = guards.branches(node.test, self._guard_names)
        self.visit(node.test)
        self._under(body, [node.body])
        self._under(orelse, [node.orelse])

    def visit_Try(self, node: ast.Try) -> None:
        names = {callee(h.type) for h in node.handlers if h.type is not None}
        names |= {callee(e) for h in node.handlers if isinstance(h.type, ast.Tuple) for e in h.type.elts}
        optional = names & {"ImportError", "ModuleNotFoundError"}
        self._under(guards.Guard(guards.FEATURE, "try/except ImportError") if optional else None, node.body)
        for part in (*node.handlers, *node.orelse, *node.finalbody):
            self.visit(part)

    visit_TryStar = visit_Try  # type: ignore[assignment]

    # --- imports and django.contrib.postgres names ----------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.startswith("django.contrib.postgres"):
                if not _needs_driver(alias.name, []):
                    continue
                self.report("pg-import", node, f"imports {alias.name}: PostgreSQL-only")
            elif alias.name.split(".")[0] in catalog.PG_MODULES or alias.name.startswith(catalog.PG_MODULES[0]):
                self.report("pg-driver-import", node, f"imports {alias.name}: loads only with PostgreSQL")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        names = [a.name for a in node.names]
        if module == "django.contrib" and "postgres" in names:
            module, names = "django.contrib.postgres", []
        listed = f" ({', '.join(names)})" if names else ""
        if node.level:
            return
        if module.startswith("django.contrib.postgres"):
            if not _needs_driver(module, names):
                return  # it loads without psycopg: the names it provides are reported where they are used
            self.report("pg-import", node, f"imports {module}{listed}: PostgreSQL-only")
        elif module.split(".")[0] in catalog.PG_MODULES or module.startswith(catalog.PG_MODULES[0]):
            self.report("pg-driver-import", node, f"imports {module}{listed}: loads only with PostgreSQL")

    def visit_Name(self, node: ast.Name) -> None:
        self._pg_reference(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if not self._pg_reference(node):
            self.generic_visit(node)

    def _pg_reference(self, node: ast.Name | ast.Attribute) -> bool:
        name = dotted(node)
        if not name:
            return False
        head, _, rest = name.partition(".")
        qualified = self.imports.get(head, head) + (f".{rest}" if rest else "")
        parts = qualified.split(".")
        if parts[:3] != ["django", "contrib", "postgres"] or len(parts) < 4:
            return False
        symbol = next((p for p in parts[3:] if p in catalog.PG_SYMBOLS), None)
        rule_id = catalog.PG_SYMBOLS.get(symbol or "") or (
            catalog.PG_SUBMODULES.get(parts[3]) if len(parts) > 4 else None
        )
        if rule_id is None:
            return False
        symbol = symbol or parts[-1]
        message = f"{symbol} is PostgreSQL-only (django.contrib.postgres)"
        self.report(rule_id, node, message, catalog.PG_ADVICE.get(symbol))
        return True

    def visit_Assign(self, node: ast.Assign | ast.AugAssign) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(callee(t) == "INSTALLED_APPS" for t in targets):
            self._installed_apps(node.value)
        self.generic_visit(node)

    visit_AugAssign = visit_Assign  # type: ignore[assignment]

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=False):
            text = value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else ""
            # Django's own postgresql engine is one line to change; a third-party backend built on it
            # (django_tenants.postgresql_backend, PostGIS) carries PostgreSQL-only behaviour with it
            custom = _PG_ENGINE.search(text) and not text.startswith("django.db.backends.")
            if isinstance(key, ast.Constant) and key.value == "ENGINE" and custom:
                self.report("pg-engine", value, f"ENGINE {text!r}: a backend built on PostgreSQL")
        self.generic_visit(node)

    def _installed_apps(self, value: ast.AST) -> None:
        for item in ast.walk(value):
            if isinstance(item, ast.Constant) and item.value in catalog.PG_APPS:
                message = f"'{item.value}' in INSTALLED_APPS: its fields, lookups and search need PostgreSQL"
                self.report("pg-app", item, message)

    # --- scopes (for resolving SQL held in names) -------------------------------------------------------------

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for deco in node.decorator_list:
            self.visit(deco)
        params = [a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)]
        params += [a.arg for a in (node.args.vararg, node.args.kwarg) if a]
        self._scopes.append(LazyScope(node.body, params))
        outer = self._guard_names
        local = guards.guarded_names(node)  # unique_fields = [...] if connection.features.x else None
        if local:
            self._guard_names = {**outer, **local}
        guard = guards.function_guard(node, self._guard_names)
        if guard:
            self._guards.append(guard)
        self._custom_sql_method(node)
        self._block(node.body)
        if guard:
            self._guards.pop()
        self._guard_names = outer
        self._scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for part in (*node.decorator_list, *node.bases, *node.keywords):
            self.visit(part)
        guard = guards.function_guard(node, self._guard_names)
        guard = guard or self.fields.inherited_guard([callee(b) for b in node.bases])
        guard = guard or self.program.registered.get(node.name)
        if guard:
            self._guards.append(guard)
        self._model_fields(node)
        scope = LazyScope(node.body, ())
        self._classes.append(scope)
        self._class_names.append(node.name)
        self._scopes.append(scope)  # class-body names, e.g. a Migration's SQL constant used in operations
        self._custom_sql_class(node)
        self._block(node.body)
        self._scopes.pop()
        self._classes.pop()
        self._class_names.pop()
        if guard:
            self._guards.pop()
