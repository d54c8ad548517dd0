"""Expression probes: grouping under a collation, regex dialects, arithmetic on integers, decimals and floats.

Fixture words as in :mod:`strings` (apple, Apple, APPLE, résumé, resume, Resume, straße, 😀 smile, Ωmega, ...).
Fixture samples (:class:`Sample`): n/d = 7/2 (half), -7/2 (neg), 1/3 (ascii), 0/0 (zero); f = 2.5 (half),
-2.5 (neg); dec = 2.5, -2.5, 1.0; flag = True, True, False, False, False (and NULL).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count, DecimalField, ExpressionWrapper, F, FloatField, Max, QuerySet, Sum, Value
from django.db.models.functions import Cast, Round

from dbbench.parity.lab.models import Sample, Word
from dbbench.parity.probes import probe

_VARIANTS = ["apple", "Apple", "APPLE", "résumé", "resume", "Resume"]
_GROUP_HINT = (
    "GROUP BY and DISTINCT follow the column's collation: give the column a binary collation "
    "(db_collation='utf8mb4_bin') on the MySQL family, or group on Lower()/a normalised copy on both"
)


def _words(alias: str) -> QuerySet[Word]:
    return Word.objects.using(alias)


def _samples(alias: str, *labels: str) -> QuerySet[Sample]:
    return Sample.objects.using(alias).filter(label__in=labels).order_by("id")


@probe("expressions", "values('text').annotate(n=Count('id')) over 3 case and 3 accent variants", hint=_GROUP_HINT)
def values_group_case_accent(alias: str) -> Any:
    groups = _words(alias).filter(text__in=_VARIANTS).values("text").annotate(n=Count("id"))
    return sorted(g["n"] for g in groups)


@probe("expressions", "values('text').distinct().count() over 3 case and 3 accent variants", hint=_GROUP_HINT)
def distinct_count_case_accent(alias: str) -> Any:
    return _words(alias).filter(text__in=_VARIANTS).values("text").distinct().count()


_REGEX_HINT = (
    "write regexes both dialects read alike: PostgreSQL uses its own ARE syntax (\\y for a word boundary, "
    "\\b is a backspace), MariaDB uses PCRE (\\b is a word boundary, \\y is an error); spell character classes "
    "out ([[:alpha:]], explicit ranges) and test non-ASCII input, or filter in Python"
)


def _matching(alias: str, pattern: str) -> list[str]:
    return sorted(_words(alias).filter(text__regex=pattern).values_list("text", flat=True))


@probe("expressions", "text__regex=r'\\bsmile' (\\b: word boundary or backspace?)", hint=_REGEX_HINT)
def regex_word_boundary_b(alias: str) -> Any:
    return _matching(alias, r"\bsmile")


@probe("expressions", "text__regex=r'^\\w+$' (does \\w match non-ASCII letters?)", hint=_REGEX_HINT)
def regex_w_non_ascii(alias: str) -> Any:
    return _matching(alias, r"^\w+$")


@probe("expressions", "text__regex=r'^.{6}$' (does . match one character or one byte?)", hint=_REGEX_HINT)
def regex_dot_non_ascii(alias: str) -> Any:
    return _matching(alias, r"^.{6}$")


@probe("expressions", "text__regex=r'\\ysmile\\y' (PostgreSQL's word boundary)", hint=_REGEX_HINT)
def regex_y_boundary(alias: str) -> Any:
    return _matching(alias, r"\ysmile\y")


_INT_DIVISION_HINT = (
    "say which division you mean: Cast one side to FloatField/DecimalField for a fraction, or use "
    "ExpressionWrapper(..., output_field=IntegerField()) with Floor/Trunc for an integer; PostgreSQL truncates "
    "integer / integer, the MySQL family returns a decimal"
)


@probe("expressions", "filter on F('n') / F('d') with integers: 7/2 > 3?", hint=_INT_DIVISION_HINT)
def int_division_filter(alias: str) -> Any:
    qs = _samples(alias, "half", "neg", "ascii").alias(q=F("n") / F("d")).filter(q__gt=3)
    return list(qs.values_list("label", flat=True))


@probe(
    "expressions",
    "annotate(q=F('n') / F('d'), back=F('n') / F('d') * F('d')) with integers: 7/2, -7/2, 1/3",
    hint=_INT_DIVISION_HINT,
)
def int_division_annotate(alias: str) -> Any:
    # Django converts an integer expression's value with int(), which hides 3.5000 as 3 in q; the database
    # still computed 3.5000, as back (the quotient times d) shows.
    qs = _samples(alias, "half", "neg", "ascii").annotate(q=F("n") / F("d"), back=F("n") / F("d") * F("d"))
    return list(qs.values_list("q", "back"))


_DECIMAL_HINT = (
    "round explicitly to the scale you store (Round(..., precision) or quantize() in Python); MariaDB gives "
    "decimal division and AVG only div_precision_increment (4) extra digits, PostgreSQL at least 16 significant"
)


@probe("expressions", "decimal division: DecimalField 1.0000 / 3", hint=_DECIMAL_HINT)
def decimal_division_precision(alias: str) -> Any:
    third = ExpressionWrapper(F("dec") / Value(Decimal(3)), output_field=DecimalField())
    return [str(v) for v in _samples(alias, "ascii").annotate(q=third).values_list("q", flat=True)]


@probe("expressions", "Avg of DecimalField 2.5, -2.5, 1.0", hint=_DECIMAL_HINT)
def avg_decimal_precision(alias: str) -> Any:
    return str(_samples(alias, "half", "neg", "ascii").aggregate(a=Avg("dec"))["a"])


@probe(
    "expressions",
    "Round() of FloatField 2.5 and -2.5",
    hint="round decimals, not floats: Round(Cast('f', DecimalField(...))) rounds half away from zero on both; "
    "MariaDB rounds a double half to even, PostgreSQL's ROUND(x, 0) casts to numeric first",
)
def round_float_half(alias: str) -> Any:
    return list(_samples(alias, "half", "neg").annotate(r=Round("f")).values_list("r", flat=True))


@probe(
    "expressions",
    "division by zero in an annotation: F('n') / F('d') with d = 0, and Cast to float",
    hint="guard the divisor (NullIf('d', 0) gives NULL on both); PostgreSQL raises DataError, the MySQL family "
    "returns NULL in a SELECT",
)
def division_by_zero(alias: str) -> Any:
    ratio = Cast("n", FloatField()) / F("d")
    return list(_samples(alias, "zero").annotate(q=F("n") / F("d"), r=ratio).values_list("q", "r"))


@probe(
    "expressions",
    "Max('flag') and Sum('flag') over a BooleanField",
    hint="count instead: Count('id', filter=Q(flag=True)) and Exists(); PostgreSQL has no max(boolean) or "
    "sum(boolean), the MySQL family stores booleans as 0/1 and returns numbers",
)
def max_sum_boolean(alias: str) -> Any:
    return Sample.objects.using(alias).aggregate(mx=Max("flag"), total=Sum("flag"))
