"""Report sections for the other stages' result files: parity, load, seeding, rehearsal, audit.

Each kind gets a section when such files are given and is skipped otherwise. What the verdict needs from them
(portability findings, load at the highest concurrency) is extracted here too, so the report module only
sees :class:`~dbbench.report.verdict.Portability` and :class:`~dbbench.report.verdict.LoadEvidence`.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from dbbench.report.data import ResultSet
from dbbench.report.verdict import LoadEvidence, Portability

# Kind -> (anchor, heading), in the order the report shows them.
SECTIONS: dict[str, tuple[str, str]] = {
    "parity": ("portability", "Portability: does the app behave the same?"),
    "load": ("load", "Under concurrent load"),
    "seed-benchmark": ("seeding", "Loading the data"),
    "rehearsal": ("rehearsal", "Migration rehearsal"),
    "audit": ("audit", "Code audit"),
    "run": ("run", "How this run went"),
}
_MAX_ROWS = 30


def extra_sections(results: ResultSet, figures: Path) -> list[str]:
    """One Markdown section per other kind of result present (in :data:`SECTIONS` order)."""
    renderers = {"parity": _parity_section, "load": _load_section}
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


# --- parity ---------------------------------------------------------------------------------------------------


def portability_evidence(results: ResultSet, baseline: str, candidate: str) -> Portability | None:
    """What the parity suite found for this pair, or None when no parity results were given."""
    for _, document in reversed(results.documents.get("parity", [])):
        data = document["data"]
        probes = [p for p in data.get("probes") or [] if isinstance(p, dict)]
        names = {t.get("name") for t in data.get("targets") or [] if isinstance(t, dict)}
        if not probes or not {baseline, candidate} <= names:
            continue
        # Parity compares every target with its first one and names the side that differs (or failed).
        pair = {baseline, candidate}
        differing = [
            p
            for p in probes
            if p.get("outcome") != "same"
            and pair & set((p.get("different_on") or []) + (p.get("unsupported_on") or []))
        ]
        return Portability(len(probes), len(differing), [f"`{p.get('name')}`" for p in differing])
    return None


def _parity_section(data: dict[str, Any], figures: Path, index: int) -> str:
    summary = data.get("summary") or {}
    targets = ", ".join(f"`{t.get('name')}` = {t.get('vendor')} {t.get('version')}" for t in data.get("targets") or [])
    probes = [p for p in data.get("probes") or [] if isinstance(p, dict)]
    out = [
        f"{len(probes)} behaviours probed on {targets}, each compared with `{data.get('baseline')}`: "
        f"**{summary.get('same', 0)} same, {summary.get('different', 0)} different, "
        f"{summary.get('unsupported', 0)} unsupported**.\n"
    ]
    differing = [p for p in probes if p.get("outcome") != "same"]
    if differing:
        out += ["| probe | category | outcome | what to change |", "|---|---|---|---|"]
        for p in differing:
            out.append(
                f"| `{_cell(p.get('name'))}` {_cell(p.get('title') or '')} | {_cell(p.get('category'))} | "
                f"{_cell(p.get('label') or p.get('outcome'))} | {_cell(p.get('what_to_change') or '')} |"
            )
        out.append("")
    lookups = data.get("differing_json_lookups") or []
    if lookups:
        out.append("JSON lookups that behave differently: " + ", ".join(f"`{_cell(x)}`" for x in lookups) + ".\n")
    same = [str(p.get("name")) for p in probes if p.get("outcome") == "same"]
    if same:
        out.append("Same everywhere: " + ", ".join(f"`{_cell(n)}`" for n in same) + ".\n")
    return "\n".join(out)


# --- load -----------------------------------------------------------------------------------------------------


def load_evidence(results: ResultSet, baseline: str, candidate: str) -> LoadEvidence | None:
    """The load test at the highest user count both backends ran, or None when no load results were given.

    The runs with the longest CONN_MAX_AGE are used: persistent connections are how a production site runs.
    """
    for _, document in reversed(results.documents.get("load", [])):
        runs = [r for r in document["data"].get("runs") or [] if isinstance(r, dict) and r.get("steps")]
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
    out.append(loadstats.render_table(data) + "\n")
    if config:
        think = config.get("think_s") or ["?", "?"]
        out.append(
            f"Each step: {config.get('duration_s', '?')} s measured after ramp-up; each user pauses "
            f"{think[0]}-{think[1]} s between requests; gunicorn with {config.get('workers', '?')} workers; the p95 "
            f"limit for the knee is {config.get('p95_threshold_ms', '?')} ms. The site, the servers and Locust share "
            "this machine's cores.\n"
        )
    mix = data.get("request_mix") or {}
    if mix:
        out.append("Request mix: " + "; ".join(f"{_cell(k)} x{_cell(v)}" for k, v in mix.items()) + ".\n")
    return "\n".join(out)


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


def _cell(value: Any) -> str:
    text = str(value)
    if isinstance(value, float):
        text = f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")
