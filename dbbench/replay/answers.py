"""Same answers? A replayed read's rows on each backend, reduced to a row count and a digest that ignores what is
not a difference (how a driver spells a number or a time zone), and the parity probe that explains one that is.

Order counts only where the query orders: an unordered result is compared as a multiset. Values are normalised
before hashing: numbers of any type to the same text (Avg is a Decimal on one server and a float on another),
datetimes to UTC, booleans to 0/1 (MariaDB has no boolean type), JSON objects with sorted keys.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

# The lookups whose differences the parity suite probes: (lookup, on a JSON field) -> probe name.
PROBES: dict[tuple[str, bool], str] = {
    ("contains", True): "json_contains_scalar",
    ("contained_by", True): "json_contained_by",
    ("exact", True): "json_key_int_vs_float",
    ("has_key", True): "json_has_numeric_key",
    ("exact", False): "str_exact_case",
    ("in", False): "str_exact_case",  # IN compares each value as exact does, under the column's collation
    ("iexact", False): "str_iexact_accent",
    ("contains", False): "str_contains_case",
    ("icontains", False): "str_icontains_accent",
    ("regex", False): "str_regex",
    ("iregex", False): "str_regex",
}
KEY_CONTAINS_PROBE = "json_key_contains_list"  # contains on a key of a JSON field (auto-wrapped lists)
ORDER_BY_KEY_PROBE = "json_order_by_key"


def normal(value: Any) -> Any:
    """A value reduced to what two backends should agree on."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, decimal.Decimal)):
        number = float(value)
        return int(number) if number.is_integer() and abs(number) < 2**53 else float(f"{number:.9g}")
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time, uuid.UUID)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): normal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normal(v) for v in value]
    return value if value is None or isinstance(value, str) else str(value)


def digest(rows: Iterable[Sequence[Any]], *, ordered: bool) -> tuple[int, str]:
    """``(row count, digest)``: rows in order when ``ordered``, else sorted (a multiset)."""
    lines = [json.dumps(normal(list(r)), sort_keys=True, default=str) for r in rows]
    if not ordered:
        lines.sort()
    return len(lines), hashlib.sha1("\n".join(lines).encode()).hexdigest()[:16]


def lookups(query: Any) -> list[tuple[str, bool, bool]]:
    """``(lookup name, on a JSON field, on a key of it)`` for every lookup in a Query's WHERE clause."""
    from django.db.models import JSONField
    from django.db.models.fields.json import KeyTransform

    found: list[tuple[str, bool, bool]] = []

    def walk(node: Any) -> None:
        for child in getattr(node, "children", ()):
            if hasattr(child, "lookup_name") and hasattr(child, "lhs"):
                lhs = child.lhs
                is_key = isinstance(lhs, KeyTransform)
                field = getattr(lhs, "output_field", None)
                found.append((child.lookup_name, is_key or isinstance(field, JSONField), is_key))
            else:
                walk(child)

    walk(query.where)
    return found


def explaining_probe(query: Any | None, sql: str) -> str | None:
    """The parity probe that explains a difference in this query's results, or None."""
    if query is None:
        return None
    if any(_json_key_order(query, o) for o in query.order_by if isinstance(o, str)):
        return ORDER_BY_KEY_PROBE
    for name, on_json, on_key in lookups(query):
        if on_key and name in ("contains", "contained_by"):
            return KEY_CONTAINS_PROBE
        probe = PROBES.get((name, on_json))
        if probe:
            return probe
    return None


def _json_key_order(query: Any, order: str) -> bool:
    """Whether ``order`` (``-data__score``) orders by a key of a JSON field of the query's model."""
    from django.core.exceptions import FieldDoesNotExist
    from django.db.models import JSONField

    name = order.lstrip("-")
    if "__" not in name or query.model is None:
        return False
    try:
        return isinstance(query.model._meta.get_field(name.split("__")[0]), JSONField)
    except FieldDoesNotExist:
        return False
