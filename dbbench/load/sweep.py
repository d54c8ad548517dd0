"""``dbbench load``: the quiz site under HTTP load on each backend, gunicorn + Locust, a sweep over users.

For every variant (load/variants.py: a target at one CONN_MAX_AGE, with Django's pool, or behind PgBouncer): start
its service if it has one and gunicorn serving the quiz site on that target alone (127.0.0.1, a free port), then
for each user count run Locust headless for a fixed time (ramp-up excluded: the figures start
one longest think time after the last user started), and record requests/s, p50/p95/p99 and failures. The knee
is the most users served with p95 under a threshold. Results (kind ``load``) are written after every step, so
an interrupted or failed run keeps its completed steps; gunicorn and Locust are stopped however the run ends.

Result ``data``::

    {"status": "complete" | "failed" | "interrupted" | "running", "config": {...}, "request_mix": {...},
     "runs": [{"alias", "vendor", "version", "server": ServerInfo.as_dict(), "url" (masked), "label",
               "variant", "change_kind", "change", "conn_max_age", "pool", "service", "disable_server_side_cursors"
               (Variant.as_dict()), "attempts", "students", "quizzes", "status", "error", "knee": Knee.as_dict(),
               "steps": [StepFigures.as_dict(), ...]}, ...]}

The site and its database share this machine's cores with the load generator, as in the original experiment
("everything on one small box"); point the targets at other servers to take the database off the box.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbbench import processes
from dbbench.backends.database import exclusive_all
from dbbench.backends.spec import ServerRecord
from dbbench.backends.targets import Target
from dbbench.errors import ConfigError, mask_secrets
from dbbench.load import bottleneck
from dbbench.load import stats as loadstats
from dbbench.load.config import LoadConfig, config_for_profile
from dbbench.load.knee import Probe, find_capacity
from dbbench.load.locust import LoadGenerator, wait_for_site
from dbbench.load.site import (
    BackendFailed,
    check_site,
    diagnose,
    exited,
    log_size,
    server_error,
    shapes_dir,
    start_site,
)
from dbbench.load.tiers import APP, DATABASE, DBBENCH, LOCUST, POOLER, TierSampler, listener, shared_cpus
from dbbench.load.tiers import summary as tier_summary
from dbbench.load.variants import ServiceFailed, Variant, variants_for
from dbbench.results import DEFAULT_RESULTS_DIR, stamp, write_result
from dbbench.servers.limits import other_cpus

if TYPE_CHECKING:
    from dbbench.servers.box import Boxed

KIND = "load"
REQUEST_MIX = {
    "GET /quizzes/[id]/ (start a quiz)": 6,
    "POST /quizzes/[id]/attempts/ (submit answers)": 6,
    "GET /students/[id]/attempts/ (history)": 2,
    "GET /quizzes/[id]/leaderboard/": 1,
    "GET /quizzes/ (catalog)": 1,
}

NOTES = [
    "gunicorn, the database servers and Locust share this machine's cores unless the targets are elsewhere",
    "Locust rounds response times above 100 ms to two significant digits (percentiles good to ~5%)",
    "requests still in flight when a step stops are not counted (the slowest, when the site is overloaded)",
]

Progress = Callable[[str], None]


# --- the run ------------------------------------------------------------------------------------------------


@dataclass
class SiteData:
    """What a target holds before its runs: counts, the students Locust logs in as, the highest attempt id."""

    attempts: int
    students: int
    quizzes: int
    student_ids: str
    last_attempt_id: int
    server: ServerRecord


def default_output() -> Path:
    return DEFAULT_RESULTS_DIR / f"load-{stamp()}.json"


def run_load(
    targets: Sequence[Target],
    config: LoadConfig | None = None,
    output: Path | None = None,
    *,
    profile: str | None = None,
    output_dir: Path | None = None,
    progress: Progress | None = None,
    allow_foreign: bool = False,
) -> Path:
    """Seed, then sweep every variant (each target at every CONN_MAX_AGE, the baseline's pool and pooler, or
    ``config.variants``); write results of kind ``load`` after every step.

    ``config`` defaults to the ``profile``'s (``dbbench run`` passes ``profile`` and ``output_dir``). Returns
    the result file; its ``data["status"]`` is ``failed`` when a backend failed mid-run (the others went on).
    Bad input and unreachable servers raise before anything is written. Ctrl-C or SIGTERM: the children are
    stopped, the file keeps the completed steps, and KeyboardInterrupt is re-raised.
    """
    from dbbench import djangoenv

    config = config or config_for_profile(profile or "default")
    config.validate()
    say = progress or (lambda _line: None)
    if output is None and output_dir is not None:
        output = Path(output_dir) / "load.json"
    if output is None:
        output = default_output()
        output.parent.mkdir(parents=True, exist_ok=True)
    output = Path(output)
    if not output.parent.is_dir():
        raise ConfigError(f"--output: directory {output.parent} does not exist")
    if not targets:
        raise ConfigError("no target to load-test")
    variants = variants_for(targets, config)
    targets = [t for t in targets if any(v.target.name == t.name for v in variants)]  # only those run are seeded
    djangoenv.setup(list(targets))
    # One writer per database: the site's writes and a seed or migrate-data started meanwhile would mix.
    from dbbench import servers

    # Managed servers pinned to some CPUs (--server-cpus): gunicorn and Locust (children of this process, which
    # inherit its affinity) take the others, as an app server beside a small database box would.
    boxed = open_box(targets, config)
    cpus = servers.cpus_left(targets) if boxed is None else other_cpus(config.box.cpus)
    try:
        with exclusive_all(targets, "a load test"), processes.pinned(cpus):
            return _run_locked(targets, variants, config, output, say, allow_foreign, cpus, boxed)
    finally:
        if boxed is not None:
            boxed.close()


def open_box(targets: Sequence[Target], config: LoadConfig) -> Boxed | None:
    """The single small box (``config.box``), checked to hold each target's server and the app server; one line
    when a target is not a managed server or the box is too small."""
    box = config.box
    if box is None:
        return None
    from dbbench.servers.box import Boxed, check_fits
    from dbbench.servers.session import managed_entry

    workers = max([v.gunicorn(config)[0] for v in variants_for(targets, config)] or [config.workers])
    for target in targets:
        entry = managed_entry(target)
        if entry is None:
            raise ConfigError(
                f"--box: {target.name} is not a server dbbench started; only those are moved into the box "
                "(a server given by URL is not dbbench's to limit)"
            )
        profile = entry.get("profile")
        check_fits(box, int((profile and profile.get("buffers")) or entry.get("memory_bytes") or 0), workers)
    return Boxed(box)


def layout(config: LoadConfig, boxed: Boxed | None, cpus: list[int] | None) -> dict[str, Any]:
    """Which layout was measured, for the result and the report."""
    if boxed is not None:
        box = boxed.describe()
        return {
            "kind": "box",
            **box,
            "text": f"single box: the app server and the database server under test in one limit of "
            f"{box['cpus']} CPU and {box['memory_bytes'] // 2**20} MiB ({box['mechanism']}); Locust outside it",
        }
    where = f"CPUs {','.join(map(str, cpus))}" if cpus else "every CPU"
    return {
        "kind": "separate",
        "text": f"separate: the database servers under their own limits (if any); the app server and Locust on {where}",
    }


def _run_locked(
    targets: Sequence[Target],
    variants: Sequence[Variant],
    config: LoadConfig,
    output: Path,
    say: Progress,
    allow_foreign: bool,
    cpus: list[int] | None = None,
    boxed: Boxed | None = None,
) -> Path:
    say(f"load test: about {_minutes(config.configuration_seconds() * len(variants))}; results in {output}")
    sites = {t.name: prepare_site_data(t, config, allow_foreign=allow_foreign, say=say) for t in targets}
    data: dict[str, Any] = {
        "status": "running",
        "config": config.as_dict(),
        "request_mix": REQUEST_MIX,
        "notes": NOTES,
        # The CPUs the site and Locust ran on (None: every CPU, shared with the database servers).
        "load_cpus": cpus,
        "layout": layout(config, boxed, cpus),
        "runs": [],
    }
    with processes.interrupts_unwind():
        try:
            # In the variants' order, CONN_MAX_AGE outermost: the runs of one setting are close in time (same
            # background noise).
            for number, variant in enumerate(variants, 1):
                # Where the load test is and what is left: each configuration has the same budget of steps.
                left = config.configuration_seconds() * (len(variants) - number + 1)
                say(f"configuration {number}/{len(variants)}: {variant.name}, about {_minutes(left)} left")
                site = sites[variant.target.name]
                run = _new_run(variant, site)
                data["runs"].append(run)
                _sweep(variant, site, config, run, data, output, say, boxed)
        except KeyboardInterrupt:
            for run in data["runs"]:
                if run["status"] == "running":
                    run["status"] = "interrupted"
            data["status"] = "interrupted"
            write_result(output, KIND, data)
            say(f"interrupted: the completed steps are kept in {output}")
            raise
    data["status"] = "failed" if any(r["status"] == "failed" for r in data["runs"]) else "complete"
    write_result(output, KIND, data)
    return output


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def prepare_site_data(target: Target, config: LoadConfig, *, allow_foreign: bool, say: Progress) -> SiteData:
    """Seed (or check) the target's quiz data and learn what Locust needs from it."""
    from dbbench import djangoenv, doctor
    from dbbench.quiz.models import Quiz, QuizAttempt, Student

    if config.attempts:
        from dbbench.seed.seeding import seed

        result = seed(target, config.attempts, seed=config.seed, progress=False, allow_foreign=allow_foreign)
        say(f"{target.name}: {result.attempts:,} attempts seeded ({result.added:,} added)")
    else:
        djangoenv.prepare(target, allow_foreign=allow_foreign)
    db = target.name
    student_ids = list(Student.objects.using(db).order_by("pk").values_list("pk", flat=True))
    quizzes = Quiz.objects.using(db).count()
    if not student_ids or not quizzes:
        raise ConfigError(f"{target.name}: no students or quizzes in {target.safe_url}; seed with --attempts N")
    last = QuizAttempt.objects.using(db).order_by("-pk").values_list("pk", flat=True).first() or 0
    return SiteData(
        attempts=QuizAttempt.objects.using(db).count(),
        students=len(student_ids),
        quizzes=quizzes,
        student_ids=loadstats.compact_ids(student_ids),
        last_attempt_id=last,
        server=doctor.server_info(target).as_dict(),
    )


def _new_run(variant: Variant, site: SiteData) -> dict[str, Any]:
    return {
        "alias": variant.target.name,
        "vendor": site.server["vendor"],
        "version": site.server["version"],
        "server": site.server,
        "url": variant.target.safe_url,
        "label": variant.label(site.server["vendor"], site.server["version"]),
        **variant.as_dict(),  # "variant", "change_kind", "change", "conn_max_age", "pool", "service"...
        "attempts": site.attempts,
        "students": site.students,
        "quizzes": site.quizzes,
        "status": "running",
        "error": None,
        "knee": None,
        "steps": [],
    }


def _sweep(
    variant: Variant,
    site: SiteData,
    config: LoadConfig,
    run: dict[str, Any],
    data: dict[str, Any],
    output: Path,
    say: Progress,
    boxed: Boxed | None = None,
) -> None:
    target = variant.target  # the database; the site may reach it through the variant's service
    label = f"{variant.name} ({run['vendor']} {run['version']})"
    say(f"{label}: {variant.change}")
    write_result(output, KIND, data)
    try:
        # The service (a pooler) starts before the site and stops after it.
        with (
            tempfile.TemporaryDirectory(prefix="dbbench-load-") as tmp,
            variant.serving() as front,
            TierSampler() if config.measure else contextlib.nullcontext() as sampler,
            _in_box(boxed, target),
        ):
            workdir = Path(tmp)
            site_url, server = start_site(front, variant, config, workdir, enter=boxed.plan.enter if boxed else None)
            site_cpus: float | None = None
            if sampler is not None:
                site_cpus = declare_tiers(sampler, variant, front, server.pid, run, config)
                sampler.shapes_dir = shapes_dir(workdir)
            workers, threads = variant.gunicorn(config)

            def running() -> None:
                if not server.running():
                    raise BackendFailed(exited(server, target))

            with processes.running([server]):
                # One Locust process, or workers once one saturates; the sampler learns their pids every step.
                generator = LoadGenerator(
                    config, spawned=None if sampler is None else lambda pids: sampler.set(LOCUST, "Locust", pids)
                )
                measured: list[loadstats.StepFigures] = []

                def measure(probe: Probe) -> dict[str, Any]:
                    if measured:  # an overloaded step leaves requests queued: the site works them off first
                        wait_for_site(site_url, running)
                    check_site(site_url, server, target)
                    before, log_start = machine_load(), log_size(server)
                    step = generator.step(
                        site_url, probe.users, site.student_ids, workdir, duration_s=probe.duration_s, check=running
                    )
                    if step.failures:
                        step = replace(step, server_error=server_error(server, target, log_start))
                    machine = machine_load(before)
                    measured.append(step)
                    tiers: dict[str, Any] = {}
                    if sampler is not None and step.started_at and step.stopped_at:
                        tiers = sampler.window(step.started_at, step.stopped_at)
                    if tiers:  # how near the site was to its limits: what the knee search grows by
                        tiers["utilization"] = bottleneck.utilization(
                            {**step.as_dict(), **tiers}, site_cpus, workers * threads
                        )
                    run["steps"].append({**step.as_dict(), "machine": machine, "phase": probe.phase, **tiers})
                    say(_step_line(label, step, machine) + (f"\n    {step.locust_note}" if step.locust_note else ""))
                    if tiers:
                        say(f"    {tier_summary(run['steps'][-1])}")
                    return run["steps"][-1]

                def publish(knee: loadstats.Knee) -> None:
                    run["knee"] = knee.as_dict()
                    run["bottleneck"] = bottleneck.for_run(run)  # at the step past the knee, or the largest
                    write_result(output, KIND, data)

                def after_step(knee: loadstats.Knee) -> None:
                    publish(knee)
                    if not server.running():  # the likelier cause of failed requests: say it first
                        raise BackendFailed(exited(server, target))
                    _check_failures(measured[-1], config, target)

                found = find_capacity(
                    measure, config.plan(), cost=config.step_seconds, on_step=after_step, on_stop=publish
                )
                if config.search:
                    knee = found.knee
                    say(f"{label}: knee search ({knee.search}, {knee.spent_s:.0f} s): {knee.describe()}")
                if run.get("bottleneck"):
                    found_at = run["bottleneck"]
                    tier = found_at["tier"] or "none"
                    say(f"{label}: the limit at {found_at['users']} users: {tier}: {found_at['sentence']}")
        run["status"] = "complete"
    except (BackendFailed, ServiceFailed) as exc:
        run["status"] = "failed"
        run["error"] = mask_secrets(str(exc), [target])
        say(f"{label}: FAILED: {run['error']}")
    finally:
        removed = remove_load_attempts(target, site.last_attempt_id)
        run["attempts_removed_after"] = removed
        write_result(output, KIND, data)


def _in_box(boxed: Boxed | None, target: Target) -> contextlib.AbstractContextManager[Any]:
    """The database server under test inside the box for the block (nothing without a box)."""
    if boxed is None:
        return contextlib.nullcontext()
    pid, why = listener(target.host, target.port)
    if pid is None:
        raise BackendFailed(f"--box: the database server's process was not found: {why}")
    return boxed.holding(pid)


def declare_tiers(
    sampler: TierSampler, variant: Variant, front: Target, site_pid: int, run: dict[str, Any], config: LoadConfig
) -> float | None:
    """The tiers of one variant's sweep: the app server, the database server (found by its listening port, so a
    server given by URL is measured too when it runs here), the pooler in front of it, and dbbench itself.
    Returns the CPUs the site's tiers may use between them (None: not known)."""
    workers, threads = variant.gunicorn(config)
    each = f" x {threads} threads" if threads > 1 else ""
    sampler.set(APP, f"app server (gunicorn, {workers} workers{each})", [site_pid], cap=workers)
    database = f"{run['vendor']} {run['version']}".strip()
    pid, why = listener(variant.target.host, variant.target.port)
    sampler.set(DATABASE, database, [pid] if pid else [], unknown=why)
    if variant.service is not None:
        pid, why = listener(front.host, front.port)
        sampler.set(POOLER, variant.service, [pid] if pid else [], unknown=why)
    sampler.set(DBBENCH, "dbbench (the sweep and this sampler)", [os.getpid()])
    return shared_cpus(
        root for key in (APP, DATABASE, POOLER) if key in sampler.tiers for root in sampler.tiers[key].roots
    )


def _step_line(label: str, step: loadstats.StepFigures, machine: dict[str, float]) -> str:
    line = (
        f"{label}: {step.users:>4} users  {step.rps:7.1f} req/s  p50 {step.p50_ms:6.0f} ms  "
        f"p95 {step.p95_ms:6.0f} ms  p99 {step.p99_ms:6.0f} ms  "
        f"failures {100 * step.failure_rate:5.2f}%  machine load {machine['loadavg_1m']:.1f}"
    )
    if step.failures:
        line += f"  ({_kinds(step)})"
    if step.tool_errors:
        line += f"  ({step.tool_errors} tracebacks in Locust's log)"
    if step.server_error:
        line += f"\n    the site's log: {step.server_error}"
    return line


def _kinds(step: loadstats.StepFigures) -> str:
    names = {"http_5xx": "HTTP 5xx", "http_4xx": "HTTP 4xx", "timeout": "timeouts", "connection": "connection errors"}
    return ", ".join(f"{names.get(k, k)} {n:,}" for k, n in step.failure_kinds.items() if n)


def _check_failures(step: loadstats.StepFigures, config: LoadConfig, target: Target) -> None:
    """The run fails when the site itself errs on more requests than --max-failure-rate allows.

    Answers 5xx and refused connections are errors at any load (a working site that is overloaded answers slowly,
    and its requests time out: that is the knee, and the sweep goes on). Every request failing ends the run too.
    """
    if not step.requests:
        return
    cause = f"; the site's log: {step.server_error}" if step.server_error else ""
    if step.failures == step.requests:
        top = step.errors[0]["error"] if step.errors else "no error text"
        raise BackendFailed(diagnose(target, f"every request failed at {step.users} users: {top}") + cause)
    if step.site_errors / step.requests > config.max_failure_rate:
        raise BackendFailed(
            f"{100 * step.site_errors / step.requests:.1f}% of requests failed at {step.users} users "
            f"({_kinds(step)}), over the --max-failure-rate limit of {100 * config.max_failure_rate:g}%"
            + (cause or f"; {diagnose(target, 'no server error logged')}")
        )


def machine_load(before: dict[str, float] | None = None) -> dict[str, float]:
    """The 1-minute load average and the CPU busy share since ``before`` (this step's, when given).

    Everything on the machine counts, this test's own processes included: a step whose load average is far above
    what the test itself needs ran beside other jobs, and its tail latencies say more about them than the site.
    """
    import psutil

    busy = psutil.cpu_percent(interval=None)  # since the previous call: the step, when called around it
    now = {"loadavg_1m": round(os.getloadavg()[0], 2), "cpus": float(os.cpu_count() or 1)}
    if before is not None:
        now = {**now, "loadavg_1m_before": before["loadavg_1m"], "cpu_busy_percent": busy}
    return now


def remove_load_attempts(target: Target, last_attempt_id: int) -> int | None:
    """Delete the attempts the load test submitted, so every run starts from the same seeded data."""
    from django.db import DatabaseError, connections

    from dbbench.quiz.models import QuizAttempt

    try:
        deleted, _ = QuizAttempt.objects.using(target.name).filter(pk__gt=last_attempt_id).delete()
        return deleted
    except DatabaseError:
        connections[target.name].close()
        return None  # the server is gone: nothing to tidy, and the failure is already recorded
