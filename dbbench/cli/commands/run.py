from __future__ import annotations

import argparse
from pathlib import Path

import dbbench.cli.common as common

NAME = "run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    common.add_targets(p)
    common.add_allow_foreign(p)
    common.add_server_limits(p)
    common.add_box(p)
    common.add_profile(p, "data sizes (default)")
    common.add_keep_sizes(p)
    p.add_argument("--output-dir", help="folder for this run's results and report (default: results/run-...)")
    p.add_argument(
        "--skip", metavar="STAGES", help="leave out optional stages: parity, load, rehearsal (comma-separated)"
    )
    p.add_argument(
        "--expected-users",
        metavar="N",
        help="your site's peak concurrent users: the report ranks what serves them (pooling, the migration)",
    )
    p.add_argument("--app", metavar="PATH", help="your Django project: audit its code and run its tests on each target")
    p.add_argument("--app-settings", metavar="MODULE", help="its settings module (default: detected)")
    p.add_argument("--app-test-command", metavar="COMMAND", help="the command that runs its tests (default: detected)")
    p.add_argument("--app-python", metavar="PATH", help="the interpreter that runs its tests (default: its virtualenv)")


def run(args: argparse.Namespace) -> int:
    """The whole job: check servers, migrate, seed and benchmark as the data grows, parity, load, rehearsal, report.

    Profiles: quick (a first look in a few minutes: 1k and 2k attempts, a handful of rounds), default
    (10k, 100k and 1M attempts), full (up to 10M). A failed stage stops the run with one line; the results of
    the stages before it stay in the run's folder. --skip parity,load leaves those stages out. --app PATH makes
    the answer about your own Django project: its code is audited and its test suite runs on every backend.
    Example: dbbench run --profile quick --app ~/src/shop
    """
    from dbbench import pipeline
    from dbbench.units import parse_count

    expected = parse_count(args.expected_users, what="--expected-users") if args.expected_users else None
    if args.box:
        from dbbench.load.config import config_for_profile

        common.check_box(args, config_for_profile(args.profile, box=args.box).workers)  # before the servers start
    app = None
    if args.app:
        app = pipeline.AppRequest(Path(args.app), args.app_settings, args.app_test_command, python=args.app_python)
    outcome = pipeline.run(
        args.profile,
        common.chosen(args),
        Path(args.output_dir) if args.output_dir else None,
        allow_foreign=common.allow_foreign(args),
        skip=[s.strip() for s in (args.skip or "").split(",") if s.strip()],
        app=app,
        expected_users=expected,
        keep_sizes=common.keep_sizes(args),
        box=args.box,
    )
    assert outcome.report is not None
    print(f"done in {outcome.seconds / 60:.1f} min; report: {outcome.report[1]}\n        {outcome.report[0]}")
    return 0
