"""``dbbench run``: the whole job in one call: doctor, setup, benchmarks (which seed), parity, load, rehearsal, report.

With ``--app PATH --from SOURCE`` the run is about the team's own project and data (:mod:`dbbench.fromsource`):
its suite captured on the baseline, SOURCE rehearsed onto the candidate, the capture replayed on copies of SOURCE,
and the quiz site's stages (setup, benchmarks, load) left out unless asked for.

Each stage is a library call into its own module (never the CLI). A stage that fails stops the run with one line
naming the stage (and the backend when one is to blame); the result files of completed stages stay in the run's
folder, and ``dbbench report`` can be pointed at them.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dbbench.backends.targets import Target
from dbbench.bench.runner import get_profile
from dbbench.errors import ConfigError, DbbenchError, StageFailed, mask_secrets
from dbbench.results import DEFAULT_RESULTS_DIR, load_result, stamp, write_result

if TYPE_CHECKING:
    from dbbench.app.detect import Project

OPTIONAL_STAGES = ("parity", "load", "rehearsal")
QUIZ_STAGES = ("setup", "benchmarks", "load")  # about dbbench's quiz site: left out with --from unless --with-quiz
# The profiles are the benchmark suite's (dbbench.bench.runner.PROFILES: sizes, rounds, budgets, a one-line summary);
# the load test has its own per profile (dbbench.load.config.config_for_profile).


@dataclass
class StageOutcome:
    name: str
    status: str  # "ok", "skipped" or "failed"
    seconds: float
    outputs: list[Path] = field(default_factory=list)
    note: str = ""


@dataclass
class RunOutcome:
    profile: str
    output_dir: Path
    stages: list[StageOutcome]
    seconds: float
    report: tuple[Path, Path] | None = None


def run(
    profile: str,
    targets: list[Target],
    output_dir: Path | None = None,
    *,
    allow_foreign: bool = False,
    skip: Collection[str] = (),
    echo: Callable[[str], None] = print,
    app: AppRequest | None = None,
    expected_users: int | None = None,
    keep_sizes: bool = False,
    box: str | None = None,
    with_quiz: bool = False,
) -> RunOutcome:
    """Run every stage for ``targets`` under ``profile``; returns where the report is.

    ``app``: the user's own Django project. Its code is audited instead of the quiz app's, and its test suite runs
    on every target (``dbbench app``), so the verdict speaks about that project.

    ``expected_users``: the team's peak concurrent users; the report ranks the load test's configurations there.

    ``keep_sizes``: the benchmarks keep each smaller size in a database of its own, so the next run skips seeding
    (``dbbench.bench.runner.sized_database``); the largest stays in each target's database for the later stages.

    ``box``: the load stage's single small box (``CPUS,SIZE``, servers/box.py).

    ``app.source`` (``--from``): the team's PostgreSQL database, only read. Its data is rehearsed onto the
    candidate and the suite's captured queries are replayed on copies of it; the verdict's speed half is that
    replay. The quiz site's stages (:data:`QUIZ_STAGES`) then run only with ``with_quiz``.

    ``skip`` names optional stages to leave out (:data:`OPTIONAL_STAGES`); the report then says they were not
    run. Raises :class:`StageFailed` (one line) when a stage fails; what completed stays in ``output_dir``.
    """
    get_profile(profile)  # an unknown profile is one line, before anything runs
    unknown = sorted(set(skip) - set(OPTIONAL_STAGES))
    if unknown:
        raise ConfigError(f"cannot skip {', '.join(unknown)}: only {', '.join(OPTIONAL_STAGES)} are optional")
    if len(targets) < 2:
        raise ConfigError("dbbench run compares backends: configure at least two targets")
    if with_quiz and (app is None or app.source is None):
        raise ConfigError("--with-quiz adds the quiz site's stages back to a run with --from; without --from they run")
    if app is not None and app.source is not None and "rehearsal" in skip:
        raise ConfigError("cannot skip rehearsal with --from: the replay runs on the copies it makes")
    if expected_users is not None or box is not None:  # refused now rather than after the benchmarks
        from dbbench.load.config import config_for_profile

        config_for_profile(profile, expected_users, box)
    # A path that is no Django project is refused before anything runs; found once, for every stage that uses it.
    project = _project(app) if app is not None else None
    source = None
    if app is not None and app.source is not None:  # parsed, reached, and not a database this run writes
        from dbbench import fromsource

        source = fromsource.check_source(app.source, targets)
    out = Path(output_dir) if output_dir else DEFAULT_RESULTS_DIR / f"run-{stamp()}-{profile}"
    out.mkdir(parents=True, exist_ok=True)
    not_run = {} if source is None or with_quiz else dict.fromkeys(QUIZ_STAGES, FROM_NOTE)
    with folder_lock(out):
        return _run_stages(
            profile,
            targets,
            out,
            allow_foreign,
            skip,
            echo,
            app,
            expected_users,
            keep_sizes,
            box,
            source,
            not_run,
            project,
        )


FROM_NOTE = "the quiz site's, not run with --from: the verdict's speed comes from your queries replayed (--with-quiz)"


LOCK_FILE = ".dbbench-run.lock"


@contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """One ``dbbench run`` per output folder: a second one would overwrite the first's files under it.

    An flock on a file in the folder: the kernel releases it when the process ends, even after ``kill -9``, so a
    crashed run never leaves the folder locked. The file is opened without following a planted symlink.
    """
    try:
        fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot lock the output folder {out}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise ConfigError(
                f"another dbbench run (pid {holder}) is writing to {out}; wait for it or use another --output-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def _run_stages(
    profile: str,
    targets: list[Target],
    out: Path,
    allow_foreign: bool,
    skip: Collection[str],
    echo: Callable[[str], None],
    app: AppRequest | None,
    expected_users: int | None,
    keep_sizes: bool,
    box: str | None = None,
    source: Target | None = None,
    not_run: dict[str, str] | None = None,
    project: Project | None = None,
) -> RunOutcome:
    started = time.perf_counter()
    outcome = RunOutcome(profile, out, [], 0.0)
    stages: list[tuple[str, Callable[[], list[Path]]]] = [
        ("doctor", lambda: _doctor(targets, echo, source)),
        ("setup", lambda: _setup(targets, allow_foreign)),
        ("benchmarks", lambda: _benchmarks(targets, profile, out, allow_foreign, keep_sizes)),
        ("parity", lambda: _parity(targets, out)),
        ("audit", lambda: _audit_app(out, app.path if app else None)),
        *([("app", lambda: _app(app, project, targets, out, capture=source is not None))] if app and project else []),
        ("load", lambda: _load(targets, profile, out, allow_foreign, echo, expected_users, box)),
        ("rehearsal", lambda: _rehearsal(targets, out, allow_foreign, project, source, echo)),
        *(
            [("replay", lambda: _replay(app, project, source, targets, out, echo, allow_foreign))]
            if app and project and source
            else []
        ),
    ]
    for number, (name, call) in enumerate(stages, 1):
        echo(f"[{number}/{len(stages) + 1}] {name} ...")
        if name in skip or name in (not_run or {}):
            note = (not_run or {}).get(name, "skipped on request")
            echo("    skipped (--skip)" if name in skip else f"    skipped: {note}")
            outcome.stages.append(StageOutcome(name, "skipped", 0.0, note=note))
            continue
        try:
            outcome.stages.append(_stage(name, call, targets, out, echo, source))
        except (StageFailed, KeyboardInterrupt) as exc:
            # Say in the run's folder how far it got, next to what the completed stages wrote (Ctrl-C and
            # SIGTERM too: the manifest marks the run as interrupted).
            status = "failed" if isinstance(exc, StageFailed) else "interrupted"
            outcome.stages.append(StageOutcome(name, status, 0.0, note=str(exc) or type(exc).__name__))
            outcome.seconds = time.perf_counter() - started
            _write_manifest(outcome)
            raise
    echo(f"[{len(stages) + 1}/{len(stages) + 1}] report ...")
    results = [p for s in outcome.stages for p in s.outputs]
    outcome.seconds = time.perf_counter() - started
    results.append(_write_manifest(outcome))
    outcome.stages.append(_stage("report", lambda: list(_report(results, out)), targets, out, echo))
    outcome.report = (out / "report.md", out / "report.html")
    outcome.seconds = time.perf_counter() - started
    return outcome


def _stage(
    name: str,
    call: Callable[[], list[Path]],
    targets: list[Target],
    out: Path,
    echo: Callable[[str], None],
    source: Target | None = None,
) -> StageOutcome:
    started = time.perf_counter()
    try:
        result = call()
    except DbbenchError as exc:
        text = _with_crashes(str(exc), targets)
        raise StageFailed(_stage_message(name, text, out)) from exc  # the cause: what --debug shows
    except Exception as exc:  # an unforeseen error still gets one line, with passwords masked
        secrets = [*targets, *([source] if source else [])]  # --from's password too
        text = _with_crashes(mask_secrets(" ".join(str(exc).split()), secrets), targets)
        raise StageFailed(_stage_message(name, f"{type(exc).__name__}: {text}", out)) from exc
    seconds = time.perf_counter() - started
    echo(f"    done in {seconds:.1f} s" + (f": {', '.join(p.name for p in result)}" if result else ""))
    return StageOutcome(name, "ok", seconds, outputs=result)


def _with_crashes(text: str, targets: list[Target]) -> str:
    """``text``, and the cause behind it when a managed server died during the stage (else only its symptom,
    a refused connection, would be said)."""
    from dbbench.servers.session import crashed_servers

    crashes = crashed_servers(targets)
    return f"{text}; {'; '.join(crashes)}" if crashes else text


def _stage_message(name: str, text: str, out: Path) -> str:
    """``stage NAME failed[ on BACKEND]: why (results so far kept in DIR)``: one line, whoever raised."""
    text = text if text.startswith("stage ") else f"stage {name} failed: {text}"
    return text if "kept in" in text else f"{text} (results so far kept in {out})"


def _doctor(targets: list[Target], echo: Callable[[str], None], source: Target | None = None) -> list[Path]:
    from dbbench.doctor import fairness_warnings, probe

    probes = []
    for target in targets:
        p = probe(target)
        if not p.ok:
            raise StageFailed(f"stage doctor failed on {target.name}: {p.error}") from p.cause
        assert p.info is not None
        echo(f"    {target.name}: {p.info.vendor} {p.info.version} at {target.safe_url}")
        probes.append(p)
    for warning in fairness_warnings(probes):
        echo(f"    warning: {warning}")  # the report flags it too; measuring still makes sense
    if source is not None:
        from dbbench import fromsource

        fromsource.describe(source, echo)
    return []


def _setup(targets: list[Target], allow_foreign: bool) -> list[Path]:
    from dbbench import djangoenv

    djangoenv.setup(targets)
    for target in targets:
        try:
            djangoenv.prepare(target, allow_foreign=allow_foreign)
        except DbbenchError as exc:
            raise StageFailed(f"stage setup failed on {target.name}: {exc}") from exc
    return []


def _benchmarks(targets: list[Target], profile: str, out: Path, allow_foreign: bool, keep_sizes: bool) -> list[Path]:
    from dbbench.bench.runner import run_benchmarks

    # The benchmark suite seeds each size itself (the seeder adds only the difference between sizes).
    return [Path(run_benchmarks(targets, None, profile, out, allow_foreign=allow_foreign, keep_sizes=keep_sizes))]


def _parity(targets: list[Target], out: Path) -> list[Path]:
    from dbbench.parity.suite import run_parity
    from dbbench.progress import Status

    with Status("parity") as status:  # a live line on a terminal, a plain line every few seconds in a log
        return [Path(run_parity(targets, out, status=status))]


def _audit_app(out: Path, path: Path | None) -> list[Path]:
    """Audit the app's own code (the user's project, else the quiz app): the verdict weighs only the parity
    differences that code uses."""
    from dbbench import quiz
    from dbbench.audit import scan

    result = scan.audit_path(str(path or Path(quiz.__file__).parent))
    return [write_result(out / "audit.json", "audit", result.as_dict())]


@dataclass(frozen=True)
class AppRequest:
    """``dbbench run --app PATH``: the user's project and how to run its tests."""

    path: Path
    settings: str | None = None
    test_command: str | None = None
    timeout_s: float = 15 * 60
    python: str | None = None  # the interpreter that runs its suite (default: its virtualenv, else dbbench's)
    source: str | None = None  # --from: the URL of the team's PostgreSQL database, only ever read
    replay_seconds: float = 2.0  # measuring time per replayed shape, all targets together


def _project(request: AppRequest) -> Project:
    from dbbench.app import detect

    return detect.detect(
        request.path, settings=request.settings, test_command=request.test_command, python=request.python
    )


def _app(
    request: AppRequest, project: Project, targets: list[Target], out: Path, *, capture: bool = False
) -> list[Path]:
    """The user's project's own test suite on every target (``dbbench app``); breaks do not stop the run.
    ``capture``: its queries on the baseline are recorded for the replay (``app.capture.json``)."""
    from dbbench.app import run as app
    from dbbench.fromsource import CAPTURE_FILE

    captured = out / CAPTURE_FILE if capture else None
    data = app.run_app(project, targets, timeout=request.timeout_s, capture=captured)
    if captured is not None and not captured.exists():
        raise StageFailed(f"stage app failed: the suite on {targets[0].name} wrote no capture of its queries")
    return [write_result(out / "app.json", "app", data)]


def _load(
    targets: list[Target],
    profile: str,
    out: Path,
    allow_foreign: bool,
    echo: Callable[[str], None],
    expected_users: int | None,
    box: str | None = None,
) -> list[Path]:
    from dbbench.load.config import config_for_profile
    from dbbench.load.sweep import run_load

    path = Path(
        run_load(
            targets,
            config_for_profile(profile, expected_users, box),
            output_dir=out,
            progress=lambda line: echo("    " + line),
            allow_foreign=allow_foreign,
        )
    )
    # The load test goes on past a broken backend and records it; for the run that is a failed stage.
    _, document = load_result(path, "load")
    for run in document["data"].get("runs") or []:
        if run.get("status") == "failed":
            raise StageFailed(f"stage load failed on {run.get('alias')}: {run.get('error')}")
    return [path]


def _rehearsal(
    targets: list[Target],
    out: Path,
    allow_foreign: bool,
    project: Project | None = None,
    source: Target | None = None,
    echo: Callable[[str], None] = print,
) -> list[Path]:
    """Copy the first target's seeded data to the second's server and verify it (``dbbench migrate-data``); with
    ``--from``, the team's database to the candidate's server (``migrate-data --app``)."""
    if project is not None and source is not None:
        from dbbench import fromsource

        return [fromsource.rehearse(project, source, targets[1], out / "rehearsal.json", echo, allow_foreign)]
    from dbbench.rehearsal import rehearse as rehearsal
    from dbbench.rehearsal.estimate import earlier_points

    # Earlier runs' rehearsals at other sizes (the same servers and algorithm) make the downtime estimate a fit.
    earlier = earlier_points(out.parent, skip=out / "rehearsal.json")
    result = rehearsal.rehearse(
        # progress=None: a bar per table with its time left on a terminal, a line every few seconds in a log.
        targets[0],
        targets[1],
        replace=True,
        progress=None,
        allow_foreign=allow_foreign,
        earlier=earlier,
    )
    return [rehearsal.write(result, out / "rehearsal.json")]


def _replay(
    app: AppRequest,
    project: Project,
    source: Target,
    targets: list[Target],
    out: Path,
    echo: Callable[[str], None],
    allow_foreign: bool,
) -> list[Path]:
    """The suite's captured queries replayed on copies of ``--from`` on both servers (``dbbench replay``)."""
    from dbbench import fromsource

    return fromsource.replay(project, source, targets, out, echo, allow_foreign, app.replay_seconds)


def _report(results: list[Path], out: Path) -> tuple[Path, Path]:
    from dbbench.report.build import build_report

    return build_report(results, out)


def _write_manifest(outcome: RunOutcome) -> Path:
    return write_result(
        outcome.output_dir / "run.json",
        "run",
        {
            "profile": outcome.profile,
            "seconds_before_report": round(outcome.seconds, 1),
            "stages": [
                {
                    "stage": s.name,
                    "status": s.status,
                    "seconds": round(s.seconds, 1),
                    "outputs": ", ".join(p.name for p in s.outputs),
                    "note": s.note,
                }
                for s in outcome.stages
            ],
        },
    )
