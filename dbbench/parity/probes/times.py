"""Date and time probes: microseconds, time zones on the way in, and time-zone-aware truncation in SQL.

Fixture moments: precise 2026-03-04 05:06:07.123456Z, late 2026-03-04 23:30Z, new-year 2025-12-31 23:59:59.999999Z.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from django.db.models.functions import ExtractHour, TruncDay

from dbbench.parity.lab.models import Moment
from dbbench.parity.probes import probe, rolled_back

_BERLIN = ZoneInfo("Europe/Berlin")
_TZ_HINT = (
    "load the server's time-zone tables (mysql_tzinfo_to_sql /usr/share/zoneinfo | mysql mysql) or truncate in "
    "Python: MariaDB's CONVERT_TZ returns NULL for named zones without them"
)


def _moments(alias: str) -> QuerySet[Moment]:
    return Moment.objects.using(alias)


@probe("times", "microseconds survive a round trip", hint="none needed")
def dt_microseconds(alias: str) -> Any:
    return [m.isoformat() for m in _moments(alias).order_by("id").values_list("at", flat=True)]


@probe("times", "an aware datetime in +05:30 comes back as the same instant in UTC", hint="none needed")
def dt_aware_round_trip(alias: str) -> Any:
    when = datetime(2026, 6, 1, 12, 0, 0, 500, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    with rolled_back(alias):
        pk = Moment.objects.using(alias).create(label="ist", at=when).pk
        back = _moments(alias).get(pk=pk).at
        return {"read": back.isoformat(), "same_instant": back == when}


@probe("times", "filter(at__date=2026-03-04) in UTC", hint="none needed")
def dt_filter_date(alias: str) -> Any:
    return sorted(_moments(alias).filter(at__date="2026-03-04").values_list("label", flat=True))


@probe("times", "TruncDay('at', tzinfo=Europe/Berlin)", hint=_TZ_HINT)
def dt_trunc_day_named_zone(alias: str) -> Any:
    qs = _moments(alias).annotate(day=TruncDay("at", tzinfo=_BERLIN)).order_by("id")
    return [d.isoformat() if d else None for d in qs.values_list("day", flat=True)]


@probe("times", "ExtractHour('at', tzinfo=Europe/Berlin)", hint=_TZ_HINT)
def dt_extract_hour_named_zone(alias: str) -> Any:
    return list(
        _moments(alias).annotate(h=ExtractHour("at", tzinfo=_BERLIN)).order_by("id").values_list("h", flat=True)
    )
