"""What a load test runs: :class:`LoadConfig`, its defaults and profiles, and parsing it from command-line strings."""

from __future__ import annotations

import ipaddress
import math
import os
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from dbbench.errors import ConfigError
from dbbench.load import stats as loadstats
from dbbench.load.knee import Plan
from dbbench.units import parse_counts

MAX_USERS = 5_000  # per step: more than one machine's Locust (and this test's site) can sensibly do
STEP_OVERHEAD_S = 3.0  # per step on top of Locust's run time: its start and exit, the health check, the figures
SITE_OVERHEAD_S = 10.0  # per configuration: gunicorn's start and warm-up, removing the attempts afterwards
# The search's budget per configuration in a single box (--box) unless --budget says: one CPU with its own database
# serves some 250-350 requests/s with persistent connections, about 1,000 users at a 1-5 s think time, and the
# steps that bracket and narrow such a knee take 25-35 s each (their ramp-up grows with the users).
BOX_BUDGET_S = 200.0


def _cores() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class LoadConfig:
    # Empty: search for the knee (see knee.py); a list: measure exactly these user counts, in order.
    users: tuple[int, ...] = ()
    duration_s: float = 10.0  # measured time per step, after ramp-up and settling (the search's refining steps)
    coarse_duration_s: float = 5.0  # the search's growing steps: only "clearly under or over the limits" matters
    start_users: int = 100  # the search's first step; it doubles from there
    max_users: int = 1600  # the search's ceiling: when it is served within the limits, "no knee up to N"
    resolution: float = 0.10  # the search stops when the first miss is within 10% of the most users served
    budget_s: float = 100.0  # the search's time per configuration (steps only); it stops when the next won't fit
    # The students' first requests are spread over one think time after they start (the locustfile), so a fast
    # ramp-up creates no thundering herd: it only saves time.
    spawn_rate: float = 100.0  # users started per second during ramp-up
    think_s: tuple[float, float] = (1.0, 5.0)  # a student's pause before each request, uniform
    conn_max_ages: tuple[int, ...] = (0, 60)
    # The CONN_MAX_AGE values of the other targets in the default set (None: every one of conn_max_ages). The run
    # measures the migration as a team would configure it, with persistent connections; the price of a new
    # connection on each server is the new_connection benchmark's.
    candidate_conn_max_ages: tuple[int, ...] | None = None
    variants: tuple[str, ...] | None = None  # names of variants (load/variants.py) to run; None: the default set
    workers: int = field(default_factory=lambda: 2 * (os.cpu_count() or 1) + 1)  # gunicorn's own advice
    threads: int = 1  # >1 switches gunicorn to the gthread worker
    locust_workers: int = 0  # 0: one Locust process; N: a master and N local workers
    # One Locust process using more than this share of its core under-drives the site (and delays its own timing):
    # the step is measured again with a master and `saturated_workers` local workers, and so are the next ones.
    locust_cpu_limit: float = 90.0
    saturated_workers: int = field(default_factory=lambda: max(2, _cores()))  # 0: never switch
    remote_workers: int = 0  # more workers the master waits for, started on other machines
    master_port: int | None = None  # the Locust master's port; None: a free one per step (local workers only)
    listen: str = "127.0.0.1"  # where gunicorn and the Locust master bind
    attempts: int | None = 100_000  # seed to this many attempts first; None: use the data already there
    seed: int = 42
    p95_threshold_ms: float = loadstats.DEFAULT_P95_THRESHOLD_MS
    expected_users: int | None = None  # the team's own peak: the report gives each configuration's p95 there
    max_failure_rate: float = loadstats.DEFAULT_MAX_FAILURE_RATE
    # Every tier's CPU and memory (load/tiers.py) and the site's Server-Timing (load/timing.py); off measures
    # what measuring costs.
    measure: bool = True
    # The single small box (servers/box.py): the app server and the database server under test in one limit of
    # this many CPUs and bytes; None: each where it is (the database servers under their own limits, if any).
    box_cpus: int | None = None
    box_memory_bytes: int | None = None

    def validate(self) -> None:
        if self.users and min(self.users) < 1:
            raise ConfigError("--users: give at least one user count of 1 or more")
        if self.users and max(self.users) > MAX_USERS:
            raise ConfigError(f"--users: at most {MAX_USERS} users per step (one load generator cannot do more here)")
        if not 1 <= self.duration_s <= 3_600 or not 1 <= self.coarse_duration_s <= 3_600:
            raise ConfigError("--duration and --coarse-duration: from 1s to 1h")
        if not 1 <= self.start_users <= self.max_users <= MAX_USERS:
            raise ConfigError(f"--start-users and --max-users: 1 <= start <= max <= {MAX_USERS}")
        if not 0.01 <= self.resolution <= 1:
            raise ConfigError("--resolution: from 1% to 100% (of the most users served)")
        if not 0 <= self.locust_cpu_limit <= 100 or not 0 <= self.saturated_workers <= 16:
            raise ConfigError("--locust-cpu-limit: 0 to 100 (% of one core); --saturated-workers: 0 to 16")
        if not 0.1 <= self.spawn_rate <= 1_000:
            raise ConfigError("--spawn-rate: from 0.1 to 1000 users per second")
        if not 0 <= self.think_s[0] <= self.think_s[1] <= 600:
            raise ConfigError("--think: a range like 1-5 (seconds, low <= high, at most 600)")
        if not self.conn_max_ages or any(not 0 <= c <= 3_600 for c in self.conn_max_ages):
            raise ConfigError("--conn-max-age: values from 0 to 3600 seconds, e.g. 0,60")
        if self.variants is not None and (
            not self.variants or any(not re.fullmatch(r"[a-z][a-z0-9_]*-[a-z0-9-]+", v) for v in self.variants)
        ):
            raise ConfigError("--variants: comma-separated names like postgres-cma60,postgres-pool,mysql-cma60")
        if not 1 <= self.workers <= 64 or not 1 <= self.threads <= 64:
            raise ConfigError("--workers and --threads: from 1 to 64")
        if not 0 <= self.locust_workers <= 16 or not 0 <= self.remote_workers <= 256:
            raise ConfigError("--locust-workers: 0 to 16; --remote-workers: 0 to 256")
        if not self.remote_workers and not is_loopback(self.listen):
            raise ConfigError(
                f"--listen {self.listen}: the quiz site and Locust would be open to the network; they listen on "
                "this machine only (127.0.0.1) unless --remote-workers need them"
            )
        if self.remote_workers and (self.master_port is None or self.listen in ("0.0.0.0", "")):
            raise ConfigError(
                "--remote-workers need --master-port (a fixed port they connect to) and --listen set to this "
                "machine's address as the workers see it"
            )
        if self.master_port is not None and not 1024 <= self.master_port <= 65535:
            raise ConfigError("--master-port: from 1024 to 65535")
        if self.expected_users is not None and not 1 <= self.expected_users <= 1_000_000:
            raise ConfigError("--expected-users: a number of concurrent users from 1 to 1000000")
        if self.p95_threshold_ms <= 0 or not 0 <= self.max_failure_rate <= 1:
            raise ConfigError("--p95-threshold must be positive and --max-failure-rate from 0% to 100%")
        if self.search:  # the budget must hold the first step (spawn rate and think time checked above)
            first = self.step_seconds(self.start_users, self.coarse_duration_s)
            if not first <= self.budget_s <= 86_400:
                raise ConfigError(
                    f"--budget {self.budget_s:g}s: from one step of {self.start_users} users (about {first:.0f} s "
                    "here) to 24h"
                )

    @property
    def box(self) -> Any:
        """The :class:`dbbench.servers.box.Box`, or None."""
        if not self.box_cpus or not self.box_memory_bytes:
            return None
        from dbbench.servers.box import Box

        return Box(self.box_cpus, self.box_memory_bytes)

    @property
    def distributed(self) -> bool:
        return bool(self.locust_workers or self.remote_workers)

    @property
    def settle_s(self) -> float:
        """After ramp-up, one longest think time before figures start: every user has made its first request."""
        return self.think_s[1]

    @property
    def search(self) -> bool:
        """No --users list: search each configuration's knee (knee.py)."""
        return not self.users

    def plan(self) -> Plan:
        """The knee search's (or the fixed list's) settings."""
        return Plan(
            threshold_ms=self.p95_threshold_ms,
            max_failure_rate=self.max_failure_rate,
            users=self.users,
            start_users=self.start_users,
            max_users=self.max_users,
            resolution=self.resolution,
            budget_s=self.budget_s,
            coarse_duration_s=self.coarse_duration_s,
            duration_s=self.duration_s,
        )

    def step_run_time(self, users: int, duration_s: float | None = None) -> int:
        """Locust's --run-time: ramp-up (with slack for a busy machine), settling, and the measured duration."""
        duration = self.duration_s if duration_s is None else duration_s
        return math.ceil(users / self.spawn_rate * 1.2 + self.settle_s + duration) + 1

    def step_seconds(self, users: int, duration_s: float | None = None) -> float:
        """A step's wall time, about: what the knee search budgets for it."""
        return self.step_run_time(users, duration_s) + STEP_OVERHEAD_S

    def configuration_seconds(self) -> float:
        """One configuration (a backend at one setting): its search's budget, or its list of steps, and the site."""
        if self.search:
            return self.budget_s + SITE_OVERHEAD_S
        return sum(self.step_seconds(u) for u in self.users) + SITE_OVERHEAD_S

    def estimated_seconds(self, targets: int) -> float:
        return self.configuration_seconds() * targets * len(self.conn_max_ages)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# A first look: one short step of a few users per configuration shows the site works on each backend and each
# variant; capacity needs the search of the other profiles.
QUICK = LoadConfig(users=(5,), duration_s=5.0, conn_max_ages=(60,), attempts=10_000)


def build_config(
    *,
    quick: bool = False,
    users: str | None = None,
    duration: str | None = None,
    coarse_duration: str | None = None,
    start_users: str | None = None,
    max_users: str | None = None,
    resolution: str | None = None,
    budget: str | None = None,
    locust_cpu_limit: str | None = None,
    saturated_workers: int | None = None,
    spawn_rate: str | None = None,
    think: str | None = None,
    conn_max_age: str | None = None,
    variants: str | None = None,
    workers: int | None = None,
    threads: int | None = None,
    locust_workers: int | None = None,
    remote_workers: int | None = None,
    master_port: int | None = None,
    listen: str | None = None,
    attempts: str | None = None,
    seed: int | None = None,
    p95_threshold: str | None = None,
    max_failure_rate: str | None = None,
    expected_users: str | None = None,
    measure: str | None = None,
    box: str | None = None,
) -> LoadConfig:
    """A validated config from command-line strings; what is not given comes from the default (or quick) one."""
    config = QUICK if quick else LoadConfig()
    changes: dict[str, Any] = {}
    if users is not None:
        changes["users"] = tuple(parse_counts(users, what="user counts"))
    if duration is not None:
        changes["duration_s"] = parse_seconds(duration, what="--duration")
    if coarse_duration is not None:
        changes["coarse_duration_s"] = parse_seconds(coarse_duration, what="--coarse-duration")
    if start_users is not None:
        changes["start_users"] = _count(start_users, "--start-users")
    if max_users is not None:
        changes["max_users"] = _count(max_users, "--max-users")
    if resolution is not None:
        changes["resolution"] = parse_share(resolution, what="--resolution")
    if budget is not None:
        changes["budget_s"] = parse_seconds(budget, what="--budget")
    if locust_cpu_limit is not None:
        changes["locust_cpu_limit"] = _parse_float(locust_cpu_limit.strip().rstrip("%"), "--locust-cpu-limit")
    if spawn_rate is not None:
        changes["spawn_rate"] = _parse_float(spawn_rate, "--spawn-rate")
    if think is not None:
        changes["think_s"] = parse_range(think, what="--think")
    if conn_max_age is not None:
        changes["conn_max_ages"] = tuple(
            dict.fromkeys(_parse_int(v, "--conn-max-age") for v in conn_max_age.split(","))
        )
    if variants is not None:
        changes["variants"] = tuple(dict.fromkeys(v.strip() for v in variants.split(",") if v.strip()))
    if attempts is not None:
        changes["attempts"] = None if attempts.strip() in ("0", "none", "existing") else _attempts(attempts)
    for name, value in (
        ("workers", workers),
        ("threads", threads),
        ("locust_workers", locust_workers),
        ("saturated_workers", saturated_workers),
        ("remote_workers", remote_workers),
        ("master_port", master_port),
        ("listen", listen),
        ("seed", seed),
    ):
        if value is not None:
            changes[name] = value
    if p95_threshold is not None:
        changes["p95_threshold_ms"] = parse_seconds(p95_threshold, what="--p95-threshold") * 1000.0
    if max_failure_rate is not None:
        changes["max_failure_rate"] = parse_share(max_failure_rate, what="--max-failure-rate")
    if expected_users is not None:
        changes["expected_users"] = _count(expected_users, "--expected-users")
    if measure is not None:
        if measure.strip().lower() not in ("on", "off"):
            raise ConfigError(f"--measure: {measure!r}; give on or off")
        changes["measure"] = measure.strip().lower() == "on"
    if box is not None:
        from dbbench.servers.box import parse_box

        parsed = parse_box(box)
        changes["box_cpus"], changes["box_memory_bytes"] = parsed.cpus, parsed.memory_bytes
        if budget is None:
            changes["budget_s"] = max(config.budget_s, BOX_BUDGET_S)
    config = replace(config, **changes)
    config.validate()
    return config


def is_loopback(address: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost``: reachable from this machine only."""
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may well resolve to a public address


def parse_seconds(text: str, *, what: str) -> float:
    """``"20"``, ``"20s"``, ``"500ms"``, ``"2m"`` -> seconds."""
    raw = text.strip().lower()
    for suffix, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if raw.endswith(suffix):
            return _parse_float(raw[: -len(suffix)], what) * factor
    return _parse_float(raw, what)


def parse_share(text: str, *, what: str) -> float:
    """``"5%"`` -> ``0.05``; ``"0.05"`` -> ``0.05``."""
    raw = text.strip()
    value = _parse_float(raw.rstrip("%"), what)
    return value / 100.0 if raw.endswith("%") else value


def parse_range(text: str, *, what: str) -> tuple[float, float]:
    """``"1-5"`` -> ``(1.0, 5.0)``; ``"3"`` -> ``(3.0, 3.0)`` (seconds)."""
    low, sep, high = text.strip().removesuffix("s").partition("-")
    return _parse_float(low, what), _parse_float(high if sep else low, what)


def _parse_float(text: str, what: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{what}: {text!r} must be a non-negative number")
    return value


def _parse_int(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not a whole number") from None


def _count(text: str, what: str) -> int:
    from dbbench.units import parse_count

    return parse_count(text, what=what)


def _attempts(text: str) -> int:
    from dbbench.units import parse_count

    return parse_count(text, what="--attempts")


def config_for_profile(profile: str, expected_users: int | None = None, box: str | None = None) -> LoadConfig:
    """``dbbench run``'s profiles: the data the benchmarks left is used as it is (no reseeding)."""
    if profile == "quick":
        base = QUICK
    elif profile == "default":
        # Five configurations in 80 s each: the baseline as it is, its three cheaper fixes, and the migration.
        # A knee to within about a third instead of a tenth, so that the whole run fits in 20 minutes on 2 cores.
        base = LoadConfig(budget_s=80.0, candidate_conn_max_ages=(60,))
    else:
        base = LoadConfig()
    config = replace(base, attempts=None, expected_users=expected_users)
    if box is not None:
        from dbbench.servers.box import parse_box

        parsed = parse_box(box)
        config = replace(config, box_cpus=parsed.cpus, box_memory_bytes=parsed.memory_bytes)
    config.validate()
    return config
