"""What capture and replay cost, measured: prints figures, asserts nothing.

``site``: the quiz site's requests per second (its views through Django's request handler, one client at a fixed
request mix) with capture off, on (every statement counted, 20 instances kept per shape) and sampled (the staging
middleware drawing 1% of requests), in interleaved rounds so that a busy machine slows every mode alike.

``statement``: the recorder's own cost per ORM statement on SQLite in memory (off, recording, and installed but
not drawn: what a staging request that was not sampled pays), in microseconds.

``harness``: a primary-key read replayed through dbbench replay's harness against the same statement in a bare
driver loop (``bench.measure.calibrate``), medians per call, alternated.

Run with the targets configured (DBBENCH_POSTGRES_URL...) on a seeded quiz database:
    python scripts/capture_cost.py site --rounds 30
    python scripts/capture_cost.py harness
"""

from __future__ import annotations

import argparse
import atexit
import base64
import os
import pickle
import random
import statistics
import tempfile
import time
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
        recorder = hook.install({"dir": tmp, "keep": 20, "params": True, "project": {"name": "quiz"}})
        patched = _snapshot()
        sampler = CaptureMiddleware.__new__(CaptureMiddleware)  # its __call__, without installing a second time
        sampler.get_response, sampler.recorder, sampler.sample, sampler.rng = client.get, recorder, 0.01, rng

        def run(mode: str) -> float:
            _apply(plain if mode == "off" else patched)
            recorder.default_on = mode == "full"
            get = sampler if mode == "sampled" else client.get
            started, cpu = time.perf_counter(), time.process_time()
            for path in paths:
                response = get(path)
                assert response.status_code == 200, (path, response.status_code)
            cpus[mode].append((time.process_time() - cpu) / len(paths) * 1e3)
            return len(paths) / (time.perf_counter() - started)

        modes = ["off", "full", "sampled"]
        cpus: dict[str, list[float]] = {m: [] for m in modes}
        for mode in modes:  # warm-up
            run(mode)
            cpus[mode].clear()
        rates: dict[str, list[float]] = {m: [] for m in modes}
        for r in range(args.rounds):
            for mode in modes[r % 3 :] + modes[: r % 3]:
                rates[mode].append(run(mode))
        _apply(plain)
        atexit.unregister(recorder.flush)  # its folder goes with this block
    off = statistics.median(rates["off"])
    print(f"load average before/after: {args.load} / {_load()}")
    cpu_off = statistics.median(cpus["off"])
    for mode in modes:
        m, c = statistics.median(rates[mode]), statistics.median(cpus[mode])
        print(
            f"{mode:8} {m:8.1f} requests/s (median of {args.rounds} rounds of {args.requests})  {m / off - 1:+.1%};"
            f"  the site process's CPU {c:.3f} ms per request  {c / cpu_off - 1:+.1%}"
        )
    shapes = len(recorder.shapes)
    print(f"capture held {shapes} shapes, {sum(s['count'] for s in recorder.shapes.values()):,} statements")


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
        recorder = hook.install({"dir": tmp, "keep": 20, "params": True, "project": {"name": "x"}})
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
    off = statistics.median(times["off"])
    print(f"load average before/after: {args.load} / {_load()}")
    for mode, values in times.items():
        m = statistics.median(values)
        print(f"{mode:10} {m:7.1f} us CPU per ORM statement (median of {args.rounds} rounds)  {m - off:+6.1f} us")


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
    parser.add_argument("what", choices=("site", "statement", "harness"))
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--requests", type=int, default=100, help="requests per round (site)")
    args = parser.parse_args()
    args.load = _load()
    {"site": site, "statement": statement, "harness": harness}[args.what](args)


if __name__ == "__main__":
    main()
