"""The ``dbbench`` command: parse arguments, dispatch to the stage modules, print one-line errors.

No SQL, Faker or plotting here: every command calls a function of a stage module that works without the CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from dbbench.errors import DbbenchError
from dbbench.targets import Target, mask_url, parse_target_list, select_targets, targets_from_env

Handler = Callable[[argparse.Namespace], int]


def _configured(args: argparse.Namespace) -> list[Target]:
    """Every configured target: ``--target`` options, else the environment."""
    return parse_target_list(",".join(args.target)) if args.target else targets_from_env()


def _targets(args: argparse.Namespace) -> list[Target]:
    """The targets for this invocation: ``--target`` options, else the environment; filtered by --backend."""
    configured = _configured(args)
    return select_targets(configured, getattr(args, "backend", None))


def _setup_django(args: argparse.Namespace) -> list[Target]:
    """Configure Django with *every* configured target, return the selected ones."""
    from dbbench import djangoenv

    configured = _configured(args)
    djangoenv.setup(configured)
    return select_targets(configured, getattr(args, "backend", None))


# --- doctor -------------------------------------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check each backend: reachable, real vendor and version, settings that decide a fair comparison.

    Example: dbbench doctor --backend all --json
    """
    from dbbench import doctor

    probes = [doctor.probe(t) for t in _targets(args)]
    if args.json:
        print(
            json.dumps(
                {"targets": [p.as_dict() for p in probes], "warnings": doctor.fairness_warnings(probes)}, indent=2
            )
        )
    else:
        print(doctor.render(probes))
    return 0 if all(p.ok for p in probes) else 1


# --- setup --------------------------------------------------------------------------------------------------


def cmd_setup(args: argparse.Namespace) -> int:
    """Create dbbench's own database on each backend (marked as dbbench's) and apply the migrations.

    Example: dbbench setup --backend all
    """
    from dbbench import djangoenv

    for target in _setup_django(args):
        djangoenv.prepare(target, allow_foreign=args.allow_foreign_database)
        print(f"{target.name}: database {target.database!r} ready (migrations applied) at {target.safe_url}")
    return 0


# --- report / run -------------------------------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    """Write the migration decision report (report.md + self-contained report.html) from result files.

    Reads result files only, never a database: benchmark JSON, parity, load, seed-benchmark, rehearsal, audit.
    Example: dbbench report results/run-20250101-120000-default/*.json --mix pk_lookup=5,student_recent=3
    """
    from pathlib import Path

    from dbbench.report import build_report
    from dbbench.verdict import parse_mix

    out = Path(args.output_dir) if args.output_dir else Path(args.results[0]).parent
    md, html = build_report(args.results, out, parse_mix(args.mix), threshold=args.threshold / 100)
    print(f"report: {html}\n        {md}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """The whole job: check servers, migrate, seed and benchmark as the data grows, parity, load, rehearsal, report.

    Profiles: quick (a first look in a couple of minutes: 1k and 2k attempts, a handful of rounds), default
    (10k and 100k attempts), full (10k, 100k and 1M). A failed stage stops the run with one line; the results of
    the stages before it stay in the run's folder. --skip parity,load leaves those stages out.
    Example: dbbench run --profile quick
    """
    from pathlib import Path

    from dbbench import pipeline

    targets = _targets(args)
    outcome = pipeline.run(
        args.profile,
        targets,
        Path(args.output_dir) if args.output_dir else None,
        allow_foreign=args.allow_foreign_database,
        skip=[s.strip() for s in (args.skip or "").split(",") if s.strip()],
    )
    assert outcome.report is not None
    print(f"done in {outcome.seconds / 60:.1f} min; report: {outcome.report[1]}\n        {outcome.report[0]}")
    return 0


# --- parity -------------------------------------------------------------------------------------------------


def cmd_parity(args: argparse.Namespace) -> int:
    """Run the behaviour parity probes on every backend: same, different or unsupported, compared with the first.

    Probes cover JSONField lookups, string collation, NULL ordering, DISTINCT ON, upserts, row locks, integer
    ranges, time zones and DDL; each records the value (or error) and the SQL Django sent, per backend.

    Runs in a scratch database of dbbench's own (<database>_parity, dropped afterwards); writes a parity result
    file and prints a table with what to change.
    Example: dbbench parity --backend all --output results/parity.json
    """
    from pathlib import Path

    from dbbench import parity

    targets = _setup_django(args)
    if args.list:
        print("\n".join(parity.describe_probes()))
        return 0
    output = parity.output_path(Path(args.output) if args.output else None)
    only = [name.strip() for value in args.probe or [] for name in value.split(",") if name.strip()]
    report = parity.run_probes(targets, only=only or None, keep_database=args.keep_database)
    parity.write_parity(report, output)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        parity.print_report(report, differences_only=args.differences_only)
        print(f"wrote {output}")
    return 0


# --- load ---------------------------------------------------------------------------------------------------


def cmd_load(args: argparse.Namespace) -> int:
    """Put the quiz site under HTTP load on each backend (gunicorn + Locust) and find where it gives out.

    For each CONN_MAX_AGE (default 0 and 60) and backend, gunicorn serves the quiz site on that backend alone
    (127.0.0.1, a free port) and Locust students take quizzes with think time, at each user count for a fixed
    time (ramp-up excluded). Prints requests/s, p50/p95/p99 latency and failures per step, and the knee: the most
    users served with p95 under --p95-threshold. Seeds to --attempts first. Results (kind load) are saved after
    every step; gunicorn and Locust never outlive the command. --locust-workers N: a Locust master and N workers.
    Example: dbbench load --backend all --users 10,50,100,200,300 --duration 15s
    """
    from pathlib import Path

    from dbbench import load
    from dbbench.loadstats import render_table
    from dbbench.results import load_result

    config = load.build_config(
        quick=args.quick,
        users=args.users,
        duration=args.duration,
        spawn_rate=args.spawn_rate,
        think=args.think,
        conn_max_age=args.conn_max_age,
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
    )
    targets = _setup_django(args)
    path = load.run_load(
        targets,
        config,
        Path(args.output) if args.output else None,
        progress=lambda line: print(line, flush=True),
        allow_foreign=args.allow_foreign_database,
    )
    data = load_result(path, load.KIND)[1]["data"]
    print(render_table(data))
    print(f"wrote {path}")
    failed = [f"{r['alias']} CONN_MAX_AGE={r['conn_max_age']}: {r['error']}" for r in data["runs"] if r["error"]]
    if failed:
        print(f"dbbench: error: load test failed on {'; '.join(failed)}", file=sys.stderr)
        return 1
    return 0


# --- bench --------------------------------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    """Benchmark the quiz app's operations on every backend as the data grows (pytest-benchmark JSON).

    Seeds each backend to each size (smallest first), then measures the twelve operations (ORM, plus raw SQL for
    the writes and key reads) with the backends' rounds interleaved. Profiles: quick (1k, 2k; a few rounds: proves it
    works), default (10k, 100k), full (10k, 100k, 1M). --sizes overrides the profile's sizes.
    Example: dbbench bench --sizes 10k,100k --profile default
    """
    from dbbench.benchrun import run_benchmarks, run_summary
    from dbbench.sizes import parse_counts

    sizes = parse_counts(args.sizes) if args.sizes else None
    path = run_benchmarks(
        _targets(args), sizes, args.profile, args.output_dir, seed=args.seed, allow_foreign=args.allow_foreign_database
    )
    summary = run_summary(path)
    for warning in summary["warnings"]:
        print(f"warning: {warning}")
    print(f"benchmarks: {path} ({summary['benchmarks']} benchmarks in {summary['wall_seconds']:.0f} s)")
    return 0


# --- seed ---------------------------------------------------------------------------------------------------


def cmd_seed(args: argparse.Namespace) -> int:
    """Seed the quiz tables to exactly N attempts of realistic, deterministic data, fast and resumably.

    Adds only what is missing (or removes the excess). The same --seed gives the same data on every backend,
    in one step or several, interrupted (even by kill -9) or not; --checksum prints per-table content checksums
    that prove it. A progress bar on a terminal, plain key=value lines otherwise.
    Example: dbbench seed --backend all --attempts 1m --seed 42
    """
    from dbbench import seeding
    from dbbench.sizes import parse_count

    attempts = parse_count(args.attempts, what="--attempts")
    seeding.check_seed(args.seed)
    targets = _setup_django(args)
    seeding.preflight(targets, allow_foreign=args.allow_foreign_database)
    documents = []
    for target in targets:
        result = seeding.seed(
            target,
            attempts,
            seed=args.seed,
            allow_foreign=args.allow_foreign_database,
            batch_rows=args.batch_rows,
            method=args.load_method,
            reset=args.reset,
        )
        document = result.as_dict()
        if args.checksum:
            from dbbench.checksum import content_checksums

            document["checksums"] = content_checksums(target)
        documents.append(document)
        if not args.json:
            print(seeding.describe(result, document.get("checksums")), flush=True)
    if args.json:
        print(json.dumps(documents, indent=2))
    return 0


# --- audit --------------------------------------------------------------------------------------------------


def cmd_audit(args: argparse.Namespace) -> int:
    """Scan a Django project's source for what ties it to PostgreSQL (static: no database needed).

    Finds django.contrib.postgres, DISTINCT ON, select_for_update(no_key/of), upserts with unique_fields, JSON
    lookups the parity suite found to differ, case-sensitive unique strings, skipped indexes, and raw SQL that
    sqlglot cannot carry from PostgreSQL to MySQL/MariaDB. Each finding: file:line, rule, severity (blocker,
    behaviour change, performance risk) and what to do instead. Exit 1 when there are blockers (for CI), else 0;
    a file that is not valid Python is reported as a blocker; a missing path is an error (exit 2).
    Example: dbbench audit ~/src/shop --json --output results/audit.json
    """
    from pathlib import Path

    from dbbench import audit
    from dbbench.results import write_result

    output = audit.check_output(Path(args.output)) if args.output else None
    result = audit.audit_path(args.path, exclude=args.exclude or ())
    data = result.as_dict()
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else audit.render_text(data))
    if output is not None:
        write_result(output, "audit", data)
        print(f"wrote {output}", file=sys.stderr if args.json else sys.stdout)
    return result.exit_code


def cmd_seed_benchmark(args: argparse.Namespace) -> int:
    """Measure the seeder per backend: rows/s, the raw COPY / LOAD DATA rate of the same rows, ratio, peak RSS.

    Seeds N attempts from empty in a scratch database (<database>_seedbench, dropped afterwards) in a fresh
    process, then times one raw fast-path load of the same rows into the same table. Target: ratio >= 0.60 and
    peak RSS <= 300 MB. Writes a seed-benchmark result file.
    Example: dbbench seed-benchmark --backend all --attempts 1m
    """
    from pathlib import Path

    from dbbench import seedbench, seeding
    from dbbench.sizes import parse_count

    attempts = parse_count(args.attempts, what="--attempts")
    seeding.check_seed(args.seed)
    data = seedbench.run_seed_benchmark(
        _targets(args),
        attempts,
        seed=args.seed,
        checksum=args.checksum,
        batch_rows=args.batch_rows,
        keep_database=args.keep_database,
    )
    path = seedbench.write(data, Path(args.output) if args.output else None)
    print(seedbench.render(data))
    print(f"wrote {path}")
    return 0


# --- migrate-data -------------------------------------------------------------------------------------------


def cmd_migrate_data(args: argparse.Namespace) -> int:
    """Rehearse the migration: copy every quiz table from one backend to another, verify it, time it.

    Copies into a dbbench database of its own on the target server (<database>_rehearsal, or --into NAME) in
    dependency order, streaming in batches through the target's fast load path; the source is only read (one
    read-only snapshot). Verifies per table the row count and a content checksum computed the same way on both
    sides, lists the first differing rows and exits 1 on any mismatch; smoke-tests the copy through the ORM (ids
    continue after the copied ones). Prints the duration, rows/s, what was converted, and the downtime estimated
    for other sizes. Refuses a database holding a finished copy unless --replace; an interrupted copy is marked
    incomplete and the next run restarts it cleanly. Writes a result file of kind rehearsal.
    Example: dbbench migrate-data --from postgres --to mysql --estimate-for 20m
    """
    from pathlib import Path

    from dbbench import rehearsal

    output = rehearsal.output_path(Path(args.output) if args.output else None)
    rehearsal.check_estimate_sizes(args.estimate_for or [])
    configured = _configured(args)
    source, target = select_targets(configured, f"{args.source},{args.destination}")
    _setup_django(args)
    if args.verify_only:
        result = rehearsal.verify(source, target, database=args.into)
    else:
        result = rehearsal.rehearse(
            source,
            target,
            database=args.into,
            replace=args.replace,
            batch_size=args.batch_size,
            allow_foreign=args.allow_foreign_database,
        )
    result.estimate_for = [rehearsal.parse_estimate_size(size, result) for size in args.estimate_for or []]
    print(rehearsal.render(result))
    print(f"wrote {rehearsal.write(result, output)}")
    if not result.ok:
        failed = [c.table for c in result.checks if not c.ok] or ["smoke test"]
        print(f"dbbench: error: verification failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


# --- registry -----------------------------------------------------------------------------------------------

Command = tuple[str, Handler, Callable[[argparse.ArgumentParser], None]]


def _add_backend(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="all", help="target name, comma-separated names, or all (default)")


def _doctor_args(p: argparse.ArgumentParser) -> None:
    _add_backend(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _setup_args(p: argparse.ArgumentParser) -> None:
    _add_backend(p)


def _bench_args(p: argparse.ArgumentParser) -> None:
    _add_backend(p)
    p.add_argument("--profile", choices=["quick", "default", "full"], default="default", help="rounds and sizes")
    p.add_argument("--sizes", help="attempt counts, smallest first, e.g. 10k,100k,1m (default: the profile's)")
    p.add_argument("--seed", type=int, default=42, help="seed of the generated data and the arguments (42)")
    p.add_argument("--output-dir", help="folder for the JSON (default: results/benchmarks)")


def _parity_args(p: argparse.ArgumentParser) -> None:
    _add_backend(p)
    p.add_argument("--output", help="parity result file to write (default: results/parity.json)")
    p.add_argument("--probe", action="append", metavar="NAME", help="run only these probes (repeatable, or a,b,c)")
    p.add_argument("--list", action="store_true", help="list the probes and exit")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    p.add_argument("--differences-only", action="store_true", help="leave probes that came out the same out")
    p.add_argument("--keep-database", action="store_true", help="keep the scratch <database>_parity for inspection")


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", nargs="+", metavar="RESULTS", help="result files (JSON) written by dbbench")
    p.add_argument("--output-dir", help="where to write report.md/report.html (default: next to the first file)")
    p.add_argument("--mix", help="operation weights: op=weight,op=weight or a JSON/YAML file (default: quiz site)")
    p.add_argument(
        "--threshold", type=float, default=5.0, help="practical threshold in percent: smaller is 'equivalent' (5)"
    )


def _run_args(p: argparse.ArgumentParser) -> None:
    _add_backend(p)
    p.add_argument("--profile", choices=["quick", "default", "full"], default="default", help="data sizes (default)")
    p.add_argument("--output-dir", help="folder for this run's results and report (default: results/run-...)")
    p.add_argument(
        "--skip", metavar="STAGES", help="leave out optional stages: parity, load, rehearsal (comma-separated)"
    )


def _load_args(p: argparse.ArgumentParser) -> None:
    _add_backend(p)
    p.add_argument("--users", help="concurrent users per step, e.g. 10,50,100,200,300 (the default)")
    p.add_argument("--duration", help="measured time per step, ramp-up excluded, e.g. 15s (default) or 1m")
    p.add_argument("--spawn-rate", help="users started per second during ramp-up (default 50)")
    p.add_argument("--think", help="a student's think time before each request, seconds, e.g. 1-5 (default)")
    p.add_argument("--conn-max-age", help="Django CONN_MAX_AGE values to measure, e.g. 0,60 (default)")
    p.add_argument("--workers", type=int, help="gunicorn worker processes (default 2 x cores + 1)")
    p.add_argument("--threads", type=int, help="gunicorn threads per worker (default 1: sync workers)")
    p.add_argument("--locust-workers", type=int, help="run Locust as a master and N local workers (default 0)")
    p.add_argument("--remote-workers", type=int, help="Locust workers the master also waits for from other machines")
    p.add_argument("--master-port", type=int, help="fixed Locust master port for remote workers (default: a free one)")
    p.add_argument("--listen", help="address gunicorn and the Locust master bind (default 127.0.0.1)")
    p.add_argument("--attempts", help="seed each backend to this many attempts first (default 100k; 0: use as is)")
    p.add_argument("--seed", type=int, help="seed of the generated data (default 42)")
    p.add_argument("--p95-threshold", help="the knee's p95 limit, e.g. 1s (default) or 500ms")
    p.add_argument("--max-failure-rate", help="failures a step may have and still serve its users (default 1%%)")
    p.add_argument("--output", help="result file to write (default: results/load-<time>.json)")
    p.add_argument("--quick", action="store_true", help="a short sweep (2 and 5 users, 5 s, CONN_MAX_AGE 60)")


def _seed_args(p: argparse.ArgumentParser) -> None:
    _add_backend(p)
    p.add_argument("--attempts", required=True, help="QuizAttempt rows to end with, e.g. 10000, 100k, 1m, 2.5m")
    p.add_argument("--seed", type=int, default=42, help="seed of the generated data (default 42)")
    p.add_argument("--checksum", action="store_true", help="also print each quiz table's content checksum")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--reset", action="store_true", help="delete the quiz data first and seed from zero")
    p.add_argument("--batch-rows", type=int, default=50_000, help="attempts per transaction (default 50000)")
    p.add_argument(
        "--load-method", choices=["fast", "bulk_create"], help="fast (COPY / LOAD DATA) or bulk_create (default: fast)"
    )


def _audit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="a Django project folder (or one .py file) to scan")
    p.add_argument("--json", action="store_true", help="print the findings as JSON instead of text")
    p.add_argument("--output", help="also write an audit result file here (the report reads it)")
    p.add_argument("--exclude", action="append", metavar="GLOB", help="skip paths matching GLOB (repeatable)")


def _seed_benchmark_args(p: argparse.ArgumentParser) -> None:
    _add_backend(p)
    p.add_argument("--attempts", default="1m", help="attempts to seed, e.g. 100k or 1m (default 1m)")
    p.add_argument("--seed", type=int, default=42, help="seed of the generated data (default 42)")
    p.add_argument("--checksum", action="store_true", help="also report the seeded tables' content checksums")
    p.add_argument("--batch-rows", type=int, default=50_000, help="attempts per transaction (default 50000)")
    p.add_argument("--output", help="result file (default: results/seed-benchmark-<time>.json)")
    p.add_argument("--keep-database", action="store_true", help="keep <database>_seedbench for inspection")


def _migrate_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="source", required=True, metavar="SRC", help="target to copy from (only read)")
    p.add_argument("--to", dest="destination", required=True, metavar="DST", help="target whose server gets the copy")
    p.add_argument("--into", metavar="DATABASE", help="database for the copy on DST's server (default <db>_rehearsal)")
    p.add_argument("--replace", action="store_true", help="replace a finished copy that is already there")
    p.add_argument("--batch-size", type=int, default=20_000, metavar="N", help="rows per batch (default 20000)")
    p.add_argument(
        "--estimate-for",
        action="append",
        metavar="SIZE",
        help="also estimate the downtime for SIZE attempts (5m) or source data (20GB); repeatable",
    )
    p.add_argument("--verify-only", action="store_true", help="verify the existing copy again, copy nothing")
    p.add_argument("--output", help="result file to write (default: results/rehearsal-<time>.json)")


# Each stage adds its (name, handler, add-arguments) here.
COMMANDS: list[Command] = [
    ("doctor", cmd_doctor, _doctor_args),
    ("setup", cmd_setup, _setup_args),
    ("seed", cmd_seed, _seed_args),
    ("seed-benchmark", cmd_seed_benchmark, _seed_benchmark_args),
    ("bench", cmd_bench, _bench_args),
    ("parity", cmd_parity, _parity_args),
    ("report", cmd_report, _report_args),
    ("run", cmd_run, _run_args),
    ("load", cmd_load, _load_args),
    ("audit", cmd_audit, _audit_args),
    ("migrate-data", cmd_migrate_data, _migrate_data_args),
]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (plus where to look), like every other dbbench error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"dbbench: error: {message} (see: {self.prog} --help)\n")


def _common() -> argparse.ArgumentParser:
    """Options every command takes (after the command name)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--target",
        action="append",
        metavar="NAME=URL",
        help="a database target (repeatable); default: DBBENCH_TARGETS, or DBBENCH_POSTGRES_URL and DBBENCH_MYSQL_URL",
    )
    common.add_argument(
        "--allow-foreign-database",
        action="store_true",
        help="let dbbench write to a database that holds tables it did not create (it is refused otherwise)",
    )
    common.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dbbench",
        description="Should a Django app move from PostgreSQL to MySQL/MariaDB? Measure it.",
    )
    common = _common()
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    for name, handler, add_args in COMMANDS:
        doc = (handler.__doc__ or "").strip()
        p = sub.add_parser(
            name,
            help=doc.splitlines()[0] if doc else None,
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[common],
        )
        add_args(p)
        p.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except DbbenchError as exc:
        print(f"dbbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("dbbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `dbbench audit ... | head`: the reader left; say nothing more (stdout is gone).
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return 141
    except Exception as exc:
        # Anything unforeseen still gets one line (passwords masked); --debug shows the traceback.
        if getattr(args, "debug", False) or os.environ.get("DBBENCH_DEBUG"):
            raise
        text = mask_url(" ".join(str(exc).split()))
        print(f"dbbench: error: {type(exc).__name__}: {text} (rerun with --debug for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
