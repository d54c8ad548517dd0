"""Vendor and feature guards: code the project already runs only on some databases.

A guard is a test on ``connection.vendor``, on a settings ``ENGINE`` string, on ``connection.features.*``, a
``skipUnlessDBFeature``/``skipIf(connection.vendor ...)`` decorator, an ``as_postgresql``/``as_mysql`` method, or
a name bound to one of those (``OF_SELF = ("self",) if connection.features.has_select_for_update_of else ()``).
Findings under a guard are "handled: verify on the target"; SQL in a MySQL/MariaDB branch is read as MySQL.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

POSTGRES = "postgresql"  # the branch runs only off the MySQL family (PostgreSQL, SQLite, Oracle)
OTHER = "other"  # the branch runs only on SQLite or Oracle: its SQL is theirs, checked by neither reader
MYSQL = "mysql"  # the branch runs on MySQL/MariaDB
FEATURE = "feature"  # the branch depends on connection.features (or a DB-feature skip)

_VENDOR_WORDS = re.compile(r"(?i)(vendor|engine|backend|display_name|db_type|database_type)")
_PG_NAME = re.compile(r"(?i)^(is_|using_|on_|has_|use_)?(postgres|postgresql|pg|psql)(_db|_database|_backend)?$")
_MYSQL_NAME = re.compile(r"(?i)^(is_|using_|on_|use_)?(mysql|mariadb)(_db|_database|_backend)?$")
_METHODS = {"as_postgresql": POSTGRES, "as_sqlite": OTHER, "as_oracle": OTHER, "as_mysql": MYSQL}
_SETUPS = ("setUp", "setUpClass", "setUpTestData", "asyncSetUp", "setup_method", "setup_class")
_SKIP_CALLS = ("skipTest", "skip", "SkipTest", "skipif")
_SKIPS = re.compile(r"(?i)^(skip(Unless|If)DBFeature|skip_unless_db_feature|skipUnlessAnyDBFeature)$")


@dataclass(frozen=True)
class Guard:
    kind: str  # POSTGRES, MYSQL or FEATURE
    text: str  # the guard as written, shortened, for the finding's message
    origin: str = ""  # where a guard seen in another module was decided (file:line), for --explain
    refused: str = ""  # why the branch is not handled after all: its other side raises, exits or drops work


def _vendor_of(text: str) -> str | None:
    low = text.lower()
    if "mysql" in low or "mariadb" in low:
        return MYSQL
    if "postgres" in low or "psycopg" in low:
        return POSTGRES
    if "sqlite" in low or "oracle" in low:
        return OTHER
    return None


def _mentions_vendor(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        name = sub.attr if isinstance(sub, ast.Attribute) else sub.id if isinstance(sub, ast.Name) else None
        if name and _VENDOR_WORDS.search(name):
            return True
        # os.environ["DATABASE_ENGINE"], or a comparison with "django.db.backends.postgresql" itself
        text = sub.value if isinstance(sub, ast.Constant) and isinstance(sub.value, str) else ""
        if text == "vendor" or "ENGINE" in text.upper() or text.startswith("django.db.backends."):
            return True
    return False


def _mentions_features(node: ast.AST) -> bool:
    return any(
        (isinstance(sub, ast.Attribute) and sub.attr == "features")
        or (isinstance(sub, ast.Name) and sub.id == "features")
        for sub in ast.walk(node)
    )


def classify(test: ast.AST, names: dict[str, Guard] | None = None) -> tuple[str | None, bool]:
    """What a condition guards: (kind, negated). Kind None when it is not a vendor/feature test."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        kind, negated = classify(test.operand, names)
        return kind, not negated
    if isinstance(test, ast.BoolOp):
        kinds = [classify(v, names) for v in test.values]
        found = next((k for k in kinds if k[0]), (None, False))
        return found
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        strings = [n.value for n in (test.left, *test.comparators) if isinstance(n, ast.Constant)]
        strings += [
            e.value
            for n in test.comparators
            if isinstance(n, ast.Tuple | ast.List | ast.Set)
            for e in n.elts
            if isinstance(e, ast.Constant)
        ]
        text = " ".join(s for s in strings if isinstance(s, str))
        vendor = _vendor_of(text)
        if vendor and _mentions_vendor(test):
            negated = isinstance(test.ops[0], ast.NotEq | ast.NotIn | ast.IsNot)
            return vendor, negated
    if (
        isinstance(test, ast.Call)
        and isinstance(test.func, ast.Attribute)
        and test.func.attr in ("startswith", "endswith", "__contains__")
        and _mentions_vendor(test.func.value)
    ):
        vendor = _vendor_of(
            " ".join(a.value for a in test.args if isinstance(a, ast.Constant) and isinstance(a.value, str))
        )
        if vendor:
            return vendor, False
    if isinstance(test, ast.Call) and not test.args and isinstance(test.func, ast.Name | ast.Attribute):
        test = test.func  # is_postgres(): a function the project wrote to answer the question
    if isinstance(test, ast.Name | ast.Attribute):
        name = test.id if isinstance(test, ast.Name) else test.attr
        if names and name in names:
            return names[name].kind, False
        if _PG_NAME.match(name):
            return POSTGRES, False
        if _MYSQL_NAME.match(name):
            return MYSQL, False
    if _mentions_features(test):
        return FEATURE, False
    return None, False


def branches(test: ast.AST, names: dict[str, Guard] | None = None) -> tuple[Guard | None, Guard | None]:
    """The guards for an ``if``'s body and its ``else``: a branch that cannot run on the target is guarded."""
    kind, negated = classify(test, names)
    if kind is None:
        return None, None
    text = _short(test)
    if kind == FEATURE:
        guard = Guard(FEATURE, text)
        return guard, guard  # both sides: the project chose per feature
    inside = Guard(kind, text)
    # the other side of "vendor == 'postgresql'" runs on MySQL: unguarded; of "vendor == 'mysql'": off MySQL
    outside = Guard(POSTGRES, f"not ({text})") if kind == MYSQL else None
    return (outside, inside) if negated else (inside, outside)


def function_guard(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, names: dict[str, Guard]
) -> Guard | None:
    """A method named for a vendor, or a test skipped unless a vendor/feature holds."""
    if node.name in _METHODS:
        return Guard(_METHODS[node.name], f"{node.name}()")
    if isinstance(node, ast.ClassDef):
        methods = [s for s in node.body if isinstance(s, ast.FunctionDef)]
        if any(m.name == "as_mysql" for m in methods):  # its default SQL is for the others; MySQL gets as_mysql()
            return Guard(POSTGRES, f"{node.name} defines as_mysql()")
        refusal = next((r for r in (_refuses_off_postgres(m, names) for m in methods) if r), "")
        if refusal:
            return Guard(POSTGRES, f"{node.name} raises off PostgreSQL", refused=f"the class {refusal}")
        for method in methods:
            guard = _setup_skip(method, names) if method.name in _SETUPS else None
            if guard is not None:
                return Guard(guard.kind, f"{node.name}.{method.name}() skips the tests when {guard.text}")
    for deco in node.decorator_list:
        call = deco if isinstance(deco, ast.Call) else None
        func = call.func if call else deco
        fname = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if _SKIPS.match(fname):
            return Guard(FEATURE, _short(deco))
        if call and fname in ("skipUnless", "skipIf", "skipif") and call.args:
            kind, negated = classify(call.args[0], names)
            if kind is not None:
                runs_when_true = fname == "skipUnless"
                if kind == FEATURE or runs_when_true != negated:
                    return Guard(kind, _short(deco))
                return Guard(POSTGRES, _short(deco)) if kind == MYSQL else None
    return None


def _refuses_off_postgres(method: ast.FunctionDef, names: dict[str, Guard]) -> str:
    """``if connection.vendor != "postgresql": raise NotImplementedError(...)`` at the top of a method: the
    reason (the class refuses MySQL/MariaDB, so its PostgreSQL code is not handled), else ""."""
    for stmt in method.body[:3]:
        if isinstance(stmt, ast.If) and stmt.body and isinstance(stmt.body[-1], ast.Raise):
            inside, _ = branches(stmt.test, names)
            if inside is None and classify(stmt.test, names)[0] in (POSTGRES, OTHER):
                reason = failure(stmt.body)
                if reason:
                    return f"{reason} off PostgreSQL (line {stmt.body[-1].lineno})"
    return ""


def _setup_skip(method: ast.FunctionDef, names: dict[str, Guard]) -> Guard | None:
    """``if connection.vendor != "postgresql": self.skipTest(...)`` (or ``raise SkipTest``) in a set-up method:
    the guard the class's tests run under."""
    for stmt in method.body[:4]:
        if isinstance(stmt, ast.If) and stmt.body and _skips(stmt.body[-1]) and not stmt.orelse:
            _, rest = branches(stmt.test, names)
            if rest is not None:
                return Guard(rest.kind, _short(stmt.test))
    return None


def _skips(stmt: ast.stmt) -> bool:
    call = stmt.value if isinstance(stmt, ast.Expr) else stmt.exc if isinstance(stmt, ast.Raise) else None
    func = call.func if isinstance(call, ast.Call) else call
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in _SKIP_CALLS


_EXITS = ("exit", "_exit", "quit")


def failure(body: list[ast.stmt]) -> str:
    """How a branch fails when it runs: "raises X", "exits", "builds a queryset that is never evaluated"; ""
    when it works (as far as a static reader can tell)."""
    if not body:
        return ""
    last = body[-1]
    if isinstance(last, ast.Raise) and last.exc is not None and not _skips(last):
        exc = last.exc.func if isinstance(last.exc, ast.Call) else last.exc
        name = exc.attr if isinstance(exc, ast.Attribute) else exc.id if isinstance(exc, ast.Name) else "an error"
        return f"raises {name}"
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        func = last.value.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in _EXITS:
            return f"exits ({ast.unparse(func)})"
    if all(_unused_queryset(s) for s in body):
        return "builds a queryset that is never evaluated"
    return ""


_QUERYSET_METHODS = frozenset(
    [
        "filter",
        "exclude",
        "select_for_update",
        "order_by",
        "distinct",
        "annotate",
        "values",
        "values_list",
        "select_related",
        "prefetch_related",
        "only",
        "defer",
        "using",
        "all",
        "none",
    ]
)


def _unused_queryset(stmt: ast.stmt) -> bool:
    """``qs.select_for_update()`` as a statement: querysets are lazy, so the call does nothing."""
    value = stmt.value if isinstance(stmt, ast.Expr) else None
    return (
        isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in _QUERYSET_METHODS
    )


def exits(body: list[ast.stmt]) -> bool:
    """A branch that leaves the enclosing block (``if vendor != 'postgresql': return``)."""
    return bool(body) and isinstance(body[-1], ast.Return | ast.Raise | ast.Continue | ast.Break)


def guarded_names(tree: ast.AST) -> dict[str, Guard]:
    """Module and class constants computed from a guard: their uses are guarded too."""
    names: dict[str, Guard] = {}
    for node in _module_and_class_statements(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            test = node.value.test if isinstance(node.value, ast.IfExp) else node.value
            if isinstance(test, ast.Attribute) and test.attr in ("features", "connection", "vendor"):
                continue  # features = connection.features is an alias, not a decision
            kind, _ = classify(test, names)
            if kind is None:
                continue
            for target in targets:
                name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", None)
                if name:
                    names[name] = Guard(kind, f"{name} = {_short(node.value)}")
    return names


def _module_and_class_statements(tree: ast.AST) -> list[ast.stmt]:
    """Statements at module level and in class bodies (where constants live), not inside functions."""
    found: list[ast.stmt] = []
    stack = list(getattr(tree, "body", []))
    while stack:
        node = stack.pop()
        found.append(node)
        if isinstance(node, ast.ClassDef | ast.If | ast.Try):
            stack.extend(node.body)
            stack.extend(getattr(node, "orelse", []))
    return found


def _short(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 70 else text[:67] + "..."


def guard_functions(trees_returns: list[tuple[str, ast.expr]]) -> dict[str, Guard]:
    """Functions that return a guard (``def is_postgres(): return connection.vendor == "postgresql"``), across
    the project; a few rounds so that functions built on them (``is_postgres() and x``) count too."""
    found: dict[str, Guard] = {}
    for _ in range(3):
        for name, value in trees_returns:
            if name not in found:
                kind, negated = classify(value, found)
                if kind is not None and not negated:
                    found[name] = Guard(kind, f"{name}()")
    return found


def returns_of(tree: ast.AST) -> list[tuple[str, ast.expr]]:
    """(function name, returned expression) for one-statement-return functions and methods."""
    out: list[tuple[str, ast.expr]] = []
    for node in _module_and_class_statements(tree):
        if isinstance(node, ast.FunctionDef) and node.body:
            last = node.body[-1]
            if isinstance(last, ast.Return) and last.value is not None and len(node.body) <= 3:
                out.append((node.name, last.value))
    return out


def missing_feature(test: ast.AST, target: str) -> str:
    """The ``connection.features`` flag a test reads that is false on ``target`` ("" when none is known to be)."""
    from dbbench.audit.features import missing

    for sub in ast.walk(test):
        if isinstance(sub, ast.Attribute) and callee_name(sub.value) == "features" and sub.attr in missing(target):
            return sub.attr
    return ""


def callee_name(node: ast.AST) -> str:
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
