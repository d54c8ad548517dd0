"""The app answer as text (the command's output) and as the report's "Your project" Markdown section.

Pure functions of the app data (``dbbench.app.run.run_app``'s dict, as stored in the result file).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dbbench import markdown

BREAKS_SHOWN = 30
ERROR_CHARS = 240  # the first line of an assertion can hold a whole HTML page


def _labels(data: Mapping[str, Any]) -> dict[str, str]:
    return {run["target"]: run.get("label", run["target"]) for run in data["runs"]}


def _passed(run: Mapping[str, Any]) -> int:
    return sum(n for outcome, n in run["counts"].items() if outcome in ("passed", "xfailed"))


def _run_line(run: Mapping[str, Any]) -> str:
    total = len(run["tests"])
    mark = f"; STOPPED by the timeout during {run['stopped_during'] or 'the suite'}" if run["timed_out"] else ""
    outcomes = ", ".join(f"{n} {o}" for o, n in run["counts"].items())
    line = f"{run['target']} ({run.get('label', '?')}): {total} tests ({outcomes}) in {run['seconds']:.1f} s{mark}"
    crashes = [f"\n  could not import {c['where']}: {c['message']}" for c in run.get("collect_errors", ())]
    return line + "".join(crashes)


def _explain_text(item: Mapping[str, Any]) -> list[str]:
    lines = []
    known = item.get("explanation")
    if known:
        source = "parity probe" if known.get("probe") else "known difference"
        lines.append(f"    why: {known['title']} ({source} {known['id']}, seen in the {known['evidence']})")
        lines.append(f"    fix: {known['hint']}")
    for finding in item.get("audit", ()):
        lines.append(f"    audit: {finding['file']}:{finding['line']} {finding['rule']}: {finding['message']}")
    return lines


def render_text(data: Mapping[str, Any]) -> str:
    """What ``dbbench app`` prints."""
    labels = _labels(data)
    out = [f"{data['name']}: settings {data['settings']} ({data['settings_source']}), runner {data['runner']}"]
    out += [_run_line(run) for run in data["runs"]]
    for comp in data["comparisons"]:
        base, cand = labels[comp["baseline"]], labels[comp["candidate"]]
        ratio = f"{comp['time_ratio']:.2f}x" if comp["time_ratio"] else "n/a"
        out.append(
            f"\n{cand} against {base}: {comp['tests_compared']} tests compared, {len(comp['breaks'])} break, "
            f"{len(comp['already_failing'])} already failing, {comp['passes_on_both']} pass on both; "
            f"test time {ratio} of {base}'s"
        )
        for item in comp["breaks"]:
            out.append(f"  BREAKS on {cand}: {item['test']}\n    {item['error'][:ERROR_CHARS]}")
            out += _explain_text(item)
        out += [f"  already failing: {item['test']}: {item['error'][:ERROR_CHARS]}" for item in comp["already_failing"]]
        out += [f"  passes only on {cand}: {item['test']}" for item in comp["passes_only_on_candidate"]]
        out += [
            f"  slower on {cand}: {row['test']} {row['baseline_s'] * 1000:.0f} ms -> {row['candidate_s'] * 1000:.0f} ms"
            for row in comp["slower"]
        ]
    if data.get("audit"):
        out.append(f"\naudit of the same folder: {data['audit']['findings']} findings {data['audit']['counts']}")
    return "\n".join(out)


_md = markdown.cell


def render_section(data: Mapping[str, Any]) -> str:
    """The report's "Your project" section (Markdown): tests run, passes per backend, breaks explained, timing."""
    labels = _labels(data)
    out = [
        "## Your project",
        "",
        f"`{_md(data['name'])}`: its own test suite ({data['runner']} runner), run once per backend.",
        "",
    ]
    out += ["| backend | tests | passed | failed or errors | suite time |", "|---|---|---|---|---|"]
    for run in data["runs"]:
        bad = run["counts"].get("failed", 0) + run["counts"].get("error", 0)
        stopped = " (stopped by the timeout: partial)" if run["timed_out"] else ""
        out.append(
            f"| {labels[run['target']]} | {len(run['tests'])} | {_passed(run)} | {bad} "
            f"| {run['seconds']:.1f} s{stopped} |"
        )
    for comp in data["comparisons"]:
        out += _comparison_md(comp, labels)
    return "\n".join(out) + "\n"


def _comparison_md(comp: Mapping[str, Any], labels: Mapping[str, str]) -> list[str]:
    base, cand = labels[comp["baseline"]], labels[comp["candidate"]]
    ratio = f"{comp['time_ratio']:.2f}x" if comp["time_ratio"] else "n/a"
    out = [
        "",
        f"**{cand}** against {base}: {len(comp['breaks'])} of {comp['tests_compared']} tests break, "
        f"{len(comp['already_failing'])} already fail on both; the tests took {ratio} the time.",
    ]
    if comp["breaks"]:
        out += ["", "| test | error | why | audit nearby |", "|---|---|---|---|"]
        for item in comp["breaks"][:BREAKS_SHOWN]:
            known = item.get("explanation")
            why = f"{_md(known['title'])} (`{known['id']}`)" if known else "not matched to a known difference"
            near = "; ".join(f"{f['file']}:{f['line']} `{f['rule']}`" for f in item.get("audit", ())) or "-"
            out.append(f"| `{_md(item['test'])}` | {_md(item['error'][:160])} | {why} | {_md(near)} |")
        if len(comp["breaks"]) > BREAKS_SHOWN:
            out.append(f"\n{len(comp['breaks']) - BREAKS_SHOWN} more breaks are in the app result file.")
    if comp["slower"]:
        slow = ", ".join(f"`{_md(r['test'])}` ({r['ratio'] or 'inf'}x)" for r in comp["slower"][:5])
        out += ["", f"Much slower on {cand}: {slow}."]
    return out
