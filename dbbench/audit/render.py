"""The audit's text and Markdown renderings: a summary a team can act on first, then one entry per root cause.

A root cause is a rule plus its message (the same collation, the same JSON lookup, the same SQL construct): its
places are listed under it, so 77 uses of one collation read as one thing to fix. App code comes first, then
migrations, then tests; findings under a vendor guard ("handled") come last in each part.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from dbbench import markdown
from dbbench.audit.plan import start_here
from dbbench.audit.rules import HANDLED, SEVERITIES

AREAS = ("app", "migrations", "tests")
_HEADINGS = {
    "blocker": "BLOCKERS",
    "behaviour change": "BEHAVIOUR CHANGES",
    "performance risk": "PERFORMANCE RISKS",
    "handled": "HANDLED BY A VENDOR OR FEATURE GUARD (verify on the target)",
}
_PLACES_SHOWN = 5


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(data: dict[str, Any]) -> str:
    found, files = len(data["findings"]), data["files"]
    return f"{_plural(found, 'finding')} in {_plural(files, 'Python file')} ({_by_severity(data)})"


def _by_severity(data: dict[str, Any]) -> str:
    counts = data["counts"]
    return ", ".join(
        f"{counts[s]} handled" if s == HANDLED else _plural(counts[s], s) for s in SEVERITIES if s in counts
    )


def root_causes(findings: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Findings grouped by rule and message, largest group first within the input order."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for f in findings:
        groups.setdefault((f["rule"], f["severity"], f["message"]), []).append(f)
    return [(places[0], places) for places in groups.values()]


def _summary(data: dict[str, Any]) -> list[str]:
    findings = data["findings"]
    found, files = len(findings), data["files"]
    where = f"{_plural(found, 'finding')} in {_plural(files, 'Python file')}"
    lines = [f"dbbench audit {data['path']} (target: {data.get('target', 'mariadb')}): {where}"]
    new = data.get("new_findings")
    if new is not None:
        lines.append(f"baseline: {len(findings) - new} known, {new} new")
    if data.get("ignored"):
        lines.append(f"silenced by '# dbbench: ignore' comments: {data['ignored']}")
    notes = [f"note: {note}" for note in data.get("notes", [])]
    if not findings:
        return lines + notes
    lines += ["", *start_here(data), "", f"by severity: {_by_severity(data)}"]
    by_rule = Counter(f["rule"] for f in findings)
    lines.append("by rule: " + ", ".join(f"{rule} {n}" for rule, n in by_rule.most_common()))
    by_area = Counter(f.get("area", "app") for f in findings)
    lines.append("by area: " + ", ".join(f"{area} {by_area[area]}" for area in AREAS if by_area[area]))
    return lines + notes  # after the plan: a team reads what to fix first, then what was not fully read


def render_text(data: dict[str, Any]) -> str:
    """A summary, then per area (app, migrations, tests) and severity one entry per root cause with its places."""
    lines = _summary(data)
    if not data["findings"]:
        lines.append("no PostgreSQL-only code found")
        return "\n".join(lines)
    for area in AREAS:
        part = [f for f in data["findings"] if f.get("area", "app") == area]
        if not part:
            continue
        lines += ["", f"== {area} ({len(part)}) =="]
        for severity in SEVERITIES:
            group = [f for f in part if f["severity"] == severity]
            if not group:
                continue
            lines += ["", f"{_HEADINGS[severity]} ({len(group)})"]
            for first, places in root_causes(group):
                lines += _cause_lines(first, places)
    return "\n".join(lines)


def _cause_lines(first: dict[str, Any], places: list[dict[str, Any]]) -> list[str]:
    probes = f" (probe: {', '.join(first['probes'])})" if first.get("probes") else ""
    if len(places) == 1:
        out = [f"  {_where(first)}  [{first['rule']}] {first['message']}{probes}"]
        if first["code"]:
            out.append(f"      | {first['code']}")
    else:
        out = [f"  [{first['rule']}] {first['message']}{probes}: {len(places)} places"]
        out += [f"      {_where(f)}  | {f['code']}" for f in places[:_PLACES_SHOWN]]
        if len(places) > _PLACES_SHOWN:
            out.append(f"      ... and {len(places) - _PLACES_SHOWN} more (--json lists all)")
    out.append(f"      instead: {first['instead']}")
    return out


def _where(f: dict[str, Any]) -> str:
    return f"{f['file']}:{f['line']}" + (" (baseline)" if f.get("baselined") else "")


def render_markdown(data: dict[str, Any]) -> str:
    """The report's portability section: a summary and one table row per root cause."""
    lines = [f"Audit of `{data['path']}`: {summary_line(data)}.", ""]
    if not data["findings"]:
        return lines[0] + " No PostgreSQL-only code found."
    lines += ["| severity | where | rule | finding | instead |", "|---|---|---|---|---|"]
    order = {s: i for i, s in enumerate(SEVERITIES)}
    ordered = sorted(data["findings"], key=lambda f: (order[f["severity"]], f["file"], f["line"]))
    for first, places in root_causes(ordered):
        where = ", ".join(f"`{f['file']}:{f['line']}`" for f in places[:_PLACES_SHOWN])
        if len(places) > _PLACES_SHOWN:
            where += f" and {len(places) - _PLACES_SHOWN} more"
        cells = [first["severity"], where, first["rule"], first["message"], first["instead"]]
        lines.append("| " + " | ".join(markdown.cell(c) for c in cells) + " |")
    return "\n".join(lines)


def render_explain(data: dict[str, Any], where: str) -> str:
    """``--explain FILE:LINE``: each finding there, its class, and why it has it (the guard seen, or that none was)."""
    file, _, line = where.rpartition(":")
    here = [f for f in data["findings"] if f["file"] == file and str(f["line"]) == line]
    if not here:
        near = sorted({f["line"] for f in data["findings"] if f["file"] == file})
        hint = f" (findings in {file} are on lines {', '.join(map(str, near[:20]))})" if near else ""
        return f"no finding at {where}{hint}"
    lines = []
    for f in here:
        lines += [
            f"{where}  [{f['rule']}] {f['severity']}: {f['message']}",
            f"  code: {f['code']}",
            f"  why {f['severity']}: {f.get('why') or 'no explanation recorded'}",
            f"  instead: {f['instead']}",
        ]
        if f.get("probes"):
            lines.append(f"  measured by: dbbench parity probes {', '.join(f['probes'])}")
    return "\n".join(lines)
