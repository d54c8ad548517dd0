"""``dbbench audit PATH``: what in a Django project's source ties it to PostgreSQL.

Static analysis only (no database): Python's ``ast`` for the code (rules in :mod:`dbbench.audit.rules`), sqlglot
for raw SQL (:mod:`dbbench.audit.sql`). Each finding has a file:line, a rule id, a severity (blocker, behaviour
change, performance risk), what is wrong and what to do instead.

Decisions, for CI use:
- a PATH that does not exist, or a file that is not ``.py``, or a folder without Python files is bad input:
  a one-line :class:`ConfigError` (exit 2), nothing written;
- a file in the project that is not valid Python (or not UTF-8) is a ``python-syntax`` finding of severity
  blocker: the audit cannot vouch for code it could not read; ``--exclude`` leaves such files out;
- the exit code is 1 when there is any blocker, else 0.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import re
import tokenize
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot

from dbbench.audit.rules import (
    BLOCKER,
    RULES,
    SEVERITIES,
    Finding,
    ModuleAuditor,
    collect_json_fields,
)
from dbbench.errors import ConfigError

# Folders that hold other people's code or build output, never the project's own source.
SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", ".git", ".hg", ".tox", ".nox", ".venv"})


@dataclass
class AuditResult:
    """The findings for one project, sorted by file and line."""

    path: str
    files: int
    findings: list[Finding] = field(default_factory=list)
    json_notes: dict[str, str] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        return {s: sum(1 for f in self.findings if f.severity == s) for s in SEVERITIES}

    @property
    def exit_code(self) -> int:
        """1 when any blocker was found (so CI fails), else 0."""
        return 1 if self.counts[BLOCKER] else 0

    def as_dict(self) -> dict[str, Any]:
        used = sorted({f.rule for f in self.findings})
        return {
            "path": self.path,
            "files": self.files,
            "counts": self.counts,
            "findings": [f.as_dict() for f in self.findings],
            "rules": {r: {"severity": RULES[r].severity, "title": RULES[r].title} for r in used},
            "differing_json_lookups": sorted(self.json_notes),
            "sqlglot": sqlglot.__version__,
        }


def parity_json_notes() -> dict[str, str]:
    """The JSON lookups the parity suite found to differ, each with how (owned by :mod:`dbbench.parity.suite`)."""
    from dbbench.parity import suite as parity

    notes = getattr(parity, "JSON_LOOKUP_NOTES", {})
    return {lookup: notes.get(lookup, "") for lookup in parity.DIFFERING_JSON_LOOKUPS}


def python_files(root: Path, exclude: Sequence[str] = ()) -> Iterator[Path]:
    """The ``.py`` files under ``root``, skipping virtualenvs, caches, hidden folders and ``exclude`` globs."""

    def excluded(rel: str) -> bool:
        return any(
            fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(rel, pattern.rstrip("/") + "/*") for pattern in exclude
        )

    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in SKIP_DIRS
            and not d.startswith(".")
            and not (here / d / "pyvenv.cfg").exists()  # a virtualenv under any name
            and not excluded((here / d).relative_to(root).as_posix())
        )
        for name in sorted(files):
            rel = (here / name).relative_to(root).as_posix()
            if name.endswith(".py") and not excluded(rel):
                yield here / name


def audit_path(
    path: str | Path,
    *,
    exclude: Sequence[str] = (),
    json_notes: Mapping[str, str] | None = None,
) -> AuditResult:
    """Audit a project folder (or one ``.py`` file); raises :class:`ConfigError` for a bad path."""
    target = Path(path)
    if not target.exists():
        raise ConfigError(f"audit: {path}: no such file or directory")
    if target.is_file():
        if target.suffix != ".py":
            raise ConfigError(f"audit: {path}: not a Python file or a folder")
        root, files = target.parent, [target]
    else:
        root, files = target, list(python_files(target, exclude))
    if not files:
        raise ConfigError(f"audit: {path}: no Python files found (check the path and --exclude)")
    # Tests pass their own table; by default it is what the parity suite observed on the live servers.
    notes = dict(parity_json_notes() if json_notes is None else json_notes)

    parsed: list[tuple[str, str, ast.Module]] = []
    findings: list[Finding] = []
    for file in files:
        rel = file.relative_to(root).as_posix()
        try:
            with tokenize.open(file) as handle:  # honours a PEP 263 coding line
                source = handle.read()
            parsed.append((rel, source, ast.parse(source, filename=rel)))
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError) as exc:
            findings.append(_unreadable(rel, exc))

    json_fields = collect_json_fields(tree for _, _, tree in parsed)
    for rel, source, tree in parsed:
        findings.extend(ModuleAuditor(rel, source, json_fields, notes).run(tree))
    findings.sort(key=lambda f: (f.file, f.line, f.col, f.rule))
    return AuditResult(str(path), len(files), findings, notes)


def check_output(path: Path) -> Path:
    """Refuse an ``--output`` file whose folder does not exist before scanning (bad input writes nothing)."""
    if not path.parent.is_dir():
        raise ConfigError(f"audit: --output {path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise ConfigError(f"audit: --output {path}: is a folder, expected a file name")
    return path


def _unreadable(rel: str, exc: BaseException) -> Finding:
    line = getattr(exc, "lineno", None) or 1
    reason = getattr(exc, "msg", None) or getattr(exc, "strerror", None) or str(exc)
    reason = re.sub(r" for '[^']*'$", "", str(reason))  # tokenize names the absolute path; the finding has it
    rule = RULES["python-syntax"]
    return Finding(rel, line, 1, rule.id, rule.severity, f"cannot parse: {reason}", rule.instead, "")


# --- rendering ------------------------------------------------------------------------------------------------

_HEADINGS = {"blocker": "BLOCKERS", "behaviour change": "BEHAVIOUR CHANGES", "performance risk": "PERFORMANCE RISKS"}


def summary_line(data: dict[str, Any]) -> str:
    counts = data["counts"]
    parts = ", ".join(f"{counts[s]} {s}{'' if counts[s] == 1 else 's'}" for s in SEVERITIES)
    found, files = len(data["findings"]), data["files"]
    return f"{found} finding{'' if found == 1 else 's'} in {files} Python file{'' if files == 1 else 's'} ({parts})"


def render_text(data: dict[str, Any]) -> str:
    """Findings grouped by severity, most serious first (takes :meth:`AuditResult.as_dict`)."""
    lines = [f"dbbench audit {data['path']}: {summary_line(data)}"]
    for severity in SEVERITIES:
        group = [f for f in data["findings"] if f["severity"] == severity]
        if not group:
            continue
        lines += ["", f"{_HEADINGS[severity]} ({len(group)})"]
        for f in group:
            lines.append(f"  {f['file']}:{f['line']}  [{f['rule']}] {f['message']}")
            if f["code"]:
                lines.append(f"      | {f['code']}")
            lines.append(f"      instead: {f['instead']}")
    if not data["findings"]:
        lines.append("no PostgreSQL-only code found")
    return "\n".join(lines)


def render_markdown(data: dict[str, Any]) -> str:
    """The report's portability section: a summary and one table row per finding."""
    lines = [f"Audit of `{data['path']}`: {summary_line(data)}.", ""]
    if not data["findings"]:
        return lines[0] + " No PostgreSQL-only code found."
    lines += ["| severity | where | rule | finding | instead |", "|---|---|---|---|---|"]
    order = {s: i for i, s in enumerate(SEVERITIES)}
    for f in sorted(data["findings"], key=lambda f: (order[f["severity"]], f["file"], f["line"])):
        cells = [f["severity"], f"`{f['file']}:{f['line']}`", f["rule"], f["message"], f["instead"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines)
