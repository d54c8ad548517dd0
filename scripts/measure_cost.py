"""What the load test's measuring costs at the knee, measured: prints figures, asserts nothing.

Runs ``dbbench load`` at one user count (the knee a search found) with ``--measure on`` (every tier sampled each
second, Server-Timing and the SQL shapes' histograms) and ``--measure off``, back to back and in alternating order
(on, off, off, on, ...), so that a machine getting busier or quieter weighs on both alike. All the runs are made in
this one process, so dbbench's managed servers start once. Prints each run's requests/s, then the cost: how much
fewer requests/s with the measuring on, in % of off, with a 95% interval (the wider of the request counts' and the
runs' own spread) and each round's own difference.

    python scripts/measure_cost.py --variant postgres-cma60 --users 900 --box 1,512M
    python scripts/measure_cost.py --variant postgres-cma60 --knee-from results/load-X.json --box 1,512M

Every ``dbbench load`` option after ``--`` is passed on (e.g. ``-- --attempts existing``). About 4 minutes at 1,000
users with the defaults (2 rounds of 20 s steps), of which 40 s per run are ramp-up, settling and the site's start.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

Z95 = 1.96
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23}  # two-sided


def knee_users(path: Path, variant: str) -> int:
    """The knee (most users served) of ``variant`` in a load result file."""
    document = json.loads(path.read_text(encoding="utf-8"))
    for run in document["data"]["runs"]:
        if run.get("variant") == variant and (run.get("knee") or {}).get("users"):
            return int(run["knee"]["users"])
    raise SystemExit(f"measure_cost: {path} has no knee for {variant}")


def one_run(args: argparse.Namespace, measure: str, output: Path) -> dict[str, Any]:
    from dbbench.cli import main

    argv = ["load", "--variants", args.variant, "--users", str(args.users), "--duration", args.duration]
    argv += ["--measure", measure, "--output", str(output)]
    argv += ["--box", args.box] if args.box else []
    code = main(argv + args.extra)
    if code != 0 or not output.exists():
        raise SystemExit(f"measure_cost: dbbench load --measure {measure} failed (exit {code})")
    run = json.loads(output.read_text(encoding="utf-8"))["data"]["runs"][0]
    step = run["steps"][-1]
    return {
        "measure": measure,
        "label": run["label"],
        "rps": float(step["rps"]),
        "requests": int(step["requests"]),
        "seconds": float(step["seconds"]),
        "p95_ms": float(step["p95_ms"]),
        "locust_saturated": bool(step.get("locust_saturated")),
    }


def order(rounds: int) -> list[str]:
    """on off, off on, on off...: each mode first as often as the other (for an even number of rounds)."""
    return [mode for r in range(rounds) for mode in (("on", "off") if r % 2 == 0 else ("off", "on"))]


def cost(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Requests/s with the measuring on and off over all runs, and the cost in % of off with a 95% interval: the
    wider of the request counts' (Poisson: a rate's standard error is sqrt(requests) / seconds) and the runs' own
    spread (Student's t over the runs of each mode: a busy machine moves whole runs, not single requests)."""
    rate, error, spread = {}, {}, {}
    for mode in ("on", "off"):
        mine = [r for r in runs if r["measure"] == mode]
        requests, seconds = sum(r["requests"] for r in mine), sum(r["seconds"] for r in mine)
        rate[mode], error[mode] = requests / seconds, math.sqrt(requests) / seconds
        spread[mode] = statistics.variance([r["rps"] for r in mine]) / len(mine) if len(mine) > 1 else 0.0
    counted = Z95 * math.hypot(error["on"], error["off"])
    freedom = len(runs) - 2
    between = T95.get(freedom, Z95) * math.sqrt(spread["on"] + spread["off"]) if freedom > 0 else 0.0
    percent = 100 * (rate["off"] - rate["on"]) / rate["off"]
    margin = 100 * max(counted, between) / rate["off"]
    return {"on": rate["on"], "off": rate["off"], "cost_percent": percent, "margin_percent": margin}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", required=True, help="one load variant, e.g. postgres-cma60")
    users = parser.add_mutually_exclusive_group(required=True)
    users.add_argument("--users", type=int, help="the user count to measure at (the knee)")
    users.add_argument("--knee-from", type=Path, help="a load result whose knee for --variant gives the users")
    parser.add_argument("--box", help="the single box, e.g. 1,512M (as the run that found the knee)")
    parser.add_argument("--rounds", type=int, default=2, help="pairs of runs, on and off (default 2)")
    parser.add_argument("--duration", default="20s", help="measured time of each run (default 20s)")
    parser.add_argument("extra", nargs="*", help="after --: more dbbench load options")
    args = parser.parse_args()
    if args.knee_from is not None:
        args.users = knee_users(args.knee_from, args.variant)
    if args.users < 1 or args.rounds < 1:
        parser.error("--users and --rounds: 1 or more")
    runs = []
    # A run points the environment at the servers it used (DBBENCH_TARGETS); the next one must choose its targets
    # as the first did (the managed servers, already running in this process's session).
    environment = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="dbbench-cost-") as tmp:
        for number, measure in enumerate(order(args.rounds), 1):
            os.environ.clear()
            os.environ.update(environment)
            run = one_run(args, measure, Path(tmp) / f"{number}-{measure}.json")
            runs.append(run)
            print(
                f"run {number} measure {measure:>3}: {run['rps']:7.1f} req/s ({run['requests']:,} requests in "
                f"{run['seconds']:.1f} s), p95 {run['p95_ms']:,.0f} ms"
                + ("  LOCUST SATURATED: the site was under-driven" if run["locust_saturated"] else ""),
                flush=True,
            )
    found = cost(runs)
    rounds = [runs[i : i + 2] for i in range(0, len(runs), 2)]
    each = ", ".join(
        f"{100 * (off['rps'] - on['rps']) / off['rps']:+.1f}%"
        for on, off in (sorted(pair, key=lambda r: r["measure"] != "on") for pair in rounds)
    )
    print(
        f"\n{runs[0]['label']}, {args.variant}, {args.users} users{', box ' + args.box if args.box else ''}: "
        f"measure on {found['on']:.1f} req/s, off {found['off']:.1f} req/s: the measuring costs "
        f"{found['cost_percent']:+.1f}% of requests/s (95% interval +/- {found['margin_percent']:.1f} points; "
        f"each round: {each})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
