"""Baselines: accept today's findings so CI fails on new ones only (``--write-baseline``, ``--baseline``).

A finding is identified by file, rule and its line's code text (not the line number, which moves with every
edit above it); a baseline holds how many findings share each identity, so a second copy of a line is new.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from dbbench.audit.rules import Finding
from dbbench.errors import ConfigError
from dbbench.files import RESULTS_LIMIT, read_regular_text

FORMAT = "dbbench-audit-baseline/1"


def write(path: Path, findings: Iterable[Finding]) -> int:
    counts = Counter(f.fingerprint for f in findings)
    data = {"format": FORMAT, "findings": dict(sorted(counts.items()))}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a half-written baseline would hide findings
    return sum(counts.values())


def load(path: Path) -> Counter[str]:
    try:
        data = json.loads(read_regular_text(path, RESULTS_LIMIT))
    except FileNotFoundError:
        raise ConfigError(f"audit: --baseline {path}: no such file (create it with --write-baseline)") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"audit: --baseline {path}: not a baseline file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("findings"), dict):
        raise ConfigError(f"audit: --baseline {path}: not a dbbench audit baseline ({FORMAT})")
    return Counter({str(k): int(v) for k, v in data["findings"].items()})


def apply(findings: list[Finding], baseline: Counter[str]) -> list[Finding]:
    """The findings, those the baseline accounts for marked ``baselined`` (they no longer fail CI)."""
    left = Counter(baseline)
    marked: list[Finding] = []
    for finding in findings:
        known = left[finding.fingerprint] > 0
        if known:
            left[finding.fingerprint] -= 1
        marked.append(replace(finding, baselined=known) if known else finding)
    return marked
