"""The adaptive knee search: how many users one configuration serves within the limits, in a time budget.

Grow the user count geometrically in short *coarse* steps until a step misses the limits (p95 over the
threshold, failures over the limit, or no request completed), then bisect between the last step served and the
first one missed, in full-length steps, until the two are within the resolution. Growth: doubling, less once p95
gets within half of the threshold (threshold / p95), at least 1 + 2 x resolution. When the step says how near the
site was to saturating (``utilization``: the busiest share of its CPUs or of its app workers, 0-1), growth aims
just short of the users that saturate it (``aim / utilization``, up to ``max_growth``): with think time,
requests/s grow in step with users until a resource saturates, and p95 passes the threshold a little beyond. A
site far from its limits is reached in fewer steps; the step short of saturation is then most likely served, and
the least growth from there brackets the knee within twice the resolution (overshooting it instead would leave
the bracket from the step before, which bisection narrows in many more steps). Before every step its estimated cost
(ramp-up, settling, the measured duration, Locust's start and stop) must fit in what is left of the budget;
otherwise the search stops and says so (``Knee.search == "budget"``).

Pure over ``measure(probe) -> step`` (a mapping with ``users``, ``requests``, ``failure_rate``, ``p95_ms`` and
``rps``, as ``StepFigures.as_dict()``), ``cost(users, duration_s) -> seconds`` and a clock: it is tested on
synthetic response models, without any server.

A step whose load generator saturated (``locust_saturated``: Locust at its CPUs' limit even with its workers)
under-drove the site: its figures are not the site's, so the search stops there (``Knee.search == "locust"``),
leaves it out of the knee and records ``generator_limit_at``.

Every step served lies below every step missed (the next probe always lies strictly between the two), so noise
cannot make the search oscillate, it ends (growth is at least 1 + 2 x resolution, bisection halves), and
``stats.knee()`` over its steps gives the same knee.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from dbbench.load import stats as loadstats

PHASE_GROW = "grow"  # doubling until a step misses: short steps, only "clearly under or over" matters
PHASE_REFINE = "refine"  # bisecting between the last step served and the first missed: full-length steps
PHASE_LIST = "list"  # a fixed list of user counts, measured in order (no search)


@dataclass(frozen=True)
class Probe:
    """The next step to measure."""

    users: int
    duration_s: float  # measured time, ramp-up and settling excluded
    phase: str


@dataclass(frozen=True)
class Plan:
    """What the search looks for and what it may spend. ``users`` given: measure exactly those, no search."""

    threshold_ms: float = loadstats.DEFAULT_P95_THRESHOLD_MS
    max_failure_rate: float = loadstats.DEFAULT_MAX_FAILURE_RATE
    users: tuple[int, ...] = ()
    start_users: int = 100
    max_users: int = 1600
    growth: float = 2.0  # without a utilization figure (--measure off): doubling
    max_growth: float = 4.0  # with one: towards the users that saturate the site, at most this factor per step
    aim: float = 0.9  # that share of the users that would use the busiest resource fully
    resolution: float = 0.10  # stop when the first miss is within this share of the last served...
    min_step: int = 5  # ...or within this many users of it
    budget_s: float = 100.0
    coarse_duration_s: float = 5.0
    duration_s: float = 10.0

    @property
    def search(self) -> bool:
        return not self.users


Measure = Callable[[Probe], Mapping[str, Any]]
Cost = Callable[[int, float], float]
OnStep = Callable[[loadstats.Knee], None]


@dataclass
class Capacity:
    """The search's answer: the knee (most users served, their requests/s, why it stopped) and every step."""

    knee: loadstats.Knee
    steps: list[Mapping[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"knee": self.knee.as_dict(), "steps": [dict(s) for s in self.steps]}


def find_capacity(
    measure: Measure,
    plan: Plan,
    *,
    cost: Cost | None = None,
    clock: Callable[[], float] = time.monotonic,
    on_step: OnStep | None = None,
    on_stop: OnStep | None = None,
) -> Capacity:
    """Measure probes until the knee is narrowed to the resolution, the budget is spent or ``max_users`` served.

    ``on_step`` gets the knee so far after every step (``search == "running"``); it may raise to end the search
    (the site broke). ``on_stop`` gets the final knee once, however the search ends: why it stopped, or
    ``"failed"`` / ``"interrupted"`` when ``measure`` or ``on_step`` raised (the exception then goes on).
    """
    search = _Search(plan, cost or (lambda _users, _duration: 0.0), clock)
    try:
        while (probe := search.next_probe()) is not None:
            search.record(probe, measure(probe))
            if on_step is not None:
                on_step(search.knee())
    except BaseException as exc:
        if plan.search:
            interrupted = isinstance(exc, KeyboardInterrupt)
            search.state = loadstats.SEARCH_INTERRUPTED if interrupted else loadstats.SEARCH_FAILED
        if on_stop is not None:
            on_stop(search.knee())
        raise
    capacity = Capacity(search.knee(), search.steps)
    if on_stop is not None:
        on_stop(capacity.knee)
    return capacity


class _Search:
    def __init__(self, plan: Plan, cost: Cost, clock: Callable[[], float]) -> None:
        self.plan, self.cost, self.clock = plan, cost, clock
        self.started = clock()
        self.steps: list[Mapping[str, Any]] = []
        self.served: int | None = None  # the most users a step served so far
        self.served_p95 = 0.0  # and its p95
        self.served_load: float | None = None  # and its utilization (the busiest resource's share), if known
        self.generator_limit_at: int | None = None  # the users at which Locust saturated (the search stopped)
        self.missed: int | None = None  # the fewest users a step missed at so far
        self.state = loadstats.SEARCH_RUNNING
        self.pending = list(plan.users)
        self.overruns: list[float] = []  # each step's real time over its estimate
        self._estimate = 0.0
        self._step_started = 0.0

    def spent(self) -> float:
        return self.clock() - self.started

    def next_probe(self) -> Probe | None:
        if not self.plan.search:
            return Probe(self.pending.pop(0), self.plan.duration_s, PHASE_LIST) if self.pending else None
        probe = self._candidate()
        if probe is None:
            return None
        self._estimate = max(0.0, self.cost(probe.users, probe.duration_s))
        # Steps tend to overrun their estimate alike (a busy machine starts Locust slowly): learn by how much.
        factor = max(1.0, statistics.median(self.overruns)) if self.overruns else 1.0
        if self.spent() + self._estimate * factor > self.plan.budget_s:
            self.state = loadstats.SEARCH_BUDGET
            return None
        self._step_started = self.clock()
        return probe

    def _candidate(self) -> Probe | None:
        plan = self.plan
        if not self.steps:
            return Probe(min(plan.start_users, plan.max_users), plan.coarse_duration_s, PHASE_GROW)
        if self.generator_limit_at is not None:  # Locust could not drive more: the site's limit is further
            self.state = loadstats.SEARCH_LOCUST
            return None
        if self.missed is None:  # every step so far was served: grow
            last = self.served or 0
            if last >= plan.max_users:
                self.state = loadstats.SEARCH_MAX_USERS
                return None
            grown = max(last + 1, math.ceil(last * self._growth()))
            return Probe(min(grown, plan.max_users), plan.coarse_duration_s, PHASE_GROW)
        low = self.served or 0  # even the first step missed: look below it, down to no users
        if self.missed - low <= max(plan.min_step, plan.resolution * low, 1):
            self.state = loadstats.SEARCH_KNEE
            return None
        return Probe((low + self.missed) // 2, plan.duration_s, PHASE_REFINE)

    def _growth(self) -> float:
        """The factor from the last step served to the next: see the module's docstring."""
        plan = self.plan
        least = 1 + 2 * plan.resolution
        # Near the threshold a doubling would overshoot far, and the narrowing after it cost more steps.
        headroom = plan.threshold_ms / self.served_p95 if self.served_p95 > 0 else plan.growth
        if not self.served_load:
            return min(plan.growth, max(least, headroom))
        return max(least, min(plan.max_growth, headroom, plan.aim / self.served_load))

    def record(self, probe: Probe, step: Mapping[str, Any]) -> None:
        if self._estimate > 0:
            self.overruns.append((self.clock() - self._step_started) / self._estimate)
        self.steps.append(step)
        if step.get("locust_saturated"):
            self.generator_limit_at = probe.users
        elif loadstats.miss(step, self.plan.threshold_ms, self.plan.max_failure_rate) is None:
            if probe.users > (self.served or 0):
                self.served, self.served_p95 = probe.users, float(step["p95_ms"])
                self.served_load = utilization(step)
        else:
            self.missed = min(self.missed or probe.users, probe.users)

    def knee(self) -> loadstats.Knee:
        plan = self.plan
        # A step Locust under-drove says nothing of the site's limits.
        steps = [s for s in self.steps if not s.get("locust_saturated")] if plan.search else self.steps
        found = loadstats.knee(steps, threshold_ms=plan.threshold_ms, max_failure_rate=plan.max_failure_rate)
        if not plan.search:
            return found
        return replace(
            found,
            search=self.state,
            generator_limit_at=self.generator_limit_at,
            max_users=plan.max_users,
            resolution=plan.resolution,
            budget_s=plan.budget_s,
            spent_s=round(self.spent(), 1),
        )


def utilization(step: Mapping[str, Any]) -> float | None:
    """The busiest resource's share in a step (``step["utilization"]``: e.g. ``{"cpu": 0.6, "workers": 0.9}``),
    or None when the step did not measure it."""
    values = [float(v) for v in (step.get("utilization") or {}).values() if v is not None]
    return max(values) if values and max(values) > 0 else None
