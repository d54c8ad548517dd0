"""The project-wide pass, run before the per-file rules: what the whole program decides per vendor.

A guard is often decided in one module and used in another: ``OF_SELF = lazy(lambda: ("self",) if
connection.features.has_select_for_update_of else (), tuple)()`` in a helpers module, then
``select_for_update(of=OF_SELF)`` in fifty places; a lookup class registered with ``register_lookup`` only on one
vendor; a project's own ``search`` lookup that replaces ``django.contrib.postgres``'s. Reading one file at a time
calls those blockers. This pass records, per module, the module-level names computed from a guard, the lookup names
the project defines, and the classes registered under a vendor test, so that :class:`ModuleAuditor` can follow them
through imports (``from helpers import OF_SELF``, ``from pkg import helpers``, relative imports).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field

from dbbench.audit import guards
from dbbench.audit.astutil import callee


def module_name(rel: str) -> str:
    """``shop/db.py`` -> ``shop.db``; ``shop/__init__.py`` -> ``shop``."""
    parts = rel[: -len(".py")].split("/") if rel.endswith(".py") else rel.split("/")
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@dataclass
class Program:
    """What the whole project decides per vendor, collected file by file in the audit's first pass."""

    names: dict[str, dict[str, guards.Guard]] = field(default_factory=dict)  # module -> guarded names
    lookups: set[str] = field(default_factory=set)  # lookup_name values of the project's own lookups
    registered: dict[str, guards.Guard] = field(default_factory=dict)  # class -> guard of its register_lookup
    _suffixes: dict[str, str] = field(default_factory=dict)  # "pkg.helpers" -> "src.pkg.helpers"

    def add_file(self, rel: str, tree: ast.Module, source: str = "lookup_name register_lookup") -> None:
        """Record one module; ``source`` lets files that never mention lookups skip the walks for them (most do:
        the walks were a third of the audit's time on a 4,300-file project)."""
        module = module_name(rel)
        found = guards.guarded_names(tree)
        if found:
            self.names[module] = {
                name: guards.Guard(g.kind, g.text, origin=f"{rel}:{_line_of(tree, name)}") for name, g in found.items()
            }
            parts = module.split(".")
            for start in range(1, len(parts) - 1):  # a src/ layout imports "pkg.helpers", not "src.pkg.helpers"
                self._suffixes.setdefault(".".join(parts[start:]), module)
        if "lookup_name" in source:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    for stmt in node.body:
                        if _assigns(stmt, "lookup_name") and isinstance(stmt.value, ast.Constant):
                            self.lookups.add(str(stmt.value.value))
        if "register_lookup" in source:
            for cls, guard in _registrations(tree, {}, None):
                self.registered.setdefault(cls, guards.Guard(guard.kind, guard.text, origin=rel))

    def guarded(self, module: str) -> dict[str, guards.Guard]:
        return self.names.get(module) or self.names.get(self._suffixes.get(module, ""), {})

    def imported_guards(self, rel: str, tree: ast.Module) -> dict[str, guards.Guard]:
        """The guarded names a module imports from other modules of the project (by name or as attributes)."""
        if not self.names:
            return {}
        here = module_name(rel).split(".")
        found: dict[str, guards.Guard] = {}
        for node in _imports(tree):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # from .helpers import X: relative to this module's package
                    package = here if rel.endswith("__init__.py") else here[:-1]
                    package = package[: len(package) - (node.level - 1)]
                    base = ".".join([*package, *([base] if base else [])])
                names = self.guarded(base)
                for alias in node.names:
                    if alias.name in names:
                        found[alias.asname or alias.name] = names[alias.name]
                    else:  # from pkg import helpers: helpers.OF_SELF
                        found.update(self.guarded(f"{base}.{alias.name}" if base else alias.name))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    found.update(self.guarded(alias.name))
        return found


def _imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements at module level and one level into functions (``def f(): from x import Y``)."""
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If | ast.Try | ast.FunctionDef | ast.AsyncFunctionDef):
            for child in (*node.body, *getattr(node, "orelse", ())):
                if isinstance(child, ast.Import | ast.ImportFrom):
                    yield child


def _assigns(stmt: ast.stmt, name: str) -> bool:
    return (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and stmt.targets[0].id == name
    )


def _line_of(tree: ast.Module, name: str) -> int:
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return node.lineno
    return 1


def _registrations(
    node: ast.AST, names: dict[str, guards.Guard], guard: guards.Guard | None
) -> Iterator[tuple[str, guards.Guard]]:
    """(class, guard) for every ``Field.register_lookup(Class)`` (or ``@Field.register_lookup``) under a vendor
    test: the class's SQL runs only where it is registered."""
    if isinstance(node, ast.If):
        body, orelse = guards.branches(node.test, names)
        for stmt in node.body:
            yield from _registrations(stmt, names, body or guard)
        for stmt in node.orelse:
            yield from _registrations(stmt, names, orelse or guard)
        return
    if isinstance(node, ast.Call) and callee(node.func) == "register_lookup" and node.args and guard is not None:
        cls = callee(node.args[-1])
        if cls:
            text = f"{cls} registered with register_lookup under `{guard.text}`"
            yield cls, guards.Guard(guard.kind, text)
    for child in ast.iter_child_nodes(node):
        yield from _registrations(child, names, guard)
