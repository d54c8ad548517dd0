"""Report sections for the other stages' result files: parity, load, seeding, rehearsal, audit.

Each kind gets a section when such files are given and is skipped otherwise. What the verdict needs from them
(portability findings, load at the highest concurrency) is extracted here too, so the report module only
sees :class:`~dbbench.report.verdict.Portability` and :class:`~dbbench.report.verdict.LoadEvidence`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbbench import markdown
from dbbench.report import capacity, tiers
from dbbench.report.data import ResultSet
from dbbench.report.verdict import AppEvidence, LoadEvidence, Portability
from dbbench.units import format_count

# Kind -> (anchor, heading), in the order the report shows them.
SECTIONS: dict[str, tuple[str, str]] = {
    "app": ("project", "Your project"),
    "replay": ("replay", "Your queries, replayed"),
    "parity": ("portability", "Portability: does the app behave the same?"),
    "load": ("load", "Under concurrent load"),
    "seed-benchmark": ("seeding", "Loading the data"),
    "rehearsal": ("rehearsal", "Migration rehearsal"),
    "audit": ("audit", "Code audit"),
    "run": ("run", "How this run went"),
}
_MAX_ROWS = 30
_SHOWN_CATEGORIES = 5  # rows of the portability table by category in view; the rest folded


def extra_sections(results: ResultSet, figures: Path) -> list[str]:
    """One Markdown section per other kind of result present (in :data:`SECTIONS` order)."""
    used = probes_used(results)
    renderers = {
        "parity": lambda data, figures, index: _parity_section(data, used),
        "load": _load_section,
        "rehearsal": lambda data, figures, index: _rehearsal_section(data),
        "run": lambda data, figures, index: _run_section(data),
        "audit": lambda data, figures, index: _audit_section(data),
        "app": lambda data, figures, index: _app_section(data),
        "replay": lambda data, figures, index: _replay_section(data),
    }
    sections: list[str] = []
    for kind, (anchor, heading) in SECTIONS.items():
        docs = results.documents.get(kind)
        if not docs:
            continue
        lines = [f'<a id="{anchor}"></a>\n## {heading}\n']
        for index, (path, document) in enumerate(docs):
            lines.append(f"From `{path.name}`:\n")
            render = renderers.get(kind)
            lines.append(render(document["data"], figures, index) if render else generic_table(document["data"]))
        sections.append("\n".join(lines))
    return sections


def _replay_section(data: dict[str, Any]) -> str:
    from dbbench.replay.render import markdown

    return markdown(data)


# --- parity ---------------------------------------------------------------------------------------------------


def portability_evidence(results: ResultSet, baseline: str, candidate: str) -> Portability | None:
    """What the parity suite found for this pair, or None when no parity results were given."""
    for _, document in reversed(results.documents.get("parity", [])):
        data = document["data"]
        probes = [p for p in data.get("probes") or [] if isinstance(p, dict)]
        measured = {t.get("name") for t in data.get("targets") or [] if isinstance(t, dict)}
        if not probes or not {baseline, candidate} <= measured:
            continue
        # Parity compares every target with its first one and names the side that differs (or failed).
        pair = {baseline, candidate}
        differing = [
            p
            for p in probes
            if p.get("outcome") != "same"
            and pair & set((p.get("different_on") or []) + (p.get("unsupported_on") or []))
        ]
        names = [str(p.get("name")) for p in differing]
        used = probes_used(results)
        hit = [n for n in names if used is not None and n in used]
        return Portability(
            len(probes),
            len(differing),
            [f"`{n}`" for n in names],
            used=None if used is None else len(hit),
            used_examples=[f"`{n}`" for n in hit],
        )
    return None


def probes_used(results: ResultSet) -> set[str] | None:
    """The parity probes whose difference the audited code can hit (each finding names its probes), or None
    when no audit of the app was given. Findings already handled by a vendor guard do not count."""
    audits = results.documents.get("audit", [])
    if not audits:
        return None
    used: set[str] = set()
    for _, document in audits:
        for finding in document["data"].get("findings") or []:
            if isinstance(finding, dict) and not finding.get("guard") and not finding.get("baselined"):
                used |= {str(p) for p in finding.get("probes") or []}
    return used


def _parity_section(data: dict[str, Any], used: set[str] | None) -> str:
    """The differences the code uses first, then one row per category; the full lists folded away."""
    summary = data.get("summary") or {}
    targets = ", ".join(f"`{t.get('name')}` = {t.get('vendor')} {t.get('version')}" for t in data.get("targets") or [])
    probes = [p for p in data.get("probes") or [] if isinstance(p, dict)]
    out = [
        f"{len(probes)} behaviours probed on {targets}, each compared with `{data.get('baseline')}`: "
        f"**{summary.get('same', 0)} same, {summary.get('different', 0)} different, "
        f"{summary.get('unsupported', 0)} unsupported**.\n"
    ]
    differing = [p for p in probes if p.get("outcome") != "same"]
    yours = [p for p in differing if used is not None and p.get("name") in used]
    others = [p for p in differing if p not in yours]
    if used is not None:
        out.append(f"### Differences your code uses ({len(yours)})\n")
        out.append(
            _probe_table(yours) if yours else "None: the audit found no code that reaches a differing behaviour.\n"
        )
    out.append(_category_table(probes, used))
    if others:
        title = "Others to know" if used is not None else "Every difference"
        note = "The audited code does not use these; new code could.\n\n" if used is not None else ""
        summary = f"{title} ({len(others)}): what differs and what to change"
        out.append(markdown.fold(summary, note + _probe_table(others)))
    lookups = data.get("differing_json_lookups") or []
    if lookups:
        out.append("JSON lookups that behave differently: " + ", ".join(f"`{_cell(x)}`" for x in lookups) + ".\n")
    same = [str(p.get("name")) for p in probes if p.get("outcome") == "same"]
    if same:
        out.append(markdown.fold(f"Same on every server ({len(same)})", ", ".join(f"`{_cell(n)}`" for n in same) + "."))
    return "\n".join(out)


def _category_table(probes: list[dict[str, Any]], used: set[str] | None) -> str:
    """One row per category: how many probes came out same, different or unsupported (and how many of the
    differences the audited code uses), the categories the code uses first, then by differences."""
    rows: dict[str, dict[str, int]] = {}
    for p in probes:
        empty = {"same": 0, "different": 0, "unsupported": 0, "yours": 0}
        row = rows.setdefault(str(p.get("category") or "other"), empty)
        outcome = str(p.get("outcome"))
        row[outcome if outcome in row else "different"] += 1
        if used is not None and outcome != "same" and p.get("name") in used:
            row["yours"] += 1
    order = sorted(rows, key=lambda c: (-rows[c]["yours"], -(rows[c]["different"] + rows[c]["unsupported"]), c))
    head = "| category | same | different | unsupported |" + (" your code uses |" if used is not None else "")
    rule = "|---|---:|---:|---:|" + ("---:|" if used is not None else "")

    def line(c: str) -> str:
        r = rows[c]
        cells = [f"{r['same']}", f"{r['different']}", f"{r['unsupported']}"]
        if used is not None:
            cells.append(f"**{r['yours']}**" if r["yours"] else "0")
        return f"| {_cell(c)} | " + " | ".join(cells) + " |"

    # The categories your code uses and those with most differences stay in view; the rest are folded.
    shown = max(_SHOWN_CATEGORIES, sum(1 for c in order if rows[c]["yours"]))
    out = "\n".join([head, rule, *(line(c) for c in order[:shown])]) + "\n"
    if len(order) > shown:
        rest = "\n".join([head, rule, *(line(c) for c in order[shown:])])
        out += "\n" + markdown.fold(f"The other {len(order) - shown} categories", rest)
    return out


def _probe_table(probes: list[dict[str, Any]]) -> str:
    out = ["| probe | category | outcome | what to change | found in code by |", "|---|---|---|---|---|"]
    for p in probes:
        rules = ", ".join(f"`{_cell(r)}`" for r in p.get("audit_rules") or []) or "-"
        out.append(
            f"| `{_cell(p.get('name'))}` {_cell(p.get('title') or '')} | {_cell(p.get('category'))} | "
            f"{_cell(p.get('label') or p.get('outcome'))} | {_cell(p.get('what_to_change') or '')} | {rules} |"
        )
    return "\n".join(out) + "\n"


# --- load -----------------------------------------------------------------------------------------------------


def load_evidence(results: ResultSet, baseline: str, candidate: str) -> LoadEvidence | None:
    """The load test at the highest user count both backends ran, or None when no load results were given.

    The runs with the longest CONN_MAX_AGE are used: persistent connections are how a production site runs.
    """
    for _, document in reversed(results.documents.get("load", [])):
        # Like for like: each engine as Django runs it by default (pooled runs are the alternatives, ranked apart).
        runs = [
            r
            for r in document["data"].get("runs") or []
            if isinstance(r, dict) and r.get("steps") and not r.get("pool") and not r.get("service")
        ]
        ages = [r.get("conn_max_age") for r in runs]
        for age in sorted({a for a in ages if a is not None}, reverse=True):
            by_alias = {r.get("alias"): r for r in runs if r.get("conn_max_age") == age}
            base, cand = by_alias.get(baseline), by_alias.get(candidate)
            if not base or not cand:
                continue
            base_steps = {s["users"]: s for s in base["steps"] if s.get("requests")}
            cand_steps = {s["users"]: s for s in cand["steps"] if s.get("requests")}
            common = sorted(set(base_steps) & set(cand_steps))
            if not common:
                continue
            users = common[-1]
            b, c = base_steps[users], cand_steps[users]
            knee_b, knee_c = base.get("knee") or {}, cand.get("knee") or {}
            return LoadEvidence(
                users=int(users),
                p95_ratio=float(c["p95_ms"]) / max(float(b["p95_ms"]), 1e-9),
                throughput_ratio=float(c["rps"]) / max(float(b["rps"]), 1e-9),
                knee_baseline=knee_b.get("users"),
                knee_candidate=knee_c.get("users"),
                knees_reached=bool(knee_b.get("reached") or knee_c.get("reached")),
            )
    return None


def capacity_evidence(results: ResultSet, baseline_vendor: str) -> capacity.Alternatives | None:
    """The newest load test's best configuration without migrating against the best with it."""
    for _, document in reversed(results.documents.get("load", [])):
        data = document["data"]
        expected = (data.get("config") or {}).get("expected_users")
        found = capacity.alternatives(capacity.options(data, baseline_vendor, expected))
        if found is not None:
            return found
    return None


def _capacity_section(data: dict[str, Any]) -> str:
    """The configurations ranked by capacity: the cheaper changes beside the migration."""
    runs = [r for r in data.get("runs") or [] if isinstance(r, dict)]
    if len(runs) < 2:
        return ""
    config = data.get("config") or {}
    # The baseline is the first run's engine: the load test runs the baseline's configurations first.
    found = capacity.options(data, str(runs[0].get("vendor") or "?"), config.get("expected_users"))
    body = capacity.render(found, config.get("expected_users"), config.get("p95_threshold_ms"))
    return '<a id="further"></a>\n### What gets you further\n\n' + body


def _where_it_ran(data: dict[str, Any]) -> str:
    """Which CPUs the site and Locust had, and the database servers' limits as the kernel reported them."""
    limits = sorted(
        {
            f"{r.get('vendor')}: {((r.get('server') or {}).get('settings') or {}).get('resource_limits')}"
            for r in data.get("runs") or []
            if isinstance(r, dict) and ((r.get("server") or {}).get("settings") or {}).get("resource_limits")
        }
    )
    servers = f" Database servers: {'; '.join(limits)}." if limits else ""
    cpus = data.get("load_cpus")
    if cpus:
        return f"The site and Locust ran on CPU {', '.join(map(str, cpus))}, apart from the database servers.{servers}"
    return f"The site, the database servers and Locust shared this machine's cores.{servers}"


def _load_section(data: dict[str, Any], figures: Path, index: int) -> str:
    from dbbench.load import stats as loadstats
    from dbbench.report import plots

    config = data.get("config") or {}
    out = []
    if data.get("status") not in (None, "complete"):
        out.append(f"**This load test did not complete (status: {_cell(data.get('status'))}).**\n")
    curves = {label: points for label, points in loadstats.curves(data).items() if points}
    if curves:
        path = plots.load_curves(curves, figures / f"load_{index}.png")
        out.append(f"![throughput and p95 against concurrent users](report_files/{path.name})\n")
    if (data.get("layout") or {}).get("text"):
        out.append(f"Layout measured: {_cell(data['layout']['text'])}.\n")
    # A row per configuration and step is what the plot above shows: folded, the knees stay in view.
    steps, _, knees = loadstats.render_table(data).partition("\n\n")
    out.append(markdown.fold("Every step of every configuration: requests/s, latency, failures", steps))
    out.append(knees + "\n")
    out.append(_capacity_section(data))
    out.append(tiers.section(data, figures, index))
    if config:
        think = config.get("think_s") or ["?", "?"]
        out.append(
            f"Each step: {config.get('duration_s', '?')} s measured after ramp-up; each user pauses "
            f"{think[0]}-{think[1]} s between requests; gunicorn with {config.get('workers', '?')} workers; the p95 "
            f"limit for the knee is {config.get('p95_threshold_ms', '?')} ms. {_where_it_ran(data)}\n"
        )
    mix = data.get("request_mix") or {}
    if mix:
        out.append("Request mix: " + "; ".join(f"{_cell(k)} x{_cell(v)}" for k, v in mix.items()) + ".\n")
    return "\n".join(out)


# --- rehearsal and run ----------------------------------------------------------------------------------------


def _num(value: Any, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if isinstance(value, int | float) else "?"


def _rehearsal_section(data: dict[str, Any]) -> str:
    """The migration rehearsal in sentences: what was copied where, how long, whether it verified, what changed."""
    tables = [t for t in data.get("tables") or [] if isinstance(t, dict)]
    verdict = (
        "**verified**: every table's row count matches and every row matches by value"
        if data.get("ok")
        else (
            "**did not verify**: " + ", ".join(f"`{_cell(t.get('table'))}`" for t in tables if not t.get("match"))
            or "**did not verify** (see the smoke test)"
        )
    )
    # A project's copy (migrate-data --app) is sized by its largest table's rows, the quiz's by its attempts.
    unit = "rows in the largest table" if data.get("size_measure") else "attempts"
    out = [
        f"{_cell(data.get('rows'))} rows ({_cell(data.get('attempts'))} {unit}) were copied from "
        f"{_cell(data.get('source'))} to {_cell(data.get('target'))} through {_cell(data.get('method'))} in "
        f"{_num(data.get('copy_seconds'))} s ({_num(data.get('rows_per_s'), 0)} rows/s) and verified in "
        f"{_num(data.get('verify_seconds'))} s: {verdict}. The ORM smoke test on the copy: "
        f"{_cell(data.get('smoke_test'))}. Downtime for a copy of this size: about "
        f"{_num(data.get('downtime_seconds'))} s.\n"
    ]
    if data.get("restarted"):
        out.append(f"An earlier copy was replaced ({_cell(data.get('restarted'))}).\n")
    if tables:
        out += ["| table | rows | copy s | rows/s | verify s | rows |", "|---|---:|---:|---:|---:|---|"]
        for t in tables:
            match = "match" if t.get("match") else f"**{_cell(t.get('differing_rows'))} rows differ**"
            out.append(
                f"| `{_cell(t.get('table'))}` | {_cell(t.get('rows'))} | {_num(t.get('copy_seconds'), 2)} | "
                f"{_num(t.get('rows_per_s'), 0)} | {_num(t.get('verify_seconds'), 2)} | {match} |"
            )
        out.append("")
    conversions = [c for c in data.get("conversions") or [] if isinstance(c, dict)]
    if conversions:
        out.append("What the copy converts:\n")
        out += [
            f"- **{_cell(c.get('what'))}** ({_cell(c.get('columns'))}): {_cell(c.get('source'))} -> "
            f"{_cell(c.get('target'))}. {_cell(c.get('note'))}"
            for c in conversions
        ]
        out.append("")
    estimates = [e for e in data.get("estimates") or [] if isinstance(e, dict)]
    if estimates:
        fits = {k: f for k, f in (data.get("fits") or {}).items() if isinstance(f, dict)}
        basis = "; ".join(f"{k}: {_cell(f.get('text'))}" for k, f in fits.items()) or (
            f"in proportion to the {unit}, from this one size (a lower bound far above it)"
        )
        out.append(f"Estimated downtime at other sizes ({basis}):\n")
        out += [f"| {unit} | copy s | verify s | downtime |", "|---:|---:|---:|---|"]
        out += [
            f"| {_cell(e.get('label'))} | {_num(e.get('copy_seconds'), 0)} | {_num(e.get('verify_seconds'), 0)} | "
            f"{_cell(e.get('downtime'))} |"
            for e in estimates
        ]
        out.append("")
    return "\n".join(out)


def app_evidence(results: ResultSet, baseline: str, candidate: str) -> AppEvidence | None:
    """The user's project's suite on this pair of backends (``dbbench app``), or None when it was not run."""
    for _, document in reversed(results.documents.get("app", [])):
        data = document["data"]
        for c in data.get("comparisons") or []:
            if isinstance(c, dict) and c.get("baseline") == baseline and c.get("candidate") == candidate:
                breaks = [str(b.get("test") if isinstance(b, dict) else b) for b in c.get("breaks") or []]
                # A test database that cannot be built breaks the project as surely as a failing test.
                breaks[:0] = [
                    f"set-up: {f.get('model') or f.get('migration') or 'test database'}"
                    for f in c.get("setup_findings") or []
                    if isinstance(f, dict)
                ]
                ratio = c.get("time_ratio")
                return AppEvidence(
                    name=str(data.get("name") or "your project"),
                    tests=int(c.get("tests_compared") or 0),
                    breaks=breaks,
                    already_failing=len(c.get("already_failing") or []),
                    time_ratio=float(ratio) if isinstance(ratio, int | float) else None,
                )
    return None


def app_only_verdict(results: ResultSet) -> str:
    """The verdict read from the last app result when nothing was measured beside it (``dbbench app``'s result on
    its own): what breaks, why, what to fix first, what was not compared. Empty otherwise."""
    docs = results.documents.get("app")
    if not docs or results.backends or results.documents.get("benchmark"):
        return ""
    from dbbench.app.render import verdict_lines

    try:
        return "\n".join(verdict_lines(docs[-1][1]["data"]))
    except (KeyError, TypeError, ValueError) as exc:  # a result file from another version: say so, do not crash
        return f"This app result could not be read ({type(exc).__name__}: {_cell(exc)}).\n"


def app_only_title(results: ResultSet) -> str:
    """``What breaks if `shop` moves from PostgreSQL 15 to MariaDB 10.11?`` for an app result on its own."""
    if not app_only_verdict(results):
        return ""
    data = results.documents["app"][-1][1]["data"]
    labels = {r.get("target"): r.get("label", r.get("target")) for r in data.get("runs") or []}
    cands = " / ".join(_cell(labels.get(c.get("candidate"))) for c in data.get("comparisons") or [])
    base = _cell(labels.get(data.get("baseline")))
    return f"What breaks if `{_cell(data.get('name'))}` moves from {base} to {cands}?"


def _app_section(data: dict[str, Any]) -> str:
    """``dbbench app``'s own Markdown, under the report's heading."""
    from dbbench.app.render import render_section

    try:
        text = render_section(data)
    except (KeyError, TypeError, ValueError) as exc:  # a result file from another version: say so, do not crash
        return f"This app result could not be read ({type(exc).__name__}: {_cell(exc)}).\n"
    lines = text.splitlines()
    return "\n".join(lines[1:] if lines and lines[0].startswith("## ") else lines) + "\n"


def _audit_section(data: dict[str, Any]) -> str:
    """The audit's findings: where, what, what to do, and which parity probes show the difference."""
    counts = data.get("counts") or {}
    findings = [f for f in data.get("findings") or [] if isinstance(f, dict)]
    summary = ", ".join(f"{_cell(v)} {_cell(k)}" for k, v in counts.items()) or "no findings"
    out = [
        f"{_cell(data.get('files'))} Python files of `{_cell(Path(str(data.get('path') or '?')).name)}` read for "
        f"what ties them to PostgreSQL (checked against {_cell(data.get('target') or 'MySQL/MariaDB')}): "
        f"{summary}.\n"
    ]
    if findings:
        out += ["| where | rule | severity | what | instead | parity probes |", "|---|---|---|---|---|---|"]
        for f in findings[:_MAX_ROWS]:
            probes = ", ".join(f"`{_cell(p)}`" for p in f.get("probes") or []) or "-"
            out.append(
                f"| `{_cell(f.get('file'))}:{_cell(f.get('line'))}` | `{_cell(f.get('rule'))}` | "
                f"{_cell(f.get('severity'))} | {_cell(f.get('message'))} | {_cell(f.get('instead'))} | {probes} |"
            )
        if len(findings) > _MAX_ROWS:
            out.append(f"\n_{len(findings) - _MAX_ROWS} more findings in the file._")
        out.append("")
    return "\n".join(out)


def _run_section(data: dict[str, Any]) -> str:
    """How the run went: one line for the stages that went well (their times), one for each that did not."""
    stages = [s for s in data.get("stages") or [] if isinstance(s, dict)]
    done = [s for s in stages if s.get("status") == "ok"]
    times = ", ".join(f"{_cell(s.get('stage'))} {_num(s.get('seconds'))} s" for s in done)
    out = [
        f"Profile `{_cell(data.get('profile'))}`: {len(done)} of {len(stages)} stages completed in "
        f"{_num((data.get('seconds_before_report') or 0) / 60)} min before the report ({times}).\n"
    ]
    what = {"skipped": "skipped", "failed": "**failed**", "interrupted": "**interrupted**"}
    for s in stages:
        if s.get("status") != "ok":
            line = f"- **{_cell(s.get('stage'))}**: {what.get(str(s.get('status')), _cell(s.get('status')))}"
            out.append(line + (f": {_cell(s.get('note'))}" if s.get("note") else "") + ".")
    return "\n".join(out) + "\n"


def generic_table(data: Any) -> str:
    """A readable rendering of any JSON result: scalars as a two-column table, lists of records as tables."""
    if not isinstance(data, dict):
        return f"`{_cell(data)}`\n"
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict | list)}
    out: list[str] = []
    if scalars:
        out += ["| field | value |", "|---|---|"]
        out += [f"| {_cell(k)} | {_cell(v)} |" for k, v in scalars.items()]
        out.append("")
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns = list(dict.fromkeys(k for v in value for k, x in v.items() if not isinstance(x, dict | list)))
            if not columns:
                continue
            out.append(f"**{_cell(key)}**\n")
            out.append("| " + " | ".join(_cell(c) for c in columns) + " |")
            out.append("|" + "---|" * len(columns))
            for v in value[:_MAX_ROWS]:
                out.append("| " + " | ".join(_cell(v.get(c, "")) for c in columns) + " |")
            if len(value) > _MAX_ROWS:
                out.append(f"\n_{len(value) - _MAX_ROWS} more rows in the file._")
            out.append("")
        elif isinstance(value, dict) and value and all(not isinstance(v, dict | list) for v in value.values()):
            out.append(f"**{_cell(key)}**: " + "; ".join(f"{_cell(k)} = {_cell(v)}" for k, v in value.items()) + "\n")
    return "\n".join(out) + "\n"


_cell = markdown.cell


def benchmark_run_lines(run: dict[str, Any]) -> list[str]:
    """The benchmark run in "What was measured": profile, wall time, seeding, the suite's warnings."""
    if not run:
        return []
    minutes = float(run.get("wall_seconds") or 0) / 60
    seeding = seeding_text(run)
    text = markdown.text  # free text from the result file: no markup can start in it
    return [
        f"- **Benchmark run**: profile {text(str(run.get('profile')))}, {minutes:.1f} min"
        + (f" (seeding: {seeding})" if seeding else ""),
        *(f"  - suite warning: {text(str(w))}" for w in run.get("warnings") or []),
    ]


def seeding_text(run: dict[str, Any]) -> str:
    """Seeding per backend: the time over all sizes, and the sizes kept from an earlier run (nothing to add)."""
    seeded = [e for e in run.get("seeded") or [] if isinstance(e, dict)]
    if not seeded:  # results from before the per-size record: the last size's time
        return ", ".join(f"{a} {s:.0f} s" for a, s in (run.get("seed_seconds") or {}).items())
    parts = []
    for alias in dict.fromkeys(str(e.get("alias")) for e in seeded):
        mine = [e for e in seeded if str(e.get("alias")) == alias]
        seconds = sum(float(e.get("seconds") or 0) for e in mine)
        kept = [format_count(int(e["size"])) for e in mine if not e.get("added") and isinstance(e.get("size"), int)]
        parts.append(f"{alias} {seconds:.0f} s" + (f", {', '.join(kept)} kept from an earlier run" if kept else ""))
    return "; ".join(parts)
