"""Locust for one step of a load test: one process, or a master and workers; its figures, and whether Locust
itself kept up (its CPU share in the measured window). :class:`LoadGenerator` switches to a master and workers
when one process saturates its core, instead of under-driving the site."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import psutil

from dbbench import processes
from dbbench.load import stats as loadstats
from dbbench.load.config import LoadConfig
from dbbench.load.site import BackendFailed, connect_host

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
LOCUST_GRACE_S = 60.0  # Locust's own start-up and shutdown on top of the run time (busy box, distributed)
SAMPLE_S = 0.5  # how often the Locust processes' CPU time is read (and the site checked)
DRAIN_TIMEOUT_S = 60.0  # an overloaded step's queued requests: the site works them off before the next step
# Locust's own words when its process (or a worker) passes 90% of a core, measured over 10 s, ramp-up included.
CPU_WARNINGS = ("CPU usage above", "CPU usage threshold was exceeded")


def locust_env() -> dict[str, str]:
    """Locust needs no database credentials: leave them out of its environment."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("DBBENCH_", "DJANGO_"))}


def locust_argv(
    url: str, users: int, config: LoadConfig, student_ids: str, output: Path, *, master_port: int | None
) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "locust",
        f"--locustfile={LOCUSTFILE}",
        "--headless",
        f"--host={url}",
        f"--users={users}",
        f"--spawn-rate={config.spawn_rate:g}",
        f"--run-time={config.step_run_time(users)}s",
        "--only-summary",
        "--loglevel=WARNING",
        "--exit-code-on-error=0",  # failed requests are figures, not a failed run
        "--stop-timeout=0",
        f"--dbbench-students={student_ids}",
        f"--dbbench-think={config.think_s[0]:g}-{config.think_s[1]:g}",
        f"--dbbench-settle={config.settle_s:g}",  # the locustfile resets the figures then (ramp-up excluded)
        f"--dbbench-output={output}",
    ]
    if master_port is not None:
        argv += [
            "--master",
            f"--master-bind-host={config.listen}",
            f"--master-bind-port={master_port}",
            f"--expect-workers={config.locust_workers + config.remote_workers}",
            "--expect-workers-max-wait=60",
        ]
    return argv


def worker_argv(master_host: str, master_port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "locust",
        f"--locustfile={LOCUSTFILE}",
        "--worker",
        f"--master-host={master_host}",
        f"--master-port={master_port}",
        "--loglevel=WARNING",
    ]


def run_step(
    url: str,
    users: int,
    config: LoadConfig,
    student_ids: str,
    workdir: Path,
    check: Callable[[], None] | None = None,
    spawned: Callable[[list[int]], None] | None = None,
) -> loadstats.StepFigures:
    """One Locust run at ``users`` users (a master and workers when distributed); its figures.

    ``check`` runs every half second while Locust works and may raise (the application server died): the step
    is then abandoned at once instead of measuring refused connections until its end. Meanwhile the CPU time of
    the processes generating the load (the lone process, or the local workers) is sampled: the step records the
    busiest one's share of a core in the measured window, and whether that is over ``config.locust_cpu_limit``.
    ``spawned`` is told the pids of Locust's processes once they all started (the tiers' sampler).
    """
    output = workdir / f"locust-{users}.json"
    output.unlink(missing_ok=True)
    log = workdir / f"locust-{users}.log"
    log.unlink(missing_ok=True)  # a step measured again (Locust saturated) must not count the first run's log
    master_port = (config.master_port or processes.free_port(config.listen)) if config.distributed else None
    argv = locust_argv(url, users, config, student_ids, output, master_port=master_port)
    children: list[processes.Child] = []
    cpu = CpuSampler()
    with processes.running(children):
        master = processes.spawn("locust", argv, env=locust_env(), cwd=workdir, log=log)
        children.append(master)
        if master_port is not None:
            for i in range(config.locust_workers):
                worker = worker_argv(connect_host(config.listen), master_port)
                children.append(
                    processes.spawn(f"locust worker {i + 1}", worker, env=locust_env(), cwd=workdir, log=log)
                )
        if spawned is not None:
            spawned([child.pid for child in children])
        for child in children[1:] if master_port is not None else children:
            cpu.watch(child.pid)  # the master only hands out work: the load comes from the lone process or workers
        code = None
        for _ in processes.deadline_loop(config.step_run_time(users) + LOCUST_GRACE_S, interval=SAMPLE_S):
            cpu.sample()
            if check is not None:
                check()
            if (code := master.popen.poll()) is not None:
                break
        if code is None:
            raise BackendFailed(f"Locust did not finish the {users}-user step in time: {master.last_lines()}")
        for child in children[1:]:  # workers quit when their master does
            processes.wait(child, 10)
    if code != 0 or not output.exists():
        raise BackendFailed(f"Locust failed at {users} users (exit {code}): {master.last_lines()}")
    try:
        document = json.loads(output.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackendFailed(f"Locust's figures at {users} users are unreadable: {exc}") from None
    if document.get("reset_at") is None:
        raise BackendFailed(f"Locust stopped before the measured window of the {users}-user step began")
    text = log.read_text(errors="replace") if log.exists() else ""
    window = float(document["reset_at"]), float(document.get("stopped_at") or time.time())
    share, together = cpu.share(*window), cpu.together(*window)
    step = loadstats.step_figures(document, users)
    # Workers that share the CPUs they may use with one another add no capacity: together at those CPUs' limit,
    # they under-drive the site as one saturated process does.
    full = together is not None and together >= config.locust_cpu_limit * cpu.cpus()
    return replace(
        step,
        locust_workers=step.locust_workers if config.distributed else 0,  # a lone runner calls itself one worker
        tool_errors=text.count("Traceback"),
        locust_cpu_percent=None if share is None else round(share, 1),
        locust_saturated=full or saturated(share, cpu_warned(text), config.locust_cpu_limit),
    )


class CpuSampler:
    """``(wall-clock time, CPU seconds)`` samples of some processes, to tell their CPU share in a time window."""

    def __init__(self) -> None:
        self.processes: dict[int, psutil.Process] = {}
        self.samples: dict[int, list[tuple[float, float]]] = {}

    def watch(self, pid: int) -> None:
        try:
            self.processes[pid] = psutil.Process(pid)
            self.samples[pid] = []
        except psutil.Error:
            pass  # gone already: its run fails on its own

    def sample(self) -> None:
        now = time.time()  # wall clock: the locustfile's reset_at and stopped_at are time.time() too
        for pid, process in self.processes.items():
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue  # exited: its last samples stand
            self.samples[pid].append((now, times.user + times.system))

    def _shares(self, start: float, end: float) -> list[float]:
        return [s for s in (cpu_share(samples, start, end) for samples in self.samples.values()) if s is not None]

    def share(self, start: float, end: float) -> float | None:
        """The busiest process's CPU share between ``start`` and ``end``, in % of one core."""
        shares = self._shares(start, end)
        return max(shares) if shares else None

    def together(self, start: float, end: float) -> float | None:
        """The processes' CPU share together between ``start`` and ``end``, in % of one core."""
        shares = self._shares(start, end)
        return sum(shares) if shares else None

    def cpus(self) -> int:
        """How many CPUs the processes may run on together (their affinity: dbbench pins Locust beside a box)."""
        allowed: set[int] = set()
        for process in self.processes.values():
            try:
                allowed |= set(process.cpu_affinity() or [])
            except (psutil.Error, AttributeError):
                continue
        return len(allowed) or os.cpu_count() or 1


def cpu_share(samples: Sequence[tuple[float, float]], start: float, end: float) -> float | None:
    """CPU use between ``start`` and ``end`` in % of one core, from ``(time, CPU seconds)`` samples of a process;
    None when the samples inside the window span less than a second (too few to say)."""
    inside = [sample for sample in samples if start <= sample[0] <= end]
    if len(inside) < 2 or inside[-1][0] - inside[0][0] < 1.0:
        return None
    (t0, c0), (t1, c1) = inside[0], inside[-1]
    return 100.0 * (c1 - c0) / (t1 - t0)


def cpu_warned(log_text: str) -> bool:
    """Locust warned in its log that a process of it passed 90% of a core."""
    return any(warning in log_text for warning in CPU_WARNINGS)


def saturated(cpu_percent: float | None, warned: bool, limit: float) -> bool:
    """Over the limit in the measured window; Locust's own warning (which counts ramp-up too) only when the
    window could not be measured."""
    return cpu_percent >= limit if cpu_percent is not None else warned


class LoadGenerator:
    """Locust for the steps of one configuration: one process, until that saturates its core; from then on a
    master and ``config.saturated_workers`` local workers (the saturated step is measured again with them)."""

    def __init__(self, config: LoadConfig, spawned: Callable[[list[int]], None] | None = None) -> None:
        self.config = config
        self.spawned = spawned

    def step(
        self,
        url: str,
        users: int,
        student_ids: str,
        workdir: Path,
        *,
        duration_s: float | None = None,
        check: Callable[[], None] | None = None,
    ) -> loadstats.StepFigures:
        config = self.config if duration_s is None else replace(self.config, duration_s=duration_s)
        step = run_step(url, users, config, student_ids, workdir, check, self.spawned)
        if not step.locust_saturated:
            return step
        cpu = f"{step.locust_cpu_percent:.0f}% of a core" if step.locust_cpu_percent is not None else "Locust warned"
        workers = self.config.saturated_workers
        if config.distributed or not workers:
            workers_used = config.locust_workers + config.remote_workers
            generators = f"{workers_used} workers" if config.distributed else "one process (--saturated-workers 0)"
            return replace(step, locust_note=f"locust saturated ({cpu}) with {generators}: the site was under-driven")
        self.config = replace(self.config, locust_workers=workers)
        wait_for_site(url, check)
        again = run_step(url, users, replace(config, locust_workers=workers), student_ids, workdir, check, self.spawned)
        if again.locust_saturated:  # the workers share the CPUs Locust may use: they could not drive more
            return replace(
                again,
                locust_note=f"locust saturated ({cpu}) in one process and again with {workers} workers: the site "
                "was under-driven",
            )
        return replace(again, locust_note=f"locust saturated ({cpu}) in one process: {workers} workers used")


def wait_for_site(url: str, check: Callable[[], None] | None = None, timeout: float = DRAIN_TIMEOUT_S) -> float:
    """Wait until the site answers /health/ (an overloaded step leaves requests queued: it works them off first,
    whose clients are gone). Returns the seconds waited; gives up quietly after ``timeout`` (the next health check
    says what is wrong). ``check`` runs before every try and may raise (the application server died)."""
    started = time.monotonic()
    for left in processes.deadline_loop(timeout, interval=0.5):
        if check is not None:
            check()
        try:
            with urllib.request.urlopen(f"{url}/health/", timeout=max(1.0, left)) as response:  # our own site
                response.read()
            break
        except OSError:
            continue
    return time.monotonic() - started
