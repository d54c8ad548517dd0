from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import dbbench.cli.common as common

NAME = "migrate-data"


def add_arguments(p: argparse.ArgumentParser) -> None:
    common.add_targets(p, backend=False)
    common.add_allow_foreign(p)
    p.add_argument("--from", dest="source", required=True, metavar="SRC", help="target to copy from (only read)")
    p.add_argument(
        "--to",
        dest="destination",
        metavar="DST",
        help="target whose server gets the copy (default: the first configured target of another family)",
    )
    p.add_argument(
        "--app",
        metavar="PATH",
        help="copy this Django project's database (every table its models own) instead of the quiz tables",
    )
    p.add_argument("--settings", metavar="MODULE", help="the project's settings module")
    p.add_argument("--into", metavar="DATABASE", help="database for the copy on DST's server (default <db>_rehearsal)")
    p.add_argument("--replace", action="store_true", help="replace a finished copy that is already there")
    p.add_argument("--batch-size", type=int, default=20_000, metavar="N", help="rows per batch (default 20000)")
    p.add_argument(
        "--estimate-for",
        action="append",
        metavar="SIZE",
        help="also estimate the downtime for SIZE attempts (5m) or source data (20GB); repeatable",
    )
    p.add_argument(
        "--fit-with",
        nargs="+",
        metavar="FILE",
        help="earlier rehearsal results at other sizes to fit the downtime estimate to (default: those in the "
        "results directory; only those of the same servers, load path and algorithm count)",
    )
    p.add_argument("--verify-only", action="store_true", help="verify the existing copy again, copy nothing")
    p.add_argument("--output", help="result file to write (default: results/rehearsal-<time>.json)")


def run(args: argparse.Namespace) -> int:
    """Rehearse the migration: copy every quiz table from one backend to another, verify it, time it.

    Copies into a dbbench database of its own on the target server (<database>_rehearsal, or --into NAME) in
    dependency order, streaming in batches through the target's fast load path, secondary indexes and foreign keys
    built after each table; the source is only read (one read-only snapshot). Verifies per table the row count and
    every row's content (digest sums per id range on both servers, the differing rows read back), exits 1 on any
    mismatch; smoke-tests the copy through the ORM (ids continue after the copied ones). Prints the duration,
    rows/s, what was converted, and the downtime estimated for other sizes, fitted to the sizes measured (this one
    and earlier rehearsals: --fit-with). Refuses a database holding a finished copy unless --replace; an
    interrupted copy is marked incomplete and the next run restarts it cleanly. Writes a result of kind rehearsal.
    With --app PATH, copies a Django project's own database instead: the copy's database (<db>_appcopy) is built
    by the project's migrations, the source's schema must match them, every table a model owns is copied (those
    no model owns are listed), and what the target cannot hold is listed before anything is copied.
    Example: dbbench migrate-data --from postgres --to mysql --estimate-for 20m
    Example: dbbench migrate-data --app ~/src/shop --from postgres --to mysql
    """
    from dbbench.backends.targets import select_targets
    from dbbench.rehearsal import rehearse
    from dbbench.rehearsal.estimate import check_estimate_sizes, earlier_points, load_points, parse_estimate_size
    from dbbench.rehearsal.render import render

    output = rehearse.output_path(Path(args.output) if args.output else None)
    check_estimate_sizes(args.estimate_for or [])
    if args.fit_with:
        earlier = load_points([Path(f) for f in args.fit_with])  # the user's own files: a bad one is an error
    else:
        earlier = earlier_points(output.parent, skip=output)
    configured = common.configured(args)
    destination = args.destination or _other_family(configured, args.source)
    source, target = select_targets(configured, f"{args.source},{destination}")
    if args.app:
        result = _rehearse_app(args, source, target, earlier)
    elif args.verify_only:
        common.setup_django(args)
        result = rehearse.verify(source, target, database=args.into, earlier=earlier)
    else:
        common.setup_django(args)
        result = rehearse.rehearse(
            source,
            target,
            database=args.into,
            replace=args.replace,
            batch_size=args.batch_size,
            allow_foreign=common.allow_foreign(args),
            earlier=earlier,
        )
    result.estimate_for = [parse_estimate_size(size, result) for size in args.estimate_for or []]
    print(render(result))
    print(f"wrote {rehearse.write(result, output)}")
    if not result.ok:
        failed = [c.table for c in result.checks if not c.ok] or result.emptied or ["smoke test"]
        print(f"dbbench: error: verification failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _other_family(configured: list[Any], source: str) -> str:
    from dbbench.errors import ConfigError

    family = next((t.family for t in configured if t.name == source), None)
    other = next((t.name for t in configured if family is not None and t.family != family), None)
    if other is None:
        raise ConfigError(f"no --to given and no configured target of another family than {source!r}")
    return other


def _rehearse_app(args: argparse.Namespace, source: Any, target: Any, earlier: list[Any]) -> Any:
    """The project's own copy: Django loads the project (its settings through dbbench's shim) in this process."""
    from dbbench.app.detect import detect
    from dbbench.rehearsal import appcopy, project

    found = detect(args.app, settings=args.settings)
    project.setup(found, source.django_database())
    return appcopy.rehearse_app(
        f"{found.root.name} ({found.settings})",
        source,
        target,
        database=args.into,
        replace=args.replace,
        batch_size=args.batch_size,
        allow_foreign=common.allow_foreign(args),
        earlier=earlier,
        verify_only=args.verify_only,
    )
