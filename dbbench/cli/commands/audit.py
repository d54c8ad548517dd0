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
    p.add_argument("--exclude", action="append", metavar="GLOB", help="skip paths matching GLOB (repeatable)")


def run(args: argparse.Namespace) -> int:
    """Scan a Django project's source for what ties it to PostgreSQL (static: no database needed).

    Finds django.contrib.postgres, DISTINCT ON, select_for_update(no_key/of), upserts with unique_fields, JSON
    lookups the parity suite found to differ, case-sensitive unique strings, skipped indexes, and raw SQL that
    sqlglot cannot carry from PostgreSQL to MySQL/MariaDB. Each finding: file:line, rule, severity (blocker,
    behaviour change, performance risk) and what to do instead. Exit 1 when there are blockers (for CI), else 0;
    a file that is not valid Python is reported as a blocker; a missing path is an error (exit 2).
    Example: dbbench audit ~/src/shop --json --output results/audit.json
    """
    from dbbench.audit import scan
    from dbbench.results import write_result

    output = scan.check_output(Path(args.output)) if args.output else None
    result = scan.audit_path(args.path, exclude=args.exclude or ())
    data = result.as_dict()
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else scan.render_text(data))
    if output is not None:
        write_result(output, "audit", data)
        print(f"wrote {output}", file=sys.stderr if args.json else sys.stdout)
    return result.exit_code
