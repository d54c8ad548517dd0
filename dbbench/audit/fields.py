"""The project's model fields, across all files: which model has which field of which type.

Collected in a first pass over every file (model classes, ``CreateModel`` and ``AddField`` in migrations) so a
lookup such as ``Page.objects.filter(path__icontains=...)`` is judged by ``Page.path``'s type, not by some other
model's JSONField that happens to be named ``path``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dbbench.audit.astutil import callee

JSON = "json"
RELATION = "relation"
_RELATIONS = frozenset({"ForeignKey", "OneToOneField", "ManyToManyField", "ParentalKey", "ParentalManyToManyField"})


@dataclass
class FieldIndex:
    """Model -> field -> type name (the field class), plus relation targets and field subclasses."""

    models: dict[str, dict[str, str]] = field(default_factory=dict)
    targets: dict[tuple[str, str], str] = field(default_factory=dict)  # (model, relation field) -> model
    bases: dict[str, set[str]] = field(default_factory=dict)  # class -> base class names (last parts)
    by_name: dict[str, set[str]] = field(default_factory=dict)
    # functions returning a vendor/feature test, for the guard analysis (collected in the same first pass)
    returns: list[tuple[str, ast.expr]] = field(default_factory=list)
    # classes skipped unless a vendor/feature holds (``@skipUnless(connection.vendor == ...)``): their subclasses
    # in any file are guarded too, as Django's own PostgreSQLTestCase subclasses are
    class_guards: dict[str, Any] = field(default_factory=dict)

    def add_file(self, tree: ast.AST) -> None:
        from dbbench.audit.guards import function_guard, returns_of

        self.returns.extend(returns_of(tree))
        for node in getattr(tree, "body", ()):
            if isinstance(node, ast.ClassDef):  # decorators, or a setUp/setUpClass that skips
                guard = function_guard(node, {})
                if guard is not None:
                    self.class_guards[node.name] = guard
        for node in _outside_functions(tree):
            if isinstance(node, ast.ClassDef):
                self.bases.setdefault(node.name, set()).update(callee(b) for b in node.bases)
                self._add_class(node)
            elif isinstance(node, ast.Call) and callee(node.func) in ("CreateModel", "AddField", "AlterField"):
                self._add_migration(node)

    def _add(self, model: str, name: str, call: ast.Call) -> None:
        kind = callee(call.func)
        if not kind.endswith(("Field", "Key")) and kind not in _RELATIONS:
            return
        owner = call.func.value if isinstance(call.func, ast.Attribute) else None
        if owner is not None and callee(owner) in _NOT_MODEL_FIELDS:
            return  # serializers.JSONField(), forms.JSONField(): not a column, so no JSON lookups on it
        self.models.setdefault(model.lower(), {})[name] = kind
        self.by_name.setdefault(name, set()).add(kind)
        if kind in _RELATIONS:
            target = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "to"), None)
            text = target.value if isinstance(target, ast.Constant) and isinstance(target.value, str) else None
            text = text or (callee(target) if target is not None else None)
            if text:
                self.targets[(model.lower(), name)] = text.rsplit(".", 1)[-1].lower()

    def _add_class(self, node: ast.ClassDef) -> None:
        for stmt in node.body:
            target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else None
            target = stmt.target if isinstance(stmt, ast.AnnAssign) else target
            value = stmt.value if isinstance(stmt, ast.Assign | ast.AnnAssign) else None
            if isinstance(target, ast.Name) and isinstance(value, ast.Call):
                self._add(node.name, target.id, value)

    def _add_migration(self, node: ast.Call) -> None:
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        name = kw.get("name", node.args[0] if node.args else None)
        model = kw.get("model_name", node.args[0] if node.args else None)
        if callee(node.func) == "CreateModel":
            fields = kw.get("fields", node.args[1] if len(node.args) > 1 else None)
            if isinstance(name, ast.Constant) and isinstance(fields, ast.List | ast.Tuple):
                for item in fields.elts:
                    if isinstance(item, ast.Tuple) and len(item.elts) == 2 and isinstance(item.elts[1], ast.Call):
                        first = item.elts[0]
                        if isinstance(first, ast.Constant) and isinstance(first.value, str):
                            self._add(str(name.value), first.value, item.elts[1])
            return
        name = kw.get("name", node.args[1] if len(node.args) > 1 else None)
        value = kw.get("field", node.args[2] if len(node.args) > 2 else None)
        if isinstance(model, ast.Constant) and isinstance(name, ast.Constant) and isinstance(value, ast.Call):
            self._add(str(model.value), str(name.value), value)

    def inherited_guard(self, bases: list[str], depth: int = 0) -> Any:
        """The guard a class inherits from a guarded base class anywhere in the project (or None)."""
        for base in bases:
            if base in self.class_guards:
                return self.class_guards[base]
            if depth < 5 and self.bases.get(base):
                found = self.inherited_guard(sorted(self.bases[base]), depth + 1)
                if found is not None:
                    return found
        return None

    def is_a(self, kind: str, base: str, depth: int = 0) -> bool:
        """Whether a field class is ``base`` or one of the project's subclasses of it."""
        if kind == base:
            return True
        if depth > 4:
            return False
        return any(self.is_a(parent, base, depth + 1) for parent in self.bases.get(kind, ()))

    def kind_of(self, kind: str) -> str:
        if self.is_a(kind, "JSONField"):
            return JSON
        if kind in _RELATIONS:
            return RELATION
        return kind

    def resolve(self, model: str | None, parts: list[str]) -> tuple[int | None, bool]:
        """Where a lookup path reaches a JSON field: (index of that part or None, resolved through the model)."""
        current = model.lower() if model else None
        if current in self.models:
            for index, part in enumerate(parts):
                kind = self.models.get(current, {}).get(part) if current else None
                if kind is None:
                    break  # a reverse relation or an annotation: fall back to names for the rest
                if self.kind_of(kind) == JSON:
                    return index, True
                if self.kind_of(kind) != RELATION:
                    return None, True
                current = self.targets.get((current, part))
            else:
                return None, True
        # The model is unknown: only a name that is a JSONField wherever the project declares it counts.
        for index, part in enumerate(parts):
            kinds = {self.kind_of(k) for k in self.by_name.get(part, ())}
            if kinds == {JSON}:
                return index, False
            if kinds and kinds != {RELATION}:
                return None, False
        return None, False

    def types_of(self, name: str) -> set[str]:
        return {self.kind_of(k) for k in self.by_name.get(name, ())}


# Modules whose *Field classes are not model fields (DRF serializers, Django and django-filter forms).
_NOT_MODEL_FIELDS = frozenset({"serializers", "forms", "filters", "django_filters", "fields"})


def _outside_functions(tree: ast.AST) -> list[ast.AST]:
    """Every node but those inside function bodies: models and migration operations are declared at class level,
    and skipping function bodies halves the walk on a large project."""
    found: list[ast.AST] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        found.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))
    return found


def build(trees: Iterable[ast.AST]) -> FieldIndex:
    index = FieldIndex()
    for tree in trees:
        index.add_file(tree)
    return index
