"""JSONField probes: lookups, key transforms, null semantics and what comes back on read.

Fixture documents (``fixtures/parity.json``): alpha, beta, gamma, delta, epsilon, zeta are objects with a key
``n`` (5, 10, -1, 21.9, 100 and the *string* "50"), ``name`` (Zoë, ÉMILE, émile, Straße, emile, Émile) and
``k`` (1, 1.0, "1", 2); array, string and number are top-level scalars/arrays; sqlnull is SQL NULL; ordered
checks key order and escaping.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, models
from django.db.models import FloatField, Q, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from dbbench.parity.lab.models import Doc
from dbbench.parity.probes import attempt, probe, rolled_back

_WITH_N = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta")


def _docs(alias: str) -> models.QuerySet[Doc]:
    return Doc.objects.using(alias)


def _names(qs: models.QuerySet[Doc]) -> list[str]:
    return sorted(qs.values_list("name", flat=True))


@probe(
    "json",
    "key transform equality: data__name='Zoë' (and 'zoë'), data__nested__level=3",
    hint="none needed",
    json_lookups=("exact",),
)
def json_key_transform(alias: str) -> Any:
    docs = _docs(alias)
    return {
        "name=Zoë": _names(docs.filter(data__name="Zoë")),
        "name=zoë": _names(docs.filter(data__name="zoë")),
        "nested__level=3": _names(docs.filter(data__nested__level=3)),
    }


@probe(
    "json",
    "number equality on a key: data__k=1 (stored 1, 1.0 and the string '1')",
    hint="store numbers in one form (int or float) and compare with the same type; do not rely on 1 == 1.0",
    json_lookups=("exact",),
)
def json_key_int_vs_float(alias: str) -> Any:
    docs = _docs(alias)
    return {"k=1": _names(docs.filter(data__k=1)), "k=1.0": _names(docs.filter(data__k=1.0))}


@probe(
    "json",
    "string equality on a key: data__k='1' (stored 1, 1.0 and the string '1')",
    hint="keep one JSON type per key; a string '1' may match the number 1 on the MySQL family",
    json_lookups=("exact",),
)
def json_key_string_vs_number(alias: str) -> Any:
    return _names(_docs(alias).filter(data__k="1"))


@probe(
    "json",
    "data__nul=None (JSON null) against a key holding the string 'null'",
    hint="never store the string 'null'; test for JSON null with key=None and for a missing key with isnull",
    json_lookups=("exact",),
)
def json_key_none_vs_string_null(alias: str) -> Any:
    docs = _docs(alias)
    return {
        "nul=None": _names(docs.filter(data__nul=None)),
        "nul__isnull=False": _names(docs.filter(data__nul__isnull=False)),
    }


@probe(
    "json",
    "top-level JSON null vs SQL NULL: data=None and data__isnull=True",
    hint="none needed: data=None is JSON null and isnull=True is SQL NULL on every backend",
    json_lookups=("exact", "isnull"),
)
def json_null_vs_sql_null(alias: str) -> Any:
    with rolled_back(alias):
        Doc.objects.using(alias).create(name="jsonnull", data=Value(None, models.JSONField()))
        docs = _docs(alias)
        return {
            "data=None": _names(docs.filter(data=None)),
            "data__isnull=True": _names(docs.filter(data__isnull=True)),
        }


@probe(
    "json",
    "missing key: data__nested__isnull=True among the objects",
    hint="none needed",
    json_lookups=("isnull",),
)
def json_key_isnull(alias: str) -> Any:
    return _names(_docs(alias).filter(name__in=_WITH_N, data__nested__isnull=True))


@probe(
    "json",
    "containment: data__contains={'tags': ['red']}",
    hint="none needed",
    json_lookups=("contains",),
)
def json_contains(alias: str) -> Any:
    return _names(_docs(alias).filter(data__contains={"tags": ["red"]}))


@probe(
    "json",
    "containment of a scalar at the top level: data__contains=5",
    hint="compare scalars with exact (data=5) instead of contains",
    json_lookups=("contains",),
)
def json_contains_scalar(alias: str) -> Any:
    return _names(_docs(alias).filter(data__contains=5))


@probe(
    "json",
    "contained_by: data__contained_by={'n': 100, 'name': 'emile', 'extra': 1}",
    hint="none needed",
    json_lookups=("contained_by",),
)
def json_contained_by(alias: str) -> Any:
    return _names(_docs(alias).filter(data__contained_by={"n": 100, "name": "emile", "extra": 1}))


@probe(
    "json",
    "key holds a list or an object: data__items__contains={'f': 'g'}, data__items__contained_by=[{'f': 'g'}]",
    hint="match lists with lists (items__contains=[{...}]): the MySQL family also matches an object inside a list",
    json_lookups=("contains", "contained_by"),
)
def json_key_contains_list(alias: str) -> Any:
    docs = _docs(alias)
    return {
        "items__contains={f: g}": _names(docs.filter(data__items__contains={"f": "g"})),
        "items__contained_by=[{f: g}]": _names(docs.filter(data__items__contained_by=[{"f": "g"}])),
    }


@probe(
    "json",
    "portable form of json_key_contains_list: data__items__contains=[{'f': 'g'}]",
    hint="none needed: the portable form",
)
def json_key_contains_list_portable(alias: str) -> Any:
    return _names(_docs(alias).filter(data__items__contains=[{"f": "g"}]))


@probe("json", "has_key='nested'", hint="none needed", json_lookups=("has_key",))
def json_has_key(alias: str) -> Any:
    return _names(_docs(alias).filter(data__has_key="nested"))


@probe("json", "has_key with a numeric key: data__has_key='123'", hint="none needed", json_lookups=("has_key",))
def json_has_numeric_key(alias: str) -> Any:
    return _names(_docs(alias).filter(data__has_key="123"))


@probe("json", "has_keys=['name', 'k']", hint="none needed", json_lookups=("has_keys",))
def json_has_keys(alias: str) -> Any:
    return _names(_docs(alias).filter(data__has_keys=["name", "k"]))


@probe("json", "has_any_keys=['flag', 'nested']", hint="none needed", json_lookups=("has_any_keys",))
def json_has_any_keys(alias: str) -> Any:
    return _names(_docs(alias).filter(data__has_any_keys=["flag", "nested"]))


@probe(
    "json",
    "key__in: data__n__in=[5, 10, '50'] and [50, -1] (zeta's n is the string '50')",
    hint="keep one JSON type per key; on the MySQL family a number may match its string form",
    json_lookups=("in",),
)
def json_key_in(alias: str) -> Any:
    docs = _docs(alias)
    return {
        "n__in=[5, 10, '50']": _names(docs.filter(data__n__in=[5, 10, "50"])),
        "n__in=[50, -1]": _names(docs.filter(data__n__in=[50, -1])),
    }


@probe(
    "json",
    "top-level __in: data__in=[[1, 2], 'hello', 5]",
    hint="replace data__in with Q(data=a) | Q(data=b) | ... (top-level JSON __in is broken on MySQL/MariaDB "
    "until Django 6.1, #36689)",
    json_lookups=("in",),
)
def json_top_level_in(alias: str) -> Any:
    return _names(_docs(alias).filter(data__in=[[1, 2], "hello", 5]))


@probe(
    "json",
    "portable form of json_top_level_in: Q(data=[1, 2]) | Q(data='hello') | Q(data=5)",
    hint="none needed: the portable form",
)
def json_top_level_in_portable(alias: str) -> Any:
    return _names(_docs(alias).filter(Q(data=[1, 2]) | Q(data="hello") | Q(data=5)))


@probe(
    "json",
    "case-insensitive key lookup with non-ASCII text: data__name__iexact='émile'",
    hint="normalise case in the application (store a lower-cased copy) if accents must fold the same way",
    json_lookups=("iexact",),
)
def json_key_iexact_non_ascii(alias: str) -> Any:
    return _names(_docs(alias).filter(data__name__iexact="émile"))


@probe(
    "json",
    "case-insensitive substring on a key: data__name__icontains='ÉMI'",
    hint="normalise case in the application if accents must fold the same way",
    json_lookups=("icontains",),
)
def json_key_icontains_non_ascii(alias: str) -> Any:
    return _names(_docs(alias).filter(data__name__icontains="ÉMI"))


@probe(
    "json",
    "substring on the whole document with non-ASCII text: data__icontains='zürich'",
    hint="search a key (data__city__icontains) rather than the whole document: MariaDB stores non-ASCII "
    "as \\uXXXX escapes, so whole-document text search misses it",
    json_lookups=("icontains",),
)
def json_top_level_icontains_non_ascii(alias: str) -> Any:
    return _names(_docs(alias).filter(data__icontains="zürich"))


@probe(
    "json",
    "portable form of json_top_level_icontains_non_ascii: data__city__icontains='zürich'",
    hint="none needed: the portable form",
)
def json_key_icontains_portable(alias: str) -> Any:
    return _names(_docs(alias).filter(data__city__icontains="zürich"))


@probe(
    "json",
    "case-sensitive prefix on a key: data__name__startswith='É'",
    hint="none needed",
    json_lookups=("startswith",),
)
def json_key_startswith(alias: str) -> Any:
    return _names(_docs(alias).filter(data__name__startswith="É"))


@probe(
    "json",
    "greater-than on a key: data__n__gt=9, data__n__gte=10 (n is 5, 10, -1, 21.9, 100 and the string '50')",
    hint="keep one JSON type per key, or cast: annotate(n=Cast(KT('data__n'), FloatField())).filter(n__gt=9)",
    json_lookups=("gt", "gte"),
)
def json_key_gt(alias: str) -> Any:
    docs = _docs(alias)
    return {"n__gt=9": _names(docs.filter(data__n__gt=9)), "n__gte=10": _names(docs.filter(data__n__gte=10))}


@probe(
    "json",
    "less-than on a key: data__n__lt=6, data__n__lte=5",
    hint="keep one JSON type per key, or cast: annotate(n=Cast(KT('data__n'), FloatField())).filter(n__lt=6)",
    json_lookups=("lt", "lte"),
)
def json_key_lt(alias: str) -> Any:
    docs = _docs(alias)
    return {"n__lt=6": _names(docs.filter(data__n__lt=6)), "n__lte=5": _names(docs.filter(data__n__lte=5))}


@probe(
    "json",
    "numeric comparison among numbers only: data__n__gt=9 without the string value",
    hint="none needed",
    json_lookups=("gt",),
)
def json_key_gt_numbers_only(alias: str) -> Any:
    return _names(_docs(alias).filter(data__n__gt=9).exclude(name="zeta"))


@probe(
    "json",
    "ordering by a numeric key: order_by('data__n')",
    hint="order by a cast: order_by(Cast(KT('data__n'), FloatField())) (MariaDB orders JSON keys as strings)",
    json_lookups=("order_by",),
)
def json_order_by_key(alias: str) -> Any:
    return list(_docs(alias).filter(name__in=_WITH_N).order_by("data__n", "name").values_list("name", flat=True))


@probe(
    "json",
    "portable form of json_key_gt and json_order_by_key: Cast(KT('data__n'), FloatField()) to filter and order",
    hint="none needed: the portable form",
)
def json_key_cast_portable(alias: str) -> Any:
    qs = _docs(alias).filter(name__in=_WITH_N).annotate(n=Cast(KT("data__n"), FloatField()))
    return {
        "n__gt=9": _names(qs.filter(n__gt=9)),
        "order_by(n)": list(qs.order_by("n", "name").values_list("name", flat=True)),
    }


@probe(
    "json",
    "array index: data__arr__0=1 and data__arr__1=5",
    hint="none needed",
    json_lookups=("exact",),
)
def json_array_index(alias: str) -> Any:
    docs = _docs(alias)
    return {"arr__0=1": _names(docs.filter(data__arr__0=1)), "arr__1=5": _names(docs.filter(data__arr__1=5))}


@probe(
    "json",
    "negative array index: data__arr__-1=3 (last element)",
    hint="store the last element under its own key, or read the array and index it in Python",
    json_lookups=("exact",),
)
def json_negative_index(alias: str) -> Any:
    return _names(_docs(alias).filter(**{"data__arr__-1": 3}))


@probe(
    "json",
    "KT() text of a key: annotate(t=KT('data__name')).filter(t__startswith='É')",
    hint="none needed",
)
def json_kt_text(alias: str) -> Any:
    return _names(_docs(alias).annotate(t=KT("data__name")).filter(t__startswith="É"))


@probe(
    "json",
    "boolean key: data__flag=True and data__flag=False",
    hint="none needed",
    json_lookups=("exact",),
)
def json_bool_key(alias: str) -> Any:
    docs = _docs(alias)
    return {"flag=True": _names(docs.filter(data__flag=True)), "flag=False": _names(docs.filter(data__flag=False))}


_NUMBERS = [1, 1.0, 12345678901234567890, 0.1, 1e-7, 1.5e300]


@probe(
    "json",
    "numbers written and read back through the ORM: 1, 1.0, 12345678901234567890, 0.1, 1e-7, 1.5e300",
    hint="store large integers and exact decimals as strings if they must survive a JSON round trip",
)
def json_numbers_read_back(alias: str) -> Any:
    with rolled_back(alias):
        Doc.objects.using(alias).create(name="numbers", data=_NUMBERS)
        data: Any = Doc.objects.using(alias).get(name="numbers").data
        return [repr(v) for v in data]


@probe(
    "json",
    "numbers as the server stores them (JSON text of the same list)",
    hint="compare parsed values, not JSON text",
)
def json_numbers_raw_text(alias: str) -> Any:
    with rolled_back(alias):
        Doc.objects.using(alias).create(name="numbers", data=_NUMBERS)
        return _raw_text(alias, "numbers")


def _raw_text(alias: str, name: str) -> str:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT data FROM paritylab_doc WHERE name = %s", [name])
        return cursor.fetchone()[0]


@probe(
    "json",
    "key order on read-back (written zeta, alpha, mid{b, a}, Ω)",
    hint="never depend on JSON key order: sort keys when the order matters (hashes, signatures, diffs)",
)
def json_key_order_read_back(alias: str) -> Any:
    data: Any = Doc.objects.using(alias).get(name="ordered").data
    return {"top": list(data), "mid": list(data["mid"])}


@probe(
    "json",
    "stored JSON text as the server returns it (whitespace, key order, non-ASCII escaping)",
    hint="compare parsed values, not JSON text; raw SQL against JSON text sees different strings",
)
def json_raw_text(alias: str) -> Any:
    return _raw_text(alias, "ordered")


@probe(
    "json",
    "invalid JSON text written with raw SQL ('not json') is refused",
    hint="catch DatabaseError, not DataError: PostgreSQL raises DataError, MariaDB IntegrityError (its CHECK "
    "(json_valid(...)) constraint)",
)
def json_invalid_text(alias: str) -> Any:
    def insert() -> None:
        with connections[alias].cursor() as cursor:
            cursor.execute("INSERT INTO paritylab_doc (name, data) VALUES (%s, %s)", ["bad", "not json"])

    with rolled_back(alias):
        return attempt(alias, insert)


@probe(
    "json",
    'duplicate keys written as raw JSON text \'{"a": 1, "a": 2}\': value read back and data__a=2',
    hint="reject duplicate keys before they reach the database (json.loads with object_pairs_hook)",
    json_lookups=("exact",),
)
def json_duplicate_keys(alias: str) -> Any:
    with rolled_back(alias):
        with connections[alias].cursor() as cursor:
            cursor.execute("INSERT INTO paritylab_doc (name, data) VALUES (%s, %s)", ["dup", '{"a": 1, "a": 2}'])
        docs = _docs(alias)
        return {"read": docs.get(name="dup").data, "a=2": _names(docs.filter(name="dup", data__a=2))}
