"""The benchmark suite's pytest plugin: options, parametrisation over size x variant x backend, order, data, measuring.

Registered by entry point (``pytest11``), so it is there wherever dbbench is installed; it only acts on tests that
ask for its ``case`` fixture, the suite in ``dbbench/bench/suite``. Run the suite with ``dbbench bench``, or with
``pytest --benchmark-only`` from the repository root. Each ``test_<operation>``
in ``bench_*.py`` measures :data:`dbbench.bench.workloads.OPERATIONS` ``[<operation>]`` and gets one case per size,
variant (``orm``, and ``raw`` where the operation has a twin) and backend. The data lives in the targets' real
dbbench databases (not pytest-django's test databases) and grows through the seeder between sizes.

Order (fairness): sizes ascending; within a size, operation by operation and variant. The backends of one
operation and variant are measured together, their rounds interleaved (:mod:`dbbench.bench.measure`), when the first of
their cases runs; each case then hands its own backend's timings to pytest-benchmark.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from dbbench.backends.spec import ServerInfo
from dbbench.backends.targets import Target, targets_from_env
from dbbench.bench.runner import (
    CONTROL_OPERATIONS,
    PROFILES,
    Profile,
    attempt_table_bytes,
    buffer_warning,
    get_profile,
    settle,
)
from dbbench.errors import DbbenchError
from dbbench.seed import DEFAULT_SEED
from dbbench.units import format_count, parse_counts

VARIANTS = ("orm", "raw")
PARAMS = ("size", "variant", "backend")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dbbench", "dbbench benchmark suite")
    group.addoption("--dbbench-profile", choices=sorted(PROFILES), default=None, help="quick, default or full")
    group.addoption("--dbbench-sizes", default=None, help="attempt counts, e.g. 10k,100k,1m (default: the profile's)")
    group.addoption(
        "--dbbench-seed", type=int, default=DEFAULT_SEED, help=f"the data's and arguments' seed ({DEFAULT_SEED})"
    )
    group.addoption(
        "--dbbench-control",
        metavar="ALIAS=BASELINE",
        default=None,
        help="a target that is BASELINE's database again: measured on the key operations as the run's control",
    )
    group.addoption(
        "--dbbench-keep-sizes",
        action="store_true",
        help="seed each size below the largest into a database of its own (<database>_10k, ...) and keep it, so "
        "the next run measures at once",
    )
    group.addoption(
        "--dbbench-progress",
        choices=("auto", "live", "lines", "off"),
        default="auto",
        help="the step and the time left: a live line on a terminal, a plain line every 5 s in a log (auto), or off",
    )
    group.addoption(
        "--dbbench-allow-foreign-database",
        action="store_true",
        help="let the seeder write to a database that holds tables dbbench did not create",
    )


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark reads its options (its hook runs last)
def pytest_configure(config: pytest.Config) -> None:
    config.option.benchmark_save_data = True  # raw timings in every saved file: the report needs them
    saving = config.option.benchmark_json or config.option.benchmark_save or config.option.benchmark_autosave
    if config.option.benchmark_only and not saving:
        from pytest_benchmark.utils import get_tag

        # `pytest --benchmark-only` keeps its results: results/benchmarks/<machine>/NNNN_<commit>_<date>.json
        config.option.benchmark_autosave = get_tag()
    config.stash[_STARTED] = time.perf_counter()


@dataclass(frozen=True)
class Case:
    size: int
    operation: str
    variant: str
    alias: str

    @property
    def id(self) -> str:
        return f"{format_count(self.size)}-{self.variant}-{self.alias}"

    @property
    def group(self) -> tuple[int, str, str]:
        """The cases measured together: one operation and variant at one size, every backend."""
        return (self.size, self.operation, self.variant)


@dataclass(frozen=True)
class Plan:
    profile: Profile
    sizes: tuple[int, ...]
    seed: int
    targets: tuple[Target, ...]
    explicit: bool  # the user asked for the suite (--benchmark-only or a --dbbench-* option)
    control: tuple[str, str] | None = None  # (control alias, the baseline alias it measures again)

    def aliases_for(self, operation: str) -> list[str]:
        """The targets an operation is measured on: the control only on the operations that carry the mix."""
        control = self.control[0] if self.control else None
        return [t.name for t in self.targets if t.name != control or operation in CONTROL_OPERATIONS]


_STARTED = pytest.StashKey[float]()
_PLAN = pytest.StashKey[Plan]()
_SIZES_USED = pytest.StashKey[list[int]]()
_GROUPS = pytest.StashKey[dict[tuple[int, str, str], list[str]]]()
_SUITE = pytest.StashKey["Suite"]()


def _plan(config: pytest.Config) -> Plan:
    plan = config.stash.get(_PLAN, None)
    if plan is None:
        try:
            profile = get_profile(config.getoption("dbbench_profile") or "default")
            text = config.getoption("dbbench_sizes")
            sizes = tuple(parse_counts(text)) if text else profile.sizes
            targets = tuple(targets_from_env())
        except DbbenchError as exc:
            raise pytest.UsageError(f"dbbench: {exc}") from None
        explicit = bool(config.option.benchmark_only or config.getoption("dbbench_profile") or text)
        control = _control(config.getoption("dbbench_control"), targets)
        plan = Plan(profile, sizes, config.getoption("dbbench_seed"), targets, explicit, control)
        config.stash[_PLAN] = plan
    return plan


def _control(value: str | None, targets: tuple[Target, ...]) -> tuple[str, str] | None:
    if not value:
        return None
    alias, _, baseline = value.partition("=")
    names = {t.name for t in targets}
    if alias not in names or baseline not in names or alias == baseline:
        raise pytest.UsageError(
            f"dbbench: --dbbench-control {value!r}: expected ALIAS=BASELINE, two configured targets"
        )
    return alias, baseline


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    from dbbench.bench.workloads import OPERATIONS

    name = metafunc.function.__name__.removeprefix("test_")
    if name not in OPERATIONS:
        raise pytest.UsageError(f"{metafunc.function.__name__}: no operation {name!r} in dbbench.bench.workloads")
    plan = _plan(metafunc.config)
    variants = OPERATIONS[name].variants
    cases = [
        Case(size, name, variant, a) for size in plan.sizes for variant in variants for a in plan.aliases_for(name)
    ]
    # Plain values, so pytest-benchmark's JSON shows them as params: {"size": 1000, "variant": "orm", ...}.
    metafunc.parametrize(PARAMS, [(c.size, c.variant, c.alias) for c in cases], ids=[c.id for c in cases])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any("case" in getattr(item, "fixturenames", ()) for item in items):
        return  # not the dbbench suite: another project's tests, left exactly as they are
    from dbbench.bench.workloads import OPERATIONS

    plan = _plan(config)
    operations = list(OPERATIONS)
    aliases = [t.name for t in plan.targets]

    def key(item: pytest.Item) -> tuple[int, ...]:
        case = _case(item)
        if case is None:
            return (1, 0, 0, 0, 0)
        return (0, case.size, operations.index(case.operation), VARIANTS.index(case.variant), aliases.index(case.alias))

    items.sort(key=key)
    if not plan.explicit:
        skip = pytest.mark.skip(reason="benchmarks run with --benchmark-only, --dbbench-profile or dbbench bench")
        for item in items:
            if "case" in getattr(item, "fixturenames", ()):
                item.add_marker(skip)
    sizes = {case.size for case in map(_case, items) if case}
    config.stash[_SIZES_USED] = sorted(sizes)


def pytest_collection_finish(session: pytest.Session) -> None:
    # After -k/-m deselection: the backends each group measures together are the ones whose cases will run.
    groups: dict[tuple[int, str, str], list[str]] = {}
    for case in filter(None, map(_case, session.items)):
        groups.setdefault(case.group, []).append(case.alias)
    session.config.stash[_GROUPS] = groups


def _case(item: pytest.Item) -> Case | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None or not set(PARAMS) <= set(callspec.params):
        return None
    size, variant, backend = (callspec.params[p] for p in PARAMS)
    return Case(size, item.originalname.removeprefix("test_"), variant, backend)  # type: ignore[attr-defined]


@pytest.fixture
def case(request: pytest.FixtureRequest, size: int, variant: str, backend: str) -> Case:
    """The case a benchmark measures: its operation (from the test's name), size, variant and backend."""
    return Case(size, request.function.__name__.removeprefix("test_"), variant, backend)


# --- the data at each size -------------------------------------------------------------------------------------


@dataclass
class SizeState:
    """One backend at one size: the data the operations draw from and what the buffer check found."""

    size: int
    dataset: Any  # dbbench.bench.workloads.Dataset
    last_id: int
    data_bytes: int
    seed_seconds: float
    database: str = ""  # where this size's data lives
    added: int = 0  # attempts the seeder wrote for this size (0: the data was there, kept from an earlier run)


@dataclass
class Suite:
    plan: Plan
    allow_foreign: bool
    keep_sizes: bool = False
    servers: dict[str, ServerInfo] = field(default_factory=dict)
    states: dict[str, SizeState] = field(default_factory=dict)  # alias -> the current size's state
    warnings: list[str] = field(default_factory=list)
    broken: str | None = None  # why the data could not be brought to a size: later cases fail at once
    groups: dict[tuple[int, str, str], list[str]] = field(default_factory=dict)  # Case.group -> its aliases
    measured: dict[tuple[int, str, str], Any] = field(default_factory=dict)  # Case.group -> runs, or its error
    calibration: dict[str, dict[str, Any]] = field(default_factory=dict)  # alias -> the harness's own cost
    seeded: list[dict[str, Any]] = field(default_factory=list)  # each size on each backend: where, what was added
    eta: Any = None  # dbbench.bench.eta.BenchEta: the step and the time left, shown as it goes (unless off)

    def target(self, alias: str) -> Target:
        return next(t for t in self.plan.targets if t.name == alias)

    def server(self, alias: str) -> ServerInfo:
        if alias not in self.servers:
            from dbbench.doctor import server_info

            self.servers[alias] = server_info(self.target(alias))
        return self.servers[alias]

    def at(self, size: int, alias: str) -> SizeState:
        """The state of ``alias`` at ``size``; the first call for a size brings *every* backend to it."""
        if self.broken:
            pytest.fail(self.broken, pytrace=False)
        state = self.states.get(alias)
        if state is None or state.size != size:
            try:
                self.eta.seeding(size)
                self._grow(size)
                self.eta.seeded_size(size, [s["added"] for s in self.seeded if s["size"] == size])
            except DbbenchError as exc:
                self.broken = f"dbbench: cannot bring the data to {format_count(size)} attempts: {exc}"
                pytest.fail(self.broken, pytrace=False)
        return self.states[alias]

    def _grow(self, size: int) -> None:
        from dbbench.bench import workloads
        from dbbench.seed import seeding

        control, baseline = self.plan.control or (None, None)
        for target in self.plan.targets:
            if target.name == control:
                continue  # the baseline's own database: it is seeded (and settled) once, as the baseline
            target = self._database_for(target, size, also=control if target.name == baseline else None)
            result = seeding.seed(target, size, seed=self.plan.seed, progress=False, allow_foreign=self.allow_foreign)
            settle(target)
            dataset = workloads.load_dataset(target.name)
            if dataset.attempts != size:
                raise RuntimeError(f"{target.name}: seeded {dataset.attempts} attempts, expected {size}")
            state = SizeState(
                size,
                dataset,
                max(dataset.attempt_ids),
                attempt_table_bytes(target),
                result.seconds,
                target.database,
                result.added,
            )
            self.states[target.name] = state
            self.seeded.append(
                {
                    "alias": target.name,
                    "size": size,
                    "database": target.database,
                    "added": result.added,
                    "removed": result.removed,
                    "seconds": round(result.seconds, 1),
                }
            )
            server = self.server(target.name)
            warning = buffer_warning(target.name, server.vendor, size, state.data_bytes, server.buffer_bytes)
            if warning and warning not in self.warnings:
                self.warnings.append(warning)
        if control and baseline:
            self.states[control] = self.states[baseline]

    def _database_for(self, target: Target, size: int, also: str | None) -> Target:
        """``target`` on the database that holds ``size``: its own, or with ``keep_sizes`` the size's own database
        (created and migrated the first time). Its Django alias, and ``also`` (the control, the same database under
        another alias), are pointed there: the ORM and the raw connections follow the alias."""
        from django.db import connections

        from dbbench import djangoenv
        from dbbench.bench.runner import sized_database

        name = sized_database(target.database, size, max(self.plan.sizes)) if self.keep_sizes else target.database
        sized = target.with_database(name)
        for alias in filter(None, (target.name, also)):
            if connections[alias].settings_dict["NAME"] != name:
                connections[alias].close()
                connections[alias].settings_dict["NAME"] = name
                connections.settings[alias]["NAME"] = name
        if name != target.database:
            djangoenv.prepare(sized, allow_foreign=self.allow_foreign)  # migrate goes through the alias: after
        return sized


@pytest.fixture(scope="session")
def _dbbench_database_access(django_db_blocker: Any) -> Iterator[None]:
    """The suite measures the targets' real dbbench databases, so it lifts pytest-django's block for the session."""
    with django_db_blocker.unblock():
        yield
        from django.db import connections

        connections.close_all()


@pytest.fixture(scope="session")
def dbbench_suite(request: pytest.FixtureRequest) -> Suite:
    """The run's plan and the data state of every backend (seeded as sizes grow)."""
    config = request.config
    suite = Suite(
        _plan(config),
        bool(config.getoption("dbbench_allow_foreign_database")),
        keep_sizes=bool(config.getoption("dbbench_keep_sizes")),
    )
    suite.groups = config.stash.get(_GROUPS, {})
    config.stash[_SUITE] = suite
    from dbbench.bench.eta import BenchEta

    names = [t.name for t in suite.plan.targets if not suite.plan.control or t.name != suite.plan.control[0]]
    suite.eta = BenchEta.shown(suite.plan.profile, suite.groups, names, config, config.getoption("dbbench_progress"))
    request.addfinalizer(suite.eta.stop)
    return suite


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """No dot per benchmark while the progress line says where the suite is (failures still print F)."""
    suite = config.stash.get(_SUITE, None)
    if suite is not None and suite.eta and suite.eta.status and report.passed and report.when == "call":
        return "passed", "", "PASSED"
    return None


# --- measuring one case --------------------------------------------------------------------------------------------


@pytest.fixture
def measure(benchmark: Any, dbbench_suite: Suite, case: Case, _dbbench_database_access: None) -> Callable[[], Any]:
    """Measure ``case`` with pytest-benchmark; returns the operation's last result.

    The first case of a group measures every backend of the group at once, rounds interleaved
    (:func:`dbbench.bench.measure.measure_interleaved`: warm-up, rounds from the warm-up's medians, fresh arguments each
    round drawn untimed, the same sequence on every backend, the data put back afterwards). Each case then hands
    its own backend's timings to pytest-benchmark, which keeps, summarises and saves them as usual.
    """

    def run() -> Any:
        from dbbench.bench.workloads import OPERATIONS

        suite = dbbench_suite
        benchmark.group = f"{format_count(case.size)} {case.operation}"  # read when pedantic() starts
        runs = _group_runs(suite, case, benchmark.disabled)
        mine = runs.pop(case.alias)
        if mine.error is not None:
            pytest.fail(f"{case.alias}: {type(mine.error).__name__}: {mine.error}", pytrace=False)
        if not mine.timings:
            pytest.fail(f"{case.alias}: no rounds were measured", pytrace=False)
        result = _hand_over(benchmark, mine)
        state, server = suite.states[case.alias], suite.server(case.alias)
        benchmark.extra_info["dbbench"] = {
            "operation": case.operation,
            "variant": case.variant,
            "alias": case.alias,
            "vendor": server.vendor,
            "version": server.version,
            "rows": state.dataset.attempts,
            "size": case.size,
            "seed": suite.plan.seed,
            "server": server.as_dict(),
            "data_bytes": state.data_bytes,
            "buffer_bytes": server.buffer_bytes,
            "fits_in_buffer": state.data_bytes <= server.buffer_bytes,
            "rows_inserted": mine.inserted,
            "warmup_rounds": mine.warmup_rounds,
            "rounds": len(mine.timings),
            "interleaved_with": [a for a in suite.groups.get(case.group, []) if a != case.alias],
            "control_of": suite.plan.control[1] if suite.plan.control and suite.plan.control[0] == case.alias else None,
            "profile": suite.plan.profile.name,
            "description": OPERATIONS[case.operation].summary,
            "students": len(state.dataset.student_ids),
            "quizzes": len(state.dataset.quiz_ids),
        }
        return result

    return run


def _group_runs(suite: Suite, case: Case, disabled: bool) -> dict[str, Any]:
    """The interleaved runs of ``case``'s group, measuring them now if this is the group's first case."""
    from dataclasses import replace

    from dbbench.bench.measure import Subject, check_data, measure_interleaved
    from dbbench.bench.workloads import OPERATIONS

    if case.group not in suite.measured:
        aliases = suite.groups.get(case.group) or [case.alias]
        profile = suite.plan.profile
        if disabled:  # --benchmark-disable: the benchmarks run once each, as plain tests
            profile = replace(profile, warmup=1, min_rounds=1, max_rounds=1)
        key = f"{suite.plan.seed}:{case.operation}:{case.size}"
        try:
            states = {a: suite.at(case.size, a) for a in aliases}
            suite.eta.measuring(case.group)
            subjects = [Subject(a, states[a].dataset, states[a].last_id) for a in aliases]
            operation = OPERATIONS[case.operation]
            runs = measure_interleaved(operation, case.variant, subjects, profile, key)
            check_data(runs, operation, case.size)
            if (case.operation, case.variant) == ("pk_lookup", "raw") and not disabled:
                _calibrate(suite, subjects, runs, case.size)
        except Exception as exc:
            suite.measured[case.group] = exc
            raise
        suite.measured[case.group] = runs
        suite.eta.measured(case.group)
    runs = suite.measured[case.group]
    if isinstance(runs, Exception):
        pytest.fail(f"measured with {case.alias} and failed: {type(runs).__name__}: {runs}", pytrace=False)
    return runs


def _calibrate(suite: Suite, subjects: list[Any], runs: dict[str, Any], size: int) -> None:
    """The harness against a bare driver loop, on the fastest operation, at each size (the largest is kept)."""
    import statistics

    from dbbench.bench.measure import calibrate

    for subject in subjects:
        timings = runs[subject.alias].timings
        if not timings:
            continue
        bare = calibrate(subject)
        found = bare.as_dict()
        found["harness_ms"] = harness_ms = round(statistics.median(timings) * 1e3, 4)
        found["harness_over_bare"] = round(harness_ms / max(round(bare.bare_driver_ms, 4), 1e-9), 3)
        found["size"] = size
        suite.calibration[subject.alias] = found


def _hand_over(benchmark: Any, run: Any) -> Any:
    """Give pytest-benchmark the timings :mod:`dbbench.bench.measure` took, through its own pedantic() path.

    pytest-benchmark times one callable per test, so interleaved timings are handed over through its timer (the
    hook ``--benchmark-timer`` sets): a clock that moves by exactly each measured duration between a round's two
    readings. Everything else (stats, JSON, comparison tables) is pytest-benchmark's as usual.
    """
    durations = iter(run.timings)
    clock = {"now": 0.0, "started": False}

    def perf_counter_interleaved() -> float:
        if clock["started"]:
            clock["now"] += next(durations)
        clock["started"] = not clock["started"]
        return clock["now"]

    benchmark._timer = perf_counter_interleaved
    return benchmark.pedantic(lambda: run.result, rounds=len(run.timings), iterations=1)


# --- reporting -------------------------------------------------------------------------------------------------


def _run_summary(config: pytest.Config) -> dict[str, Any]:
    plan = _plan(config)
    suite = config.stash.get(_SUITE, None)
    return {
        "profile": plan.profile.name,
        "sizes": config.stash.get(_SIZES_USED, list(plan.sizes)),
        "seed": plan.seed,
        "targets": {t.name: t.safe_url for t in plan.targets},
        "wall_seconds": round(time.perf_counter() - config.stash[_STARTED], 1),
        "seed_seconds": {a: round(s.seed_seconds, 1) for a, s in suite.states.items()} if suite else {},
        # Each size on each backend: its database, and whether it was seeded now or kept from an earlier run.
        "keep_sizes": suite.keep_sizes if suite else False,
        "seeded": list(suite.seeded) if suite else [],
        "warnings": list(suite.warnings) if suite else [],
        "control": dict(zip(("alias", "of"), plan.control, strict=True)) if plan.control else None,
        "calibration": list(suite.calibration.values()) if suite else [],
    }


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
    if _SUITE not in config.stash:
        return  # another project's benchmarks: their JSON stays theirs
    from dbbench.results import environment

    output_json["dbbench_run"] = {**_run_summary(config), "environment": environment()}


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    suite = config.stash.get(_SUITE, None)
    if suite is None:
        return
    for warning in suite.warnings:
        terminalreporter.write_line(f"dbbench: warning: {warning}", yellow=True, bold=True)
    summary = _run_summary(config)
    for c in summary["calibration"]:
        terminalreporter.write_line(
            f"dbbench: calibration {c['alias']} at {format_count(c['size'])}: raw pk_lookup {c['harness_ms']:.3f} ms "
            f"in the harness, {c['bare_driver_ms']:.3f} ms in a bare driver loop ({c['harness_over_bare']:.2f}x); "
            f"an empty timed call {c['empty_call_us']:.2f} us"
        )
    terminalreporter.write_line(
        f"dbbench: profile {summary['profile']}, sizes {', '.join(format_count(s) for s in summary['sizes'])}, "
        f"wall time {summary['wall_seconds']:.0f} s"
    )
