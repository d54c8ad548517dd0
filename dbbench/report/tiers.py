"""The load test's tiers in the report: each tier's CPU against users (table and plot), what limited each
configuration, and the SQL shapes that took the most time at the highest step each configuration held."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dbbench.load import shapes as sqlshapes
from dbbench.load.stats import run_label
from dbbench.markdown import code, fold, table


def _cpu(step: Mapping[str, Any], key: str) -> str:
    figures = (step.get("tiers") or {}).get(key)
    if not figures:
        return "-"
    if figures.get("unknown"):
        return "unknown"
    value = figures.get("cpu_percent")
    if value is None:
        return "-"
    wait = figures.get("cpu_wait_percent")
    return f"{value:.0f}% of {figures.get('cpus') or 0:g}" + (f", waited {wait:.0f}%" if wait else "")


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:,.1f}" if value < 10 else f"{value:,.0f}"


def tiers_table(data: Mapping[str, Any]) -> str:
    """Each step's tiers: CPU (% of the CPUs each may use), SQL and request p95, SQL's share, accounting."""
    rows = []
    for run in data.get("runs") or []:
        for step in sorted(run.get("steps") or [], key=lambda s: int(s["users"])):
            if not step.get("tiers"):
                continue
            timing = step.get("timing") or {}
            share = timing.get("sql_share_of_app")
            check = step.get("cpu_accounting") or {}
            rows.append(
                [
                    run_label(run),
                    step["users"],
                    _cpu(step, "app"),
                    _cpu(step, "database"),
                    _cpu(step, "pooler"),
                    _cpu(step, "locust"),
                    _ms(timing.get("sql_p95_ms")),
                    _ms(timing.get("request_p95_ms")),
                    "-" if share is None else f"{100 * share:.0f}%",
                    "-" if not check else f"{check['unaccounted_percent']:+.1f}%",
                ]
            )
    if not rows:
        return ""
    header = ["configuration", "users", "app server CPU", "database CPU", "pooler CPU", "Locust CPU"]
    header += ["SQL p95 ms", "request p95 ms", "SQL share (in Django)", "CPU unaccounted"]
    return "\n".join(table(header, rows, "lrrrrrrrrr")) + (
        "\n\nCPU is each tier's share of the CPUs it may use (its quota or allowed CPUs; the app server at most one "
        "per gunicorn worker), over each step's measured window; \"waited\" is its threads' time runnable but "
        'waiting for a CPU, in % of one core; "CPU unaccounted" is how far the tiers, the rest of the machine and '
        "idle fall short of the machine's CPU time in /proc/stat.\n"
    )


def curves(data: Mapping[str, Any]) -> dict[str, list[tuple[float, float | None, float | None]]]:
    """``{label: [(users, app CPU %, database CPU %), ...]}`` for the plot."""

    def value(step: Mapping[str, Any], key: str) -> float | None:
        figures = (step.get("tiers") or {}).get(key) or {}
        return None if figures.get("unknown") else figures.get("cpu_percent")

    found = {}
    for run in data.get("runs") or []:
        points = [(float(s["users"]), value(s, "app"), value(s, "database")) for s in run.get("steps") or []]
        points = [p for p in points if p[1] is not None or p[2] is not None]
        if points:
            found[run_label(run)] = sorted(points, key=lambda p: p[0])
    return found


def held_step(run: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The highest step a configuration held (its knee's), else its largest measured step."""
    steps = run.get("steps") or []
    users = (run.get("knee") or {}).get("users")
    at = [s for s in steps if users is not None and int(s["users"]) == int(users)]
    if at:
        return at[-1]
    return max(steps, key=lambda s: int(s["users"])) if steps else None


def shapes_table(data: Mapping[str, Any], top: int = 8) -> str:
    """The SQL shapes that took the most time, side by side across configurations, at the step each held."""
    runs: list[tuple[str, Sequence[Mapping[str, Any]]]] = []
    users: list[str] = []
    for run in data.get("runs") or []:
        step = held_step(run)
        if step and step.get("sql_shapes"):
            runs.append((run_label(run), step["sql_shapes"]))
            users.append(f"{run_label(run)} at {step['users']} users")
    if not runs:
        return ""
    rows = []
    for row in sqlshapes.side_by_side(runs, top):
        text = row["shape"] if len(row["shape"]) <= 100 else row["shape"][:97] + "..."
        cells = [code(text)]
        for label, _ in runs:
            shape = row["by"].get(label)
            cells.append(
                "-"
                if shape is None
                else f"{shape['per_s']:g}/s, p50 {_ms(shape['p50_ms'])}, p95 {_ms(shape['p95_ms'])}, "
                f"p99 {_ms(shape['p99_ms'])} ms, total {shape['total_ms'] / 1000:.1f} s"
            )
        rows.append(cells)
    header = ["SQL shape", *(label for label, _ in runs)]
    return (
        "Steps: " + "; ".join(users) + ".\n\n" + "\n".join(table(header, rows)) + "\n\n"
        "Each SQL statement as Django sends it (placeholders, not values), timed in the app server; percentiles "
        "from histograms with two significant digits, merged across gunicorn's workers.\n"
    )


def section(data: Mapping[str, Any], figures: Path, index: int) -> str:
    """The tiers part of the load section (empty for a load test measured without them)."""
    out = []
    body = tiers_table(data)
    if not body:
        return ""
    out.append('<a id="tiers"></a>\n### Where the time goes: every tier\n')
    found = curves(data)
    if found:
        from dbbench.report import plots

        path = plots.tier_curves(found, figures / f"load_tiers_{index}.png")
        out.append(f"![each tier's CPU against concurrent users](report_files/{path.name})\n")
    # The per-step tables are long (a row per configuration and step): folded, as the report's other long lists.
    out.append(fold("Each tier's CPU and the database's share of each request, per configuration and step", body))
    shapes = shapes_table(data)
    if shapes:
        out.append('<a id="sql-shapes"></a>\n### SQL shapes at the highest step held\n')
        out.append(fold("The SQL shapes that took the most time, side by side per configuration", shapes))
    return "\n".join(out)
