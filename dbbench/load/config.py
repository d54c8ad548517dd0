"""What a load test runs: :class:`LoadConfig`, its defaults and profiles, and parsing it from command-line strings."""

from __future__ import annotations

import ipaddress
import math
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from dbbench.errors import ConfigError
from dbbench.load import stats as loadstats
from dbbench.units import parse_counts


@dataclass(frozen=True)
class LoadConfig:
    users: tuple[int, ...] = (10, 50, 100, 200, 300)
    duration_s: float = 15.0  # measured time per step, after ramp-up and settling
    spawn_rate: float = 50.0  # users started per second during ramp-up
    think_s: tuple[float, float] = (1.0, 5.0)  # a student's pause before each request, uniform
    conn_max_ages: tuple[int, ...] = (0, 60)
    workers: int = field(default_factory=lambda: 2 * (os.cpu_count() or 1) + 1)  # gunicorn's own advice
    threads: int = 1  # >1 switches gunicorn to the gthread worker
    locust_workers: int = 0  # 0: one Locust process; N: a master and N local workers
    remote_workers: int = 0  # more workers the master waits for, started on other machines
    master_port: int | None = None  # the Locust master's port; None: a free one per step (local workers only)
    listen: str = "127.0.0.1"  # where gunicorn and the Locust master bind
    attempts: int | None = 100_000  # seed to this many attempts first; None: use the data already there
    seed: int = 42
    p95_threshold_ms: float = loadstats.DEFAULT_P95_THRESHOLD_MS
    max_failure_rate: float = loadstats.DEFAULT_MAX_FAILURE_RATE

    def validate(self) -> None:
        if not self.users or min(self.users) < 1:
            raise ConfigError("--users: give at least one user count of 1 or more")
        if max(self.users) > 5_000:
            raise ConfigError("--users: at most 5000 users per step (one load generator cannot do more here)")
        if not 1 <= self.duration_s <= 3_600:
            raise ConfigError("--duration: from 1s to 1h")
        if not 0.1 <= self.spawn_rate <= 1_000:
            raise ConfigError("--spawn-rate: from 0.1 to 1000 users per second")
        if not 0 <= self.think_s[0] <= self.think_s[1] <= 600:
            raise ConfigError("--think: a range like 1-5 (seconds, low <= high, at most 600)")
        if not self.conn_max_ages or any(not 0 <= c <= 3_600 for c in self.conn_max_ages):
            raise ConfigError("--conn-max-age: values from 0 to 3600 seconds, e.g. 0,60")
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
        if self.p95_threshold_ms <= 0 or not 0 <= self.max_failure_rate <= 1:
            raise ConfigError("--p95-threshold must be positive and --max-failure-rate from 0% to 100%")

    @property
    def distributed(self) -> bool:
        return bool(self.locust_workers or self.remote_workers)

    @property
    def settle_s(self) -> float:
        """After ramp-up, one longest think time before figures start: every user has made its first request."""
        return self.think_s[1]

    def step_run_time(self, users: int) -> int:
        """Locust's --run-time: ramp-up (with slack for a busy machine), settling, and the measured duration."""
        return math.ceil(users / self.spawn_rate * 1.2 + self.settle_s + self.duration_s) + 1

    def estimated_seconds(self, targets: int) -> float:
        per_sweep = sum(self.step_run_time(u) + 3 for u in self.users) + 5
        return per_sweep * targets * len(self.conn_max_ages)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


QUICK = LoadConfig(users=(2, 5), duration_s=5.0, conn_max_ages=(60,), attempts=10_000)


def build_config(
    *,
    quick: bool = False,
    users: str | None = None,
    duration: str | None = None,
    spawn_rate: str | None = None,
    think: str | None = None,
    conn_max_age: str | None = None,
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
) -> LoadConfig:
    """A validated config from command-line strings; what is not given comes from the default (or quick) one."""
    config = QUICK if quick else LoadConfig()
    changes: dict[str, Any] = {}
    if users is not None:
        changes["users"] = tuple(parse_counts(users, what="user counts"))
    if duration is not None:
        changes["duration_s"] = parse_seconds(duration, what="--duration")
    if spawn_rate is not None:
        changes["spawn_rate"] = _parse_float(spawn_rate, "--spawn-rate")
    if think is not None:
        changes["think_s"] = parse_range(think, what="--think")
    if conn_max_age is not None:
        changes["conn_max_ages"] = tuple(
            dict.fromkeys(_parse_int(v, "--conn-max-age") for v in conn_max_age.split(","))
        )
    if attempts is not None:
        changes["attempts"] = None if attempts.strip() in ("0", "none", "existing") else _attempts(attempts)
    for name, value in (
        ("workers", workers),
        ("threads", threads),
        ("locust_workers", locust_workers),
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
        text = max_failure_rate.strip()
        rate = _parse_float(text.rstrip("%"), "--max-failure-rate")
        changes["max_failure_rate"] = rate / 100.0 if text.endswith("%") else rate
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


def _attempts(text: str) -> int:
    from dbbench.units import parse_count

    return parse_count(text, what="--attempts")


def config_for_profile(profile: str) -> LoadConfig:
    """``dbbench run``'s profiles: the data the benchmarks left is used as it is (no reseeding)."""
    return replace(QUICK if profile == "quick" else LoadConfig(), attempts=None)
