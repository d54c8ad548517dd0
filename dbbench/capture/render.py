"""A capture's summary as text: shapes by captured time, never a parameter value."""

from __future__ import annotations

from typing import Any

SHOWN = 10


def summary(data: dict[str, Any], path: str) -> str:
    shapes = data["shapes"]
    total = sum(s["seconds"] for s in shapes) or 1.0
    orm = sum(1 for s in shapes if s["source"] == "orm")
    kept = sum(len(s["instances"]) for s in shapes)
    lines = [
        f"captured {data['statements']:,} statements in {len(shapes)} shapes ({orm} ORM, {len(shapes) - orm} raw SQL) "
        f"from {data['processes']} process(es); {kept:,} instances kept"
        + ("" if data["params"] else " without parameter values (--no-params: not replayable)"),
        f"{'share':>6}  {'count':>8}  {'shape':10}  {'source':6}  statement",
    ]
    for s in shapes[:SHOWN]:
        text = " ".join(s["sql"].split())
        lines.append(
            f"{s['seconds'] / total:6.1%}  {s['count']:8,}  {s['id']:10}  {s['source']:6}  "
            f"{text[:90]}{'...' if len(text) > 90 else ''}"
        )
    if len(shapes) > SHOWN:
        lines.append(f"... and {len(shapes) - SHOWN} more shapes")
    lines.append(f"wrote {path} (mode 0600: it holds your queries{' and their values' if data['params'] else ''})")
    return "\n".join(lines)
