"""Generated probes: every function of ``django.db.models.functions`` over the :class:`Sample` columns.

Each row of the tables below becomes one probe named ``fn_<function>_<input>`` that annotates the expression on every
sample row (null, zero, half, neg, max, ascii) and returns the values. Not covered: ``Now`` and ``Random`` (not
deterministic), ``Collate`` (collation names are vendor-specific by nature).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import CharField, DateField, DecimalField, F, FloatField, IntegerField, Value, Window
from django.db.models import functions as fn

from dbbench.parity.lab.models import Sample
from dbbench.parity.probes.generated import normalise, register, slug

Build = Callable[[], Any]

_TEXT_HINT = "text functions follow the column's character set and collation: compare the values in Python"
_MATH_HINT = (
    "guard the inputs (a Case/When or NullIf around zero, negatives and NULL) or compute in Python: out-of-domain "
    "input is an error on PostgreSQL and NULL (with a warning) on the MySQL family"
)
_DATE_HINT = "week and weekday numbering and the range of dates differ: check the boundaries, or compute in Python"
_CAST_HINT = (
    "validate before casting: PostgreSQL refuses text that is not a number or date, the MySQL family casts it "
    "to 0 or NULL with a warning; float-to-integer rounding and float-to-text spelling also differ"
)
_COMPARE_HINT = (
    "Greatest/Least return NULL on the MySQL family when any argument is NULL, PostgreSQL ignores NULLs: "
    "Coalesce each argument first"
)
_WINDOW_HINT = "window functions see NULLs where the ordering puts them: order with nulls_first/nulls_last explicitly"
_HASH_HINT = "hash in Python (hashlib) if the digest must not depend on the database"

_ROWS = [F("n").asc(nulls_first=True), F("id").asc()]


def _win(expression: Any) -> Any:
    return Window(expression, order_by=_ROWS)


_FUNCTIONS: list[tuple[str, str, Build, str]] = [
    # (name fragment, title, expression, hint) -- text
    *(
        (slug(f"{cls.__name__}_text"), f"{cls.__name__}('text')", (lambda cls=cls: cls("text")), _TEXT_HINT)
        for cls in (fn.Lower, fn.Upper, fn.Length, fn.Reverse, fn.Trim, fn.LTrim, fn.RTrim, fn.Ord)
    ),
    *(
        (slug(f"{cls.__name__}_text"), f"{cls.__name__}('text')", (lambda cls=cls: cls("text")), _HASH_HINT)
        for cls in (fn.MD5, fn.SHA1, fn.SHA224, fn.SHA256, fn.SHA384, fn.SHA512)
    ),
    ("left_text_3", "Left('text', 3)", lambda: fn.Left("text", 3), _TEXT_HINT),
    ("right_text_3", "Right('text', 3)", lambda: fn.Right("text", 3), _TEXT_HINT),
    ("substr_text_2_3", "Substr('text', 2, 3)", lambda: fn.Substr("text", 2, 3), _TEXT_HINT),
    ("strindex_text_e", "StrIndex('text', Value('e'))", lambda: fn.StrIndex("text", Value("e")), _TEXT_HINT),
    ("lpad_text_8", "LPad('text', 8, Value('*'))", lambda: fn.LPad("text", 8, Value("*")), _TEXT_HINT),
    ("rpad_text_8", "RPad('text', 8, Value('*'))", lambda: fn.RPad("text", 8, Value("*")), _TEXT_HINT),
    ("repeat_text_2", "Repeat('text', 2)", lambda: fn.Repeat("text", 2), _TEXT_HINT),
    (
        "replace_text_e",
        "Replace('text', Value('e'), Value('E'))",
        lambda: fn.Replace("text", Value("e"), Value("E")),
        _TEXT_HINT,
    ),
    (
        "concat_text_n",
        "Concat('text', Value('|'), 'n')",
        lambda: fn.Concat("text", Value("|"), "n", output_field=CharField()),
        _TEXT_HINT,
    ),
    ("chr_n_mod", "Chr(Mod('n', 1000) + 1000)", lambda: fn.Chr(fn.Mod(fn.Abs("n"), 1000) + 1000), _TEXT_HINT),
    # math, unary, on the integer, decimal and float columns
    *(
        (slug(f"{cls.__name__}_{col}"), f"{cls.__name__}('{col}')", (lambda cls=cls, col=col: cls(col)), _MATH_HINT)
        for cls in (
            fn.Abs,
            fn.Ceil,
            fn.Floor,
            fn.Round,
            fn.Sign,
            fn.Sqrt,
            fn.Exp,
            fn.Ln,
            fn.Degrees,
            fn.Radians,
            fn.Sin,
            fn.Cos,
            fn.Tan,
            fn.Cot,
            fn.ASin,
            fn.ACos,
            fn.ATan,
        )
        for col in ("n", "dec", "f")
    ),
    *((f"round_{col}_1", f"Round('{col}', 1)", (lambda col=col: fn.Round(col, 1)), _MATH_HINT) for col in ("dec", "f")),
    ("mod_n_d", "Mod('n', 'd')", lambda: fn.Mod("n", "d"), _MATH_HINT),
    ("mod_dec_2", "Mod('dec', 2)", lambda: fn.Mod("dec", Value(2)), _MATH_HINT),
    ("mod_f_2", "Mod('f', 2.0)", lambda: fn.Mod("f", Value(2.0)), _MATH_HINT),
    ("power_n_2", "Power('n', 2)", lambda: fn.Power("n", 2), _MATH_HINT),
    ("power_f_half", "Power('f', 0.5)", lambda: fn.Power("f", Value(0.5)), _MATH_HINT),
    ("log_10_n", "Log(10, 'n')", lambda: fn.Log(Value(10), "n"), _MATH_HINT),
    ("atan2_n_d", "ATan2('n', 'd')", lambda: fn.ATan2("n", "d"), _MATH_HINT),
    ("pi", "Pi()", lambda: fn.Pi(), _MATH_HINT),
    # comparison and conversion
    (
        "coalesce_text_n",
        "Coalesce('text', Cast('n', CharField()))",
        lambda: fn.Coalesce("text", fn.Cast("n", CharField())),
        _CAST_HINT,
    ),
    ("greatest_n_d", "Greatest('n', 'd')", lambda: fn.Greatest("n", "d"), _COMPARE_HINT),
    ("least_n_d", "Least('n', 'd')", lambda: fn.Least("n", "d"), _COMPARE_HINT),
    (
        "greatest_n_null",
        "Greatest('n', 'd', NULL column)",
        lambda: fn.Greatest("n", "d", fn.NullIf("n", "n")),
        _COMPARE_HINT,
    ),
    ("nullif_text_empty", "NullIf('text', Value(''))", lambda: fn.NullIf("text", Value("")), _COMPARE_HINT),
    ("nullif_n_d", "NullIf('n', 'd')", lambda: fn.NullIf("n", "d"), _COMPARE_HINT),
    ("cast_text_int", "Cast('text', IntegerField())", lambda: fn.Cast("text", IntegerField()), _CAST_HINT),
    ("cast_f_int", "Cast('f', IntegerField())", lambda: fn.Cast("f", IntegerField()), _CAST_HINT),
    ("cast_dec_int", "Cast('dec', IntegerField())", lambda: fn.Cast("dec", IntegerField()), _CAST_HINT),
    ("cast_n_float", "Cast('n', FloatField())", lambda: fn.Cast("n", FloatField()), _CAST_HINT),
    (
        "cast_f_decimal",
        "Cast('f', DecimalField(20, 2))",
        lambda: fn.Cast("f", DecimalField(max_digits=20, decimal_places=2)),
        _CAST_HINT,
    ),
    ("cast_f_text", "Cast('f', CharField())", lambda: fn.Cast("f", CharField()), _CAST_HINT),
    ("cast_dec_text", "Cast('dec', CharField())", lambda: fn.Cast("dec", CharField()), _CAST_HINT),
    ("cast_flag_text", "Cast('flag', CharField())", lambda: fn.Cast("flag", CharField()), _CAST_HINT),
    ("cast_at_date", "Cast('at', DateField())", lambda: fn.Cast("at", DateField()), _CAST_HINT),
    ("cast_at_text", "Cast('at', CharField())", lambda: fn.Cast("at", CharField()), _CAST_HINT),
    ("cast_span_text", "Cast('span', CharField())", lambda: fn.Cast("span", CharField()), _CAST_HINT),
    (
        "json_object",
        "JSONObject(text='text', n='n', f='f')",
        lambda: fn.JSONObject(text="text", n="n", f="f"),
        _CAST_HINT,
    ),
    ("json_array", "JSONArray('text', 'n', 'flag')", lambda: fn.JSONArray("text", "n", "flag"), _CAST_HINT),
    # date and time
    *(
        (slug(f"{cls.__name__}_{col}"), f"{cls.__name__}('{col}')", (lambda cls=cls, col=col: cls(col)), _DATE_HINT)
        for cls in (
            fn.ExtractYear,
            fn.ExtractIsoYear,
            fn.ExtractQuarter,
            fn.ExtractMonth,
            fn.ExtractWeek,
            fn.ExtractDay,
            fn.ExtractWeekDay,
            fn.ExtractIsoWeekDay,
            fn.TruncYear,
            fn.TruncQuarter,
            fn.TruncMonth,
            fn.TruncWeek,
            fn.TruncDay,
        )
        for col in ("day", "at")
    ),
    *(
        (slug(f"{cls.__name__}_{col}"), f"{cls.__name__}('{col}')", (lambda cls=cls, col=col: cls(col)), _DATE_HINT)
        for cls in (fn.ExtractHour, fn.ExtractMinute, fn.ExtractSecond, fn.TruncHour, fn.TruncMinute, fn.TruncSecond)
        for col in ("at", "clock")
    ),
    ("truncdate_at", "TruncDate('at')", lambda: fn.TruncDate("at"), _DATE_HINT),
    ("trunctime_at", "TruncTime('at')", lambda: fn.TruncTime("at"), _DATE_HINT),
    *(
        (slug(f"{cls.__name__}_span"), f"{cls.__name__}('span')", (lambda cls=cls: cls("span")), _DATE_HINT)
        for cls in (fn.ExtractDay, fn.ExtractHour, fn.ExtractSecond)
    ),
    # window functions, ordered by n with NULLs first, then id
    ("window_row_number", "RowNumber()", lambda: _win(fn.RowNumber()), _WINDOW_HINT),
    (
        "window_rank_flag",
        "Rank() ordered by flag",
        lambda: Window(fn.Rank(), order_by=F("flag").asc(nulls_first=True)),
        _WINDOW_HINT,
    ),
    (
        "window_dense_rank_flag",
        "DenseRank() ordered by flag",
        lambda: Window(fn.DenseRank(), order_by=F("flag").asc(nulls_first=True)),
        _WINDOW_HINT,
    ),
    ("window_percent_rank", "PercentRank()", lambda: _win(fn.PercentRank()), _WINDOW_HINT),
    ("window_cume_dist", "CumeDist()", lambda: _win(fn.CumeDist()), _WINDOW_HINT),
    ("window_ntile_4", "Ntile(4)", lambda: _win(fn.Ntile(4)), _WINDOW_HINT),
    ("window_lag_f", "Lag('f')", lambda: _win(fn.Lag("f")), _WINDOW_HINT),
    ("window_lead_text_2", "Lead('text', 2)", lambda: _win(fn.Lead("text", 2)), _WINDOW_HINT),
    ("window_first_value", "FirstValue('text')", lambda: _win(fn.FirstValue("text")), _WINDOW_HINT),
    ("window_last_value", "LastValue('text') (default frame)", lambda: _win(fn.LastValue("text")), _WINDOW_HINT),
    ("window_nth_value_2", "NthValue('text', 2)", lambda: _win(fn.NthValue("text", 2)), _WINDOW_HINT),
]


_TZ_TABLES = (
    "Django truncates an aware datetime with CONVERT_TZ on the MySQL family, which gives NULL until the server's "
    "time-zone tables are loaded (mysql_tzinfo_to_sql): load them, or truncate in Python"
)
_ERROR_TYPE = "both refuse the input, with different exception types: catch DatabaseError, not a subclass"
# Where a generated probe differs for a reason more specific than its family's hint.
_SPECIFIC_HINTS = {
    **{
        f"sha{bits}_text": "SHA1/SHA2 need the pgcrypto extension on PostgreSQL (Django calls digest()): create it in "
        "a migration (CreateExtension('pgcrypto')), or hash in Python"
        for bits in ("1", "224", "256", "384", "512")
    },
    "ord_text": "ORD() on the MySQL family returns the first character's bytes as one number (4036991104 for an "
    "emoji), PostgreSQL the code point: use Python's ord()",
    "chr_n_mod": "CHAR(NULL USING utf16) gives '' on the MySQL family, NULL on PostgreSQL: filter NULLs first",
    "pi": "MariaDB's PI() carries 6 decimals: use Value(math.pi)",
    "cot_n": "COT(0) is Infinity on PostgreSQL and an out-of-range error on the MySQL family: guard zero",
    "cot_dec": "COT(0) is Infinity on PostgreSQL and an out-of-range error on the MySQL family: guard zero",
    "cot_f": "COT(0) is Infinity on PostgreSQL and an out-of-range error on the MySQL family: guard zero",
    "exp_n": _ERROR_TYPE,
    "exp_dec": _ERROR_TYPE,
    "exp_f": _ERROR_TYPE,
    "power_f_half": _ERROR_TYPE,
    "cast_span_text": "the MySQL family stores a DurationField as microseconds: format timedeltas in Python",
    "cast_at_text": "timestamps turn into text in different formats: format datetimes in Python",
    "cast_flag_text": "booleans are 0/1 on the MySQL family: compare booleans, not their text",
    "json_array": "booleans are 0/1 in the MySQL family's JSON: build JSON of booleans in Python",
    "json_object": "JSON object key order differs (MariaDB keeps insertion order, jsonb sorts by length then "
    "text): do not depend on key order",
    "truncquarter_day": "quarters of 9999-12-31 overflow to NULL on the MySQL family: keep dates away from the limit",
    "window_cume_dist": "the MySQL family returns CUME_DIST with fewer digits: round in Python",
    **{
        f"trunc{unit}_at": _TZ_TABLES
        for unit in ("year", "quarter", "month", "week", "day", "hour", "minute", "second")
    },
    **{
        f"extract{unit}_span": "Extract on a DurationField needs native interval support (PostgreSQL only): "
        "store seconds in an integer, or compute from the timedelta in Python"
        for unit in ("day", "hour", "second")
    },
}


def _values(build: Build) -> Callable[[str], Any]:
    def run(alias: str) -> Any:
        qs = Sample.objects.using(alias).annotate(v=build()).order_by("id")
        return [normalise(v) for v in qs.values_list("v", flat=True)]

    return run


for _name, _title, _build, _hint in _FUNCTIONS:
    _hint = _SPECIFIC_HINTS.get(_name, _hint)
    register(f"fn_{_name}", "functions", f"{_title} over every sample row", _hint, _values(_build))
