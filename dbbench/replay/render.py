"""A replay as text: your mix, each shape's ratio, same answers?, failures and what could not be replayed.

Shapes are shown by id, statement text (placeholders only) and call site: never a parameter value.
"""

from __future__ import annotations

from typing import Any

from dbbench.replay.mix import Mix, mix
from dbbench.stats import Comparison
from dbbench.units import format_interval

SHOWN = 15


def ratio_text(c: Comparison) -> str:
    return f"{c.ratio:.2f}x ({format_interval(c.low, c.high, missing='too few samples')}) {c.label.value}"


def counts(data: dict[str, Any]) -> dict[str, int]:
    out = {"captured": len(data["shapes"])}
    for shape in data["shapes"]:
        out[shape["status"]] = out.get(shape["status"], 0) + 1
    out["differ"] = sum(1 for s in data["shapes"] if s.get("answers"))
    return out


def render_text(data: dict[str, Any]) -> str:
    m: Mix = mix(data)
    by_id = {s["id"]: s for s in data["shapes"]}
    n = counts(data)
    vendors = data["vendors"]
    lines = [
        f"replay on {data['baseline']} ({vendors[data['baseline']]}) -> {data['candidate']} "
        f"({vendors[data['candidate']]}), up to {data['instances']} instances per shape",
        f"shapes: {n['captured']} captured, {n.get('replayed', 0)} replayed, "
        f"{n.get('not_replayable', 0)} not replayable, {n.get('fails', 0)} fail on {data['candidate']}, "
        f"{n['differ']} differ in results, {n.get('fails_on_baseline', 0)} fail on the baseline too, "
        f"{n.get('skipped', 0)} skipped",
    ]
    if m.comparison is not None:
        drivers = ", ".join(f"{i} ({p:+.0%})" for i, p in m.drivers)
        lines.append(
            f"your mix: {ratio_text(m.comparison)} over {m.covered:.0%} of the captured time; driven by {drivers}"
        )
    else:
        lines.append("your mix: nothing could be measured on both targets")
    controls = [r.control for r in m.shapes if r.control is not None]
    if controls:
        worst = max(controls, key=lambda c: abs(c.ratio - 1))
        lines.append(f"control ({data['control']}, the baseline again): furthest from 1.00x: {ratio_text(worst)}")
    lines.append(
        "row counts unchanged after the replay: " + ("yes" if data["data_unchanged"] else "NO (see the result file)")
    )
    lines += ["", f"{'share':>6}  {'shape':10}  {'ratio':32}  {'operation':14}  call site"]
    for r in sorted(m.shapes, key=lambda r: -r.share)[:SHOWN]:
        site = (by_id[r.id]["sites"] or [""])[0]
        lines.append(f"{r.share:6.1%}  {r.id:10}  {ratio_text(r.comparison):32}  {r.operation or '':14}  {site}")
    differ = [s for s in data["shapes"] if s.get("answers")]
    if differ:
        lines += ["", "same answers? these shapes returned different rows:"]
        for s in differ:
            a = s["answers"]
            probe = f"; explained by parity probe {a['probe']}" if a.get("probe") else ""
            lines.append(
                f"  {s['id']}  {a['differ']} of {a['differ'] + a['same']} instances differ at "
                f"{(s['sites'] or ['?'])[0]}{probe}"
            )
            lines.append(f"      {_sql(s)}")
    fails = [s for s in data["shapes"] if s["status"] == "fails"]
    if fails:
        lines += ["", f"fail on {data['candidate']}:"]
        for s in fails:
            known = s.get("explanation") or {}
            why = f" ({known['id']}: {known['title']})" if known else ""
            lines.append(f"  {s['id']}  {s['error']}{why} at {s.get('site') or '?'}")
    both = [s for s in data["shapes"] if s["status"] == "fails_on_baseline"]
    if both:
        lines += ["", f"fail on {data['baseline']} too when replayed (a write that conflicts with the data, say):"]
        lines += [f"  {s['id']}  {s['share']:.1%} of the time: {s['reason']}" for s in both]
    skipped = [s for s in data["shapes"] if s["status"] == "not_replayable"]
    if skipped:
        lines += ["", "not replayable:"]
        for s in skipped:
            audit = f" [audit: {'; '.join(s['audit'])}]" if s.get("audit") else ""
            lines.append(f"  {s['id']}  {s['share']:.1%} of the time: {s['reason']}{audit}")
            lines.append(f"      {_sql(s)}")
    return "\n".join(lines)


def _sql(shape: dict[str, Any]) -> str:
    text = " ".join(shape["sql"].split())
    return text[:140] + ("..." if len(text) > 140 else "")


def markdown(data: dict[str, Any]) -> str:
    """The report's section: your mix, the shapes that drive it, same answers?, failures (no parameter values)."""
    from dbbench.markdown import code
    from dbbench.markdown import text as escape

    m = mix(data)
    n = counts(data)
    by_id = {s["id"]: s for s in data["shapes"]}
    out = [
        f"Queries captured from {escape(str((data['captured'].get('project') or {}).get('name', '?')))} "
        f"({data['captured'].get('statements') or 0:,} statements in {n['captured']} shapes), replayed on "
        f"{escape(data['baseline'])} and {escape(data['candidate'])} over the same data: {n.get('replayed', 0)} "
        f"replayed, {n.get('not_replayable', 0)} not replayable, {n.get('fails', 0)} failing on "
        f"{escape(data['candidate'])}, {n['differ']} answering differently. Row counts unchanged afterwards: "
        f"{'yes' if data['data_unchanged'] else '**no**'}.\n",
    ]
    if m.comparison is not None:
        drivers = ", ".join(f"{code(i)} ({p:+.0%} of the pull)" for i, p in m.drivers)
        out.append(
            f"**Your mix**: {ratio_text(m.comparison)}, over {m.covered:.0%} of the captured database time; "
            f"driven by {drivers}.\n"
        )
    out += ["| shape | share of captured time | operation | ratio (95% CI) | call site |", "|---|---|---|---|---|"]
    for r in sorted(m.shapes, key=lambda r: -r.share)[:SHOWN]:
        site = (by_id[r.id]["sites"] or [""])[0]
        out.append(
            f"| {code(r.id)} | {r.share:.1%} | {code(r.operation) if r.operation else ''} | "
            f"{escape(ratio_text(r.comparison))} | {code(site) if site else ''} |"
        )
    differ = [s for s in data["shapes"] if s.get("answers")]
    if differ:
        out += ["", "Same answers? These shapes returned different rows:", ""]
        for s in differ:
            probe = s["answers"].get("probe")
            out.append(
                f"- {code(s['id'])} at {code((s['sites'] or ['?'])[0])}: {s['answers']['differ']} of "
                f"{s['answers']['differ'] + s['answers']['same']} instances"
                + (f"; parity probe {code(probe)} explains it" if probe else "")
            )
    fails = [s for s in data["shapes"] if s["status"] == "fails" or s.get("audit")]
    if fails:
        out += ["", f"Failing on {escape(data['candidate'])} or not replayable there:", ""]
        for s in fails:
            why = s.get("reason") or s.get("error", "")
            audit = f" (audit: {escape('; '.join(s['audit']))})" if s.get("audit") else ""
            out.append(f"- {code(s['id'])} at {code(s.get('site') or '?')}: {escape(why)}{audit}")
    return "\n".join(out) + "\n"
