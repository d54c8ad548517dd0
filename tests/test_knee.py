"""The adaptive knee search on synthetic response models (no server), the search's settings, and how a saturated
Locust process is told from its CPU samples and log."""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable
from typing import Any

import pytest

from dbbench.errors import ConfigError
from dbbench.load import bottleneck
from dbbench.load import stats as loadstats
from dbbench.load.config import BOX_BUDGET_S, LoadConfig, build_config, config_for_profile
from dbbench.load.knee import PHASE_GROW, PHASE_LIST, PHASE_REFINE, Plan, Probe, find_capacity, utilization
from dbbench.load.locust import CpuSampler, cpu_share, cpu_warned, saturated

pytestmark = pytest.mark.nodb  # runs on a machine without database servers

THINK_S = 3.0  # mean think time of 1-5 s


def queue_p95(users: int, capacity_rps: float, service_ms: float = 10.0) -> float:
    """p95 of an M/M/1-like site: ln(20) mean response times, the mean S/(1-rho); over capacity, timeouts."""
    rho = users / THINK_S / capacity_rps
    return math.log(20) * service_ms / (1 - rho) if rho < 1 else 10_000.0


def true_knee(p95: Callable[[int], float], threshold_ms: float = 1000.0, top: int = 5000) -> int:
    """The most users whose p95 stays within the threshold (the model's p95 grows with users)."""
    return max((u for u in range(1, top + 1) if p95(u) <= threshold_ms), default=0)


class Site:
    """A synthetic site: ``measure(probe)`` -> step figures, advancing a fake clock by the step's cost."""

    def __init__(
        self,
        p95: Callable[[int], float],
        failure_rate: Callable[[int], float] = lambda _u: 0.0,
        *,
        noise: float = 0.0,
        seed: int = 0,
        slowness: float = 1.0,
        config: LoadConfig | None = None,
        capacity_rps: float | None = None,
    ) -> None:
        self.p95, self.failure_rate, self.noise, self.slowness = p95, failure_rate, noise, slowness
        self.capacity_rps = capacity_rps  # given: each step says how near it was (utilization), as --measure on
        self.rng = random.Random(seed)
        self.config = config or LoadConfig()
        self.now = 0.0
        self.probes: list[Probe] = []

    def clock(self) -> float:
        return self.now

    def cost(self, users: int, duration_s: float) -> float:
        return self.config.step_seconds(users, duration_s)

    def measure(self, probe: Probe) -> dict[str, Any]:
        self.probes.append(probe)
        self.now += self.cost(probe.users, probe.duration_s) * self.slowness
        p95 = self.p95(probe.users) * (1 + self.rng.uniform(-self.noise, self.noise))
        rps = probe.users / (THINK_S + p95 / 1000)
        requests = max(1, round(rps * probe.duration_s))
        step = {"users": probe.users, "requests": requests, "rps": rps, "p95_ms": p95,
                "failure_rate": self.failure_rate(probe.users)}  # fmt: skip
        if self.capacity_rps:
            step["utilization"] = {"cpu": min(rps / self.capacity_rps, 1.0), "workers": None}
        return step

    def run(self, plan: Plan, **kwargs: Any) -> Any:
        return find_capacity(self.measure, plan, cost=self.cost, clock=self.clock, **kwargs)


PLAN = Plan(budget_s=3600.0)  # the default search with room to narrow the knee down fully


@pytest.mark.parametrize("capacity_rps", [8.0, 40.0, 150.0, 400.0])
def test_the_knee_found_is_within_the_resolution_of_the_true_one(capacity_rps: float) -> None:
    def p95(u: int) -> float:
        return queue_p95(u, capacity_rps)

    knee_users = true_knee(p95)
    site = Site(p95)
    found = site.run(PLAN).knee
    assert found.search == loadstats.SEARCH_KNEE and found.reached
    assert found.users is not None and found.missed_at is not None
    assert found.users <= knee_users < found.missed_at  # the model is exact: bracketed
    assert found.missed_at - found.users <= max(PLAN.min_step, PLAN.resolution * found.users)
    assert found.reason == "p95" and found.rps == pytest.approx(found.users / (THINK_S + p95(found.users) / 1000), 0.01)
    # Coarse steps while growing, full-length ones while narrowing.
    grow = [p for p in site.probes if p.phase == PHASE_GROW]
    assert all(p.duration_s == PLAN.coarse_duration_s for p in grow)
    assert all(p.duration_s == PLAN.duration_s for p in site.probes if p.phase == PHASE_REFINE)
    assert [p.users for p in grow][:2] == [100, 200][: len(grow[:2])]


def test_a_knee_below_the_first_step_is_searched_downwards() -> None:
    site = Site(lambda u: queue_p95(u, 5.0))  # knee at 14 users: the first step (100) is far over
    found = site.run(PLAN).knee
    assert [p.users for p in site.probes][:3] == [100, 50, 25]
    assert found.users is not None and found.users <= true_knee(lambda u: queue_p95(u, 5.0)) < found.missed_at
    assert found.missed_at - found.users <= PLAN.min_step
    hopeless = Site(lambda _u: 2000.0)
    found = hopeless.run(PLAN).knee
    assert [p.users for p in hopeless.probes] == [100, 50, 25, 12, 6, 3]
    assert (found.users, found.missed_at, found.search) == (None, 3, "knee")
    assert found.describe() == "below 3 users (p95 2000 ms over 1000 ms)"


def test_growth_slows_down_once_p95_nears_the_threshold() -> None:
    site = Site(lambda u: 4.0 * u)  # p95 800 ms at 200 users: doubling would measure 400 users at 1600 ms
    found = site.run(PLAN).knee
    assert [p.users for p in site.probes] == [100, 200, 250, 300, 275]  # x2, x1000/800, x1.2 (the least), bisect
    assert [p.phase for p in site.probes] == [PHASE_GROW] * 4 + [PHASE_REFINE]
    assert (found.users, found.missed_at, found.search) == (250, 275, "knee")


def test_a_site_that_never_fails_says_no_knee_up_to_max_users() -> None:
    site = Site(lambda _u: 40.0)
    found = site.run(PLAN).knee
    assert [p.users for p in site.probes] == [100, 200, 400, 800, 1600]
    assert (found.search, found.reached, found.users, found.missed_at) == ("max_users", False, 1600, None)
    assert found.describe().startswith("no knee up to 1600 users (served within the limits, ")
    odd = Site(lambda _u: 40.0).run(Plan(start_users=300, max_users=1000, budget_s=3600)).knee
    assert odd.users == 1000 and odd.describe().startswith("no knee up to 1000 users")


def test_failures_over_the_limit_count_as_a_miss_even_with_a_fast_p95() -> None:
    # Requests fail fast from 600 users on: p95 stays at 30 ms, the failure rate passes 1%.
    site = Site(lambda _u: 30.0, lambda u: 0.0 if u < 600 else 0.3)
    found = site.run(PLAN).knee
    assert found.reason == "failures" and found.value == 0.3 and found.reached
    assert found.users is not None and found.missed_at is not None
    assert found.users < 600 <= found.missed_at and found.missed_at - found.users <= 0.1 * found.users
    assert "failures 30.0% over the 1% limit" in found.describe()


def test_no_request_completed_is_a_miss() -> None:
    site = Site(lambda _u: 20.0)
    original = site.measure
    site.measure = lambda probe: {**original(probe), "requests": 0 if probe.users > 300 else 10}  # type: ignore[method-assign]
    found = site.run(PLAN).knee
    assert found.reason == "no requests" and found.users is not None and 270 <= found.users <= 300


@pytest.mark.parametrize("aimed", [False, True])
@pytest.mark.parametrize("seed", range(40))
def test_noise_neither_oscillates_nor_misplaces_the_knee(seed: int, aimed: bool) -> None:
    noise = 0.3

    def p95(u: int) -> float:
        return queue_p95(u, 150.0)

    site = Site(p95, noise=noise, seed=seed, capacity_rps=150.0 if aimed else None)
    capacity = site.run(PLAN)
    found = capacity.knee
    users = [p.users for p in site.probes]
    assert len(users) == len(set(users)) <= 12  # every count measured once; log2 bounds on both phases
    # What the noise allows: a step passes at most where p95 x 0.7 reaches the limit, misses from where x 1.3 does.
    low, high = true_knee(lambda u: p95(u) * (1 + noise)), true_knee(lambda u: p95(u) * (1 - noise))
    assert found.search == "knee" and found.users is not None and found.missed_at is not None
    assert low / (1 + PLAN.resolution) <= found.users <= high
    # Every step served lies below every step missed, so the conservative stats.knee agrees with the search.
    again = loadstats.knee(capacity.steps, threshold_ms=PLAN.threshold_ms, max_failure_rate=PLAN.max_failure_rate)
    assert (again.users, again.missed_at) == (found.users, found.missed_at)


def test_the_budget_is_respected_and_says_so() -> None:
    config = LoadConfig()
    site = Site(lambda u: queue_p95(u, 150.0), config=config)
    found = site.run(Plan(budget_s=60.0)).knee
    assert site.now <= 60.0 and found.spent_s == site.now
    assert found.search == "budget" and len(site.probes) == 3  # 100, 200, 400 users fit; 800 does not
    assert not found.reached and found.describe().startswith(">= 400 users (not reached")
    assert found.describe().endswith("[the search's budget (52 s of 60 s) ran out before a step passed the limits]")
    # Over a bracket the budget cuts the narrowing short: the knee is still reached, just less precisely.
    site = Site(lambda u: queue_p95(u, 150.0), config=config)
    found = site.run(Plan(budget_s=100.0)).knee
    assert site.now <= 100.0 and found.search == "budget" and found.reached
    assert found.users is not None and found.users <= true_knee(lambda u: queue_p95(u, 150.0)) < (found.missed_at or 0)


def test_steps_slower_than_estimated_shrink_what_the_budget_holds() -> None:
    slow = Site(lambda u: queue_p95(u, 150.0), slowness=1.5)
    slow.run(Plan(budget_s=100.0))
    first = slow.cost(100, PLAN.coarse_duration_s)
    assert slow.now <= 100.0 + 0.5 * first  # only the first step, before anything was learnt, can overrun
    assert len(slow.probes) < len(Site(lambda u: queue_p95(u, 150.0)).run(Plan(budget_s=100.0)).steps)


def test_the_default_profile_finds_a_knee_for_five_configurations_within_eight_minutes() -> None:
    """The issue's bar, on a model: knees between about 150 and 700 users (50 to 250 requests/s at a 1-5 s
    think time) are found in the run's budget, and its five configurations' budgets fit 8 minutes. Beyond, the
    budget runs out and says so (a larger --budget reaches it)."""
    config = config_for_profile("default")
    assert config.search and 5 * config.configuration_seconds() <= 8 * 60
    assert config.estimated_seconds(2) == 4 * config.configuration_seconds()  # 2 targets x 2 CONN_MAX_AGEs
    for capacity_rps in (50.0, 100.0, 150.0, 250.0):
        site = Site(lambda u, c=capacity_rps: queue_p95(u, c), config=config)  # type: ignore[misc]
        found = site.run(config.plan()).knee
        assert found.reached and site.now <= config.budget_s, (capacity_rps, found)
    found = Site(lambda u: queue_p95(u, 400.0), config=config).run(config.plan()).knee
    assert (found.reached, found.search, found.users) == (False, "budget", 800)


@pytest.mark.parametrize("capacity_rps", [40.0, 150.0, 300.0, 400.0])
def test_growth_aims_just_short_of_the_users_that_saturate_the_site(capacity_rps: float) -> None:
    """With each step's utilization, growth heads for where the busiest resource would be full (up to x4 a
    step) instead of doubling: the same knee, bracketed in fewer steps, and a box's knee of 300-400 requests/s
    (900-1,300 users) found within the box's budget, where doubling ran out of it at 800 users."""

    def p95(u: int) -> float:
        return queue_p95(u, capacity_rps)

    aimed, doubling = Site(p95, capacity_rps=capacity_rps), Site(p95)
    found, before = aimed.run(PLAN).knee, doubling.run(PLAN).knee
    assert found.search == "knee" and found.users is not None and found.missed_at is not None
    assert found.users <= true_knee(p95) < found.missed_at
    assert len(aimed.probes) < len(doubling.probes) and before.search == "knee"
    second = aimed.probes[1].users  # far from saturated: x4; near it (40 req/s at 100 users: 83%), less than x2
    assert second == 400 if capacity_rps >= 150 else 100 < second < 200
    box = build_config(box="1,512M")
    assert box.budget_s == BOX_BUDGET_S == 200.0 and build_config(box="1,512M", budget="90s").budget_s == 90.0
    in_box = Site(p95, capacity_rps=capacity_rps, config=box)
    assert in_box.run(box.plan()).knee.search == "knee" and in_box.now <= box.budget_s
    assert 3 * box.configuration_seconds() <= 11 * 60  # three configurations of the box in under 12 minutes


def test_a_saturated_load_generator_ends_the_search_without_claiming_a_knee() -> None:
    """Locust at its CPUs' limit under-drives the site: its slow answers are its own, so the step is no miss."""
    site = Site(lambda u: queue_p95(u, 400.0))
    original = site.measure

    def generator_bound(probe: Probe) -> dict[str, Any]:
        step = original(probe)
        return {**step, "p95_ms": 3000.0, "locust_saturated": True} if probe.users >= 400 else step

    site.measure = generator_bound  # type: ignore[method-assign]
    capacity = site.run(PLAN)
    found = capacity.knee
    assert [p.users for p in site.probes] == [100, 200, 400]
    assert (found.search, found.reached, found.users, found.missed_at) == ("locust", False, 200, None)
    assert found.generator_limit_at == 400 and found.as_dict()["generator_limit_at"] == 400
    assert found.describe().startswith(">= 200 users (not reached")
    assert "the load generator (Locust) was the limit: it saturated its CPUs at 400 users" in found.describe()
    run = {"vendor": "PostgreSQL", "knee": found.as_dict(), "steps": capacity.steps}
    named = bottleneck.for_run(run)
    assert named is not None and named["tier"] == "locust" and not named["gave_out"]
    assert named["sentence"].startswith("the load generator (Locust) was the limit: it saturated its CPUs at 400")


def test_utilization_is_the_busiest_share_of_the_sites_cpus_and_workers() -> None:
    step = {
        "rps": 250.0,
        "timing": {"app_mean_ms": 12.0},
        "tiers": {
            "app": {"cpu_percent": 72.0, "cpu_core_percent": 72.0},
            "database": {"cpu_percent": 18.0, "cpu_core_percent": 18.0},
            "locust": {"cpu_percent": 95.0, "cpu_core_percent": 95.0},  # outside the site: not its limit
            "pooler": {"unknown": "its processes were not found"},
        },
    }
    # In a box of one CPU the two use 90% of it together; 250 req/s x 12 ms keep 3 of 5 workers busy.
    assert bottleneck.utilization(step, 1.0, 5) == {"cpu": 0.9, "workers": 0.6}
    assert bottleneck.utilization(step, 2.0, 5)["cpu"] == 0.72  # on two CPUs, the app server's own share
    assert bottleneck.utilization({"rps": 10.0}, None, 5) == {}  # --measure off: the search doubles
    assert utilization({"utilization": {"cpu": 0.4, "workers": None}}) == 0.4 and utilization({}) is None


def test_callbacks_see_every_step_and_why_the_search_ended() -> None:
    seen: list[tuple[str | None, int]] = []
    stopped: list[loadstats.Knee] = []
    site = Site(lambda u: queue_p95(u, 150.0))
    site.run(PLAN, on_step=lambda k: seen.append((k.search, len(site.probes))), on_stop=stopped.append)
    assert [n for _, n in seen] == list(range(1, len(site.probes) + 1))
    assert {s for s, _ in seen} == {"running"} and [k.search for k in stopped] == ["knee"]

    def broke(knee: loadstats.Knee) -> None:
        if len(site.probes) == 2:
            raise RuntimeError("the site died")

    for error, state in ((RuntimeError, "failed"), (KeyboardInterrupt, "interrupted")):
        site, stopped = Site(lambda u: queue_p95(u, 150.0)), []
        if error is KeyboardInterrupt:
            site.measure = lambda probe: (_ for _ in ()).throw(KeyboardInterrupt())  # type: ignore[method-assign]
        with pytest.raises(error):
            site.run(PLAN, on_step=broke, on_stop=stopped.append)
        (final,) = stopped
        assert final.search == state and "[the search " + state + "]" in final.describe()


def test_a_fixed_list_is_measured_in_order_without_a_search() -> None:
    site = Site(lambda u: queue_p95(u, 30.0))
    capacity = site.run(Plan(users=(10, 50, 100, 200, 300), budget_s=1.0))  # the budget is the search's only
    assert [(p.users, p.phase) for p in site.probes] == [(u, PHASE_LIST) for u in (10, 50, 100, 200, 300)]
    assert capacity.knee == loadstats.knee(capacity.steps, threshold_ms=1000.0, max_failure_rate=0.01)
    assert capacity.knee.search is None and capacity.knee.users == 50 and capacity.knee.missed_at == 100
    assert capacity.as_dict()["knee"]["users"] == 50 and len(capacity.as_dict()["steps"]) == 5


def test_knee_dicts_of_other_versions_still_read() -> None:
    old = {"users": 50, "reached": True, "threshold_ms": 1000.0, "max_failure_rate": 0.01}
    assert loadstats.Knee.from_dict(old).describe() == "50 users"
    newer = {**old, "missed_at": 100, "reason": "p95", "value": 1500.0, "rps": 16.2, "search": "knee", "later": 1}
    assert loadstats.Knee.from_dict(newer).describe() == "50 users, 16.2 req/s (p95 1500 ms over 1000 ms at 100 users)"


# --- settings -------------------------------------------------------------------------------------------------


def test_search_settings_from_strings() -> None:
    config = build_config(start_users="50", max_users="2k", resolution="5%", budget="3m", coarse_duration="4s")
    assert (config.start_users, config.max_users, config.resolution, config.budget_s) == (50, 2000, 0.05, 180.0)
    assert config.coarse_duration_s == 4.0 and config.search
    plan = config.plan()
    assert (plan.start_users, plan.max_users, plan.resolution, plan.budget_s, plan.users) == (50, 2000, 0.05, 180.0, ())
    fixed = build_config(users="10,50")
    assert not fixed.search and fixed.plan().users == (10, 50)
    assert fixed.estimated_seconds(1) == 2 * (sum(fixed.step_seconds(u) for u in (10, 50)) + 10)
    assert build_config(locust_cpu_limit="80%", saturated_workers=3).locust_cpu_limit == 80.0
    assert build_config(quick=True).users == (5,)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"start_users": "0"}, "--start-users"),
        ({"start_users": "800", "max_users": "400"}, "--start-users and --max-users"),
        ({"max_users": "9000"}, "--max-users"),
        ({"resolution": "0"}, "--resolution"),
        ({"resolution": "ten"}, "--resolution"),
        ({"budget": "10s"}, "--budget 10s: from one step of 100 users"),
        ({"budget": "2d"}, "--budget"),
        ({"coarse_duration": "0.5s"}, "--coarse-duration"),
        ({"locust_cpu_limit": "150"}, "--locust-cpu-limit"),
    ],
)
def test_bad_search_settings_are_one_line(option: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config(**option)


# --- a saturated Locust ---------------------------------------------------------------------------------------


def test_cpu_share_counts_the_measured_window_only() -> None:
    # 1 s of CPU per wall second during ramp-up (t < 10), then half a core.
    samples = [(float(t), float(min(t, 10)) + max(0, t - 10) * 0.5) for t in range(0, 21)]
    assert cpu_share(samples, 10.0, 20.0) == pytest.approx(50.0)
    assert cpu_share(samples, 0.0, 10.0) == pytest.approx(100.0)
    assert cpu_share(samples, 10.2, 10.9) is None  # no two samples a second apart inside


def test_locusts_own_warning_is_read_from_its_log() -> None:
    lone = (
        "[2026-01-01 10:00:00,000] box/WARNING/root: CPU usage above 90%! This may constrain your throughput and may "
        "even give inconsistent response time measurements! See https://docs.locust.io/en/stable/..."
    )
    master = "[2026-01-01 10:00:00,000] box/WARNING/locust.runners: CPU usage threshold was exceeded on workers"
    assert cpu_warned(lone) and cpu_warned(master) and not cpu_warned("All users spawned: {'Student': 10}")
    assert saturated(95.0, False, 90.0) and not saturated(60.0, True, 90.0)  # the window beats a ramp-up warning
    assert saturated(None, True, 90.0) and not saturated(None, False, 90.0)


def test_workers_sharing_one_cpu_are_saturated_together() -> None:
    """Two workers pinned to the one CPU beside a box each use half of it: neither passes 90%, together they do."""
    sampler = CpuSampler()
    sampler.watch(os.getpid())  # a real process: what CPUs it may use is read from the kernel
    sampler.samples = {1: [(float(t), 0.47 * t) for t in range(11)], 2: [(float(t), 0.46 * t) for t in range(11)]}
    assert sampler.share(0.0, 10.0) == pytest.approx(47.0) and sampler.together(0.0, 10.0) == pytest.approx(93.0)
    assert sampler.cpus() == len(os.sched_getaffinity(os.getpid()))
