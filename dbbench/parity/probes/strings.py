"""String probes: collation-driven equality, LIKE and regex lookups, unique constraints, 4-byte characters.

Fixture words: apple, Apple, APPLE, 'pear ' (trailing space), résumé, resume, Resume, straße, strasse, '😀 smile',
Ωmega, zebra, Zulu, 10, 9, _under. Fixture tags (unique): apple, resume.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.functions import Length, Upper

from dbbench.parity.lab.models import Tag, Word
from dbbench.parity.probes import attempt, probe, rolled_back

_COLLATION_HINT = (
    "create the MySQL/MariaDB columns with a binary or case-sensitive collation "
    "(CharField(db_collation='utf8mb4_bin')) or normalise values before saving"
)


def _words(alias: str) -> models.QuerySet[Word]:
    return Word.objects.using(alias)


def _texts(qs: models.QuerySet[Word]) -> list[str]:
    return sorted(qs.values_list("text", flat=True))


@probe("strings", "exact is case-sensitive? text='apple'", hint=_COLLATION_HINT)
def str_exact_case(alias: str) -> Any:
    return _texts(_words(alias).filter(text="apple"))


@probe("strings", "exact is accent-sensitive? text='resume'", hint=_COLLATION_HINT)
def str_exact_accent(alias: str) -> Any:
    return _texts(_words(alias).filter(text="resume"))


@probe("strings", "exact ignores trailing spaces? text='pear' (stored 'pear ')", hint=_COLLATION_HINT)
def str_exact_trailing_space(alias: str) -> Any:
    return _texts(_words(alias).filter(text="pear"))


@probe("strings", "exact folds ß? text='strasse'", hint=_COLLATION_HINT)
def str_exact_sharp_s(alias: str) -> Any:
    return _texts(_words(alias).filter(text="strasse"))


@probe("strings", "iexact with accents: text__iexact='RÉSUMÉ'", hint=_COLLATION_HINT)
def str_iexact_accent(alias: str) -> Any:
    return _texts(_words(alias).filter(text__iexact="RÉSUMÉ"))


@probe("strings", "contains is case-sensitive: text__contains='PP'", hint="none needed")
def str_contains_case(alias: str) -> Any:
    return _texts(_words(alias).filter(text__contains="PP"))


@probe("strings", "icontains with accents: text__icontains='ÉSUM'", hint=_COLLATION_HINT)
def str_icontains_accent(alias: str) -> Any:
    return _texts(_words(alias).filter(text__icontains="ÉSUM"))


@probe("strings", "startswith: text__startswith='re'", hint="none needed")
def str_startswith(alias: str) -> Any:
    return _texts(_words(alias).filter(text__startswith="re"))


@probe("strings", "LIKE wildcards are escaped: text__startswith='_'", hint="none needed")
def str_like_escape(alias: str) -> Any:
    return _texts(_words(alias).filter(text__startswith="_"))


@probe("strings", "regex: text__regex='^[a-z]+$'", hint="none needed")
def str_regex(alias: str) -> Any:
    return _texts(_words(alias).filter(text__regex=r"^[a-z]+$"))


@probe(
    "strings",
    "iregex with accents: text__iregex='^résumé$'",
    hint="regex dialects differ (POSIX on PostgreSQL, PCRE on MariaDB, ICU on MySQL): keep patterns simple",
)
def str_iregex_accent(alias: str) -> Any:
    return _texts(_words(alias).filter(text__iregex=r"^résumé$"))


@probe(
    "strings",
    "regex back-reference: text__regex='(p)\\1'",
    hint="avoid back-references in database regexes (Django: supports_regex_backreferencing=False on MySQL)",
)
def str_regex_backreference(alias: str) -> Any:
    return _texts(_words(alias).filter(text__regex=r"(p)\1"))


@probe(
    "strings",
    "ORDER BY text (the database's collation decides)",
    hint="order in Python, or give the column the same collation on both servers, if the order is shown to users",
)
def str_order(alias: str) -> Any:
    return list(_words(alias).order_by("text", "id").values_list("text", flat=True))


@probe("strings", "Upper('straße')", hint="do case folding in Python (str.casefold) when ß and friends matter")
def str_upper_sharp_s(alias: str) -> Any:
    return (
        _words(alias)
        .filter(text__startswith="stra")
        .annotate(u=Upper("text"))
        .order_by("id")
        .values_list("u", flat=True)[0]
    )


@probe("strings", "4-byte characters survive: write '🦄 𝄞 unicorn', read it back with its length", hint="use utf8mb4")
def str_emoji_round_trip(alias: str) -> Any:
    text = "🦄 𝄞 unicorn"
    with rolled_back(alias):
        Word.objects.using(alias).create(text=text)
        row = _words(alias).annotate(n=Length("text")).get(text__startswith="🦄")
        return {"equal": row.text == text, "length": row.n}


@probe("strings", "value longer than max_length (101 chars in a CharField(100))", hint="none needed (strict mode)")
def str_too_long(alias: str) -> Any:
    with rolled_back(alias):
        return attempt(alias, lambda: Word.objects.using(alias).create(text="x" * 101))


@probe(
    "strings",
    "unique constraint: 'Apple' next to 'apple'",
    hint="de-duplicate case variants before the move; use a binary collation (db_collation='utf8mb4_bin') "
    "where case must stay distinct",
)
def str_unique_case(alias: str) -> Any:
    with rolled_back(alias):
        return attempt(alias, lambda: Tag.objects.using(alias).create(text="Apple"))


@probe(
    "strings",
    "unique constraint: 'résumé' next to 'resume'",
    hint="de-duplicate accent variants before the move, or use db_collation='utf8mb4_bin'",
)
def str_unique_accent(alias: str) -> Any:
    with rolled_back(alias):
        return attempt(alias, lambda: Tag.objects.using(alias).create(text="résumé"))


@probe(
    "strings",
    "unique constraint: 'apple ' (trailing space) next to 'apple'",
    hint="strip values before saving; PAD SPACE collations treat trailing spaces as absent",
)
def str_unique_trailing_space(alias: str) -> Any:
    with rolled_back(alias):
        return attempt(alias, lambda: Tag.objects.using(alias).create(text="apple "))
