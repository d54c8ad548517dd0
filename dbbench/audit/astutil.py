"""Small readers of Python syntax trees that the audit's rule modules share."""

from __future__ import annotations

import ast
from collections.abc import Iterator


def callee(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def false(node: ast.expr) -> bool:
    """A literal that switches an option off (False, None, (), [])."""
    if isinstance(node, ast.Constant):
        return not node.value
    return isinstance(node, ast.Tuple | ast.List) and not node.elts


def chain_names(node: ast.expr) -> Iterator[str]:
    """Attribute and method names along a call chain: ``A.objects.filter(x).iterator`` -> objects, filter..."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            yield node.attr
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            return


def chain_model(node: ast.expr) -> str | None:
    """``Page.objects.filter`` -> ``Page`` (a capitalised name in front of a manager), else None."""
    while isinstance(node, ast.Call | ast.Attribute | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) and node.id[:1].isupper() else None


def root_name(node: ast.expr) -> str:
    """The name a chain starts from: ``connections["x"].cursor().execute`` -> connections."""
    while isinstance(node, ast.Call | ast.Attribute | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""
