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
    p.add_argument(
        "--from",
        dest="source",
        metavar="SOURCE",
        help="with --app: your PostgreSQL database's URL (only read): rehearse its data onto the candidate and "
        "replay your suite's queries on copies of it; the verdict is then about your app (skips the quiz site)",
    )
    p.add_argument(
        "--with-quiz", action="store_true", help="with --from: also run the quiz site's setup, benchmarks and load test"
    )
    p.add_argument(
        "--replay-seconds",
        type=float,
        metavar="S",
        help="with --from: measuring time per replayed query shape, both targets together (default 2)",
    )


def run(args: argparse.Namespace) -> int:
    """The whole job: check servers, migrate, seed and benchmark as the data grows, parity, load, rehearsal, report.

    Profiles: quick (a first look in a few minutes: 1k and 2k attempts, a handful of rounds), default
    (10k, 100k and 1M attempts), full (up to 10M). A failed stage stops the run with one line; the results of
    the stages before it stay in the run's folder. --skip parity,load leaves those stages out. --app PATH makes
    the answer about your own Django project: its code is audited and its test suite runs on every backend.
    --from SOURCE (with --app) adds your data and your queries: SOURCE, your PostgreSQL database, is only read; its
    data is copied to the candidate and verified (migrate-data --app), your suite's queries are captured on the
    baseline and replayed on copies of SOURCE on both servers, and the verdict uses that replayed mix. The quiz
    site's stages (setup, benchmarks, load) are left out unless --with-quiz.
    Example: dbbench run --profile quick --app ~/src/shop
    Example: dbbench run --app ~/src/shop --from postgres://readonly@db.internal/shop --backend postgres,mysql
    """
    from dbbench import pipeline
    from dbbench.errors import ConfigError
    from dbbench.units import parse_count

    # Refused before any server starts: --from alone, a SOURCE that is not PostgreSQL, a bad measuring time.
    if args.source is not None and not args.app:
        raise ConfigError("--from SOURCE needs --app PATH: the Django project whose database SOURCE is")
    if args.source is not None:
        from dbbench.fromsource import parse_source

        parse_source(args.source)
    if (args.with_quiz or args.replay_seconds is not None) and args.source is None:
        raise ConfigError("--with-quiz and --replay-seconds go with --from SOURCE")
    replay_seconds = pipeline.AppRequest.replay_seconds if args.replay_seconds is None else args.replay_seconds
    if not replay_seconds > 0:
        raise ConfigError(f"--replay-seconds must be positive, not {replay_seconds:g}")

    expected = parse_count(args.expected_users, what="--expected-users") if args.expected_users else None
    if args.box:
        from dbbench.load.config import config_for_profile

        common.check_box(args, config_for_profile(args.profile, box=args.box).workers)  # before the servers start
    app = None
    if args.app:
        app = pipeline.AppRequest(
            Path(args.app),
            args.app_settings,
            args.app_test_command,
            python=args.app_python,
            source=args.source,
            replay_seconds=replay_seconds,
        )
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
        with_quiz=args.with_quiz,
    )
    assert outcome.report is not None
    print(f"done in {outcome.seconds / 60:.1f} min; report: {outcome.report[1]}\n        {outcome.report[0]}")
    return 0
