"""Each column of a Django model as text, by its field's internal type: what the copy writes and the digests hash.

Django stores a field differently on each backend (``UUIDField``: ``uuid`` on PostgreSQL, ``char(32)`` on MySQL,
``uuid`` on MariaDB 10.7+; ``DurationField``: ``interval`` vs bigint microseconds; ``BinaryField``: ``bytea`` vs
``longblob``). Every column is read as one portable text per field type, the same on both servers, so that:

- the copy's bulk-load file is read by PostgreSQL's COPY as it is, and by LOAD DATA through the target's
  ``load_text_sql`` (durations and binary); a bare number is seconds to a PostgreSQL interval;
- the verification's digests (md5 of those texts, on each server) are equal for equal values.

The texts: JSON as JSON text; aware datetimes as naive UTC with microseconds; booleans as 1/0; times with six
fractional digits; durations as seconds with six decimals; UUIDs as 32 hex digits; binary as ``\\x`` and hex;
IP addresses without a netmask; everything else (numbers, decimals, dates, strings) as the server writes it.
Floats may be written differently (``1e+308`` and ``1e308``): rows whose digests differ are compared by value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from django.db.models import Field

from dbbench.backends.spec import BackendSpec

# Django internal type -> the spec method giving the column's text (None: the column as it is).
_TEXT: dict[str, Callable[[BackendSpec, str], str]] = {
    "JSONField": lambda spec, c: spec.json_text_sql(c),
    "DateTimeField": lambda spec, c: spec.zoned_text_sql(c, storage_zone()),
    "BooleanField": lambda spec, c: spec.boolean_text_sql(c),
    "TimeField": lambda spec, c: spec.time_text_sql(c),
    "DurationField": lambda spec, c: spec.duration_text_sql(c),
    "UUIDField": lambda spec, c: spec.uuid_text_sql(c),
    "BinaryField": lambda spec, c: spec.binary_text_sql(c),
    "GenericIPAddressField": lambda spec, c: spec.inet_text_sql(c),
    "IPAddressField": lambda spec, c: spec.inet_text_sql(c),
}
FLOAT_KINDS = ("FloatField",)


def storage_zone() -> str:
    """The zone of the naive timestamps Django writes on the MySQL family (``DatabaseWrapper.timezone_name``):
    UTC with ``USE_TZ``, the project's ``TIME_ZONE`` without (a project on ``USE_TZ = False`` stores local time)."""
    from django.conf import settings

    return "UTC" if settings.USE_TZ else settings.TIME_ZONE


def kind_of(field: Field[Any, Any]) -> str:
    """The internal type that decides the column's storage: a foreign key's is its target field's."""
    target = field
    # A relation's target_field (only relations have one) until a plain column.
    while target.is_relation and (nxt := getattr(target, "target_field", None)) is not None and nxt is not target:
        target = nxt
    kind = target.get_internal_type()
    # An AutoField's column is an integer wherever it is referenced from.
    return kind if field is target or not kind.endswith("AutoField") else "IntegerField"


def text_sql(spec: BackendSpec, field: Field[Any, Any]) -> str:
    """The SQL expression of ``field``'s column text on ``spec``'s servers."""
    make = _TEXT.get(kind_of(field))
    return make(spec, field.column) if make else spec.quote_name(field.column)


JSON_MARKER = "json:rewritten"


def digest_sql(spec: BackendSpec, field: Field[Any, Any]) -> str:
    """The text the row digest hashes: the column text, but a marker for JSON the copy writes another way (those
    values are compared by value, ``dbbench.rehearsal.jsonpass``)."""
    text = text_sql(spec, field)
    if kind_of(field) != "JSONField":
        return text
    return f"CASE WHEN {spec.json_rewritten_sql(field.column)} THEN '{JSON_MARKER}' ELSE {text} END"


def load_sql(spec: BackendSpec, field: Field[Any, Any], variable: str) -> str | None:
    """How the target turns the loaded text into the column's value (None: the loader reads it as it is)."""
    return spec.load_text_sql(kind_of(field), variable)


def same(kind: str, source: str | None, target: str | None) -> bool:
    """Whether two column texts of a row hold the same value: JSON by value, floats by number."""
    if source == target:
        return True
    if source is None or target is None:
        return False
    try:
        if kind == "JSONField":
            return canonical_json(source) == canonical_json(target)
        if kind in FLOAT_KINDS:
            a, b = float(source), float(target)
            return a == b or (math.isnan(a) and math.isnan(b))
    except ValueError:  # not JSON (a number) at all on one side: a difference
        return False
    return False


def canonical_json(text: str) -> str:
    # Sorted keys, no spacing: equal JSON values give equal text (1 and 1.0 stay apart, as json.loads keeps them).
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
