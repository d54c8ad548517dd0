"""The ``dbbench`` command: parse arguments, dispatch to the stage modules, print one-line errors.

A thin layer: each command lives in ``dbbench/cli/commands/<name>.py`` with its arguments beside its handler, and
calls a function of a stage subpackage that works without the CLI. No SQL, Faker or plotting here.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

from dbbench import __version__
from dbbench.backends.targets import Target, targets_from_env
from dbbench.cli.commands import (
    app,
    audit,
    bench,
    capture,
    doctor,
    load,
    migrate_data,
    parity,
    replay,
    report,
    run,
    seed,
    seed_benchmark,
    servers,
    setup,
)
from dbbench.errors import DbbenchError, mask_secrets, one_line
from dbbench.processes import Terminated, interrupts_unwind

Handler = Callable[[argparse.Namespace], int]
Command = tuple[str, Handler, Callable[[argparse.ArgumentParser], None]]

# In the order `dbbench --help` lists them.
COMMANDS: list[Command] = [
    (m.NAME, m.run, m.add_arguments)
    for m in (
        *(doctor, setup, seed, seed_benchmark, bench, parity, report, run, load, audit, app, capture, replay),
        *(migrate_data, servers),
    )
]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (plus where to look), like every other dbbench error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"dbbench: error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dbbench",
        description="Should a Django app move from PostgreSQL to MySQL/MariaDB? Measure it.",
    )
    parser.add_argument("--version", action="version", version=f"dbbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    for name, handler, add_args in COMMANDS:
        doc = (handler.__doc__ or "").strip()
        p = sub.add_parser(
            name,
            help=doc.splitlines()[0] if doc else None,
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_args(p)
        p.add_argument(
            "--debug", action="store_true", help="show the traceback of an error (and what caused it) before its line"
        )
        p.set_defaults(handler=handler)
    return parser


def print_traceback(exc: BaseException) -> None:
    """``exc``'s traceback on stderr, with every exception behind it, passwords masked.

    Stages turn what went wrong into a one-line ``DbbenchError`` raised ``from None`` (the line is what a user
    needs); Python keeps the original as ``__context__`` all the same, and this shows it.
    """
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.__suppress_context__ = False
        link = link.__cause__ or link.__context__
    text = "".join(traceback.format_exception(exc))
    print(mask_secrets(text, _configured_targets()), end="", file=sys.stderr)


def _configured_targets() -> list[Target]:
    """The targets whose passwords to mask (none when the configuration itself is what failed)."""
    try:
        return list(targets_from_env())
    except DbbenchError:
        return []


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False) or os.environ.get("DBBENCH_DEBUG"))
    try:
        # SIGTERM and SIGHUP unwind like Ctrl-C: children stopped, partial results written, temp files removed.
        with interrupts_unwind():
            return int(args.handler(args))
    except DbbenchError as exc:
        if debug:
            print_traceback(exc)
        print(f"dbbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Terminated as exc:
        print(f"dbbench: terminated ({exc})", file=sys.stderr)
        return 128 + signal.Signals[str(exc)].value
    except KeyboardInterrupt:
        print("dbbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `dbbench audit ... | head`: the reader left; say nothing more (stdout is gone).
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return 141
    except Exception as exc:
        # Anything unforeseen still gets one line (passwords masked); --debug shows the traceback.
        if debug:
            print_traceback(exc)
        hint = "" if debug else " (rerun with --debug for details)"
        print(f"dbbench: error: {type(exc).__name__}: {one_line(exc)}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
