"""Progress for long stages: a rich bar on a terminal, plain lines in logs, or nothing (:func:`bar`); for stages
of many steps (the benchmarks), a :class:`Status` line saying the step and the time left."""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
import time
from typing import Any, TextIO

BAR, PLAIN, OFF = "bar", "plain", "off"
PLAIN_EVERY_S = 5.0  # a log gets a progress line this often: enough to see a stage move, not a wall of lines


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


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class Status:
    """Where a long stage is and how long it has left, shown while it runs.

    On a terminal: one live line, redrawn every second. In a log (no terminal): a plain ``key=value`` line every
    ``interval`` seconds, e.g. ``progress stage=benchmarks step="100k json_filter orm" done=12/60 elapsed_s=95
    eta_s=340``, so a CI log says where a run is without a wall of dots. A thread redraws it, so a step that takes
    minutes (a JSON scan at 1M attempts, seeding) still shows the clock; the time left counts down between updates.

    ``stream``: where to write (default stderr). A pytest plugin passes a duplicate of the real stderr, which
    pytest's output capture does not swallow.
    """

    def __init__(
        self, stage: str, stream: TextIO | None = None, *, interval: float = PLAIN_EVERY_S, live: bool | None = None
    ) -> None:
        self.stage = stage
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.interval = 1.0 if self.live else interval
        self.step = ""
        self.done: int | None = None
        self.total: int | None = None
        self._eta: float | None = None
        self._eta_at = self._started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def update(self, step: str, done: int | None = None, total: int | None = None, eta_s: float | None = None) -> None:
        """The stage is now at ``step`` (``done`` of ``total``), with ``eta_s`` seconds left (None: unknown)."""
        with self._lock:
            first, changed = not self.step, step != self.step
            self.step, self.done, self.total = step, done, total
            self._eta, self._eta_at = eta_s, time.monotonic()
        # A log gets the first step at once (a stage shorter than the interval still says what it did).
        if (self.live and changed) or first:
            self._draw()

    def eta(self) -> float | None:
        """The time left: the last estimate, less the time since it was made (never below zero)."""
        with self._lock:
            return None if self._eta is None else max(0.0, self._eta - (time.monotonic() - self._eta_at))

    def line(self) -> str:
        """The current state as text: the live line, or the plain line's fields."""
        eta, elapsed = self.eta(), time.monotonic() - self._started
        with self._lock:
            step, done, total = self.step, self.done, self.total
        if self.live:
            count = f" ({done}/{total})" if total else ""
            left = f", about {_duration(eta)} left" if eta is not None else ""
            return f"{self.stage}: {step}{count}, {_duration(elapsed)} in{left}"
        fields = [f"stage={self.stage}", f'step="{step}"']
        if total:
            fields.append(f"done={done}/{total}")
        fields.append(f"elapsed_s={elapsed:.0f}")
        fields.append(f"eta_s={eta:.0f}" if eta is not None else "eta_s=?")
        return "progress " + " ".join(fields)

    def _draw(self) -> None:
        text = self.line()
        try:
            if self.live:  # back to the line's start, clear it, redraw: the line stays one line
                width = shutil.get_terminal_size((120, 24)).columns - 1
                self.stream.write("\r\x1b[K" + text[:width])
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # the stream went away (a closed pipe): progress is not worth an error
            self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.step:
                self._draw()

    def start(self) -> Status:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"dbbench-progress-{self.stage}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop redrawing; on a terminal, clear the live line (what follows prints from the line's start)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self.live:
            with contextlib.suppress(OSError, ValueError):
                self.stream.write("\r\x1b[K")
                self.stream.flush()

    def __enter__(self) -> Status:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
