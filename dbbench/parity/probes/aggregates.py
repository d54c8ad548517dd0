"""Generated probes: every built-in aggregate on every sample row, on an empty set, and on booleans.

Named ``agg_<aggregate>_<column>[_empty]``. The empty set is ``label='none'`` (no such row): Count gives 0, the
others NULL unless ``default=`` is given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Avg, Count, Max, Min, StdDev, Sum, Variance

from dbbench.parity.lab.models import Sample
from dbbench.parity.probes.generated import normalise, register

_HINT = (
    "aggregate numbers of one type (Cast booleans to IntegerField, Count('id', filter=Q(flag=True)) instead of "
    "Sum('flag')), pass default= for empty sets, and round to the scale you need: MariaDB computes STDDEV and "
    "VARIANCE in double precision and gives integer averages and variances only 4 extra digits"
)

_AGGREGATES: dict[str, Callable[[str], Any]] = {
    "count": lambda col: Count(col),
    "count_distinct": lambda col: Count(col, distinct=True),
    "sum": lambda col: Sum(col),
    "avg": lambda col: Avg(col),
    "max": lambda col: Max(col),
    "min": lambda col: Min(col),
    "stddev_pop": lambda col: StdDev(col),
    "stddev_samp": lambda col: StdDev(col, sample=True),
    "var_pop": lambda col: Variance(col),
    "var_samp": lambda col: Variance(col, sample=True),
    "sum_default": lambda col: Sum(col, default=0),
}
# Big values (2**31-1, 1e300, 99999999.9999) overflow the variance: those columns use the small rows only.
_SMALL = ("null", "zero", "half", "neg", "ascii")


def _aggregate(name: str, column: str, labels: tuple[str, ...] | None) -> Callable[[str], Any]:
    def run(alias: str) -> Any:
        qs = Sample.objects.using(alias)
        qs = qs.filter(label__in=labels) if labels is not None else qs
        return normalise(qs.aggregate(v=_AGGREGATES[name](column))["v"])

    return run


for _column in ("n", "dec", "f", "flag", "text", "day"):
    for _name in _AGGREGATES:
        if _column in ("text", "day") and _name not in ("count", "max", "min"):
            continue
        _rows = _SMALL if _name.startswith(("stddev", "var", "sum", "avg")) else None
        _title = f"aggregate({_name}) of '{_column}' over {'the small' if _rows else 'every'} sample rows"
        register(f"agg_{_name}_{_column}", "aggregates", _title, _HINT, _aggregate(_name, _column, _rows))
        register(
            f"agg_{_name}_{_column}_empty",
            "aggregates",
            f"aggregate({_name}) of '{_column}' over an empty set",
            _HINT,
            _aggregate(_name, _column, ("none",)),
        )
