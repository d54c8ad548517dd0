"""The ``dbbench`` command: parse arguments, dispatch to the stage modules, print one-line errors.

No SQL, Faker or plotting here: every command calls a function of a stage module that works without the CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence

from dbbench.errors import DbbenchError
from dbbench.targets import Target, mask_url, parse_target_list, select_targets, targets_from_env

Handler = Callable[[argparse.Namespace], int]


def _targets(args: argparse.Namespace) -> list[Target]:
    """The targets for this invocation: ``--target`` options, else the environment; filtered by --backend."""
    configured = parse_target_list(",".join(args.target)) if args.target else targets_from_env()
    return select_targets(configured, getattr(args, "backend", None))


def _setup_django(args: argparse.Namespace) -> list[Target]:
    """Configure Django with *every* configured target, return the selected ones."""
    from dbbench import djangoenv

    configured = parse_target_list(",".join(args.target)) if args.target else targets_from_env()
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


# --- registry -----------------------------------------------------------------------------------------------

Command = tuple[str, Handler, Callable[[argparse.ArgumentParser], None]]


def _add_backend(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="all", help="target name, comma-separated names, or all (default)")


def _doctor_args(p: argparse.ArgumentParser) -> None:
    _add_backend(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _setup_args(p: argparse.ArgumentParser) -> None:
    _add_backend(p)


# Each stage adds its (name, handler, add-arguments) here.
COMMANDS: list[Command] = [
    ("doctor", cmd_doctor, _doctor_args),
    ("setup", cmd_setup, _setup_args),
]


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
    parser = argparse.ArgumentParser(
        prog="dbbench",
        description="Should a Django app move from PostgreSQL to MySQL/MariaDB? Measure it.",
    )
    common = _common()
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
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
    except Exception as exc:
        # Anything unforeseen still gets one line (passwords masked); --debug shows the traceback.
        if getattr(args, "debug", False) or os.environ.get("DBBENCH_DEBUG"):
            raise
        text = mask_url(" ".join(str(exc).split()))
        print(f"dbbench: error: {type(exc).__name__}: {text} (rerun with --debug for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
