"""The app answer as text (the command's output) and as the report's "Your project" Markdown section.

Pure functions of the app data (``dbbench.app.run.run_app``'s dict, as stored in the result file). Both say the
same things in the same order: what breaks and why, what to fix first, and what was not compared (tests that
did not run on one backend, exist on one only, or were skipped by the suite itself on one only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dbbench import markdown

BREAKS_SHOWN = 30
NAMES_SHOWN = 5
ERROR_CHARS = 240  # the first line of an assertion can hold a whole HTML page


def _labels(data: Mapping[str, Any]) -> dict[str, str]:
    return {run["target"]: run.get("label", run["target"]) for run in data["runs"]}


def _passed(run: Mapping[str, Any]) -> int:
    return sum(n for outcome, n in run["counts"].items() if outcome in ("passed", "xfailed"))


def _run_line(run: Mapping[str, Any]) -> str:
    total = len(run["tests"])
    if run.get("crashed"):
        return f"{run['target']} ({run.get('label', '?')}): did not run: {run['crashed']}"
    mark = f"; STOPPED by the timeout during {run['stopped_during'] or 'the suite'}" if run["timed_out"] else ""
    outcomes = ", ".join(f"{n} {o.replace('_', ' ')}" for o, n in run["counts"].items())
    line = f"{run['target']} ({run.get('label', '?')}): {total} tests ({outcomes}) in {run['seconds']:.1f} s{mark}"
    crashes = [f"\n  could not import {c['where']}: {c['message']}" for c in run.get("collect_errors", ())]
    return line + "".join(crashes)


def coverage_text(comp: Mapping[str, Any], base: str, cand: str) -> str:
    """How every test of both runs is accounted for; the parts add up to each run's total."""
    cov, totals = comp.get("coverage") or {}, comp.get("totals") or {}
    ran = [
        (cov.get("passes_on_both", 0), "pass on both"),
        (cov.get("breaks", 0), "break"),
        (cov.get("already_failing", 0), "fail on both"),
        (cov.get("passes_only_on_candidate", 0), f"pass only on {cand}"),
        (cov.get("skipped_on_both", 0), "skipped on both"),
        (cov.get("skipped_only_on_baseline", 0), f"skipped only on {base}"),
        (cov.get("skipped_only_on_candidate", 0), f"skipped only on {cand}"),
        (cov.get("other", 0), "other outcomes"),
    ]
    parts = ", ".join(f"{n} {what}" for n, what in ran if n)
    rest = [
        (cov.get("not_run_on_candidate", 0), f"not run on {cand}"),
        (cov.get("not_run_on_baseline", 0), f"not run on {base}"),
        (cov.get("only_on_baseline", 0), f"exist only on {base}"),
        (cov.get("only_on_candidate", 0), f"exist only on {cand}"),
    ]
    extra = "".join(f"; {n} {what}" for n, what in rest if n)
    head = f"{totals.get('baseline', '?')} tests on {base}, {totals.get('candidate', '?')} on {cand}"
    return f"{head}: {comp['tests_compared']} ran on both ({parts or 'none'}){extra}"


def _where(finding: Mapping[str, Any]) -> str:
    parts = [
        f"migration {finding['migration']}" if finding.get("migration") else "",
        f"model {finding['model']}" if finding.get("model") else "",
        f"field {finding['field']}" if finding.get("field") else "",
        f"index {finding['index']}" if finding.get("index") else "",
        f"fixture {finding['fixture']} of {finding.get('test_class')}" if finding.get("fixture") else "",
    ]
    return ", ".join(p for p in parts if p) or "creating the test database"


def next_steps(data: Mapping[str, Any]) -> list[str]:
    """What to fix first, in order: set-ups that kept tests from running, then breaks by cause, then what was
    not compared. Plain sentences, for the text output and the report alike."""
    labels = _labels(data)
    steps: list[str] = []
    for comp in data["comparisons"]:
        cand = labels[comp["candidate"]]
        if comp.get("candidate_crashed"):
            steps.append(f"Make the suite start on {cand}: {comp['candidate_crashed']}.")
        for f in comp.get("setup_findings") or ():
            known = f.get("explanation")
            fix = f"{known['hint']} ({known['title']})" if known else f"the server refused it: {f['error']}"
            what = "a test fixture cannot be loaded" if f.get("fixture") else "the test database cannot be built"
            steps.append(
                f"Fix {_where(f)} first: {what} on {cand}, so "
                f"{len(comp.get('not_run_on_candidate') or ())} tests did not run there. Fix: {fix}."
            )
        causes: dict[str, list[Mapping[str, Any]]] = {}
        for item in comp["breaks"]:
            causes.setdefault((item.get("explanation") or {}).get("id", ""), []).append(item)
        for cause, items in sorted(causes.items(), key=lambda kv: (kv[0] == "", -len(kv[1]))):
            if cause:
                known = items[0]["explanation"]
                steps.append(f"{len(items)} break(s) on {cand} from {known['title']} ({cause}): {known['hint']}.")
            else:
                steps.append(
                    f"{len(items)} break(s) on {cand} match no known difference: read their errors "
                    f"(first: {items[0]['test']})."
                )
        unseen = len(comp.get("only_on_baseline") or ()) + len(comp.get("skipped_only_on_candidate") or ())
        if unseen:
            steps.append(
                f"{unseen} test(s) that run on {labels[comp['baseline']]} were not compared on {cand} (they exist "
                "only there or the suite skips them there): check they cover nothing the move depends on."
            )
    return steps


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


def _names(label: str, items: list[Any]) -> list[str]:
    if not items:
        return []
    shown = [i if isinstance(i, str) else f"{i['test']}: {i.get('reason') or 'no reason given'}" for i in items]
    more = f" (and {len(items) - NAMES_SHOWN} more in the result file)" if len(items) > NAMES_SHOWN else ""
    return [f"  {label} ({len(items)}){more}:"] + [f"    {s[:ERROR_CHARS]}" for s in shown[:NAMES_SHOWN]]


def render_text(data: Mapping[str, Any]) -> str:
    """What ``dbbench app`` prints."""
    labels = _labels(data)
    settings = f"settings {data['settings']}" if data["settings"] else "settings built in code"
    out = [f"{data['name']}: {settings} ({data['settings_source']}), runner {data['runner']}"]
    if data.get("python"):
        out.append(f"python: {data['python']}")
    out += [_run_line(run) for run in data["runs"]]
    aliases = sorted({a for run in data["runs"] for a in run.get("aliases") or ()})
    if len(aliases) > 1:
        out.append(f"database aliases {', '.join(aliases)}: all pointed at the same server in each run")
    for comp in data["comparisons"]:
        base, cand = labels[comp["baseline"]], labels[comp["candidate"]]
        ratio = f"{comp['time_ratio']:.2f}x" if comp["time_ratio"] else "n/a"
        out.append(f"\n{cand} against {base}: {coverage_text(comp, base, cand)}; test time {ratio} of {base}'s")
        for f in comp.get("setup_findings") or ():
            out.append(f"  SET-UP FAILS on {cand}: {_where(f)}\n    {f['error'][:ERROR_CHARS]}")
            out += _explain_text(f)
            out.append(f"    kept {len(comp.get('not_run_on_candidate') or ())} tests from running on {cand}")
        for item in comp["breaks"]:
            out.append(f"  BREAKS on {cand}: {item['test']}\n    {item['error'][:ERROR_CHARS]}")
            out += _explain_text(item)
        out += [f"  already failing: {item['test']}: {item['error'][:ERROR_CHARS]}" for item in comp["already_failing"]]
        out += [f"  passes only on {cand}: {item['test']}" for item in comp["passes_only_on_candidate"]]
        out += _names(f"exist only on {base}", comp.get("only_on_baseline") or [])
        out += _names(f"exist only on {cand}", comp.get("only_on_candidate") or [])
        out += _names(f"skipped only on {cand}", comp.get("skipped_only_on_candidate") or [])
        out += _names(f"skipped only on {base}", comp.get("skipped_only_on_baseline") or [])
        out += [
            f"  slower on {cand}: {row['test']} {row['baseline_s'] * 1000:.0f} ms -> {row['candidate_s'] * 1000:.0f} ms"
            for row in comp["slower"]
        ]
    steps = next_steps(data)
    if steps:
        out.append("\nwhat to do first:")
        out += [f"  {n}. {step}" for n, step in enumerate(steps, 1)]
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
    out += ["| backend | tests | passed | failed or errors | not run | suite time |", "|---|---|---|---|---|---|"]
    for run in data["runs"]:
        bad = run["counts"].get("failed", 0) + run["counts"].get("error", 0)
        stopped = " (stopped by the timeout: partial)" if run["timed_out"] else ""
        time = "did not run" if run.get("crashed") else f"{run['seconds']:.1f} s{stopped}"
        out.append(
            f"| {labels[run['target']]} | {len(run['tests'])} | {_passed(run)} | {bad} "
            f"| {run['counts'].get('not_run', 0)} | {time} |"
        )
    for comp in data["comparisons"]:
        out += _comparison_md(comp, labels)
    steps = next_steps(data)
    if steps:
        out += ["", "What to do first:", ""] + [f"{n}. {_md(step)}" for n, step in enumerate(steps, 1)]
    return "\n".join(out) + "\n"


def _comparison_md(comp: Mapping[str, Any], labels: Mapping[str, str]) -> list[str]:
    base, cand = labels[comp["baseline"]], labels[comp["candidate"]]
    ratio = f"{comp['time_ratio']:.2f}x" if comp["time_ratio"] else "n/a"
    out = [
        "",
        f"**{cand}** against {base}: {len(comp['breaks'])} of {comp['tests_compared']} tests break, "
        f"{len(comp['already_failing'])} already fail on both; the tests took {ratio} the time.",
        "",
        f"Coverage: {_md(coverage_text(comp, base, cand))}.",
    ]
    if comp.get("setup_findings"):
        out += ["", "| set-up that fails | server's error | why | fix |", "|---|---|---|---|"]
        for f in comp["setup_findings"]:
            known = f.get("explanation")
            why = f"{_md(known['title'])} (`{known['id']}`)" if known else "not matched to a known difference"
            fix = _md(known["hint"]) if known else "-"
            out.append(f"| {_md(_where(f))} | {_md(f['error'][:160])} | {why} | {fix} |")
    if comp["breaks"]:
        out += ["", "| test | error | why | audit nearby |", "|---|---|---|---|"]
        for item in comp["breaks"][:BREAKS_SHOWN]:
            known = item.get("explanation")
            why = f"{_md(known['title'])} (`{known['id']}`)" if known else "not matched to a known difference"
            near = "; ".join(f"{f['file']}:{f['line']} `{f['rule']}`" for f in item.get("audit", ())) or "-"
            out.append(f"| `{_md(item['test'])}` | {_md(item['error'][:160])} | {why} | {_md(near)} |")
        if len(comp["breaks"]) > BREAKS_SHOWN:
            out.append(f"\n{len(comp['breaks']) - BREAKS_SHOWN} more breaks are in the app result file.")
    skipped = comp.get("skipped_only_on_candidate") or []
    if skipped:
        reasons = "; ".join(f"`{_md(s['test'])}`: {_md(s.get('reason') or 'no reason')}" for s in skipped[:5])
        out += ["", f"Skipped by the suite only on {cand}: {reasons}."]
    if comp["slower"]:
        slow = ", ".join(f"`{_md(r['test'])}` ({r['ratio'] or 'inf'}x)" for r in comp["slower"][:5])
        out += ["", f"Much slower on {cand}: {slow}."]
    return out


def verdict_lines(data: Mapping[str, Any]) -> list[str]:
    """The app result read on its own (no benchmarks beside it): a headline per candidate, what breaks and why,
    what to fix first and what was not compared, as Markdown lines for the report's verdict."""
    labels = _labels(data)
    out: list[str] = []
    for comp in data["comparisons"]:
        base, cand = labels[comp["baseline"]], labels[comp["candidate"]]
        setups, breaks = comp.get("setup_findings") or [], comp["breaks"]
        if comp.get("candidate_crashed"):
            head = f"Your project's suite could not run on {cand}: not a verdict yet"
        elif setups or breaks:
            parts = [f"{len(setups)} set-up failure(s)" if setups else "", f"{len(breaks)} break(s)" if breaks else ""]
            head = f"Moving `{_md(data['name'])}` to {cand} breaks it: {' and '.join(p for p in parts if p)}"
        else:
            head = f"Nothing in `{_md(data['name'])}`'s own tests breaks on {cand}"
        out += [f"> **{head}.**", ""]
        out.append(f"- Tests: {_md(coverage_text(comp, base, cand))}.")
        for f in setups:
            known = f.get("explanation")
            why = f"{_md(known['title'])}" if known else "not matched to a known difference"
            out.append(
                f"- The test database cannot be built on {cand}: {_md(_where(f))}: {_md(f['error'][:160])} ({why})."
            )
        causes: dict[str, int] = {}
        for item in breaks:
            title = (item.get("explanation") or {}).get("title") or "not matched to a known difference"
            causes[title] = causes.get(title, 0) + 1
        out += [f"- {n} break(s): {_md(title)}." for title, n in sorted(causes.items(), key=lambda kv: -kv[1])]
        out.append("")
    steps = next_steps(data)
    if steps:
        out += ["What to fix first:", ""] + [f"{n}. {_md(step)}" for n, step in enumerate(steps, 1)] + [""]
    out.append(
        "_Only your project's own tests were compared: no speed, load or portability results were given, so this "
        "says what breaks, not whether the move is worth it (`dbbench run --app` measures the rest)._"
    )
    return out
