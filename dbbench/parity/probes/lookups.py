"""Generated probes: Django's built-in lookups on the common field types, fed the inputs where databases part ways.

One probe per row of the table, named ``lk_<field>_<lookup>[_<case>]``: it filters the :class:`Sample` rows and
returns the labels that match (null, zero, half, neg, max, ascii). The text column is a CharField under the
database's default collation, as most projects have it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from dbbench.parity.lab.models import Sample
from dbbench.parity.probes.generated import register

_UTC = dt.UTC
_TEXT_HINT = (
    "the MySQL family compares text under a case- and accent-insensitive collation that pads trailing spaces: "
    "give the column db_collation='utf8mb4_bin' there, or normalise the values before saving"
)
_NUMBER_HINT = "compare numbers of the column's own type (Decimal for DecimalField), and avoid exact float equality"
_DATE_HINT = (
    "week numbers, weekdays and the date of a timestamp differ at the boundaries: compute them in Python or "
    "filter on ranges of dates"
)

# (field, lookup, case name, value)
_LOOKUPS: list[tuple[str, str, str, Any]] = [
    ("text", "exact", "empty", ""),
    ("text", "exact", "case", "hello, world"),
    ("text", "exact", "trailing_space", " Ünïcödé"),
    ("text", "iexact", "sharp_s", "STRASSE"),
    ("text", "iexact", "accent", " unicode "),
    ("text", "contains", "sharp_s", "ß"),
    ("text", "icontains", "accent", "ü"),
    ("text", "icontains", "omega", "ω"),
    ("text", "startswith", "space", " "),
    ("text", "istartswith", "case", "HELLO"),
    ("text", "endswith", "space", " "),
    ("text", "iendswith", "case", "WORLD"),
    ("text", "in", "empty", ["", "STRASSE"]),
    ("text", "gt", "a", "a"),
    ("text", "lt", "a", "a"),
    ("text", "gte", "empty", ""),
    ("text", "range", "a_z", ("a", "z")),
    ("text", "isnull", "true", True),
    ("text", "regex", "alpha", r"^[a-z]+$"),
    ("text", "iregex", "accent", "ü"),
    ("n", "exact", "neg", -7),
    ("n", "in", "zero_neg", [0, -7]),
    ("n", "gt", "neg", -1),
    ("n", "lte", "zero", 0),
    ("n", "range", "neg", (-7, 0)),
    ("n", "isnull", "false", False),
    ("dec", "exact", "half", Decimal("2.5")),
    ("dec", "exact", "float", 2.5),
    ("dec", "gt", "zero", Decimal(0)),
    ("dec", "lt", "neg_half", Decimal("-2.49999")),
    ("dec", "in", "halves", [Decimal("2.5"), Decimal("-2.5")]),
    ("f", "exact", "half", 2.5),
    ("f", "exact", "decimal", Decimal("0.5")),
    ("f", "gt", "big", 1e299),
    ("f", "lt", "zero", 0.0),
    ("f", "range", "halves", (-2.5, 2.5)),
    ("flag", "exact", "true", True),
    ("flag", "exact", "false", False),
    ("flag", "in", "true", [True]),
    ("flag", "isnull", "true", True),
    ("day", "year", "2024", 2024),
    ("day", "month", "feb", 2),
    ("day", "day", "29", 29),
    ("day", "week", "53", 53),
    ("day", "week_day", "sunday", 1),
    ("day", "iso_week_day", "sunday", 7),
    ("day", "iso_year", "2020", 2020),
    ("day", "quarter", "4", 4),
    ("day", "gt", "2000", dt.date(2000, 1, 1)),
    ("day", "year__gt", "2023", 2023),
    ("at", "year", "1999", 1999),
    ("at", "date", "leap", dt.date(2024, 2, 29)),
    ("at", "time", "noon", dt.time(12, 30, 45, 500000)),
    ("at", "hour", "23", 23),
    ("at", "minute", "59", 59),
    ("at", "second", "59", 59),
    ("at", "week", "53", 53),
    ("at", "week_day", "sunday", 1),
    ("at", "iso_year", "2020", 2020),
    ("at", "quarter", "1", 1),
    ("at", "range", "2000s", (dt.datetime(2000, 1, 1, tzinfo=_UTC), dt.datetime(2030, 1, 1, tzinfo=_UTC))),
    ("at", "exact", "micro", dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=_UTC)),
    ("clock", "hour", "23", 23),
    ("clock", "second", "45", 45),
    ("clock", "gt", "noon", dt.time(12, 0)),
    ("clock", "exact", "half_second", dt.time(12, 30, 45, 500000)),
    ("span", "gt", "zero", dt.timedelta(0)),
    ("span", "lt", "zero", dt.timedelta(0)),
    ("span", "exact", "one_and_a_half_s", dt.timedelta(seconds=1.5)),
]

_HINTS = {"text": _TEXT_HINT, "n": _NUMBER_HINT, "dec": _NUMBER_HINT, "f": _NUMBER_HINT, "flag": _NUMBER_HINT}


def _matching(lookup: str, value: Any) -> Any:
    def run(alias: str) -> Any:
        qs = Sample.objects.using(alias).filter(**{lookup: value}).order_by("id")
        return list(qs.values_list("label", flat=True))

    return run


for _field, _lookup, _case, _value in _LOOKUPS:
    _path = f"{_field}__{_lookup}"
    register(
        f"lk_{_field}_{_lookup.replace('__', '_')}_{_case}",
        "lookups",
        f"filter({_path}={_value!r})",
        _HINTS.get(_field, _DATE_HINT),
        _matching(_path, _value),
    )
