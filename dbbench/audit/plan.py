"""Where a team starts: the audit's findings as root causes, ordered by what blocks the move first.

A root cause is one rule (57 ``select_for_update(of=...)`` places are one decision), or one refusal
(``vendor-refusal``: each place that raises or exits off PostgreSQL is its own decision). Causes are ordered by the
phase of the move they block (settings and start-up, then models and migrations, then queries, then tests), then
by severity and by how many places they cover. Each names an effort class and the evidence behind it: the parity
probes that measure the difference, or the documentation that states it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from dbbench.audit.rules import HANDLED, RULES, SEVERITIES

PHASES = ("settings and start-up", "models and migrations", "queries", "tests")
LINE, FUNCTION, MODEL, REDESIGN = "a line", "a function", "a model change with a data migration", "a redesign"

# Rules that stop the project from starting (an import that fails, settings that refuse the server).
_START_UP = frozenset({"pg-engine", "pg-app", "pg-driver-import", "pg-import", "python-syntax"})
_MODELS = frozenset(
    {
        "pg-field",
        "pg-index",
        "pg-index-plain",
        "pg-constraint",
        "pg-operation",
        "db-collation",
        "index-skipped",
        "constraint-skipped",
        "json-db-index",
        "unique-string-ci",
        "text-key",
    }
)
EFFORT = {
    "pg-import": LINE,
    "pg-driver-import": FUNCTION,
    "pg-app": LINE,
    "pg-engine": REDESIGN,
    "pg-field": MODEL,
    "pg-index": LINE,
    "pg-index-plain": LINE,
    "pg-aggregate": FUNCTION,
    "pg-search": REDESIGN,
    "pg-constraint": REDESIGN,
    "pg-operation": LINE,
    "pg-function": LINE,
    "pg-lookup": FUNCTION,
    "distinct-on": FUNCTION,
    "select-for-update-no-key": LINE,
    "select-for-update-of": LINE,
    "upsert-unique-fields": LINE,
    "ignore-conflicts": FUNCTION,
    "iterator-buffered": FUNCTION,
    "json-lookup": FUNCTION,
    "json-db-index": MODEL,
    "unique-string-ci": MODEL,
    "text-key": MODEL,
    "db-collation": LINE,
    "index-skipped": MODEL,
    "constraint-skipped": MODEL,
    "in-sliced-subquery": LINE,
    "ordered-update": LINE,
    "int-division": LINE,
    "round-float": LINE,
    "regex-word-boundary": LINE,
    "raw-sql-untranslatable": REDESIGN,
    "raw-sql-rewrite": FUNCTION,
    "raw-sql-semantics": FUNCTION,
    "raw-sql-unparsed": FUNCTION,
    "raw-sql-dynamic": FUNCTION,
    "pg-sql-expression": FUNCTION,
    "vendor-refusal": FUNCTION,
    "python-syntax": LINE,
}
_DJANGO = "https://docs.djangoproject.com/en/5.2/"
_CONTRIB = _DJANGO + "ref/contrib/postgres/"
_MYSQL_NOTES = _DJANGO + "ref/databases/#mysql-notes"
# Documentation for rules that no parity probe measures.
DOCS = {
    "pg-import": _CONTRIB,
    "pg-driver-import": _MYSQL_NOTES,
    "pg-app": _CONTRIB,
    "pg-engine": _DJANGO + "ref/settings/#engine",
    "pg-field": _CONTRIB + "fields/",
    "pg-index": _CONTRIB + "indexes/",
    "pg-index-plain": _CONTRIB + "indexes/",
    "pg-aggregate": _CONTRIB + "aggregates/",
    "pg-search": _CONTRIB + "search/",
    "pg-constraint": _CONTRIB + "constraints/",
    "pg-operation": _CONTRIB + "operations/",
    "pg-function": _CONTRIB + "functions/",
    "pg-lookup": _CONTRIB + "lookups/",
    "iterator-buffered": _DJANGO + "ref/models/querysets/#with-server-side-cursors",
    "json-lookup": _DJANGO + "topics/db/queries/#querying-jsonfield",
    "json-db-index": _DJANGO + "ref/checks/#fields",
    "db-collation": _DJANGO + "ref/models/fields/#django.db.models.CharField.db_collation",
    "raw-sql-untranslatable": _MYSQL_NOTES,
    "raw-sql-rewrite": _MYSQL_NOTES,
    "raw-sql-semantics": _MYSQL_NOTES,
    "raw-sql-unparsed": _MYSQL_NOTES,
    "raw-sql-dynamic": _DJANGO + "topics/db/sql/",
    "pg-sql-expression": _DJANGO + "ref/models/expressions/#writing-your-own-query-expressions",
    "vendor-refusal": _MYSQL_NOTES,
    "python-syntax": "https://docs.python.org/3/reference/grammar.html",
}


def phase_of(finding: dict[str, Any]) -> str:
    area, rule = finding.get("area", "app"), finding["rule"]
    name = finding["file"].rsplit("/", 1)[-1]
    if rule in _START_UP and area == "migrations":
        return PHASES[1]  # an import only migrations make fails at migrate time, not when the site starts
    if rule in _START_UP or (rule == "vendor-refusal" and "settings" in finding["file"].lower()):
        return PHASES[0]
    if area == "tests" and not name.startswith("settings"):
        return PHASES[3]
    if rule in _MODELS or area == "migrations":
        return PHASES[1]
    return PHASES[2]


def _key(finding: dict[str, Any]) -> str:
    if finding["rule"] == "vendor-refusal":
        return f"{finding['file']}:{finding['line']}"
    return finding["rule"]


def root_causes(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per root cause, in the order a team should take them."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for f in findings:
        groups.setdefault((f["rule"], _key(f)), []).append(f)
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    causes = []
    for (rule_id, key), places in groups.items():
        # what needs work first (the places that put the cause in its phase first), then what is handled
        places = sorted(places, key=lambda f: (f["severity"] == HANDLED, PHASES.index(phase_of(f))))
        worst = min((f["severity"] for f in places), key=rank.__getitem__)
        open_places = [f for f in places if f["severity"] != HANDLED] or places
        # where most of its places are (60 select_for_update(of=) calls in app code and one in a migration are
        # a query problem); settings and start-up always lead: nothing else runs until they are fixed
        counted = Counter(phase_of(f) for f in open_places)
        phase = PHASES[0] if counted[PHASES[0]] else max(PHASES, key=lambda p: (counted[p], -PHASES.index(p)))
        rule = RULES[rule_id]
        probes = list(rule.probes)
        evidence = f"parity probe {', '.join(probes)}" if probes else DOCS.get(rule_id, _MYSQL_NOTES)
        causes.append(
            {
                "rule": rule_id,
                "key": key,
                "phase": phase,
                "severity": worst,
                "title": rule.title if rule_id != "vendor-refusal" else places[0]["message"],
                "effort": EFFORT.get(rule_id, FUNCTION),
                "evidence": evidence,
                "instead": places[0]["instead"],
                "places": [f"{f['file']}:{f['line']}" for f in places],
                "open": sum(1 for f in places if f["severity"] != HANDLED),
            }
        )
    causes.sort(key=lambda c: (PHASES.index(c["phase"]), rank[c["severity"]], -c["open"], c["key"]))
    return causes


def start_here(data: dict[str, Any], shown: int = 15) -> list[str]:
    """The report's opening: root causes to fix, in order, then what only needs verifying."""
    causes = data.get("root_causes") or root_causes(data["findings"])
    todo = [c for c in causes if c["severity"] != HANDLED]
    verify = [c for c in causes if c["severity"] == HANDLED]
    found = len(data["findings"])
    lines = [
        f"START HERE: {len(todo)} root cause{'' if len(todo) == 1 else 's'} behind "
        f"{found} finding{'' if found == 1 else 's'}, in the order they block the move "
        f"({len(verify)} more only need verifying on the target)"
    ]
    phase = None
    for number, cause in enumerate(todo[:shown], start=1):
        if cause["phase"] != phase:
            phase = cause["phase"]
            lines.append(f"  -- {phase} --")
        places = cause["places"]
        where = ", ".join(places[:3]) + (f" and {len(places) - 3} more" if len(places) > 3 else "")
        lines.append(f"  {number}. [{cause['rule']}] {cause['title']} ({cause['severity']}; {where})")
        lines.append(f"     effort: {cause['effort']}; evidence: {cause['evidence']}")
        lines.append(f"     instead: {cause['instead']}")
    if len(todo) > shown:
        lines.append(f"  ... and {len(todo) - shown} more root causes below")
    return lines
