"""Progress for long stages (seeding, copying): a rich bar on a terminal, plain lines in logs, or nothing."""

from __future__ import annotations

import sys
from typing import Any

BAR, PLAIN, OFF = "bar", "plain", "off"


def mode(progress: bool | None) -> str:
    """``progress``: True for a bar, False for nothing, None for a bar only if stderr is a terminal (else lines)."""
    if progress is False:
        return OFF
    return BAR if progress or sys.stderr.isatty() else PLAIN


def bar(label: str, unit: str, *, rate: bool = False, transient: bool = False) -> Any:
    """A started rich progress bar on stderr: ``label``, the bar, done/total ``unit`` (and a rate field), ETA."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn()]
    columns.append(TextColumn(f"{unit}, {{task.fields[rate]}} rows/s, ETA" if rate else unit))
    progress = Progress(*columns, TimeRemainingColumn(), console=Console(file=sys.stderr), transient=transient)
    progress.start()
    return progress
