"""Does a replayed capture of the quiz site agree with the benchmark suite? Prints figures, asserts nothing.

The quiz site's operations (the benchmark's own functions, as its views call the model layer) run ``--calls``
times each with arguments drawn as the benchmark draws them, recorded by ``dbbench capture``'s hook in this process
(``--keep`` instances kept per shape); the hook is then removed. Each of ``--repeats`` repetitions replays the
capture on the two configured targets (``dbbench replay``'s own code, ``--keep`` instances per shape) and runs the
benchmark suite's harness on every benchmark operation the replay recognised, raw variant (compiled before timing,
as the replay is) and ORM variant, on the same servers; replay and benchmark alternate which goes first. Then, per
operation, all repetitions pooled: the replayed ratio with its 95% interval, the benchmark's raw interval, and
whether the replayed ratio falls within it. First, per server, what a cursor opened per call adds to a raw call
(the timing difference the raw twins and the replay had until they shared one kept cursor).

Run on a seeded quiz database (``dbbench seed``), the baseline first:
    DBBENCH_POSTGRES_URL=... DBBENCH_MYSQL_URL=... python scripts/replay_consistency.py
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from dbbench.capture.hook import KEEP_FIRST  # the capture's and the replay's default

OPERATIONS = ("pk_lookup", "student_recent", "leaderboard")


def capture_site(alias: str, calls: int, keep: int) -> dict[str, Any]:
    """The quiz site's reads on ``alias``, recorded by the capture hook; the hook is removed afterwards."""
    from dbbench.bench import workloads as w
    from dbbench.capture import capfile, hook

    ds = w.load_dataset(alias)
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        recorder = hook.install({"dir": tmp, "keep": keep, "params": True, "project": capfile.QUIZ_PROJECT})
        try:
            for _ in range(calls):
                w.pk_lookup(alias, rng.choice(ds.attempt_ids))
                w.student_recent(alias, rng.choice(ds.student_ids))
                w.leaderboard(alias, rng.choice(ds.quiz_ids))
            recorder.flush()
        finally:
            hook.uninstall()
        return capfile.merge(capfile.read_parts(Path(tmp)))


def cursor_cost(aliases: list[str], calls: int = 500, rounds: int = 6) -> None:
    """What a cursor opened per call adds to a timed raw call, per driver: the client's CPU per call of
    ``pk_lookup``'s and ``leaderboard``'s statements through a cursor opened and closed per call (as the raw twins
    did before they shared the replay's kept cursor) and through the kept cursor, alternated, medians of rounds."""
    from django.db import connections

    from dbbench.bench import workloads as w
    from dbbench.bench.cursor import kept_cursor

    def opened(connection: Any, sql: str, params: Any) -> None:
        with connection.cursor() as cur:
            cur.execute(sql, params)
            cur.fetchall()

    def kept(connection: Any, sql: str, params: Any) -> None:
        cur = kept_cursor(connection)
        cur.execute(sql, params)
        cur.fetchall()

    for alias in aliases:
        ds = w.load_dataset(alias)
        rng = random.Random(1)
        for op, prepare, ids in (
            ("pk_lookup", w.prepare_pk_lookup, ds.attempt_ids),
            ("leaderboard", w.prepare_leaderboard, ds.quiz_ids),
        ):
            prepared = [prepare(alias, rng.choice(ids)) for _ in range(calls)]
            cpu: dict[str, list[float]] = {"opened": [], "kept": []}
            for r in range(rounds):
                for name, send in (
                    (("opened", opened), ("kept", kept)) if r % 2 else (("kept", kept), ("opened", opened))
                ):
                    started = time.process_time()
                    for call in prepared:
                        send(call.connection, *call.statements[0])
                    cpu[name].append((time.process_time() - started) / calls * 1e6)
            o, k = statistics.median(cpu["opened"]), statistics.median(cpu["kept"])
            print(
                f"{connections[alias].display_name:11} {op:12} client CPU per call: cursor per call {o:6.1f} us, "
                f"kept cursor {k:6.1f} us ({o - k:+.1f} us)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300, help="calls of each operation captured")
    parser.add_argument("--keep", type=int, default=KEEP_FIRST, help="instances kept per shape and replayed")
    parser.add_argument("--repeats", type=int, default=4, help="replay + benchmark repetitions, pooled")
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per shape or operation")
    args = parser.parse_args()

    from dbbench import djangoenv

    targets = djangoenv.setup()
    if len(targets) < 2:
        raise SystemExit("replay_consistency: configure two targets (the baseline first)")
    base, cand = targets[0].name, targets[1].name
    from django.db import connections

    from dbbench.bench import measure
    from dbbench.bench import workloads as w
    from dbbench.bench.runner import Profile
    from dbbench.replay import run as replay_run
    from dbbench.stats import compare

    load_before = _load()
    started = time.monotonic()
    cursor_cost([base, cand])
    capture = capture_site(base, args.calls, args.keep)
    profile = Profile(**{**replay_run.PROFILE.__dict__, "cap_s": args.seconds})
    subjects = [measure.Subject(a, w.load_dataset(a), w.last_attempt_id(a)) for a in (base, cand)]
    timings: dict[tuple[str, str], dict[str, list[float]]] = {}

    def add(op: str, kind: str, alias: str, seconds: list[float]) -> None:
        timings.setdefault((op, kind), {base: [], cand: []})[alias] += seconds

    def replay() -> None:
        options = replay_run.Options(instances=args.keep, cap_s=args.seconds)
        data = replay_run.replay(capture, replay_run.Aliases(base, cand), options)
        for shape in data["shapes"]:
            if shape.get("operation") in OPERATIONS and shape.get("status") == "replayed":
                for alias in (base, cand):
                    add(shape["operation"], "replay", alias, [t / 1e3 for t in shape["timings_ms"][alias]])

    def benchmark() -> None:
        for op in OPERATIONS:
            for variant in ("raw", "orm"):
                runs = measure.measure_interleaved(w.OPERATIONS[op], variant, subjects, profile, op)
                for alias in (base, cand):
                    add(op, variant, alias, runs[alias].timings)

    for r in range(args.repeats):
        for step in (replay, benchmark) if r % 2 == 0 else (benchmark, replay):
            step()
    names = {a: connections[a].display_name for a in (base, cand)}
    print(f"{names[cand]} ({cand}) against {names[base]} ({base}); ratio = {cand} / {base} median, 95% CI")
    print(
        f"capture: {args.calls} calls per operation, {args.keep} instances kept and replayed per shape; "
        f"{args.repeats} repetitions pooled"
    )
    print(f"{'operation':16}{'replayed':>24}{'benchmark raw':>24}  within  {'benchmark ORM':>22}")
    for op in OPERATIONS:
        if (op, "replay") not in timings:
            print(f"{op:16}{'not found in the capture':>24}")
            continue
        c = {kind: compare(timings[(op, kind)][base], timings[(op, kind)][cand]) for kind in ("replay", "raw", "orm")}
        within = "yes" if c["raw"].low <= c["replay"].ratio <= c["raw"].high else "NO"
        print(f"{op:16}{_fmt(c['replay']):>24}{_fmt(c['raw']):>24}  {within:6}  {_fmt(c['orm']):>22}")
        medians = "  ".join(
            f"{kind} {names[a]} {statistics.median(timings[(op, kind)][a]) * 1e6:.0f} us"
            for kind in ("replay", "raw")
            for a in (base, cand)
        )
        print(f"{'':16}medians per call: {medians}")
    print(f"load average before/after: {load_before} / {_load()}; {time.monotonic() - started:.0f} s")


def _fmt(c: Any) -> str:
    return f"{c.ratio:.2f}x ({c.low:.2f}-{c.high:.2f})"


def _load() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


if __name__ == "__main__":
    main()
