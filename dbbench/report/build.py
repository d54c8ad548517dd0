"""``dbbench report``: the migration decision report, as ``report.md`` and a self-contained ``report.html``.

The Markdown is the source; the HTML is the same document rendered by markdown-it-py with every PNG embedded as
base64, so it can be mailed or attached to a ticket as one file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from dbbench import markdown
from dbbench.errors import ConfigError, ResultsError, mask_url
from dbbench.report import keynumbers, method, plots
from dbbench.report.crossings import crossings_beyond_noise
from dbbench.report.data import (
    CONTROL_FLOOR_LIMIT,
    ResultSet,
    Row,
    analyse,
    buffer_note,
    calibration,
    control_check,
    durability_settings,
    environment_summary,
    fairness_flags,
    load_results,
    replay_control,
    replayed_operations,
)
from dbbench.report.html import to_html
from dbbench.report.sections import (
    app_evidence,
    app_only_title,
    app_only_verdict,
    benchmark_run_lines,
    capacity_evidence,
    extra_sections,
    load_evidence,
    portability_evidence,
)
from dbbench.report.verdict import DEFAULT_MIX, Evidence, OpEvidence, Verdict, decide, resolve_mix
from dbbench.results import SHARED, atomic_write_files
from dbbench.stats import DEFAULT_THRESHOLD, Comparison
from dbbench.units import format_count, format_interval, format_mib

FIGURES_DIR = "report_files"


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
    if figures.is_symlink():  # plots would land wherever it points
        raise ResultsError(f"{figures}: is a symbolic link; remove it (the report writes its figures there)")
    try:
        figures.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultsError(f"cannot write to {out}: {exc.strerror}") from None
    plots.SAVED.clear()
    doc = _Document(results, rows, weights, mix_notes, figures, threshold, user_mix=mix is not None)
    full = mask_url(doc.render())
    drawn = {f"{FIGURES_DIR}/{p.name}": data for p, data in plots.SAVED.items() if p.parent == figures}
    page = to_html(full, drawn, title=doc.title)
    # report.md is the short read: what report.html folds away (full lists, every table) is one line pointing there.
    text = markdown.without_folds(full)
    md_path, html_path = out / "report.md", out / "report.html"
    # Both or neither: a full disk leaves the previous report whole. A report is for sharing: the umask decides.
    atomic_write_files({md_path: text.encode("utf-8"), html_path: page.encode("utf-8")}, mode=SHARED)
    return md_path, html_path


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
        self.replay = next((doc["data"] for _, doc in results.documents.get("replay", [])), None)
        # No benchmark rows (dbbench run --from): the replay's own control says what noise alone did.
        self.control = control_check(rows) if rows else replay_control(self.replay, threshold)
        self.noise = self.control.caveat if self.control else None
        self.base = results.baseline
        self.cands = results.candidates
        self._mix_anchored: set[str] = set()  # operations whose anchor is on a row of the mix table
        self.verdicts: dict[str, Verdict] = {}
        self.evidence: dict[str, Evidence] = {}
        for cand in self.cands:
            evidence = self._evidence(cand)
            if evidence.operations and any(evidence.mix.get(o.operation, 0) > 0 for o in evidence.operations):
                self.evidence[cand] = evidence
                self.verdicts[cand] = decide(evidence)

    @property
    def title(self) -> str:
        if self.base and self.cands:
            cands = " / ".join(_cell(self.r.backends[c].display) for c in self.cands)
            return f"Should this Django app move from {_cell(self.r.backends[self.base].display)} to {cands}?"
        return app_only_title(self.r) or "dbbench report"

    def name(self, alias: str) -> str:
        """A backend's display name as Markdown text (escaped: it comes from a result file)."""
        return _cell(self.r.backends[alias].display)

    def plain_name(self, alias: str) -> str:
        """The display name as is, for figure labels (drawn as text, never parsed)."""
        return self.r.backends[alias].display

    @property
    def base_name(self) -> str:
        return self.name(self.base) if self.base else "-"

    # --- evidence for the verdict -----------------------------------------------------------------------------

    def _replayed(self, cand: str) -> tuple[list[OpEvidence], dict[str, float]] | None:
        found = replayed_operations(self.replay, self.base, cand, self.threshold) if self.replay else None
        return ([OpEvidence(*o, "replay") for o in found[0]], found[1]) if found else None

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
        weights, missing = self.weights, [op for op in DEFAULT_MIX if op not in self.r.operations]
        if replayed := self._replayed(cand):  # the team's own queries replace the quiz mix
            (ops, weights), missing = replayed, []
        return Evidence(
            baseline=_cell(base.display),  # the verdict's sentences are Markdown
            baseline_vendor=base.vendor,
            candidate=_cell(candidate.display),
            candidate_vendor=candidate.vendor,
            operations=ops,
            mix=weights,
            fairness=self.flags,
            noise=self.noise,
            missing=[] if self.user_mix else missing,
            portability=portability_evidence(self.r, self.base, cand),
            load=load_evidence(self.r, self.base, cand),
            capacity=capacity_evidence(self.r, base.vendor),
            app=app_evidence(self.r, self.base, cand),
        )

    # --- rendering --------------------------------------------------------------------------------------------

    def render(self) -> str:
        if app_only_verdict(self.r):  # an app result alone: its verdict and section, no empty benchmark sections
            parts = [f"# {self.title}\n", self._verdict_section(), *extra_sections(self.r, self.figures)]
            return "\n".join(p for p in parts if p).rstrip() + "\n"
        parts = [
            f"# {self.title}\n",
            self._verdict_section(),
            self._measured_section() if self.r.measurements else "",  # the quiz site's data and servers
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
        if not self.verdicts and app_only_verdict(self.r):
            return "\n".join([*out, app_only_verdict(self.r), ""])
        if not self.verdicts:
            if not self.r.backends:
                why = "no benchmark results were given"
            elif len(self.r.backends) < 2:
                why = "only one backend was measured"
            else:
                why = "no operation was measured on both the baseline and a candidate"
            out.append(f"No verdict: {why}. The sections below show what was measured.\n")
            out.append(self._control_line())
            return "\n".join(out)
        if self.r.missing_size:
            out.append(f"> **Incomplete run**: {_cell(self.r.missing_size)}.\n")
        for cand, verdict in self.verdicts.items():
            if len(self.verdicts) > 1:
                out.append(f"### {self.base_name} against {self.name(cand)}\n")
            out.append(f"> **{verdict.headline}.**\n")
            for i, reason in enumerate(verdict.reasons, 1):
                out.append(f"{i}. {reason.text} ([numbers](#{reason.anchor}))")
            out.append("")
            ev, names = self.evidence[cand], (self.base_name, self.name(cand))
            out += keynumbers.lines(ev.operations, self.rows, ev.mix, verdict.mix, (self.base or "", cand), names)
            if verdict.changes:
                out.append("What would change it:\n")
                out += [f"- {change}." for change in verdict.changes]
                out.append("")
        out.append(self._control_line())
        out.append(
            f"_Baseline: {self.base_name}. Ratios are candidate time / baseline time at the largest "
            f"size (below 1: the candidate is faster); differences under {self.threshold:.0%} count as equivalent. "
            "See [How to read this report](#method)._\n"
        )
        return "\n".join(out)

    def _control_line(self) -> str:
        """One line on the run's control: how far noise alone reached, and whether that disturbs the verdict."""
        check = self.control
        if check is None:
            return (
                "_These results have no control (the baseline measured twice): the report cannot tell noise from "
                "a difference on its own; see [How to read this report](#method)._\n"
            )
        if check.ok:
            return (
                f"_Control: the baseline measured a second time in the same rounds ({check.comparisons} comparisons) "
                f"came within {check.floor:.1%} of itself, so differences larger than "
                f"{max(check.floor, self.threshold):.1%} are the databases', not the machine's._\n"
            )
        # The caveat once: when a reason above already says it, this line only adds what it means.
        said = any(check.caveat in r.text for v in self.verdicts.values() for r in v.reasons if check.caveat)
        caveat = "see the caveat above" if said else check.caveat
        if check.false_differences or check.floor > CONTROL_FLOOR_LIMIT:
            return f"_Control failed ({caveat}): differences below {check.floor:.0%} cannot be told from noise._\n"
        return (
            f"_Control failed ({caveat}). The control itself came within {check.floor:.1%} of no difference "
            "(interleaving kept the disturbance from becoming one); re-run on a quiet machine for tighter intervals._\n"
        )

    def _measured_section(self) -> str:
        env = environment_summary(self.r)
        out = ['<a id="measured"></a>\n## What was measured\n']
        if self.r.backends:
            out.append("| backend | server | durable commits | buffer | attempt data (largest size) | collation |")
            out.append("|---|---|---|---|---|---|")
            for alias, b in self.r.backends.items():
                durable = "?" if b.durable is None else ("yes" if b.durable else "**no**")
                durable += f" ({_cell(durability_settings(b))})" if b.settings else ""
                buffer = "?" if not b.buffer_bytes else format_mib(b.buffer_bytes)
                data = "?" if not b.data_bytes else f"{format_mib(b.data_bytes[max(b.data_bytes)])}"
                collation = _cell(b.settings.get("collation", "?"))
                server = _cell(f"{b.vendor} {b.version}")
                out.append(f"| {_code(alias)} | {server} | {durable} | {buffer} | {data} | {collation} |")
            out.append("")
            details = []  # every server setting and the harness's own cost: folded (report.html), as a reference
            for alias, b in self.r.backends.items():
                if b.settings:
                    listed = ", ".join(_code(f"{k}={v}") for k, v in sorted(b.settings.items()))
                    details.append(f"- **{_code(alias)} settings**: {listed}")
            for c in calibration(self.r):
                details.append(
                    f"- **Harness calibration** ({_code(str(c.get('alias')))}, {_cell(c.get('size'))} attempts): raw "
                    f"`pk_lookup` {_cell(c.get('harness_ms'))} ms in dbbench's rounds against "
                    f"{_cell(c.get('bare_driver_ms'))} ms in a bare driver loop "
                    f"({_cell(c.get('harness_over_bare'))}x); "
                    f"timing an empty call costs {_cell(c.get('empty_call_us'))} us"
                )
            if details:
                out.append(markdown.fold("Every server setting, and the harness's own cost", "\n".join(details)))
        for _, doc in self.r.documents.get("benchmark", []):
            out += benchmark_run_lines(doc.get("dbbench_run") or {})
        sizes = ", ".join(f"{format_count(s)} ({s:,})" for s in self.r.sizes) or "-"
        seeds = sorted({_cell(m.seed) for m in self.r.measurements if m.seed is not None})
        out += [
            f"- **Data sizes** (quiz attempts): {sizes}; seed {', '.join(map(str, seeds)) or '?'}",
            f"- **Django** {_cell(env.get('django', '?'))}; **drivers** {_cell(env.get('drivers', '?'))}; **Python** "
            f"{_cell(env.get('python', '?'))}",
            f"- **Machine**: {_cell(env.get('machine', '?'))}",
            f"- **Measured**: {_cell(env.get('date', '?'))}; **commit** {_cell(env.get('commit', '?'))}",
            f"- **Report built**: {datetime.now(UTC).isoformat(timespec='seconds')} from "
            + ", ".join(f"{_code(p.name)} ({_cell(k)})" for p, k in self.r.files),
            "",
            '<a id="fairness"></a>\n### Is the comparison fair?\n',
        ]
        sources = {b.settings_by for b in self.r.backends.values()}
        if sources == {"set by dbbench"}:
            out.append(
                "- **Server settings were set by dbbench**: both servers ran dbbench's one declared profile (equal "
                "buffer memory, full durability, binary log off, the same connection limit), listed above."
            )
        elif "as found" in sources:
            found = ", ".join(_code(a) for a, b in self.r.backends.items() if b.settings_by == "as found")
            out.append(f"- **Server settings as found** on {found}: servers given by URL are measured as they are.")
        if self.flags or self.noise:
            out += [f"- **Warning**: {_cell(f)}." for f in [*self.flags, *([self.noise] if self.noise else [])]]
        note = buffer_note(self.r)
        if not (self.flags or self.noise) and self.r.backends:
            held = "the buffers are equal (see the note below)" if note else "every buffer holds the largest data set"
            out.append(f"No setting found that makes the comparison unfair: durability is equal and {held}.")
        out += [f"- Note: {n}" for n in [*self.r.notes, *([_cell(note) + "."] if note else [])]]
        out.append("")
        return "\n".join(out)

    def _mix_section(self) -> str:
        if not self.verdicts:
            return ""
        out = ['<a id="mix"></a>\n## The operation mix\n']
        source = "as given by `--mix`" if self.user_mix else "the default quiz-site mix (docs: How results are judged)"
        if self.replay and any(self._replayed(c) for c in self.verdicts):
            source = "your own queries as captured and replayed: each shape weighs its share of the captured time"
        out.append(
            f"Each operation weighs its share of the site's database work ({source}); the mix ratio is the weighted "
            "geometric mean of the operations' ratios, and its interval combines their bootstrap replicates.\n"
        )
        for cand, verdict in self.verdicts.items():
            ev = self.evidence[cand]
            total = sum(ev.mix.values()) or 1.0
            out.append(f"| operation | share | rows | {self.name(cand)} / {self.base_name} | 95% CI | label |")
            out.append("|---|---|---|---|---|---|")
            for o in sorted(ev.operations, key=lambda o: -ev.mix.get(o.operation, 0)):
                c = o.comparison
                share = ev.mix.get(o.operation, 0) / total
                # The operation's anchor (the reasons' "numbers" links): on its first row here, which report.md keeps;
                # a replayed shape's numbers are in the replay's section, which has that anchor.
                own = o.anchor == _anchor(o.operation)
                anchor = "" if o.operation in self._mix_anchored or not own else f'<a id="{o.anchor}"></a>'
                self._mix_anchored.add(o.operation)
                out.append(
                    f"| {anchor}{_code(o.operation)} | {share:.0%} | {o.rows:,} | {c.ratio:.2f} | {_ci(c)} | "
                    f"{_label(c)} |"
                )
            m = verdict.mix
            if m is None:  # too much of the mix is missing to combine (the verdict says which)
                out.append("| **mix** | 100% | | - | - | **no mix ratio** |")
            else:
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
        named = {op: {self.plain_name(a): pts for a, pts in per.items()} for op, per in series.items()}
        crossings, noise = crossings_beyond_noise(series, self.rows, self.base, self.cands)
        marks = {op: [(x, y, self.plain_name(who)) for x, y, who in found] for op, found in crossings.items()}
        path = plots.latency_vs_rows(named, self.figures / "latency_vs_rows.png", marks=marks)
        out.append(
            f"![p50 latency against rows, one panel per operation]({FIGURES_DIR}/{path.name})\n\n"
            "_p50 of the ORM variant, log-log. An X marks where one backend overtakes the other: only where the "
            "difference is significant on both sides of the crossing._\n"
        )
        lines = [
            f"- {_code(op)}: {self.name(who)} is faster from about {format_count(_round(x))} rows on"
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
        tables: list[str] = []
        for op in self.r.operations:
            # The operation's anchor is on its row of the mix table when there is one (report.md keeps that
            # table; these are folded away there), else here.
            anchor = "" if op in self._mix_anchored else f'<a id="{_anchor(op)}"></a>\n'
            tables.append(f"{anchor}**{_code(op)}**\n")
            head = ["variant", "rows"]
            for a in backends:
                head += [f"{_cell(a)} p50", f"{_cell(a)} p95", f"{_cell(a)} p99"]
            for c in self.cands:
                head += [f"{_cell(c)}/{_cell(self.base)} p50", "95% CI", "label"]
            tables.append("| " + " | ".join(head) + " |")
            tables.append("|" + "---|" * len(head))
            for r in (x for x in self.rows if x.operation == op):
                cells = [_cell(r.variant), _rows(r)]
                for a in backends:
                    timing = r.summaries.get(a)
                    cells += [_ms(timing.p50), _ms(timing.p95), _ms(timing.p99)] if timing else ["-", "-", "-"]
                for c in self.cands:
                    comp = r.comparisons.get(c)
                    label = _label(comp) + (" (unsteady)" if r.unsteady else "") if comp else "-"
                    cells += [f"{comp.ratio:.2f}", _ci(comp), label] if comp else ["-", "-", "-"]
                tables.append("| " + " | ".join(cells) + " |")
            tables.append("")
        tables.append(
            "_Latencies in milliseconds, over every round of each benchmark (its raw timings). *Unsteady*: a tenth "
            "of the rounds of one of the two runs ran at least 1.5x slower than another tenth (the machine was "
            "busy); its label is less trustworthy than its interval suggests._\n"
        )
        summary = f"Every operation at every size ({len(self.r.operations)} tables): p50, p95, p99, ratio, interval"
        out.append(markdown.fold(summary, "\n".join(tables)))
        return "\n".join(out)

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
                    data.setdefault(self.plain_name(alias), {})[r.operation] = (s.p50, s.p95)
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
                    data.setdefault(self.plain_name(alias), {})[op] = s.p50 / raw.summaries[alias].p50
        if not data:
            return ""
        path = plots.orm_overhead(data, self.figures / "orm_overhead.png")
        table = [
            "| operation | " + " | ".join(f"{_cell(a)} ORM/raw" for a in data) + " |",
            "|---|" + "---|" * len(data),
        ]
        for op in dict.fromkeys(op for per in data.values() for op in per):
            table.append(f"| {_code(op)} | " + " | ".join(_num(data[a].get(op)) for a in data) + " |")
        return (
            '<a id="orm"></a>\n## ORM overhead\n\n'
            f"![ORM time over raw SQL time per operation]({FIGURES_DIR}/{path.name})\n\n"
            + markdown.fold("The ratios in the plot, as a table", "\n".join(table))
        )

    def _method_section(self) -> str:
        replayed = bool(self.replay) and any(self._replayed(c) for c in self.verdicts)
        return method.section(
            self.r, self.weights, self.threshold, self.figures.parent, user_mix=self.user_mix, replayed=replayed
        )


def _anchor(op: str) -> str:
    return "op-" + re.sub(r"[^a-z0-9_-]+", "-", op.lower())


_cell = markdown.text  # free text from result files: no markup can start in it
_code = markdown.code


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
    return format_interval(c.low, c.high)  # a table cell: the column header names the confidence


def _label(c: Comparison) -> str:
    return str(c.label)


def _round(x: float) -> int:
    """A crossing's row count to two significant digits: it is interpolated, not measured."""
    return int(float(f"{x:.2g}")) or 1
