"""Line a project's runs up per test, and explain each break with what dbbench already knows.

The baseline is the first target (PostgreSQL by default); every other target is compared with it. A break is a
test that passed on the baseline and failed or errored on the candidate. Each break is matched to a known
difference where its error or its last SQL shows it (:data:`KNOWN`, ids are parity probe names where the parity
suite has a probe for it), and joined with the audit findings near the code in its traceback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BAD = frozenset({"failed", "error"})
GOOD = frozenset({"passed", "xfailed"})
# "Much slower": at least this ratio and this many seconds more, so millisecond noise is not a finding.
SLOW_RATIO = 2.0
SLOW_EXTRA_S = 0.05
SLOW_SHOWN = 10
AUDIT_NEAR_LINES = 5


@dataclass(frozen=True)
class Known:
    """A difference recognisable from a failing test's error text or its last SQL."""

    id: str  # the parity probe's name, or a difference the parity suite has no probe for (probe=False)
    title: str
    hint: str
    error: str = ""  # regular expression on "Type: message (cause)"
    sql: str = ""  # regular expression on the test's last statements and their parameters
    assertion: bool = False  # only for failed assertions (a wrong answer, no database error)
    probe: bool = True


# First match wins: the more specific patterns come first.
KNOWN: tuple[Known, ...] = (
    Known(
        "str_unique_accent",
        "unique value that differs only in accents collides (accent-insensitive collation)",
        "de-duplicate accent variants, or db_collation='utf8mb4_bin' on the column",
        error=r"Duplicate entry '[^']*[^\x00-\x7f][^']*'",
    ),
    Known(
        "str_unique_trailing_space",
        "unique value that differs only by trailing spaces collides (PAD SPACE)",
        "strip values before saving, or a NO PAD collation",
        error=r"Duplicate entry '[^']* '",
    ),
    Known(
        "str_unique_case",
        "unique value that differs only in case collides (case-insensitive default collation)",
        "de-duplicate case variants before the move; db_collation='utf8mb4_bin' where case must stay distinct",
        error=r"\(1062, .Duplicate entry",
    ),
    Known(
        "in_sliced_subquery",
        "LIMIT inside an IN subquery (a sliced queryset in __in) is refused by the server",
        "evaluate the slice first (list(qs.values_list('pk', flat=True)[:n])) and filter on that list",
        error=r"LIMIT & IN/ALL/ANY/SOME subquery",
    ),
    Known(
        "sql_double_quoted_names",
        'raw SQL quotes names with double quotes: MySQL/MariaDB read "name" as a string (no ANSI_QUOTES)',
        "quote names with connection.ops.quote_name() in raw SQL, or let the ORM build the query",
        error=r"\(1064, .*near .*\"\w+\"",
        probe=False,
    ),
    Known(
        "distinct_on",
        "DISTINCT ON (distinct(*fields)) exists only on PostgreSQL",
        "a Window/Subquery that picks one row per group",
        error=r"DISTINCT ON fields is not supported",
    ),
    Known(
        "sfu_of",
        "select_for_update(of=...) is not supported",
        "lock without of=, or lock the rows in two steps",
        error=r"FOR UPDATE OF is not supported",
    ),
    Known(
        "sfu_no_key",
        "select_for_update(no_key=True) is not supported",
        "drop no_key=True",
        error=r"FOR NO KEY UPDATE is not supported",
    ),
    Known(
        "upsert_with_unique_fields",
        "bulk_create(update_conflicts=True, unique_fields=...) is refused",
        "pass unique_fields only where connection.features.supports_update_conflicts_with_target",
        error=r"updating conflicts with specifying unique fields",
    ),
    Known(
        "str_too_long",
        "a value longer than the column",
        "validate lengths before saving",
        error=r"\(1406, .Data too long",
    ),
    Known(
        "int_overflow_big",
        "an integer out of the column's range",
        "check ranges; UNSIGNED columns differ",
        error=r"\((1264|1690), ",
    ),
    Known(
        "fk_forward_reference",
        "a row refers to one not inserted yet: foreign keys are checked immediately",
        "insert parents first (PostgreSQL defers the check to the commit)",
        error=r"\(1452, .Cannot add or update",
    ),
    Known(
        "ddl_long_unique_varchar",
        "an index key longer than InnoDB allows (error 1071: 3072 bytes, 768 utf8mb4 characters over its columns)",
        "shorten the CharField (max_length <= 768 alone, less in a composite key) or index it through a shorter column",
        error=r"\(1071, .Specified key was too long",
    ),
    Known(
        "ddl_text_key",
        "a TextField used as a primary key, unique or indexed: MySQL/MariaDB cannot key a TEXT column without a "
        "prefix length (error 1170)",
        "make the field a CharField with a max_length (up to 768 characters in a utf8mb4 key), or drop its "
        "primary_key/unique/db_index",
        error=r"\(1170, ",
        probe=False,
    ),
    Known(
        "ddl_row_size",
        "the row is too large for InnoDB (error 1118): too many long CharFields in one table",
        "turn the longest CharFields into TextFields (stored off the row), or split the model",
        error=r"\(1118, ",
        probe=False,
    ),
    Known(
        "ddl_varchar_too_long",
        "a CharField longer than a VARCHAR can hold (error 1074: 16383 characters in utf8mb4)",
        "use a TextField for such long values",
        error=r"\(1074, ",
        probe=False,
    ),
    Known(
        "ddl_fk_type_mismatch",
        "a foreign key column's type differs from the key it references (error 3780; MariaDB: 1005 errno 150)",
        "give both columns the same type (e.g. migrate the referencing columns when a primary key's type changes)",
        error=r"\(3780, |\(1005, .*errno: ?150",
        probe=False,
    ),
    Known(
        "ddl_invalid_default",
        "a column default the server refuses (error 1067)",
        "set the default in Python (default=) rather than in the database (db_default=) for this column",
        error=r"\(1067, ",
        probe=False,
    ),
    Known(
        "dt_trunc_day_named_zone",
        "time zone functions need the server's time zone tables",
        "load them (mysql_tzinfo_to_sql) or truncate in UTC",
        error=r"time zone definitions for your database",
    ),
    Known(
        "window_lag_default",
        "LAG/LEAD with a default value is a syntax error on MariaDB",
        "wrap LAG/LEAD without a default in Coalesce",
        error=r"\(1064, ",
        sql=r"\b(LAG|LEAD)\(",
    ),
    Known(
        "json_key_int_vs_float",
        "JSON number equality: MariaDB compares the key as text, so a stored 1.0 does not equal 1",
        "store numbers in one form (int or float) and compare with the same type",
        # A key compared with a JSON number: the number is the last parameter, JSON-encoded ("1", "1.0").
        sql=r"=\s*JSON_EXTRACT\(%s, '\$'\)[^;]*\"-?\d+(\.\d+)?\"\]",
        assertion=True,
    ),
    Known(
        "json_order_by_key",
        "ordering by a JSON key sorts as text on MariaDB",
        "order by Cast(KT('data__key'), FloatField())",
        sql=r"ORDER BY[^;]*JSON_",
        assertion=True,
    ),
)


def explain(error: Mapping[str, Any] | None, sql: Sequence[Mapping[str, str]]) -> dict[str, Any] | None:
    """The first known difference this failing test shows, with the evidence, or None."""
    if not error:
        return None
    text = f"{error.get('type', '')}: {error.get('message', '')} ({error.get('cause', '')})"
    statements = " ;; ".join(f"{s.get('sql', '')} {s.get('params', '')} {s.get('error', '')}" for s in sql)
    is_assertion = error.get("type") == "AssertionError" or "Error" not in str(error.get("type"))
    for known in KNOWN:
        if known.assertion and not is_assertion:
            continue
        if known.error and not re.search(known.error, text):
            continue
        if known.sql and not re.search(known.sql, statements, re.I):
            continue
        if not known.error and not known.sql:
            continue
        evidence = "error" if known.error else "SQL"
        return {"id": known.id, "title": known.title, "hint": known.hint, "probe": known.probe, "evidence": evidence}
    return None


def near_findings(error: Mapping[str, Any] | None, findings: Sequence[Mapping[str, Any]], root: Path) -> list[dict]:
    """Audit findings within a few lines of any frame of the traceback that lies in the project."""
    if not error or not findings:
        return []
    places: list[tuple[str, int]] = []
    for filename, line in error.get("frames", ()):
        try:
            places.append((Path(filename).resolve().relative_to(root).as_posix(), int(line)))
        except ValueError:
            continue  # Django's or a library's frame
    return [
        dict(f)
        for f in findings
        if any(f["file"] == file and abs(int(f["line"]) - line) <= AUDIT_NEAR_LINES for file, line in places)
    ]


def compare(runs: Sequence[Mapping[str, Any]], *, audit: Mapping[str, Any] | None, root: Path) -> list[dict]:
    """One comparison per candidate target (every run after the first) against the baseline run."""
    baseline, *candidates = runs
    findings = list((audit or {}).get("findings", ()))
    return [_compare_pair(baseline, candidate, findings, root) for candidate in candidates]


def _compare_pair(base: Mapping[str, Any], cand: Mapping[str, Any], findings: list, root: Path) -> dict[str, Any]:
    b_tests, c_tests = base["tests"], cand["tests"]
    groups = coverage(b_tests, c_tests)
    both = groups["compared"]
    breaks = [_break(t, c_tests[t], findings, root) for t in groups["breaks"]]
    b_time = sum(b_tests[t]["seconds"] for t in both)
    c_time = sum(c_tests[t]["seconds"] for t in both)
    return {
        "baseline": base["target"],
        "candidate": cand["target"],
        "tests_compared": len(both),
        "breaks": breaks,
        "setup_findings": [setup_finding(e) for e in cand.get("setup_errors") or ()],
        "candidate_crashed": cand.get("crashed"),
        "passes_only_on_candidate": [
            {"test": t, "error": _first_line(b_tests[t].get("error"))} for t in groups["passes_only_on_candidate"]
        ],
        "already_failing": [
            {"test": t, "error": _first_line(c_tests[t].get("error"))} for t in groups["already_failing"]
        ],
        "passes_on_both": len(groups["passes_on_both"]),
        "only_on_baseline": groups["only_on_baseline"],
        "only_on_candidate": groups["only_on_candidate"],
        "skipped_only_on_baseline": [_skip(t, b_tests[t]) for t in groups["skipped_only_on_baseline"]],
        "skipped_only_on_candidate": [_skip(t, c_tests[t]) for t in groups["skipped_only_on_candidate"]],
        "not_run_on_candidate": groups["not_run_on_candidate"],
        "not_run_on_baseline": groups["not_run_on_baseline"],
        "coverage": {k: len(v) for k, v in groups.items() if k != "compared"},
        "totals": {"baseline": len(b_tests), "candidate": len(c_tests)},
        "test_seconds": {"baseline": round(b_time, 3), "candidate": round(c_time, 3)},
        "time_ratio": round(c_time / b_time, 3) if b_time > 0 else None,
        "slower": _slower(both, b_tests, c_tests),
    }


# Every test of either run falls in exactly one of these, so the counts add up to the union of both runs.
GROUPS = (
    "passes_on_both",
    "breaks",
    "passes_only_on_candidate",
    "already_failing",
    "skipped_on_both",
    "skipped_only_on_baseline",
    "skipped_only_on_candidate",
    "not_run_on_candidate",
    "not_run_on_baseline",
    "only_on_baseline",
    "only_on_candidate",
    "other",
)


def coverage(b_tests: Mapping[str, Any], c_tests: Mapping[str, Any]) -> dict[str, list[str]]:
    """Sort every test into one group (:data:`GROUPS`), plus ``compared``: those that ran on both."""
    groups: dict[str, list[str]] = {g: [] for g in (*GROUPS, "compared")}
    for test in sorted(set(b_tests) | set(c_tests)):
        if test not in c_tests:
            groups["only_on_baseline"].append(test)
            continue
        if test not in b_tests:
            groups["only_on_candidate"].append(test)
            continue
        b, c = b_tests[test]["outcome"], c_tests[test]["outcome"]
        if c == "not_run" or b == "not_run":
            groups["not_run_on_candidate" if c == "not_run" else "not_run_on_baseline"].append(test)
            continue
        groups["compared"].append(test)
        if b == "skipped" or c == "skipped":
            side = "both" if b == c else ("only_on_baseline" if b == "skipped" else "only_on_candidate")
            groups[f"skipped_{'on_both' if side == 'both' else side}"].append(test)
        elif b in GOOD and c in BAD:
            groups["breaks"].append(test)
        elif b in BAD and c in GOOD:
            groups["passes_only_on_candidate"].append(test)
        elif b in BAD and c in BAD:
            groups["already_failing"].append(test)
        elif b in GOOD and c in GOOD:
            groups["passes_on_both"].append(test)
        else:
            groups["other"].append(test)
    return groups


def _skip(test: str, result: Mapping[str, Any]) -> dict[str, str]:
    return {"test": test, "reason": str(result.get("reason") or "")}


def setup_finding(event: Mapping[str, Any]) -> dict[str, Any]:
    """One set-up failure (a migration or a table the server refused): where, the server's error, why, the fix."""
    error = event.get("error") or {}
    during = event.get("during") or {}
    return {
        "migration": during.get("migration"),
        "model": during.get("model"),
        "field": during.get("field"),
        "index": during.get("index") or during.get("constraint"),
        "fixture": during.get("fixture"),
        "test_class": during.get("class"),
        "error": _first_line(error),
        "explanation": explain(error, event.get("sql") or ()),
        "sql": [s.get("sql", "") for s in event.get("sql") or ()][-1:],
    }


def _break(test: str, result: Mapping[str, Any], findings: list, root: Path) -> dict[str, Any]:
    error = result.get("error")
    return {
        "test": test,
        "outcome": result["outcome"],
        "error": _first_line(error),
        "explanation": explain(error, result.get("sql", ())),
        "audit": near_findings(error, findings, root),
        "sql": [s["sql"] for s in result.get("sql", ())][-2:],
    }


def _slower(tests: Sequence[str], base: Mapping[str, Any], cand: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for test in tests:
        b, c = base[test]["seconds"], cand[test]["seconds"]
        if c - b >= SLOW_EXTRA_S and (b <= 0 or c / b >= SLOW_RATIO):
            rows.append({"test": test, "baseline_s": b, "candidate_s": c, "ratio": round(c / b, 2) if b else None})
    rows.sort(key=lambda r: r["candidate_s"] - r["baseline_s"], reverse=True)
    return rows[:SLOW_SHOWN]


def _first_line(error: Mapping[str, Any] | None) -> str:
    if not error:
        return ""
    message = error.get("message", "")
    return f"{error.get('type', 'Error')}: {message}" if message else str(error.get("type", "Error"))


def counts(run: Mapping[str, Any]) -> dict[str, int]:
    """How many tests of a run ended in each outcome."""
    out: dict[str, int] = {}
    for result in run["tests"].values():
        out[result["outcome"]] = out.get(result["outcome"], 0) + 1
    return dict(sorted(out.items()))
