"""Query probes: NULL ordering, DISTINCT ON, window functions.

Fixture scores: ann 10, ann 30, bob NULL, bob 20, cid NULL, dee 5 (ids 1-6).
"""

from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet, Window
from django.db.models.functions import Coalesce, Lag, RowNumber

from dbbench.parity.lab.models import Score
from dbbench.parity.probes import probe


def _scores(alias: str) -> QuerySet[Score]:
    return Score.objects.using(alias)


@probe(
    "queries",
    "ORDER BY points ASC: where do NULLs go?",
    hint="say where NULLs go: order_by(F('points').asc(nulls_last=True))",
)
def nulls_order_asc(alias: str) -> Any:
    return list(_scores(alias).order_by("points", "id").values_list("points", flat=True))


@probe(
    "queries",
    "ORDER BY points DESC: where do NULLs go?",
    hint="say where NULLs go: order_by(F('points').desc(nulls_first=True))",
)
def nulls_order_desc(alias: str) -> Any:
    return list(_scores(alias).order_by("-points", "id").values_list("points", flat=True))


@probe("queries", "explicit F('points').asc(nulls_last=True)", hint="none needed")
def nulls_last_explicit(alias: str) -> Any:
    return list(_scores(alias).order_by(F("points").asc(nulls_last=True), "id").values_list("points", flat=True))


@probe(
    "queries",
    "distinct(*fields): best score per player with DISTINCT ON",
    hint="rewrite as a subquery or window: filter(pk__in=Subquery(...)) or annotate(rank=Window(RowNumber(), "
    "partition_by='player', order_by='-points')) and keep rank 1",
)
def distinct_on(alias: str) -> Any:
    qs = _scores(alias).order_by("player", F("points").desc(nulls_last=True)).distinct("player")
    return list(qs.values_list("player", "points"))


@probe(
    "queries",
    "portable form of distinct_on: Window(RowNumber(), partition_by='player') filtered to rank 1",
    hint="none needed: the portable form",
)
def distinct_on_window(alias: str) -> Any:
    ranked = _scores(alias).annotate(
        rank=Window(RowNumber(), partition_by=[F("player")], order_by=F("points").desc(nulls_last=True))
    )
    return list(ranked.filter(rank=1).order_by("player").values_list("player", "points"))


@probe(
    "queries",
    "window function Lag('points', default=0)",
    hint="drop default= and fill the first row in Python; Coalesce(Window(Lag(...)), 0) is only the same when "
    "the column holds no NULLs (it also replaces NULLs from earlier rows, see window_lag_coalesce)",
)
def window_lag_default(alias: str) -> Any:
    qs = _scores(alias).annotate(prev=Window(Lag("points", default=0), order_by=F("id").asc())).order_by("id")
    return list(qs.values_list("prev", flat=True))


@probe(
    "queries",
    "Coalesce(Window(Lag('points')), 0): runs everywhere, but is not Lag(default=0) when earlier rows hold NULL",
    hint="none needed",
)
def window_lag_coalesce(alias: str) -> Any:
    prev = Coalesce(Window(Lag("points"), order_by=F("id").asc()), 0)
    return list(_scores(alias).annotate(prev=prev).order_by("id").values_list("prev", flat=True))
