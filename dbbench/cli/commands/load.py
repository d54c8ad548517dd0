from __future__ import annotations

import argparse
import sys
from pathlib import Path

import dbbench.cli.common as common

NAME = "load"


def add_arguments(p: argparse.ArgumentParser) -> None:
    common.add_targets(p)
    common.add_allow_foreign(p)
    common.add_server_limits(p)
    common.add_box(p)
    p.add_argument(
        "--users", help="measure exactly these user counts, e.g. 10,50,100,200,300 (default: search for the knee)"
    )
    p.add_argument("--start-users", help="the knee search's first step, doubled until a step misses (default 100)")
    p.add_argument("--max-users", help="the knee search's ceiling: served there, 'no knee up to N' (default 1600)")
    p.add_argument("--resolution", help="narrow the knee down to this share of its users, e.g. 10%% (default)")
    p.add_argument("--budget", help="the knee search's time per variant, e.g. 100s (default; 200s with --box) or 5m")
    p.add_argument("--duration", help="measured time per step, ramp-up excluded, e.g. 10s (default) or 1m")
    p.add_argument("--coarse-duration", help="measured time of the search's growing steps (default 5s)")
    p.add_argument("--spawn-rate", help="users started per second during ramp-up (default 100)")
    p.add_argument("--think", help="a student's think time before each request, seconds, e.g. 1-5 (default)")
    p.add_argument("--conn-max-age", help="Django CONN_MAX_AGE values to measure, e.g. 0,60 (default)")
    p.add_argument(
        "--variants",
        help="configurations to run, by name: <backend>-cma<N> (CONN_MAX_AGE N), <backend>-pool (Django's pool), "
        "<backend>-pgbouncer, e.g. postgres-cma60,postgres-pool (default: every backend at every --conn-max-age, "
        "plus the baseline PostgreSQL's pool and PgBouncer)",
    )
    p.add_argument("--workers", type=int, help="gunicorn worker processes (default 2 x cores + 1)")
    p.add_argument("--threads", type=int, help="gunicorn threads per worker (default 1: sync workers)")
    p.add_argument("--locust-workers", type=int, help="run Locust as a master and N local workers (default 0)")
    p.add_argument("--locust-cpu-limit", help="one Locust process over this %% of a core is saturated (default 90)")
    p.add_argument(
        "--saturated-workers",
        type=int,
        help="local Locust workers to switch to when one process saturates (default: cores, at least 2; 0: never)",
    )
    p.add_argument("--remote-workers", type=int, help="Locust workers the master also waits for from other machines")
    p.add_argument("--master-port", type=int, help="fixed Locust master port for remote workers (default: a free one)")
    p.add_argument(
        "--listen", help="address gunicorn and the Locust master bind (default 127.0.0.1; others need --remote-workers)"
    )
    p.add_argument("--attempts", help="seed each backend to this many attempts first (default 100k; 0: use as is)")
    p.add_argument("--seed", type=int, help="seed of the generated data (default 42)")
    p.add_argument("--p95-threshold", help="the knee's p95 limit, e.g. 1s (default) or 500ms")
    p.add_argument("--max-failure-rate", help="failures a step may have and still serve its users (default 1%%)")
    p.add_argument(
        "--expected-users", metavar="N", help="your site's peak concurrent users: the report gives each p95 there"
    )
    p.add_argument(
        "--measure",
        choices=("on", "off"),
        help="every tier's CPU and memory, and the site's Server-Timing (default on; off measures what they cost)",
    )
    p.add_argument("--output", help="result file to write (default: results/load-<time>.json)")
    p.add_argument("--quick", action="store_true", help="one short step per setup (5 users, 5 s, CONN_MAX_AGE 60)")


def run(args: argparse.Namespace) -> int:
    """Put the quiz site under HTTP load on each backend (gunicorn + Locust) and find where it gives out.

    For each variant (every backend at each CONN_MAX_AGE, default 0 and 60, plus the baseline PostgreSQL with
    Django's pool and behind PgBouncer; pick some with --variants), gunicorn serves the quiz site on that backend
    alone (127.0.0.1, a free port) and Locust students take quizzes with think time, each step for a fixed time
    (ramp-up excluded). Each variant searches its knee, the most users served with p95 under --p95-threshold and
    failures under --max-failure-rate: growing from --start-users (towards where the busiest CPU or the app
    workers would be full) until a step misses, then bisecting to --resolution, within --budget per variant; it
    says when Locust, not the site, was the limit. --users measures a fixed list instead. Prints requests/s,
    p50/p95/p99 latency and failures per step, and the knee. Seeds to --attempts first. Results (kind load) are
    saved after every step; gunicorn and Locust never outlive the command. --locust-workers N: a Locust master and
    N workers; one Locust process that saturates its core is replaced by --saturated-workers workers.
    Example: dbbench load --backend all --budget 2m
    """
    from dbbench.load import sweep
    from dbbench.load.config import build_config
    from dbbench.load.stats import render_table
    from dbbench.results import load_result

    config = build_config(
        quick=args.quick,
        users=args.users,
        duration=args.duration,
        coarse_duration=args.coarse_duration,
        start_users=args.start_users,
        max_users=args.max_users,
        resolution=args.resolution,
        budget=args.budget,
        locust_cpu_limit=args.locust_cpu_limit,
        saturated_workers=args.saturated_workers,
        spawn_rate=args.spawn_rate,
        think=args.think,
        conn_max_age=args.conn_max_age,
        variants=args.variants,
        workers=args.workers,
        threads=args.threads,
        locust_workers=args.locust_workers,
        remote_workers=args.remote_workers,
        master_port=args.master_port,
        listen=args.listen,
        attempts=args.attempts,
        seed=args.seed,
        p95_threshold=args.p95_threshold,
        max_failure_rate=args.max_failure_rate,
        expected_users=args.expected_users,
        measure=args.measure,
        box=args.box,
    )
    common.check_box(args, config.workers)  # before the managed servers start
    targets = common.setup_django(args)
    path = sweep.run_load(
        targets,
        config,
        Path(args.output) if args.output else None,
        progress=lambda line: print(line, flush=True),
        allow_foreign=common.allow_foreign(args),
    )
    data = load_result(path, sweep.KIND)[1]["data"]
    print(render_table(data))
    print(f"wrote {path}")
    failed = [f"{r['variant']}: {r['error']}" for r in data["runs"] if r["error"]]
    if failed:
        print(f"dbbench: error: load test failed on {'; '.join(failed)}", file=sys.stderr)
        return 1
    return 0
