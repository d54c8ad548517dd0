from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

NAME = "audit"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="a Django project folder (or one .py file) to scan")
    p.add_argument("--json", action="store_true", help="print the findings as JSON instead of text")
    p.add_argument("--output", help="also write an audit result file here (the report reads it)")
    p.add_argument(
        "--exclude",
        action="append",
        metavar="PATTERN",
        help="skip paths matching a glob (app/legacy/*) or any folder/file with that name (migrations); repeatable",
    )
    p.add_argument(
        "--target",
        choices=("mariadb", "mysql8"),
        default="mariadb",
        help="the MySQL-family server to judge against (default: mariadb, the server dbbench compares against)",
    )
    p.add_argument("--baseline", metavar="FILE", help="findings listed in FILE are known: only new blockers exit 1")
    p.add_argument("--write-baseline", metavar="FILE", help="write today's findings to FILE as the baseline")
    p.add_argument(
        "--explain",
        metavar="FILE:LINE",
        help="say why the finding(s) at FILE:LINE have their class: which guard was seen, or that none was",
    )


def run(args: argparse.Namespace) -> int:
    """Scan a Django project's source for what ties it to PostgreSQL (static: no database needed).

    Finds django.contrib.postgres and PostgreSQL drivers, DISTINCT ON, select_for_update(no_key/of), upserts with
    unique_fields, JSON lookups the parity suite found to differ (judged by the model's field types), case-sensitive
    unique strings, skipped indexes and constraints, the behaviour differences the parity probes measure, custom
    lookups and expressions with PostgreSQL SQL, and raw SQL that sqlglot cannot carry to MySQL/MariaDB. Code under
    a vendor or connection.features guard is reported as "handled" (verify on the target), never as a blocker.
    Each finding: file:line, rule, severity, what to do instead and the parity probes that show it. Silence one
    line with "# dbbench: ignore[rule]". Exit 1 when there are blockers not in --baseline (for CI), else 0; a
    missing path is an error (exit 2).
    The text opens with "START HERE": one root cause per rule (or per refusal), ordered by what blocks the move
    first (settings and start-up, models and migrations, queries, tests), each with an effort class and the parity
    probe or documentation behind it. --explain FILE:LINE says why a finding has its class.
    Example: dbbench audit ~/src/shop --exclude migrations --write-baseline audit-baseline.json
    """
    from dbbench.audit import baseline, scan
    from dbbench.results import write_result

    if args.explain:
        where = scan.explain_spec(args.explain, args.path)
        result = scan.audit_path(args.path, exclude=args.exclude or (), target=args.target)
        print(scan.render_explain(result.as_dict(), where))
        return 0
    output = scan.check_output(Path(args.output)) if args.output else None
    written = scan.check_output(Path(args.write_baseline)) if args.write_baseline else None
    known = Path(args.baseline) if args.baseline else None
    result = scan.audit_path(args.path, exclude=args.exclude or (), target=args.target, baseline=known)
    data = result.as_dict()
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else scan.render_text(data))
    side = sys.stderr if args.json else sys.stdout
    if output is not None:
        write_result(output, "audit", data)
        print(f"wrote {output}", file=side)
    if written is not None:
        count = baseline.write(written, result.findings)
        print(f"wrote baseline {written} ({count} findings)", file=side)
        return 0  # the baseline accepts today's findings
    return result.exit_code
