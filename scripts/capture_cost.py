"""What capture and replay cost, measured: prints figures, asserts nothing.

``site``: the quiz site's requests per second at a fixed load (one client, the same request mix every round: its
views through Django's request handler) with capture off, on (every statement counted, the default number of
instances kept per shape, or --keep) and sampled (the staging middleware drawing 1% of requests). Rounds are
short and interleaved, every mode once per round in each of the six orders in turn, after warm-up rounds; each
mode's cost is the median over rounds of its per-request time against the "off" round beside it (a paired
ratio), with a 95% bootstrap interval over rounds, for wall time (requests/s lost) and the site process's CPU
time. The pickling of kept instances and the flushes are timed where they happen.

``hook``: the recorder's own CPU per statement, isolated from everything else (Django's two patched methods around
a compiler method and an executor that do nothing): off, recording, and installed but not drawn (what a staging
request that was not sampled pays). Best of many repeats, so it holds on a busy machine.

``statement``: the recorder's cost per ORM statement on SQLite in memory (off, recording, not drawn), in
microseconds of CPU: median and fastest round.

``harness``: a primary-key read replayed through dbbench replay's harness against the same statement in a bare
driver loop (``bench.measure.calibrate``), medians per call, alternated.

Run with the targets configured (DBBENCH_POSTGRES_URL...) on a seeded quiz database:
    python scripts/capture_cost.py site --rounds 60 --warmup 20
    python scripts/capture_cost.py hook --rounds 5
    python scripts/capture_cost.py harness
"""

from __future__ import annotations

import argparse
import atexit
import base64
import itertools
import os
import pickle
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any


def _snapshot() -> dict[tuple[type, str], Any]:
    from django.db.backends import utils
    from django.db.models.sql import compiler

    spots = [(c, "execute_sql") for c in (compiler.SQLCompiler, compiler.SQLInsertCompiler, compiler.SQLUpdateCompiler)]
    spots.append((utils.CursorWrapper, "_execute_with_wrappers"))
    return {(cls, name): vars(cls)[name] for cls, name in spots if name in vars(cls)}


def _apply(functions: dict[tuple[type, str], Any]) -> None:
    for (cls, name), function in functions.items():
        setattr(cls, name, function)


def site(args: argparse.Namespace) -> None:
    from dbbench import djangoenv

    os.environ["DBBENCH_ALLOWED_HOSTS"] = "testserver"  # Django's test client's host name

    alias = djangoenv.setup()[0].name
    os.environ["DBBENCH_SITE_DB"] = alias
    from django.test import Client

    from dbbench.bench import workloads as w
    from dbbench.capture import hook
    from dbbench.capture.middleware import CaptureMiddleware

    ds = w.load_dataset(alias)
    client = Client()
    rng = random.Random(1)
    paths = [
        rng.choice(
            [
                f"/students/{rng.choice(ds.student_ids)}/attempts/",
                f"/quizzes/{rng.choice(ds.quiz_ids)}/leaderboard/",
                f"/quizzes/{rng.choice(ds.quiz_ids)}/",
            ]
        )
        for _ in range(args.requests)
    ]
    plain = _snapshot()
    with tempfile.TemporaryDirectory() as tmp:
        recorder = hook.install({"dir": tmp, "keep": args.keep, "params": True, "project": {"name": "quiz"}})
        patched = _snapshot()
        # The recorder's occasional work, timed where it happens: pickling a kept instance, writing its part file.
        spent = {"instances": [0, 0.0], "flushes": [0, 0.0]}
        at_exit = recorder.flush  # what install() registered with atexit
        for attribute, name in (("_instance", "instances"), ("flush", "flushes")):
            setattr(recorder, attribute, _timed(getattr(recorder, attribute), spent[name]))
        sampler = CaptureMiddleware.__new__(CaptureMiddleware)  # its __call__, without installing a second time
        sampler.get_response, sampler.recorder, sampler.sample, sampler.rng = client.get, recorder, 0.01, rng

        def run(mode: str) -> tuple[float, float]:
            """One round of ``mode``: (wall seconds, CPU seconds of this process) per request."""
            # "sampled" runs as the middleware does: Django's own methods, patched by set_recording() only while
            # a drawn request runs.
            _apply(patched if mode == "full" else plain)
            recorder.default_on = mode == "full"
            recorder.requests_only = mode == "sampled"
            get = sampler if mode == "sampled" else client.get
            started, cpu = time.perf_counter(), time.process_time()
            for path in paths:
                response = get(path)
                assert response.status_code == 200, (path, response.status_code)
            return (time.perf_counter() - started) / len(paths), (time.process_time() - cpu) / len(paths)

        modes = ["off", "full", "sampled"]
        for _ in range(args.warmup):  # warm-up: caches, the servers' buffers, the recorder's first instances
            for mode in modes:
                run(mode)
        walls: dict[str, list[float]] = {m: [] for m in modes}
        cpus: dict[str, list[float]] = {m: [] for m in modes}
        # Every mode once per round: a round's three figures are taken seconds apart, so each mode's cost is judged
        # against the "off" round beside it (a paired ratio), not against "off" minutes away on a machine whose
        # load changes. The order goes through all six permutations: in a plain rotation "sampled" follows "full"
        # in two rounds of three, which can charge it for what recording every statement leaves (garbage, caches).
        orders = list(itertools.permutations(modes))
        for r in range(args.rounds):
            for mode in orders[r % len(orders)]:
                wall, cpu = run(mode)
                walls[mode].append(wall)
                cpus[mode].append(cpu)
        _apply(plain)
        atexit.unregister(at_exit)  # its folder goes with this block
    print(f"load average before/after: {args.load} / {_load()}")
    print(
        f"one client, the same {args.requests} requests per round (student history, leaderboard, start quiz), "
        f"{args.keep} instances kept per shape, "
        f"{args.rounds} rounds, {args.warmup} warm-up; cost = paired ratio to 'off' in the same round, median "
        "and 95% bootstrap interval over rounds"
    )
    off_rate = 1 / statistics.median(walls["off"])
    cpu_off = statistics.median(cpus["off"]) * 1e3
    print(f"off      {off_rate:8.1f} requests/s, the site process's CPU {cpu_off:.3f} ms per request")
    for mode, bar in (("full", 0.05), ("sampled", 0.01)):
        wall, wlo, whi = paired_cost(walls["off"], walls[mode])
        cpu, clo, chi = paired_cost(cpus["off"], cpus[mode])
        verdict = "within" if whi <= bar else ("above" if wlo > bar else "undecided")
        print(
            f"{mode:8} {1 / statistics.median(walls[mode]):8.1f} requests/s; requests/s lost {wall:+.1%} "
            f"({wlo:+.1%} to {whi:+.1%}): {verdict} the {bar:.0%} bar; CPU per request {cpu:+.1%} ({clo:+.1%} to "
            f"{chi:+.1%})"
        )
    recorded = max(1, (args.rounds + args.warmup) * len(paths))  # the full mode's requests (sampled adds ~1%)
    per_request = sum(s["count"] for s in recorder.shapes.values()) / recorded
    print(f"capture held {len(recorder.shapes)} shapes, {per_request:.1f} statements per recorded request")
    for name, (count, seconds) in spent.items():
        print(
            f"  {name}: {count} in all, {seconds * 1e3:.1f} ms of CPU, {seconds / recorded * 1e6:.1f} us per recorded "
            f"request ({seconds / recorded / (statistics.median(cpus['off'])):.2%} of one)"
        )


def _timed(method: Any, into: list[Any]) -> Any:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return method(*args, **kwargs)
        finally:
            into[0] += 1
            into[1] += time.process_time() - started

    return timed


def paired_cost(off: list[float], mode: list[float], resamples: int = 4000) -> tuple[float, float, float]:
    """The median over rounds of ``mode / off - 1`` (per-request times of the same round), and its 95% bootstrap
    interval (rounds resampled): how much longer a request takes, which is how much of the requests/s is lost
    at a fixed load of one client."""
    import numpy as np

    ratios = np.array(mode) / np.array(off) - 1
    rng = np.random.default_rng(0)
    medians = np.median(rng.choice(ratios, size=(resamples, ratios.size), replace=True), axis=1)
    low, high = np.percentile(medians, [2.5, 97.5])
    return float(np.median(ratios)), float(low), float(high)


def statement(args: argparse.Namespace) -> None:
    """The recorder's own cost per statement, on SQLite in memory (no server, so little else varies)."""
    import django
    from django.conf import settings

    settings.configure(
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
    )
    django.setup()
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from dbbench.capture import hook

    call_command("migrate", verbosity=0)
    Group.objects.bulk_create([Group(name=f"g{i}") for i in range(100)])
    plain = _snapshot()
    with tempfile.TemporaryDirectory() as tmp:
        recorder = hook.install({"dir": tmp, "keep": hook.KEEP_FIRST, "params": True, "project": {"name": "x"}})
        atexit.unregister(recorder.flush)
        patched = _snapshot()
        times: dict[str, list[float]] = {"off": [], "full": [], "not drawn": []}

        def run(mode: str) -> float:
            _apply(plain if mode == "off" else patched)
            recorder.default_on = mode == "full"
            started = time.process_time()  # CPU time: a busy machine's waits for a core are not the recorder's
            for i in range(args.requests):
                Group.objects.filter(pk=i % 100 + 1).first()
            return (time.process_time() - started) / args.requests * 1e6

        for r in range(args.rounds):
            modes = list(times)
            for mode in modes[r % 3 :] + modes[: r % 3]:
                times[mode].append(run(mode))
        _apply(plain)
    print(f"load average before/after: {args.load} / {_load()}")
    # The fastest round is the one least disturbed by other processes (timeit's rule); the median is shown too.
    off, off_min = statistics.median(times["off"]), min(times["off"])
    for mode, values in times.items():
        m, low = statistics.median(values), min(values)
        print(
            f"{mode:10} {m:7.1f} us CPU per ORM statement (median of {args.rounds} rounds) {m - off:+6.1f} us;"
            f"  fastest round {low:7.1f} us {low - off_min:+6.1f} us"
        )


HOOK_CALLS = 50_000  # per timed repeat: ~0.1 s, long enough for a clock, short enough to dodge most interruptions


def hook_cost(args: argparse.Namespace) -> None:
    """The recorder's own CPU per statement, isolated: Django's two patched methods called around an executor and
    a compiler method that do nothing, so nothing else (SQL compilation, a server, other processes' load) is in the
    figure. Best of 15 repeats (timeit's rule: the least disturbed run)."""
    import timeit

    import django
    from django.conf import settings

    settings.configure(
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        INSTALLED_APPS=["django.contrib.contenttypes"],
    )
    django.setup()
    from django.db import connection
    from django.db.backends import utils
    from django.db.models.sql import compiler

    from dbbench.capture import hook

    class Compiler:  # what the compiler patch reads: the query (none here, as for raw SQL)
        query = None

    cursor = connection.cursor()
    original_sql = compiler.SQLCompiler.execute_sql
    original_execute = utils.CursorWrapper._execute_with_wrappers  # type: ignore[attr-defined]

    def nothing(*args: Any, **kwargs: Any) -> None:
        return None

    compiler.SQLCompiler.execute_sql = nothing  # type: ignore[method-assign]  # what the compiler patch wraps
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:  # where the recorder flushes its kept instances, meanwhile
        recorder = hook.install({"dir": tmp, "keep": hook.KEEP_FIRST, "max_seconds": 3600, "project": {"name": "x"}})
        patched_sql = compiler.SQLCompiler.execute_sql
        patched_execute = utils.CursorWrapper._execute_with_wrappers  # type: ignore[attr-defined]

        def statement(sql: Any, execute: Any) -> Callable[[], None]:
            return lambda: (sql(Compiler()), execute(cursor, "SELECT 1", (), False, nothing))

        cases = {
            "off": (statement(nothing, original_execute), False),
            "full": (statement(patched_sql, patched_execute), True),
            "not drawn": (statement(patched_sql, patched_execute), False),
        }
        for _ in range(args.rounds):
            for name, (call, on) in cases.items():
                recorder.default_on = on
                seconds = min(timeit.repeat(call, number=HOOK_CALLS, repeat=3)) / HOOK_CALLS
                best[name] = min(best.get(name, seconds), seconds)
        hook.uninstall()
    compiler.SQLCompiler.execute_sql = original_sql  # type: ignore[method-assign]
    print(f"load average before/after: {args.load} / {_load()}")
    for name, seconds in best.items():
        added = (seconds - best["off"]) * 1e6
        print(f"{name:10} {seconds * 1e6:6.3f} us per statement (best of {args.rounds * 3} repeats)  {added:+.3f} us")


def harness(args: argparse.Namespace) -> None:
    from dbbench import djangoenv

    alias = djangoenv.setup()[0].name
    from dbbench.bench import measure
    from dbbench.bench import workloads as w
    from dbbench.quiz.models import QuizAttempt
    from dbbench.replay import run as replay_run
    from dbbench.replay.run import PROFILE
    from dbbench.replay.statements import call_for

    ds = w.load_dataset(alias)
    rng = random.Random(3)
    instances = []
    for _ in range(20):
        qs = QuizAttempt.objects.using(alias).filter(pk=rng.choice(ds.attempt_ids))
        query = qs.query.chain()
        query.set_limits(high=21)  # what .get() sends
        instances.append({"query": base64.b64encode(pickle.dumps(query)).decode(), "params": None, "site": ""})
    shape = {"id": "pk", "source": "orm", "kind": "select", "sql": "", "instances": instances}
    subject = measure.Subject(alias, ds, w.last_attempt_id(alias))
    replayed, bare = [], []
    compiled = [replay_run.compile_instance(shape, i, alias) for i in instances]
    operation = replay_run._Replayed(
        "pk", lambda ds, rng: (rng.randrange(len(compiled)),), lambda a, i: call_for(a, compiled[i])
    )
    for r in range(args.rounds):
        if r % 2:  # alternate which goes first
            bare.append(measure.calibrate(subject, rounds=2_000).bare_driver_ms)
        runs = measure.measure_interleaved(operation, "raw", [subject], PROFILE, "pk")  # type: ignore[arg-type]
        replayed.append(statistics.median(runs[alias].timings) * 1e3)
        if not r % 2:
            bare.append(measure.calibrate(subject, rounds=2_000).bare_driver_ms)
    r, b = statistics.median(replayed), statistics.median(bare)
    print(f"load average before/after: {args.load} / {_load()}")
    print(f"replayed pk read through the harness: {r:.4f} ms (median of {args.rounds} runs' medians)")
    print(f"bare driver loop, same statement:      {b:.4f} ms")
    print(f"harness adds {r / b - 1:+.1%}")


def _load() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("site", "statement", "hook", "harness"))
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument(
        "--requests", type=int, default=100, help="requests per round (site), ORM statements (statement)"
    )
    parser.add_argument("--keep", type=int, default=None, help="instances kept per shape (site; default: capture's)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up rounds of every mode (site)")
    args = parser.parse_args()
    args.load = _load()
    if args.keep is None:
        from dbbench.capture.hook import KEEP_FIRST

        args.keep = KEEP_FIRST
    {"site": site, "statement": statement, "hook": hook_cost, "harness": harness}[args.what](args)


if __name__ == "__main__":
    main()
