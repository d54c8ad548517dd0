"""``dbbench report``: the migration decision report, as ``report.md`` and a self-contained ``report.html``.

The Markdown is the source; the HTML is the same document rendered by markdown-it-py with every PNG embedded as
base64, so it can be mailed or attached to a ticket as one file.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from dbbench.errors import ConfigError, ResultsError, mask_url
from dbbench.report import plots
from dbbench.report.data import (
    ResultSet,
    Row,
    analyse,
    durability_settings,
    environment_summary,
    fairness_flags,
    load_results,
    noise_flag,
)
from dbbench.report.sections import extra_sections, load_evidence, portability_evidence
from dbbench.report.stats import DEFAULT_THRESHOLD, Comparison
from dbbench.report.verdict import DEFAULT_MIX, Evidence, OpEvidence, Verdict, decide, resolve_mix
from dbbench.results import atomic_write_text
from dbbench.units import format_count

FIGURES_DIR = "report_files"
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.86em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right;vertical-align:top;overflow-wrap:break-word}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
img{max-width:100%;height:auto;border:1px solid #eee}
code{background:#f5f5f5;padding:0 .2em;border-radius:3px}
blockquote{border-left:4px solid #336791;margin:1em 0;padding:.4em 1em;background:#f6f8fb;font-size:1.1em}
h1{font-size:1.7em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
"""


def build_report(
    result_paths: Iterable[Path | str],
    out_dir: Path | str,
    mix: Mapping[str, float] | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[Path, Path]:
    """Read result files and write ``report.md`` and ``report.html`` (plus PNGs) into ``out_dir``.

    Everything is read and checked before anything is written: bad input leaves ``out_dir`` untouched.
    """
    if not 0 < threshold < 1:
        raise ConfigError(f"bad threshold {threshold:.0%}: give a percentage between 0 and 100, e.g. 5")
    results = load_results(result_paths)
    rows = analyse(results, threshold=threshold)
    weights, mix_notes = resolve_mix(mix, _verdict_operations(rows)) if rows else ({}, [])
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ResultsError(f"{out}: exists and is not a directory")
    if not out.is_dir() and not out.parent.is_dir():
        raise ResultsError(f"results directory {out.parent} does not exist")
    figures = out / FIGURES_DIR
    try:
        figures.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultsError(f"cannot write to {out}: {exc.strerror}") from None
    doc = _Document(results, rows, weights, mix_notes, figures, threshold, user_mix=mix is not None)
    markdown = mask_url(doc.render())
    md_path, html_path = out / "report.md", out / "report.html"
    atomic_write_text(md_path, markdown)
    atomic_write_text(html_path, to_html(markdown, out, title=doc.title))
    for path in (md_path, html_path):
        path.chmod(0o644)  # a report is for sharing (the atomic write creates files readable by the owner only)
    return md_path, html_path


def to_html(markdown: str, base_dir: Path, *, title: str) -> str:
    """Render the Markdown and inline every local image as a data URI: one file, no outside references."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)

    def inline(match: re.Match[str]) -> str:
        src = html.unescape(match.group(1))
        data = (base_dir / src).read_bytes()
        return f'src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}"'

    body = re.sub(r'src="([^":]+\.png)"', inline, body)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}</body></html>\n"
    )


def _verdict_operations(rows: list[Row]) -> list[str]:
    return list(dict.fromkeys(r.operation for r in rows if r.comparisons))


class _Document:
    """Builds the Markdown text section by section."""

    def __init__(
        self,
        results: ResultSet,
        rows: list[Row],
        weights: dict[str, float],
        mix_notes: list[str],
        figures: Path,
        threshold: float,
        *,
        user_mix: bool,
    ) -> None:
        self.r = results
        self.rows = rows
        self.weights = weights
        self.mix_notes = mix_notes
        self.figures = figures
        self.threshold = threshold
        self.user_mix = user_mix
        self.flags = fairness_flags(results)
        self.noise = noise_flag(rows)
        self.base = results.baseline
        self.cands = results.candidates
        self.verdicts: dict[str, Verdict] = {}
        self.evidence: dict[str, Evidence] = {}
        for cand in self.cands:
            evidence = self._evidence(cand)
            if evidence.operations and any(weights.get(o.operation, 0) > 0 for o in evidence.operations):
                self.evidence[cand] = evidence
                self.verdicts[cand] = decide(evidence)

    @property
    def title(self) -> str:
        if self.base and self.cands:
            base = self.r.backends[self.base]
            cands = " / ".join(self.r.backends[c].display for c in self.cands)
            return f"Should this Django app move from {base.display} to {cands}?"
        return "dbbench report"

    def name(self, alias: str) -> str:
        return self.r.backends[alias].display

    @property
    def base_name(self) -> str:
        return self.name(self.base) if self.base else "-"

    # --- evidence for the verdict -----------------------------------------------------------------------------

    def _evidence(self, cand: str) -> Evidence:
        ops: list[OpEvidence] = []
        for op in _verdict_operations(self.rows):
            rows = [r for r in self.rows if r.operation == op and cand in r.comparisons]
            if not rows:
                continue
            # The ORM variant is what the app runs; raw SQL only when an operation has no ORM twin.
            orm = [r for r in rows if r.variant == "orm"] or rows
            row = max(orm, key=lambda r: r.size)
            ops.append(OpEvidence(op, row.rows[cand], row.comparisons[cand], _anchor(op)))
        assert self.base is not None
        base, candidate = self.r.backends[self.base], self.r.backends[cand]
        return Evidence(
            baseline=base.display,
            baseline_vendor=base.vendor,
            candidate=candidate.display,
            candidate_vendor=candidate.vendor,
            operations=ops,
            mix=self.weights,
            fairness=self.flags,
            noise=self.noise,
            portability=portability_evidence(self.r, self.base, cand),
            load=load_evidence(self.r, self.base, cand),
        )

    # --- rendering --------------------------------------------------------------------------------------------

    def render(self) -> str:
        parts = [
            f"# {self.title}\n",
            self._verdict_section(),
            self._measured_section(),
            self._mix_section(),
            self._latency_section(),
            self._largest_section(),
            self._orm_section(),
            *extra_sections(self.r, self.figures),
            self._method_section(),
        ]
        return "\n".join(p for p in parts if p).rstrip() + "\n"

    def _verdict_section(self) -> str:
        out = ['<a id="verdict"></a>\n## Verdict\n']
        if not self.verdicts:
            if not self.r.backends:
                why = "no benchmark results were given"
            elif len(self.r.backends) < 2:
                why = "only one backend was measured"
            else:
                why = "no operation was measured on both the baseline and a candidate"
            out.append(f"No verdict: {why}. The sections below show what was measured.\n")
            return "\n".join(out)
        for cand, verdict in self.verdicts.items():
            if len(self.verdicts) > 1:
                out.append(f"### {self.base_name} against {self.name(cand)}\n")
            out.append(f"> **{verdict.headline}.**\n")
            for i, reason in enumerate(verdict.reasons, 1):
                out.append(f"{i}. {reason.text} ([numbers](#{reason.anchor}))")
            out.append("")
        out.append(
            f"_Baseline: {self.base_name}. Ratios are candidate time / baseline time at the largest "
            f"size (below 1: the candidate is faster); differences under {self.threshold:.0%} count as equivalent. "
            "See [How to read this report](#method)._\n"
        )
        return "\n".join(out)

    def _measured_section(self) -> str:
        env = environment_summary(self.r)
        out = ['<a id="measured"></a>\n## What was measured\n']
        if self.r.backends:
            out.append("| backend | server | durable commits | buffer | attempt data (largest size) | collation |")
            out.append("|---|---|---|---|---|---|")
            for alias, b in self.r.backends.items():
                durable = "?" if b.durable is None else ("yes" if b.durable else "**no**")
                durable += f" ({_cell(durability_settings(b))})" if b.settings else ""
                buffer = "?" if not b.buffer_bytes else _mib(b.buffer_bytes)
                data = "?" if not b.data_bytes else f"{_mib(b.data_bytes[max(b.data_bytes)])}"
                collation = _cell(b.settings.get("collation", "?"))
                out.append(
                    f"| `{alias}` | {_cell(b.vendor + ' ' + b.version)} | {durable} | {buffer} | {data} | {collation} |"
                )
            out.append("")
            for alias, b in self.r.backends.items():
                if b.settings:
                    listed = ", ".join(_code(f"{k}={v}") for k, v in sorted(b.settings.items()))
                    out.append(f"- **`{alias}` settings**: {listed}")
        for _, doc in self.r.documents.get("benchmark", []):
            run = doc.get("dbbench_run") or {}
            if run:
                minutes = float(run.get("wall_seconds") or 0) / 60
                seeding = ", ".join(f"{a} {s:.0f} s" for a, s in (run.get("seed_seconds") or {}).items())
                out.append(
                    f"- **Benchmark run**: profile {_cell(str(run.get('profile')))}, {minutes:.1f} min"
                    + (f" (seeding: {seeding})" if seeding else "")
                )
                out += [f"  - suite warning: {_cell(str(w))}" for w in run.get("warnings") or []]
        sizes = ", ".join(f"{format_count(s)} ({s:,})" for s in self.r.sizes) or "-"
        seeds = sorted({m.seed for m in self.r.measurements if m.seed is not None})
        out += [
            f"- **Data sizes** (quiz attempts): {sizes}; seed {', '.join(map(str, seeds)) or '?'}",
            f"- **Django** {env.get('django', '?')}; **drivers** {env.get('drivers', '?')}; **Python** "
            f"{env.get('python', '?')}",
            f"- **Machine**: {env.get('machine', '?')}",
            f"- **Measured**: {env.get('date', '?')}; **commit** {env.get('commit', '?')}",
            f"- **Report built**: {datetime.now(UTC).isoformat(timespec='seconds')} from "
            + ", ".join(f"`{p.name}` ({k})" for p, k in self.r.files),
            "",
            '<a id="fairness"></a>\n### Is the comparison fair?\n',
        ]
        if self.flags or self.noise:
            out += [f"- **Warning**: {_cell(f)}." for f in [*self.flags, *([self.noise] if self.noise else [])]]
        elif self.r.backends:
            out.append(
                "No setting found that makes the comparison unfair: durability is equal and every buffer holds the "
                "largest data set."
            )
        out += [f"- Note: {n}" for n in self.r.notes]
        out.append("")
        return "\n".join(out)

    def _mix_section(self) -> str:
        if not self.verdicts:
            return ""
        out = ['<a id="mix"></a>\n## The operation mix\n']
        source = "as given by `--mix`" if self.user_mix else "the default quiz-site mix, see README: *The verdict*"
        out.append(
            f"Each operation weighs its share of the site's database work ({source}); the mix ratio is the weighted "
            "geometric mean of the operations' ratios, and its interval combines their bootstrap replicates.\n"
        )
        total = sum(self.weights.values()) or 1.0
        for cand, verdict in self.verdicts.items():
            ev = self.evidence[cand]
            out.append(f"| operation | share | rows | {self.name(cand)} / {self.base_name} | 95% CI | label |")
            out.append("|---|---|---|---|---|---|")
            for o in sorted(ev.operations, key=lambda o: -self.weights.get(o.operation, 0)):
                c = o.comparison
                share = self.weights.get(o.operation, 0) / total
                out.append(
                    f"| [`{o.operation}`](#{o.anchor}) | {share:.0%} | {o.rows:,} | {c.ratio:.2f} | {_ci(c)} | "
                    f"{_label(c)} |"
                )
            m = verdict.mix
            out.append(f"| **mix** | 100% | | **{m.ratio:.2f}** | {_ci(m)} | **{_label(m)}** |")
            out.append("")
        out += [f"- {n}" for n in self.mix_notes]
        return "\n".join(out) + "\n"

    def _latency_section(self) -> str:
        if not self.rows:
            return ""
        out = ['<a id="latency"></a>\n## Latency per operation and size\n']
        series: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for r in self.rows:
            if r.variant != "orm" and any(x.operation == r.operation and x.variant == "orm" for x in self.rows):
                continue
            for alias, s in r.summaries.items():
                series.setdefault(r.operation, {}).setdefault(alias, []).append((r.size, s.p50))
        named = {op: {self.name(a): pts for a, pts in per.items()} for op, per in series.items()}
        crossings, noise = self._crossings(series)
        marks = {op: [(x, y, self.name(who)) for x, y, who in found] for op, found in crossings.items()}
        path = plots.latency_vs_rows(named, self.figures / "latency_vs_rows.png", marks=marks)
        out.append(
            f"![p50 latency against rows, one panel per operation]({FIGURES_DIR}/{path.name})\n\n"
            "_p50 of the ORM variant, log-log. An X marks where one backend overtakes the other: only where the "
            "difference is significant on both sides of the crossing._\n"
        )
        lines = [
            f"- `{op}`: {self.name(who)} is faster from about {format_count(_round(x))} rows on"
            for op, found in crossings.items()
            for x, _, who in found
        ]
        out += ["**Crossovers:**", *lines, ""] if lines else ["No backend overtakes another within the sizes measured."]
        if noise:
            out.append(
                f"_{noise} crossing(s) of the lines lie within the noise (no significant difference on one side) "
                "and are not marked._\n"
            )
        else:
            out.append("")
        backends = list(self.r.backends)
        for op in self.r.operations:
            out.append(f'<a id="{_anchor(op)}"></a>\n### `{op}`\n')
            head = ["variant", "rows"]
            for a in backends:
                head += [f"{a} p50", f"{a} p95", f"{a} p99"]
            for c in self.cands:
                head += [f"{c}/{self.base} p50", "95% CI", "label"]
            out.append("| " + " | ".join(head) + " |")
            out.append("|" + "---|" * len(head))
            for r in (x for x in self.rows if x.operation == op):
                cells = [r.variant, _rows(r)]
                for a in backends:
                    s = r.summaries.get(a)
                    cells += [_ms(s.p50), _ms(s.p95), _ms(s.p99)] if s else ["-", "-", "-"]
                for c in self.cands:
                    comp = r.comparisons.get(c)
                    label = _label(comp) + (" (unsteady)" if r.unsteady else "") if comp else "-"
                    cells += [f"{comp.ratio:.2f}", _ci(comp), label] if comp else ["-", "-", "-"]
                out.append("| " + " | ".join(cells) + " |")
            out.append("")
        out.append(
            "_Latencies in milliseconds, over every round of each benchmark (its raw timings). *Unsteady*: a tenth "
            "of the rounds of one of the two runs ran at least 1.5x slower than another tenth (the machine was "
            "busy); its label is less trustworthy than its interval suggests._\n"
        )
        return "\n".join(out)

    def _crossings(
        self, series: dict[str, dict[str, list[tuple[float, float]]]]
    ) -> tuple[dict[str, list[tuple[float, float, str]]], int]:
        """Crossings of the baseline's and a candidate's p50 lines that are beyond noise, and how many are not.

        A crossing counts when the candidate is significantly faster at one size and significantly slower at the
        next (or the reverse): lines that touch inside their intervals say nothing about who overtakes whom.
        """
        from dbbench.report.stats import Label, crossovers

        found: dict[str, list[tuple[float, float, str]]] = {}
        noise = 0
        if not self.base:
            return found, noise
        decisive = (Label.FASTER, Label.SLOWER)
        for op, per in series.items():
            variant = "orm" if any(r.operation == op and r.variant == "orm" for r in self.rows) else "raw"
            rows = {r.size: r for r in self.rows if r.operation == op and r.variant == variant}
            for cand in self.cands:
                if not (per.get(self.base) and per.get(cand)):
                    continue
                sizes = sorted(x for x, _ in per[cand] if x in rows)
                for x, y, lower in crossovers(per[self.base], per[cand]):
                    before = max((s for s in sizes if s < x), default=None)
                    after = min((s for s in sizes if s > x), default=None)
                    labels = [rows[s].comparisons.get(cand) for s in (before, after) if s is not None]
                    if len(labels) == 2 and all(c and c.label in decisive for c in labels):
                        found.setdefault(op, []).append((x, y, cand if lower == "b" else self.base))
                    else:
                        noise += 1
        return found, noise

    def _largest_section(self) -> str:
        if not self.rows:
            return ""
        largest = max(r.size for r in self.rows)
        data: dict[str, dict[str, tuple[float, float]]] = {}
        for r in self.rows:
            if (
                r.size == largest
                and r.variant == "orm"
                or (r.size == largest and not any(x.operation == r.operation and x.variant == "orm" for x in self.rows))
            ):
                for alias, s in r.summaries.items():
                    data.setdefault(self.name(alias), {})[r.operation] = (s.p50, s.p95)
        path = plots.percentile_bars(data, self.figures / "largest_size.png", title=f"at {largest:,} attempts")
        return (
            f'<a id="largest"></a>\n## At the largest size ({format_count(largest)} attempts)\n\n'
            f"![p50 and p95 per operation at the largest size]({FIGURES_DIR}/{path.name})\n"
        )

    def _orm_section(self) -> str:
        by_key = {(r.operation, r.variant, r.size): r for r in self.rows}
        data: dict[str, dict[str, float]] = {}
        for (op, variant, size), r in by_key.items():
            raw = by_key.get((op, "raw", size))
            if variant != "orm" or raw is None or size != max(x.size for x in self.rows if x.operation == op):
                continue
            for alias, s in r.summaries.items():
                if alias in raw.summaries:
                    data.setdefault(self.name(alias), {})[op] = s.p50 / raw.summaries[alias].p50
        if not data:
            return ""
        path = plots.orm_overhead(data, self.figures / "orm_overhead.png")
        lines = [
            '<a id="orm"></a>\n## ORM overhead\n',
            f"![ORM time over raw SQL time per operation]({FIGURES_DIR}/{path.name})\n",
            "| operation | " + " | ".join(f"{a} ORM/raw" for a in data) + " |",
            "|---|" + "---|" * len(data),
        ]
        for op in dict.fromkeys(op for per in data.values() for op in per):
            lines.append(f"| `{op}` | " + " | ".join(_num(data[a].get(op)) for a in data) + " |")
        return "\n".join(lines) + "\n"

    def _order_caveat(self) -> str:
        if self.r.measurements and all(m.interleaved for m in self.r.measurements):
            return (
                "- **Order**: the backends' rounds were interleaved (one round on each, the order rotating), so a "
                "machine that grew busier or quieter during a benchmark slowed every backend alike: it widens the "
                "intervals instead of favouring one backend. The control run in the README (one server under two "
                "names) shows what that leaves on the machine."
            )
        return (
            "- **Order**: these results were measured one backend after another. The interval covers disturbances "
            "*within* each run, not a machine that was busier during one backend's run than during the other's: "
            "*unsteady* runs and the busy-machine warning point at that. Re-measure with a current `dbbench bench`, "
            "which interleaves the backends' rounds."
        )

    def _method_section(self) -> str:
        mix = ", ".join(f"{op} {w:g}" for op, w in (self.weights if self.user_mix else DEFAULT_MIX).items())
        return "\n".join(
            [
                '<a id="method"></a>\n## How to read this report\n',
                "- **Ratio** = candidate median / baseline median over each benchmark's raw timings: 2.00 means the "
                "candidate takes twice as long, 0.50 half as long.",
                "- **95% CI**: block bootstrap of the ratio of medians: each benchmark's rounds, in the order they "
                "ran, cut into 10 blocks; 2,000 resamples of whole blocks (seed 0), percentile interval. Whole blocks, "
                "because a disturbance (another process, a checkpoint) slows a stretch of consecutive rounds.",
                "- **Labels**: *no significant difference* when the interval contains 1 (it could be noise); "
                "*equivalent* when the interval excludes 1 but does not lie wholly beyond "
                f"{self.threshold:.0%} (a real difference, not shown to matter); *faster* or *slower* (the "
                f"candidate's) only when the whole interval is beyond {self.threshold:.0%}.",
                self._order_caveat(),
                f"- **Mix** weights: {mix}.",
                "- Rebuild this report: `dbbench report " + " ".join(str(p) for p, _ in self.r.files) + "`.",
                "",
            ]
        )


def _anchor(op: str) -> str:
    return "op-" + re.sub(r"[^a-z0-9_-]+", "-", op.lower())


def _cell(text: str) -> str:
    """Result values go into table cells: escape HTML and the column separator."""
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """A code span: markdown-it escapes its content for HTML; only backticks and the column separator matter."""
    return "`" + str(text).replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`"


def _ms(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _num(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.2f}"


def _rows(r: Row) -> str:
    values = sorted(set(r.rows.values()))
    return f"{values[0]:,}" if len(values) == 1 else " / ".join(f"{v:,}" for v in values)


def _ci(c: Comparison) -> str:
    if not (math.isfinite(c.low) and math.isfinite(c.high)):
        return "-"
    return f"{c.low:.2f}-{c.high:.2f}"


def _label(c: Comparison) -> str:
    return str(c.label)


def _round(x: float) -> int:
    """A crossing's row count to two significant digits: it is interpolated, not measured."""
    return int(float(f"{x:.2g}")) or 1


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"
