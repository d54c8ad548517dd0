from __future__ import annotations

import argparse
import json
from pathlib import Path

import dbbench.cli.common as common

NAME = "app"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="the folder of your Django project (its files are never changed)")
    common.add_targets(p)
    p.add_argument("--settings", help="the project's settings module (default: found in pytest/tox config, manage.py)")
    p.add_argument(
        "--test-command",
        help="the command that runs the suite, e.g. 'pytest tests' (default: pytest or manage.py test, detected)",
    )
    p.add_argument(
        "--python",
        help="the interpreter that runs the suite (default: the project's .venv/venv/env, else dbbench's own)",
    )
    p.add_argument(
        "--pythonpath",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of the project to put on the suite's path (repeatable; default: found in its Makefile/tox)",
    )
    p.add_argument(
        "--timeout", type=float, default=15 * 60, help="seconds per backend before the suite is stopped (default 900)"
    )
    p.add_argument("--output", help="app result file to write (default: results/app.json)")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of text")
    p.add_argument("--no-audit", action="store_true", help="do not join the static audit of the same folder")
    p.add_argument("--capture", metavar="FILE", help="also record the suite's queries on the baseline (dbbench replay)")


def run(args: argparse.Namespace) -> int:
    """Run your Django project's own test suite on each backend and say what the move breaks.

    Runs the suite once per target (the first is the baseline) in a subprocess, with every database alias of
    the project's settings pointed at the target's server and test databases that dbbench names and drops. Then,
    per test: breaks (passes on the baseline, fails on the candidate, with the first line of the error), already
    failing, passing on both, and the tests that became much slower. Each break is matched to a known
    difference (parity probe ids) where its error or SQL shows it, and to audit findings near the failing code.
    Exit 1 when a test breaks, 0 when none does; a suite stopped by --timeout keeps its partial results (marked)
    and exits 1 with one line.
    Example: dbbench app ~/src/shop --backend postgres,mysql --output results/app.json
    """
    from dbbench.app import detect, render
    from dbbench.app import run as app
    from dbbench.app.runner import SuiteCrashed, SuiteTimedOut
    from dbbench.results import write_result

    output = app.output_path(Path(args.output) if args.output else None)
    project = detect.detect(
        args.path,
        settings=args.settings,
        test_command=args.test_command,
        python=args.python,
        pythonpath=tuple(args.pythonpath),
    )
    if args.timeout <= 0:
        from dbbench.errors import ConfigError

        raise ConfigError(f"--timeout must be positive, not {args.timeout:g}")
    capture = Path(args.capture) if args.capture else None
    if capture is not None and (capture.is_dir() or not capture.parent.is_dir()):
        from dbbench.errors import ConfigError

        raise ConfigError(f"app: cannot write the capture to {capture} (a folder, or its folder does not exist)")
    data = app.run_app(
        project, common.chosen(args), timeout=args.timeout, with_audit=not args.no_audit, capture=capture
    )
    write_result(output, "app", data)
    print(json.dumps(data, indent=2, default=str) if args.json else render.render_text(data))
    print(f"wrote {output}")
    failed = app.crashed(data)
    if failed:
        raise SuiteCrashed(f"app: {'; '.join(failed)} (the baseline's results are kept in {output})")
    stopped = app.timed_out(data)
    if stopped:
        raise SuiteTimedOut(
            f"app: the suite on {', '.join(stopped)} did not finish within {args.timeout:g} s and was stopped; "
            f"partial results kept in {output}"
        )
    return app.exit_code(data)
