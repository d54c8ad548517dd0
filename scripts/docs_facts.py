"""The docs' tables of profiles, budgets, default sizes and the mix, generated from the code that defines them.

Each table sits in a docs page between ``<!-- facts:NAME -->`` and ``<!-- /facts:NAME -->``. ``python
scripts/docs_facts.py`` rewrites them in place; ``--check`` exits 1 naming every table that differs from the code
(``tests/test_docs_facts.py`` runs the same check, so a documented profile, budget or default that drifts from the
code fails CI).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BLOCK = re.compile(r"(<!-- facts:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /facts:(?P=name) -->)", re.DOTALL)


def _count(n: int) -> str:
    from dbbench.units import format_count

    return format_count(n)


def _seconds(s: float) -> str:
    return f"{s:g} s"


def profiles() -> str:
    """The benchmark suite's profiles (dbbench.bench.runner.PROFILES)."""
    from dbbench.bench.runner import PROFILES

    lines = [
        "| profile | what it is for | sizes (attempts) | warm-up | rounds (floor to ceiling) | first batch | "
        "cap per operation |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in PROFILES.values():
        warmup = f"up to {p.warmup} round{'s' if p.warmup != 1 else ''}, {_seconds(p.warmup_budget_s)}"
        cap = _seconds(p.cap_s) + f" (at least {p.slow_rounds} rounds)" if p.cap_s else "none: the first batch only"
        lines.append(
            f"| `{p.name}` | {p.summary} | {', '.join(_count(s) for s in p.sizes)} | {warmup} | "
            f"{p.min_rounds:,} to {p.max_rounds:,} | {_seconds(p.budget_s)} | {cap} |"
        )
    return "\n".join(lines)


def load() -> str:
    """The load test's budget in each profile of ``dbbench run`` (dbbench.load.config.config_for_profile)."""
    from dbbench.bench.runner import PROFILES
    from dbbench.load.config import config_for_profile

    lines = [
        "| profile | users | time per configuration | candidate's CONN_MAX_AGE | limits: p95, failures |",
        "|---|---|---|---|---|",
    ]
    for name in PROFILES:
        c = config_for_profile(name)
        users = (
            ", ".join(map(str, c.users))
            if c.users
            else f"a knee search from {c.start_users} up to {c.max_users:,} (to within {c.resolution:.0%})"
        )
        time = f"{_seconds(c.duration_s)} per step" if c.users else f"{_seconds(c.budget_s)} of steps"
        ages = c.candidate_conn_max_ages if c.candidate_conn_max_ages is not None else c.conn_max_ages
        lines.append(
            f"| `{name}` | {users} | {time} | {', '.join(map(str, ages))} | "
            f"{c.p95_threshold_ms:g} ms, {c.max_failure_rate:.0%} |"
        )
    return "\n".join(lines)


def mix() -> str:
    """The default operation mix the verdict weighs (dbbench.report.verdict.DEFAULT_MIX)."""
    from dbbench.report.verdict import DEFAULT_MIX

    total = sum(DEFAULT_MIX.values())
    lines = ["| operation | weight | share |", "|---|---|---|"]
    lines += [f"| `{op}` | {w:g} | {w / total:.0%} |" for op, w in DEFAULT_MIX.items()]
    return "\n".join(lines)


def servers() -> str:
    """The managed servers' declared profile (dbbench.servers.profile) and each family's settings from it."""
    from dbbench.backends.registry import BACKENDS
    from dbbench.servers import profile

    p = profile.Profile.from_text(None, None)
    lines = [
        "| setting | value |",
        "|---|---|",
        f"| buffers (each family's own setting) | {profile.buffer_rule()} |",
        f"| with `--server-memory SIZE` | SIZE / {profile.BUFFER_SHARE} |",
        f"| `max_connections` | {p.max_connections} |",
    ]
    for spec in BACKENDS.values():
        if spec.managed_description:
            lines.append(f"| {spec.family} | {spec.managed_description} |")
    return "\n".join(lines)


TABLES: dict[str, Callable[[], str]] = {"profiles": profiles, "load": load, "mix": mix, "servers": servers}


def render(text: str) -> str:
    """``text`` with every facts block replaced by the table the code gives today."""

    def fill(m: re.Match[str]) -> str:
        name = m.group("name")
        if name not in TABLES:
            raise SystemExit(f"docs_facts: unknown table {name!r} (known: {', '.join(TABLES)})")
        return f"{m.group(1)}{TABLES[name]()}\n{m.group(4)}"

    return BLOCK.sub(fill, text)


def stale(docs: Path = DOCS) -> list[str]:
    """The pages whose facts blocks differ from the code."""
    return [str(p.relative_to(docs)) for p in sorted(docs.rglob("*.md")) if render(t := p.read_text()) != t]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        pages = stale()
        for page in pages:
            print(f"docs_facts: docs/{page} differs from the code; run: python scripts/docs_facts.py", file=sys.stderr)
        return 1 if pages else 0
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text()
        if (new := render(text)) != text:
            page.write_text(new)
            print(f"docs_facts: rewrote {page.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
