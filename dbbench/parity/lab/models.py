"""The parity suite's own tables. Portable Django fields only: the probes show what the *same* model does.

The quiz app's tables are not used, so probes never depend on (or write to) the benchmark's data; the suite
creates these tables in a scratch database of its own (``<database>_parity``).
"""

from __future__ import annotations

from django.db import models


class Doc(models.Model):
    """A JSON document under a name; ``data`` may be SQL NULL (and, written by a probe, JSON null)."""

    name = models.CharField(max_length=50, unique=True)
    data = models.JSONField(null=True)

    def __str__(self) -> str:
        return self.name


class Word(models.Model):
    """Strings that differ only by case, accents, trailing spaces or script (collation probes)."""

    text = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.text


class Tag(models.Model):
    """A unique string: does the unique constraint treat "apple" and "Apple" as one value?"""

    text = models.CharField(max_length=100, unique=True)

    def __str__(self) -> str:
        return self.text


class Score(models.Model):
    """Per-player points, some NULL: NULL ordering, DISTINCT ON, window functions."""

    player = models.CharField(max_length=50)
    points = models.IntegerField(null=True)

    def __str__(self) -> str:
        return f"{self.player}:{self.points}"


class Slot(models.Model):
    """Upserts, bulk inserts, row locks, integer ranges and foreign-key timing."""

    # "code", not "key": KEY is a reserved word in MySQL and MariaDB, and probes use a little raw SQL.
    code = models.CharField(max_length=50, unique=True)
    value = models.IntegerField(default=0)
    small = models.SmallIntegerField(default=0)
    positive = models.PositiveIntegerField(default=0)
    big = models.BigIntegerField(default=0)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")

    def __str__(self) -> str:
        return self.code


class Moment(models.Model):
    """Timestamps: precision, time zones and time-zone-aware truncation."""

    label = models.CharField(max_length=50)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return self.label


class Sample(models.Model):
    """One column per common field type, rows holding the inputs where databases part ways.

    Fixture rows (``label``): null (every column NULL), zero (empty string, 0, midnight), half (7/2, 2.5, a leap
    day, half a second), neg (-7/2, -2.5, padded non-ASCII text, the last microsecond of 1999), max (2**31-1, a
    4-byte character, 9999-12-31, 2038), ascii (1/3, 0.5, 2021-01-03: ISO week 53 of 2020).
    """

    label = models.CharField(max_length=20, unique=True)
    text = models.CharField(max_length=100, null=True)
    n = models.IntegerField(null=True)
    d = models.IntegerField(null=True)  # a divisor for n
    dec = models.DecimalField(max_digits=12, decimal_places=4, null=True)
    f = models.FloatField(null=True)
    flag = models.BooleanField(null=True)
    day = models.DateField(null=True)
    at = models.DateTimeField(null=True)
    clock = models.TimeField(null=True)
    span = models.DurationField(null=True)

    def __str__(self) -> str:
        return self.label


class Rank(models.Model):
    """A unique position: does an ordered UPDATE that shifts every row keep the constraint?"""

    pos = models.IntegerField(unique=True)

    def __str__(self) -> str:
        return str(self.pos)
