"""Markdown from values that come from result files, servers and code: escaped once, the same way everywhere.

Result files are shared between people, so nothing in them may become markup in a report: the HTML renderer
runs with raw HTML off, and these helpers keep a value from opening a link, an image, emphasis or a new column.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Any

_MARKUP = re.compile(r"([\\`*_{}\[\]()#+!|<>~&])")
# C0 and C1 control characters (tab and newline aside): ANSI/OSC escape sequences act on the terminal of whoever
# prints or cats the report, so none is passed on.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(value: object) -> str:
    """``value`` as text without control characters (what a terminal would act on)."""
    return _CONTROL.sub("", str(value))


def text(value: object) -> str:
    """Free text: every character that could start markup is backslash-escaped; line breaks become spaces."""
    return _MARKUP.sub(r"\\\1", " ".join(plain(value).split()))


def code(value: object) -> str:
    """A code span: its content is literal, so only backticks and the column separator need care."""
    return "`" + plain(value).replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`"


def cell(value: Any) -> str:
    """A table cell: numbers shortened, HTML escaped, no link, column separator or line break left."""
    shown = plain(value)
    if isinstance(value, float):
        shown = f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    shown = html.escape(shown, quote=False).replace("|", "\\|").replace("\n", " ")
    return shown.replace("[", "\\[").replace("]", "\\]")  # "[text](javascript:...)" stays text


def table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str | None = None) -> list[str]:
    """A Markdown table's lines; each row's values go through :func:`cell`. ``align``: one of ``l``/``r`` a column."""
    marks = [("---:" if a == "r" else "---") for a in (align or "l" * len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


# A folded block: in report.html a <details> element (closed), in report.md one line that points to it. The markers
# start with "<!--", which text() escapes, so no value from a result file can open or close one.
_FOLD = re.compile(r"^<!--dbbench:fold (?P<summary>.*?)-->\n(?P<body>.*?)^<!--dbbench:/fold-->\n", re.M | re.S)


def fold(summary: str, body: str) -> str:
    """``body`` (Markdown) folded away under ``summary`` (one line of Markdown)."""
    return f"<!--dbbench:fold {' '.join(summary.split())}-->\n{body.rstrip()}\n<!--dbbench:/fold-->\n"


def folds(markdown: str) -> list[tuple[str, str, str]]:
    """``markdown`` cut at its folds: (text before, summary, body) for each, and (the rest, "", "") last."""
    pieces: list[tuple[str, str, str]] = []
    at = 0
    for m in _FOLD.finditer(markdown):
        pieces.append((markdown[at : m.start()], m["summary"], m["body"]))
        at = m.end()
    pieces.append((markdown[at:], "", ""))
    return pieces


def without_folds(markdown: str, where: str = "report.html") -> str:
    """The Markdown with each folded block replaced by one line saying what it holds and where to find it."""
    return "".join(
        before + (f"_{summary}: in {where}, folded._\n" if summary else "") for before, summary, _ in folds(markdown)
    )
