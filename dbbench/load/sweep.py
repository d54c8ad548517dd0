"""``dbbench load``: the quiz site under HTTP load on each backend, gunicorn + Locust, a sweep over users.

For every CONN_MAX_AGE and every target: start gunicorn serving the quiz site on that target alone (127.0.0.1,
a free port), then for each user count run Locust headless for a fixed time (ramp-up excluded: the figures start
one longest think time after the last user started), and record requests/s, p50/p95/p99 and failures. The knee
is the most users served with p95 under a threshold. Results (kind ``load``) are written after every step, so
an interrupted or failed run keeps its completed steps; gunicorn and Locust are stopped however the run ends.

Result ``data``::

    {"status": "complete" | "failed" | "interrupted" | "running", "config": {...}, "request_mix": {...},
     "runs": [{"alias", "vendor", "version", "server": ServerInfo.as_dict(), "url" (masked), "conn_max_age",
               "attempts", "students", "quizzes", "status", "error", "knee": Knee.as_dict(),
               "steps": [StepFigures.as_dict(), ...]}, ...]}

The site and its database share this machine's cores with the load generator, as in the original experiment
("everything on one small box"); point the targets at other servers to take the database off the box.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dbbench import processes
from dbbench.backends.targets import ENV_TARGETS, Target
from dbbench.errors import ConfigError, DbbenchError, mask_secrets
from dbbench.load import stats as loadstats
from dbbench.results import DEFAULT_RESULTS_DIR, write_result
from dbbench.units import parse_counts

KIND = "load"
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
STARTUP_TIMEOUT_S = 30.0  # gunicorn importing Django and answering /health/
LOCUST_GRACE_S = 60.0  # Locust's own start-up and shutdown on top of the run time (busy box, distributed)
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


class BackendFailed(DbbenchError):
    """One backend's run broke (server died, every request failed): recorded, and the other runs go on."""


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


# --- the run ------------------------------------------------------------------------------------------------


@dataclass
class SiteData:
    """What a target holds before its runs: counts, the students Locust logs in as, the highest attempt id."""

    attempts: int
    students: int
    quizzes: int
    student_ids: str
    last_attempt_id: int
    server: dict[str, Any]


def default_output() -> Path:
    return DEFAULT_RESULTS_DIR / f"load-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.json"


def config_for_profile(profile: str) -> LoadConfig:
    """``dbbench run``'s profiles: the data the benchmarks left is used as it is (no reseeding)."""
    return replace(QUICK if profile == "quick" else LoadConfig(), attempts=None)


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
    """Seed, then sweep every target at every CONN_MAX_AGE; write results of kind ``load`` after every step.

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
    djangoenv.setup(list(targets))
    say(f"load test: about {_minutes(config.estimated_seconds(len(targets)))}; results in {output}")
    sites = {t.name: prepare_site_data(t, config, allow_foreign=allow_foreign, say=say) for t in targets}
    data: dict[str, Any] = {
        "status": "running",
        "config": config.as_dict(),
        "request_mix": REQUEST_MIX,
        "notes": NOTES,
        "runs": [],
    }
    with processes.interrupts_unwind():
        try:
            # CONN_MAX_AGE outermost: the backends' runs of one setting are close in time (same background noise).
            for conn_max_age in config.conn_max_ages:
                for target in targets:
                    run = _new_run(target, sites[target.name], conn_max_age)
                    data["runs"].append(run)
                    _sweep(target, sites[target.name], conn_max_age, config, run, data, output, say)
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
    from dbbench import djangoenv
    from dbbench.backends import doctor
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


def _new_run(target: Target, site: SiteData, conn_max_age: int) -> dict[str, Any]:
    return {
        "alias": target.name,
        "vendor": site.server["vendor"],
        "version": site.server["version"],
        "server": site.server,
        "url": target.safe_url,
        "conn_max_age": conn_max_age,
        "attempts": site.attempts,
        "students": site.students,
        "quizzes": site.quizzes,
        "status": "running",
        "error": None,
        "knee": None,
        "steps": [],
    }


def _sweep(
    target: Target,
    site: SiteData,
    conn_max_age: int,
    config: LoadConfig,
    run: dict[str, Any],
    data: dict[str, Any],
    output: Path,
    say: Progress,
) -> None:
    label = f"{target.name} ({run['vendor']} {run['version']}) CONN_MAX_AGE={conn_max_age}"
    write_result(output, KIND, data)
    try:
        with tempfile.TemporaryDirectory(prefix="dbbench-load-") as tmp:
            workdir = Path(tmp)
            site_url, server = start_site(target, conn_max_age, config, workdir)

            def running() -> None:
                if not server.running():
                    raise BackendFailed(_exited(server, target))

            with processes.running([server]):
                for users in config.users:
                    check_site(site_url, server, target)
                    before = machine_load()
                    step = run_step(site_url, users, config, site.student_ids, workdir, check=running)
                    machine = machine_load(before)
                    run["steps"].append({**step.as_dict(), "machine": machine})
                    run["knee"] = loadstats.knee(
                        run["steps"], threshold_ms=config.p95_threshold_ms, max_failure_rate=config.max_failure_rate
                    ).as_dict()
                    write_result(output, KIND, data)
                    say(
                        f"{label}: {users:>4} users  {step.rps:7.1f} req/s  p50 {step.p50_ms:6.0f} ms  "
                        f"p95 {step.p95_ms:6.0f} ms  p99 {step.p99_ms:6.0f} ms  "
                        f"failures {100 * step.failure_rate:5.2f}%  machine load {machine['loadavg_1m']:.1f}"
                        + (f"  ({step.tool_errors} tracebacks in Locust's log)" if step.tool_errors else "")
                    )
                    if not server.running():  # the likelier cause of failed requests: say it first
                        raise BackendFailed(_exited(server, target))
                    if step.requests and step.failures == step.requests:
                        top = step.errors[0]["error"] if step.errors else "no error text"
                        raise BackendFailed(diagnose(target, f"every request failed at {users} users: {top}"))
        run["status"] = "complete"
    except BackendFailed as exc:
        run["status"] = "failed"
        run["error"] = mask_secrets(str(exc), [target])
        say(f"{label}: FAILED: {run['error']}")
    finally:
        removed = remove_load_attempts(target, site.last_attempt_id)
        run["attempts_removed_after"] = removed
        write_result(output, KIND, data)


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


# --- gunicorn -----------------------------------------------------------------------------------------------


def _connect_host(listen: str) -> str:
    return "127.0.0.1" if listen in ("0.0.0.0", "") else listen


def site_env(target: Target, conn_max_age: int) -> dict[str, str]:
    """The environment that makes the quiz site serve ``target`` alone (as ``default``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBBENCH_", "DJANGO_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "dbbench.settings.all",
            ENV_TARGETS: f"{target.name}={target.url}",
            "DBBENCH_CONN_MAX_AGE": str(conn_max_age),
        }
    )
    return env


def start_site(target: Target, conn_max_age: int, config: LoadConfig, workdir: Path) -> tuple[str, processes.Child]:
    """gunicorn serving the quiz site on ``target``, bound to a free port: ``(url, process)`` once /health/ answers."""
    port = processes.free_port(config.listen)
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "dbbench.quiz.wsgi:application",
        f"--bind={config.listen}:{port}",
        f"--workers={config.workers}",
        f"--threads={config.threads}",
        f"--worker-class={'gthread' if config.threads > 1 else 'sync'}",
        "--timeout=30",
        "--preload",  # import Django once, before forking: workers start in milliseconds
        "--graceful-timeout=5",
        "--no-control-socket",  # gunicorn 27 would otherwise share one socket path between runs
        f"--chdir={workdir}",
        "--error-logfile=-",
    ]
    server = processes.spawn(
        "gunicorn", argv, env=site_env(target, conn_max_age), cwd=workdir, log=workdir / "site.log"
    )
    url = f"http://{_connect_host(config.listen)}:{port}"
    try:
        wait_ready(url, server, target)
        warm_up(url, config.workers * config.threads)
    except BaseException:
        processes.stop(server)
        raise
    return url, server


def wait_ready(url: str, server: processes.Child, target: Target, timeout: float = STARTUP_TIMEOUT_S) -> None:
    last = "no answer"
    for _ in processes.deadline_loop(timeout):
        if not server.running():
            raise BackendFailed(f"the application server did not start: {mask_secrets(server.last_lines(), [target])}")
        try:
            _health(url)
            return
        except (OSError, ValueError) as exc:
            last = str(exc)
    raise BackendFailed(f"the application server did not answer {url}/health/ within {timeout:.0f} s ({last})")


def warm_up(url: str, workers: int, rounds: int = 4) -> None:
    """Concurrent catalog requests, so every worker has imported its views and (with CONN_MAX_AGE) connected."""
    from concurrent.futures import ThreadPoolExecutor

    def fetch(_: int) -> None:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/quizzes/", timeout=5) as response:
            response.read()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(fetch, range(workers * rounds)))


def _exited(server: processes.Child, target: Target) -> str:
    text = f"the application server exited (code {server.popen.returncode})"
    last = mask_secrets(server.last_lines(), [target])
    return f"{text}: {last}" if last else text


def diagnose(target: Target, symptom: str) -> str:
    """The database's own one-line error when it is unreachable (the usual cause), else the symptom."""
    from dbbench.errors import ConnectionFailed

    try:
        with target.spec.connection(target, target.database):
            pass
    except ConnectionFailed as exc:
        return f"{symptom}; {exc}"
    return mask_secrets(symptom, [target])


def check_site(url: str, server: processes.Child, target: Target) -> None:
    """Before a step: the server runs and its database answers."""
    if not server.running():
        raise BackendFailed(_exited(server, target))
    try:
        body = _health(url)
    except (OSError, ValueError) as exc:
        raise BackendFailed(diagnose(target, f"the site is not healthy: {exc}")) from None
    if not body.get("quizzes"):
        raise BackendFailed("the site's database holds no quizzes")


def _health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/health/", timeout=5) as response:  # loopback, our own server
        return json.loads(response.read())


# --- Locust -------------------------------------------------------------------------------------------------


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
) -> loadstats.StepFigures:
    """One Locust run at ``users`` users (a master and workers when distributed); its figures.

    ``check`` runs every half second while Locust works and may raise (the application server died): the step
    is then abandoned at once instead of measuring refused connections until its end.
    """
    output = workdir / f"locust-{users}.json"
    output.unlink(missing_ok=True)
    master_port = (config.master_port or processes.free_port(config.listen)) if config.distributed else None
    argv = locust_argv(url, users, config, student_ids, output, master_port=master_port)
    children: list[processes.Child] = []
    with processes.running(children):
        log = workdir / f"locust-{users}.log"
        master = processes.spawn("locust", argv, env=locust_env(), cwd=workdir, log=log)
        children.append(master)
        if master_port is not None:
            for i in range(config.locust_workers):
                worker = worker_argv(_connect_host(config.listen), master_port)
                children.append(
                    processes.spawn(f"locust worker {i + 1}", worker, env=locust_env(), cwd=workdir, log=log)
                )
        code = None
        for _ in processes.deadline_loop(config.step_run_time(users) + LOCUST_GRACE_S, interval=0.5):
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
    tracebacks = log.read_text(errors="replace").count("Traceback")
    return replace(loadstats.step_figures(document, users), tool_errors=tracebacks)
