"""Every tier of a load test, measured from the kernel: CPU and memory of the app server, the database server,
the pooler and Locust, sampled through each step and averaged over its measured window.

A tier is a set of root processes and everything they fork (PostgreSQL's backends, gunicorn's workers). Each
sample reads ``/proc/<pid>/stat`` of every process on the machine once, so a process belongs to the tier of its
nearest ancestor that is a tier's root, and whatever no tier claims is "the rest of the machine" (other jobs on a
shared box). CPU time is counted as a process's own ticks plus those of its children it has reaped
(``cutime``/``cstime``): a PostgreSQL backend that lives for one request (CONN_MAX_AGE=0) is born and gone between
two samples, and its time shows up in the postmaster's children's time when the postmaster reaps it. When a
process seen before is gone, what was already counted for it is taken back, because its reaper's children's time
now holds all of it.

The same samples read ``/proc/stat``: the machine's CPU time over the window is split into idle, the kernel's own
(interrupts, steal) and processes, and the tiers plus the rest of the machine plus those must add up to it.
:func:`accounting` says by how much they do not (the check the load result carries per step).

A tier whose processes cannot be found (a database server on another machine, no permission to see sockets) is
``unknown`` with the reason, never 0.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dbbench.servers.cgroups as cgroups
from dbbench.load.shapes import difference
from dbbench.load.shapes import figures as shape_figures
from dbbench.load.shapes import read_all as read_shapes

TICKS = os.sysconf("SC_CLK_TCK")  # the unit of /proc/<pid>/stat and /proc/stat times
PAGE = os.sysconf("SC_PAGE_SIZE")
SAMPLE_S = 1.0  # a scan of ~200 processes takes a few ms: 1 s keeps the sampler under 1% of a core
ACCOUNTING_LIMIT = 0.10  # the tiers, the rest and idle must add up to the machine's time within 10%
OTHER = "other"  # the rest of the machine's processes
APP, DATABASE, POOLER, LOCUST, DBBENCH = "app", "database", "pooler", "locust", "dbbench"


@dataclass(frozen=True)
class ProcStat:
    ppid: int
    ticks: int  # own user + system time
    child_ticks: int  # reaped children's user + system time
    rss_bytes: int

    @property
    def total(self) -> int:
        return self.ticks + self.child_ticks


def read_stat(pid: int | str) -> ProcStat | None:
    """One process's ``/proc/<pid>/stat`` (None when it is gone or unreadable)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after its closing one.
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return ProcStat(
            ppid=int(fields[1]),
            ticks=int(fields[11]) + int(fields[12]),
            child_ticks=int(fields[13]) + int(fields[14]),
            rss_bytes=int(fields[21]) * PAGE,
        )
    except (IndexError, ValueError):
        return None


def run_queue_wait(pid: int) -> int:
    """Nanoseconds the threads of ``pid`` have spent runnable but waiting for a CPU (/proc/<pid>/task/*/schedstat,
    second field); 0 when unreadable."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for task in tasks:
        try:
            total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total


def scan() -> dict[int, ProcStat]:
    """Every process on the machine (as far as this process may see)."""
    found: dict[int, ProcStat] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (stat := read_stat(name)) is not None:
            found[int(name)] = stat
    return found


@dataclass(frozen=True)
class MachineTicks:
    """``/proc/stat``'s first line: the whole machine's CPU time so far, in ticks, in three parts."""

    total: int
    idle: int  # idle + iowait
    kernel: int  # interrupts, soft interrupts, steal: time no process is charged with

    @classmethod
    def read(cls) -> MachineTicks:
        try:
            first = Path("/proc/stat").read_text().splitlines()[0].split()
        except (OSError, IndexError):
            return cls(0, 0, 0)
        # user nice system idle iowait irq softirq steal (guest time is already inside user).
        values = [int(v) for v in first[1:9]] + [0] * (8 - len(first[1:9]))
        return cls(sum(values), values[3] + values[4], values[5] + values[6] + values[7])


@dataclass
class Tier:
    """One tier: a name, its root processes, and where its limits are read."""

    key: str
    label: str
    roots: tuple[int, ...] = ()
    unknown: str | None = None  # why its figures cannot be read (then roots is empty)
    cpus: float | None = None  # the CPUs it may use, read when it was declared (its processes may end first)
    memory_limit: int | None = None  # its memory cgroup's limit, if one limits it


@dataclass
class Sample:
    at: float  # time.time(), like the locustfile's window
    ticks: dict[str, int]  # tier -> cumulative CPU ticks since the sampler started
    rss: dict[str, int]  # tier -> summed RSS now
    processes: dict[str, int]  # tier -> processes now
    cgroup_memory: dict[str, int | None]  # tier -> its memory cgroup's usage, where a cgroup limits it
    machine: MachineTicks
    shapes: dict[str, dict[str, Any]] | None = None  # the site's cumulative SQL shape histograms (load/shapes.py)
    waits: dict[str, int] = field(default_factory=dict)  # tier -> cumulative run-queue wait (ns) of its processes


@dataclass
class TierSampler:
    """Samples every tier each ``interval`` seconds in a thread; :meth:`window` gives a step's figures."""

    interval: float = SAMPLE_S
    shapes_dir: Path | None = None  # where the site's workers write their SQL shape histograms
    tiers: dict[str, Tier] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    _prev: dict[int, tuple[str, int]] = field(default_factory=dict)  # pid -> (tier, total ticks) at last sample
    _ticks: dict[str, int] = field(default_factory=dict)
    _prev_wait: dict[int, int] = field(default_factory=dict)  # pid -> run-queue wait (ns) at last sample
    _waits: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def set(
        self, key: str, label: str, roots: Iterable[int] = (), unknown: str | None = None, cap: float | None = None
    ) -> None:
        """Declare (or update) a tier. ``cap``: the most CPUs it can use whatever the kernel allows (gunicorn's
        workers each run Python under one lock: one CPU per worker at most)."""
        roots = tuple(roots)
        cpus = allowed_cpus(roots[0]) if roots else None
        if cpus is not None and cap is not None:
            cpus = min(cpus, cap)
        limit = memory_limit(roots[0]) if roots else None
        with self._lock:
            self.tiers[key] = Tier(key, label, roots, unknown, cpus, limit)

    def drop(self, key: str) -> None:
        with self._lock:
            self.tiers.pop(key, None)

    def __enter__(self) -> TierSampler:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="dbbench-tiers", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        """Read every process once and add one sample (also called at a step's edges)."""
        machine = MachineTicks.read()
        now = scan()
        at = time.time()
        shapes = read_shapes(self.shapes_dir) if self.shapes_dir is not None else None
        with self._lock:
            owner = classify(now, {pid: t.key for t in self.tiers.values() for pid in t.roots})
            ticks = self._ticks
            previous = set(self._prev)
            current: dict[int, tuple[str, int]] = {}
            for pid, stat in now.items():
                tier = owner.get(pid, OTHER)
                seen = self._prev.get(pid)
                ticks[tier] = ticks.get(tier, 0) + stat.total - (seen[1] if seen else 0)
                current[pid] = (tier, stat.total)
            for pid, (tier, total) in self._prev.items():
                # Reaped: its reaper's (an orphan's: init's) children's time now holds all of it.
                if pid not in now:
                    ticks[tier] = ticks.get(tier, 0) - total
            first = not self._prev
            self._prev = current
            if first:  # the first scan only sets the starting point
                self._ticks = ticks = {}
            # Time runnable but not running: a tier starved of CPU (by its neighbours in a box, or by other jobs)
            # is slow everywhere, SQL included. A process that ended takes its last second's wait with it.
            waits = self._waits
            seen_wait: dict[int, int] = {}
            for pid, tier in owner.items():
                if tier == OTHER or pid not in now:
                    continue
                seen_wait[pid] = wait = run_queue_wait(pid)
                # A process new to the tiers but seen before (a server found by its port) starts from now.
                since = self._prev_wait.get(pid, wait if first or pid in previous else 0)
                waits[tier] = waits.get(tier, 0) + wait - since
            self._prev_wait = seen_wait
            rss: dict[str, int] = {}
            counts: dict[str, int] = {}
            for pid, stat in now.items():
                tier = owner.get(pid, OTHER)
                rss[tier] = rss.get(tier, 0) + stat.rss_bytes
                counts[tier] = counts.get(tier, 0) + 1
            memory = {k: cgroup_memory(t.roots[0]) if t.memory_limit else None for k, t in self.tiers.items()}
            self.samples.append(Sample(at, dict(ticks), rss, counts, memory, machine, shapes, dict(waits)))

    def window(self, start: float, end: float) -> dict[str, Any]:
        """Each tier's figures and the CPU accounting over ``[start, end]`` (the step's measured window)."""
        with self._lock:
            inside = [s for s in self.samples if start <= s.at <= end]
            tiers = dict(self.tiers)
        figures: dict[str, Any] = {}
        for key, tier in tiers.items():
            figures[key] = tier_figures(tier, inside)
        found: dict[str, Any] = {"tiers": figures, "cpu_accounting": accounting(inside, list(tiers))}
        with_shapes = [s for s in inside if s.shapes is not None]
        if len(with_shapes) >= 2:
            first, last = with_shapes[0], with_shapes[-1]
            assert first.shapes is not None and last.shapes is not None
            found["sql_shapes"] = shape_figures(difference(last.shapes, first.shapes), last.at - first.at)
        return found


def classify(processes: Mapping[int, ProcStat], roots: Mapping[int, str]) -> dict[int, str]:
    """pid -> the tier of its nearest ancestor (itself included) that is a root; others are left out."""
    memo: dict[int, str] = {}
    for pid in processes:
        path: list[int] = []
        current = pid
        while True:
            if current in memo:
                tier = memo[current]
                break
            if current in roots:
                tier = roots[current]
                break
            path.append(current)
            stat = processes.get(current)
            if stat is None or stat.ppid <= 0 or stat.ppid == current:
                tier = OTHER
                break
            current = stat.ppid
        for p in path:
            memo[p] = tier
        if current in roots:
            memo[current] = roots[current]
    return {pid: tier for pid, tier in memo.items() if tier != OTHER and pid in processes}


def tier_figures(tier: Tier, inside: Sequence[Sample]) -> dict[str, Any]:
    """A tier's CPU (% of one core, % of the CPUs it may use) and memory over the samples of a window."""
    base: dict[str, Any] = {"label": tier.label, "unknown": tier.unknown}
    if tier.unknown or not tier.roots:
        return {**base, "unknown": tier.unknown or "its processes were not found"}
    if len(inside) < 2 or inside[-1].at - inside[0].at < 1.0:
        return {**base, "unknown": "too few samples in the measured window"}
    first, last = inside[0], inside[-1]
    seconds = last.at - first.at
    used = (last.ticks.get(tier.key, 0) - first.ticks.get(tier.key, 0)) / TICKS
    core = 100.0 * used / seconds
    allowed = tier.cpus
    rss = [s.rss.get(tier.key, 0) for s in inside]
    memory = [m for s in inside if (m := s.cgroup_memory.get(tier.key)) is not None]
    return {
        **base,
        "cpu_core_percent": round(core, 1),
        "cpus": allowed,
        "cpu_percent": round(core / allowed, 1) if allowed else None,
        # Its threads' time waiting for a CPU, in % of one core (100: on average one of them always waiting).
        "cpu_wait_percent": round(
            100.0 * (last.waits.get(tier.key, 0) - first.waits.get(tier.key, 0)) / 1e9 / seconds, 1
        ),
        "processes": round(sum(s.processes.get(tier.key, 0) for s in inside) / len(inside), 1),
        "rss_bytes": int(sum(rss) / len(rss)),
        "cgroup_memory_bytes": int(sum(memory) / len(memory)) if memory else None,
        "memory_limit_bytes": tier.memory_limit,
    }


def accounting(inside: Sequence[Sample], tiers: Sequence[str]) -> dict[str, Any] | None:
    """The machine's CPU time over the window (``/proc/stat``) against what the processes were charged with.

    ``tiers + other + kernel + idle`` should equal ``total``; ``unaccounted_percent`` is the gap in % of the
    total, and ``ok`` whether it is within :data:`ACCOUNTING_LIMIT`. Core-seconds throughout.
    """
    if len(inside) < 2:
        return None
    first, last = inside[0], inside[-1]
    total = (last.machine.total - first.machine.total) / TICKS
    if total <= 0:
        return None

    def used(key: str) -> float:
        return (last.ticks.get(key, 0) - first.ticks.get(key, 0)) / TICKS

    per_tier = {key: round(used(key), 3) for key in tiers}
    other = used(OTHER)
    idle = (last.machine.idle - first.machine.idle) / TICKS
    kernel = (last.machine.kernel - first.machine.kernel) / TICKS
    gap = total - (sum(per_tier.values()) + other + kernel + idle)
    return {
        "seconds": round(last.at - first.at, 3),
        "total_core_s": round(total, 3),
        "idle_core_s": round(idle, 3),
        "kernel_core_s": round(kernel, 3),
        "tiers_core_s": per_tier,
        "other_core_s": round(other, 3),
        "unaccounted_percent": round(100.0 * gap / total, 2),
        "ok": abs(gap) <= ACCOUNTING_LIMIT * total,
    }


# --- limits, read from the kernel -----------------------------------------------------------------------------


def allowed_cpus(pid: int) -> float | None:
    """The CPUs a process may use: its CPU quota (cgroup) or its allowed CPUs, whichever is fewer."""
    from dbbench.servers.limits import read_back

    applied = read_back(pid)
    counts = [c for c in (applied.cpu_quota, float(len(applied.cpus)) if applied.cpus else None) if c]
    return min(counts) if counts else None


def shared_cpus(pids: Iterable[int]) -> float | None:
    """The CPUs some processes may use between them: the union of their allowed CPUs, or less when a CPU quota
    limits every one (the app server and the database server in one box share the box's quota)."""
    from dbbench.servers.limits import read_back

    applied = [read_back(pid) for pid in pids]
    allowed = {cpu for a in applied for cpu in a.cpus}
    if not allowed:
        return None
    quotas = [a.cpu_quota for a in applied if a.cpu_quota]
    # Separate groups' quotas would add up; the largest one alone errs towards "nearer its limit" (slower growth).
    return min(float(len(allowed)), max(quotas)) if quotas and len(quotas) == len(applied) else float(len(allowed))


def memory_limit(pid: int) -> int | None:
    from dbbench.servers.limits import read_back

    return read_back(pid).memory_bytes


def cgroup_memory(pid: int) -> int | None:
    """The memory use of ``pid``'s memory cgroup (asked only when that group limits it: otherwise the group would
    be the whole machine's or a container's, not the tier's)."""
    for controller, name in (("memory", "memory.usage_in_bytes"), (cgroups.UNIFIED, "memory.current")):
        directory = cgroups.group_dir(controller, pid)
        text = cgroups.read(directory / name) if directory else None
        if text and text.isdigit():
            return int(text)
    return None


# --- finding a server's processes -----------------------------------------------------------------------------


def listener(host: str, port: int) -> tuple[int | None, str | None]:
    """The process listening on ``host:port`` on this machine: ``(pid, None)`` or ``(None, why not)``."""
    import socket

    import psutil

    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
    except OSError as exc:
        return None, f"{host} does not resolve ({exc})"
    local = {"127.0.0.1", "::1", "0.0.0.0", "::"}
    with contextlib.suppress(OSError):
        local |= {a.address for addrs in psutil.net_if_addrs().values() for a in addrs}
    if not addresses & local:
        return None, f"the server runs on another machine ({host})"
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return None, "no permission to see which process listens on its port"
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return conn.pid, None
    return None, f"no process of this machine that dbbench may see listens on port {port}"


def summary(step: Mapping[str, Any]) -> str:
    """One line of a step's tiers: ``app server 97% of 2 CPUs, PostgreSQL 15.18 14% of 2 CPUs; SQL p95 3 ms``."""
    parts = []
    for figures in (step.get("tiers") or {}).values():
        if figures.get("unknown"):
            parts.append(f"{figures['label']} unknown ({figures['unknown']})")
        elif figures.get("cpu_percent") is not None:
            wait = figures.get("cpu_wait_percent")
            waited = f" (waited {wait:.0f}%)" if wait else ""
            parts.append(f"{figures['label']} {figures['cpu_percent']:.0f}% of {figures['cpus']:g} CPU{waited}")
    timing = step.get("timing") or {}
    if timing:
        share = timing.get("sql_share")
        parts.append(
            f"SQL p95 {timing['sql_p95_ms']:.1f} ms, request p95 {timing['request_p95_ms']:.0f} ms"
            + (f", SQL {100 * share:.0f}% of request time" if share is not None else "")
        )
    used = {k: v for k, v in (step.get("utilization") or {}).items() if v is not None}
    if used:  # how near the site's capacity: what the knee search grows by
        parts.append("utilization " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in used.items()))
    check = step.get("cpu_accounting")
    if check:
        parts.append(f"CPU accounted within {abs(check['unaccounted_percent']):.1f}%")
    return "; ".join(parts)
