"""Where the benchmark suite is and how long it has left: the step (size, operation, variant, or seeding) and an
estimate, shown through :class:`dbbench.progress.Status` while the suite runs.

The estimate adds up what is left:

- each group still to measure (one operation and variant at one size, every backend) costs what the same group
  took at the previous size; before that, what the profile allows it (warm-up and the first batch on every
  backend, or the per-operation cap if that is longer: :class:`dbbench.bench.runner.Profile`), scaled by how
  the groups measured so far compared with their own allowance;
- each size not reached yet costs seeding its new attempts on every backend at the rate the last seeding reached,
  or :data:`SEED_ROWS_PER_S` before any (a size kept from an earlier run seeds in no time, so the first estimate
  can be high).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from dbbench.bench.runner import Profile
from dbbench.progress import Status
from dbbench.units import format_count

# The seeder's rate from empty on a 2-core machine with dbbench's managed servers: 42-45k attempts/s at 1M
# (`dbbench seed-benchmark --backend all --attempts 1m`, dbbench 0.1.0). Only the first estimate uses it.
SEED_ROWS_PER_S = 40_000.0

Group = tuple[int, str, str]  # (size, operation, variant), as dbbench.bench.plugin.Case.group


@dataclass
class BenchEta:
    """The suite's plan (its groups in the order they run, each with its backends) and what has run so far."""

    profile: Profile
    groups: dict[Group, list[str]]
    backends: int
    took: dict[Group, float] = field(default_factory=dict)  # measured groups: seconds
    seeded: dict[int, float] = field(default_factory=dict)  # sizes reached: seconds
    seed_rate: float = SEED_ROWS_PER_S  # attempts per second per backend, from the last seeding
    names: Sequence[str] = ()  # the backends, as the seeding step names them
    status: Status | None = None
    _started: float = 0.0

    @classmethod
    def shown(
        cls, profile: Profile, groups: dict[Group, list[str]], names: Sequence[str], config: Any, mode: str
    ) -> BenchEta:
        """An estimate whose steps a :class:`Status` shows (``mode``: auto, live or lines; off: none) on the real
        stderr; none either when there is nothing to measure."""
        if mode == "off" or not groups:
            return cls(profile, groups, len(names), names=names)
        live = {"auto": None, "live": True, "lines": False}[mode]
        status = Status("benchmarks", real_stderr(config), live=live).start()
        return cls(profile, groups, len(names), names=names, status=status)

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()

    def order(self) -> list[Group]:
        return sorted(self.groups)

    def bound(self, group: Group) -> float:
        """What the profile lets a group take before anything was measured."""
        p, n = self.profile, len(self.groups[group])
        return n * p.warmup_budget_s + max(n * p.budget_s, p.cap_s)

    def guess(self, group: Group) -> float:
        size, operation, variant = group
        earlier = [s for (s, o, v) in self.took if (o, v) == (operation, variant) and s < size]
        if earlier:
            return self.took[(max(earlier), operation, variant)]
        return self.bound(group) * self.pace()

    def pace(self) -> float:
        """How the groups measured so far compare with their bounds (a bulk insert's rounds outrun the budget; a
        quick read ends early), within 0.5-5x: the bounds of the groups not measured yet are scaled by it."""
        if not self.took:
            return 1.0
        ratio = sum(self.took.values()) / sum(self.bound(g) for g in self.took)
        return min(max(ratio, 0.5), 5.0)

    def seed_guess(self, size: int) -> float:
        below = [g[0] for g in self.groups if g[0] < size]  # the data grows from the size before
        start = max(below) if below else 0
        return max(size - start, 0) * self.backends / max(self.seed_rate, 1.0)

    def left(self, now_in: Group | None = None, seeding: int | None = None) -> float:
        """Seconds left: every group not measured yet (the current one in full, less the time it has run) and
        every size not reached yet."""
        total = 0.0
        for group in self.order():
            if group not in self.took:
                total += self.guess(group)
        for size in sorted({g[0] for g in self.groups}):
            if size not in self.seeded:
                total += self.seed_guess(size)
        if now_in is not None and self._started:
            total -= min(time.monotonic() - self._started, self.guess(now_in))
        if seeding is not None and self._started:
            total -= min(time.monotonic() - self._started, self.seed_guess(seeding))
        return max(total, 0.0)

    def done(self) -> int:
        return len(self.took)

    # --- events from the suite ----------------------------------------------------------------------------------

    def begin(self) -> None:
        self._started = time.monotonic()

    def since_begin(self) -> float:
        return time.monotonic() - self._started

    def measured(self, group: Group) -> None:
        self.took[group] = time.monotonic() - self._started

    def seeding(self, size: int) -> None:
        self.begin()
        if self.status is not None:
            step = f"seeding {format_count(size)} attempts on {', '.join(self.names)}"
            self.status.update(step, self.done(), len(self.groups), self.left(seeding=size))

    def measuring(self, group: Group) -> None:
        self.begin()
        if self.status is not None:
            self.status.update(self.step(group), self.done(), len(self.groups), self.left(now_in=group))

    def seeded_size(self, size: int, added: Sequence[int]) -> None:
        """``size`` reached on every backend, ``added`` attempts in all, since :meth:`seeding`."""
        seconds = self.since_begin()
        self.seeded[size] = seconds
        if sum(added) and seconds > 0.5:  # a kept size (nothing added) says nothing about the rate
            self.seed_rate = sum(added) / seconds  # the backends are seeded one after the other

    @staticmethod
    def step(group: Group) -> str:
        size, operation, variant = group
        return f"{format_count(size)} attempts: {operation} ({variant})"


def real_stderr(config: Any) -> TextIO:
    """A duplicate of the terminal's (or log's) stderr that pytest's output capture does not swallow: progress is
    written from a thread while a benchmark runs, when fd 2 is pytest's capture file. ``config``: pytest's."""
    capman = config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
        return os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1, encoding="utf-8", errors="replace")
