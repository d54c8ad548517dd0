"""``dbbench audit PATH``: what in a Django project's source ties it to PostgreSQL.

Static analysis only (no database): Python's ``ast`` for the code (:mod:`dbbench.audit.auditor` and its rule
mixins), sqlglot for raw SQL (:mod:`dbbench.audit.sql`). Each finding has a file:line, a rule id, a severity
(blocker, behaviour change, performance risk, or handled when the code sits under a vendor/feature guard), what is
wrong, what to do instead, and the parity probes that show the difference.

Decisions, for CI use:
- a PATH that does not exist, or a file that is not ``.py``, or a folder without Python files is bad input:
  a one-line :class:`ConfigError` (exit 2), nothing written;
- a file that is not valid Python (or not UTF-8) is a ``python-syntax`` blocker: the audit cannot vouch for code
  it could not read; ``--exclude`` leaves such files out. A file that needs a newer Python than the one running
  the audit is a note instead, and its SQL string literals are still checked;
- any other failure on one file (a recursion or memory limit on a pathological file) is a note for that file,
  never the end of the audit;
- the exit code is 1 when there is any blocker not accounted for by ``--baseline``, else 0.

Memory: files are parsed twice (once for the project-wide field index, once for the rules) instead of keeping
every tree: a tree takes about 30 times its source in memory (keeping the trees of 20 MB of source took one
run to 735 MB peak), so peak memory follows the largest file, not the project.
"""

from __future__ import annotations

import ast
import fnmatch
import io
import os
import re
import sys
import tokenize
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot

from dbbench.audit import baseline as baselines
from dbbench.audit import fields, guards, plan, program
from dbbench.audit.auditor import ModuleAuditor, area_of
from dbbench.audit.render import render_explain, render_markdown, render_text, summary_line
from dbbench.audit.rules import (
    BLOCKER,
    DIFFERING_JSON_LOOKUPS,
    JSON_LOOKUP_NOTES,
    MARIADB,
    RULES,
    SEVERITIES,
    TARGETS,
    Finding,
)
from dbbench.errors import ConfigError
from dbbench.files import SOURCE_LIMIT, read_regular

__all__ = [
    "AuditResult",
    "audit_path",
    "explain_spec",
    "python_files",
    "render_explain",
    "render_markdown",
    "render_text",
    "summary_line",
]

# Folders that hold other people's code or build output, never the project's own source.
SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", ".git", ".hg", ".tox", ".nox", ".venv"})
# Syntax this Python may not know yet: PEP 695 type aliases and generics (3.12), PEP 701 f-strings (3.12).
_NEWER_SYNTAX = re.compile(r"(?m)^\s*(type\s+\w+(\[[^\]]*\])?\s*=|(async\s+)?def\s+\w+\[|class\s+\w+\[)")


@dataclass
class AuditResult:
    """The findings for one project, sorted by file and line."""

    path: str
    files: int
    findings: list[Finding] = field(default_factory=list)
    json_notes: dict[str, str] = field(default_factory=dict)
    target: str = MARIADB
    notes: list[str] = field(default_factory=list)
    ignored: int = 0
    baseline_used: bool = False

    @property
    def counts(self) -> dict[str, int]:
        return {s: sum(1 for f in self.findings if f.severity == s) for s in SEVERITIES}

    @property
    def new_findings(self) -> list[Finding]:
        return [f for f in self.findings if not f.baselined]

    @property
    def exit_code(self) -> int:
        """1 when any blocker not in the baseline was found (so CI fails on new ones only), else 0."""
        return 1 if any(f.severity == BLOCKER for f in self.new_findings) else 0

    def as_dict(self) -> dict[str, Any]:
        used = sorted({f.rule for f in self.findings})
        data = {
            "path": self.path,
            "files": self.files,
            "target": self.target,
            "counts": self.counts,
            "findings": [f.as_dict() for f in self.findings],
            "rules": {
                r: {"severity": RULES[r].severity, "title": RULES[r].title, "probes": list(RULES[r].probes)}
                for r in used
            },
            "notes": self.notes,
            "ignored": self.ignored,
            "differing_json_lookups": sorted(self.json_notes),
            "sqlglot": sqlglot.__version__,
        }
        data["root_causes"] = plan.root_causes(data["findings"])
        if self.baseline_used:
            data["new_findings"] = len(self.new_findings)
        return data


def parity_json_notes() -> dict[str, str]:
    """The JSON lookups the parity suite found to differ, each with how (:data:`rules.JSON_LOOKUP_NOTES`)."""
    return {lookup: JSON_LOOKUP_NOTES.get(lookup, "") for lookup in DIFFERING_JSON_LOOKUPS}


def python_files(root: Path, exclude: Sequence[str] = ()) -> Iterator[Path]:
    """The ``.py`` files under ``root``, skipping virtualenvs, caches, hidden folders and ``exclude`` patterns.

    A pattern with a ``/`` is a glob on the path from ``root``; one without (``migrations``, ``test_*.py``) also
    matches any single folder or file name, wherever it is.
    """

    def excluded(rel: str) -> bool:
        names = rel.split("/")
        for pattern in exclude:
            pattern = pattern.rstrip("/")
            if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(rel, pattern + "/*"):
                return True
            if "/" not in pattern and any(fnmatch.fnmatch(name, pattern) for name in names):
                return True
        return False

    inside = root.resolve()
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
            if name.endswith(".py") and not excluded(rel) and _within(here / name, inside):
                yield here / name


def _within(file: Path, root: Path) -> bool:
    """False for a link that leads out of the audited tree (the audit reads the project, not what it points at)."""
    return not file.is_symlink() or file.resolve().is_relative_to(root)


def audit_path(
    path: str | Path,
    *,
    exclude: Sequence[str] = (),
    json_notes: Mapping[str, str] | None = None,
    target: str = MARIADB,
    baseline: Path | None = None,
) -> AuditResult:
    """Audit a project folder (or one ``.py`` file); raises :class:`ConfigError` for a bad path."""
    if target not in TARGETS:
        raise ConfigError(f"audit: --target {target}: expected one of {', '.join(TARGETS)}")
    known = baselines.load(baseline) if baseline is not None else None
    root, files = _files(Path(path), exclude)
    # Tests pass their own table; by default it is what the parity suite observed on the live servers.
    notes = dict(parity_json_notes() if json_notes is None else json_notes)
    result = AuditResult(str(path), len(files), json_notes=notes, target=target)

    index = fields.FieldIndex()
    whole = program.Program()  # the project-wide pass: guards, lookups and registrations across modules
    readable: list[tuple[Path, str]] = []
    for file in files:  # pass 1: the project-wide field index (each tree is dropped once read: see Memory above)
        rel = file.relative_to(root).as_posix()
        try:
            source = _read(file)
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError) as exc:  # a bad coding line, not UTF-8
            result.findings.append(_unreadable(rel, exc))
            continue
        try:
            tree = ast.parse(source, filename=rel)
            index.add_file(tree)
            whole.add_file(rel, tree, source)
            del tree
            readable.append((file, rel))
        except SyntaxError as exc:
            _unparsed(result, rel, exc, index, notes, target, source)
        except ValueError as exc:  # source with NUL bytes
            result.findings.append(_unreadable(rel, exc))
        except Exception as exc:  # RecursionError, MemoryError...: one pathological file must not end the audit
            result.notes.append(f"{rel}: skipped ({type(exc).__name__} while parsing)")

    guard_functions = guards.guard_functions(index.returns)
    index.returns.clear()  # only the guard functions are kept
    for file, rel in readable:  # pass 2: the rules
        try:
            source = _read(file)
            auditor = ModuleAuditor(rel, source, index, notes, target, guard_functions, whole)
            result.findings.extend(auditor.run(ast.parse(source, filename=rel)))
            result.ignored += auditor.ignored
        except Exception as exc:
            result.notes.append(f"{rel}: skipped ({type(exc).__name__} while checking)")
    result.findings.sort(key=lambda f: (f.file, f.line, f.col, f.rule))
    if known is not None:
        result.findings = baselines.apply(result.findings, known)
        result.baseline_used = True
    return result


def _files(target: Path, exclude: Sequence[str]) -> tuple[Path, list[Path]]:
    if not target.exists():
        raise ConfigError(f"audit: {target}: no such file or directory")
    if target.is_file():
        if target.suffix != ".py":
            raise ConfigError(f"audit: {target}: not a Python file or a folder")
        return target.parent, [target]
    files = list(python_files(target, exclude))
    if not files:
        raise ConfigError(f"audit: {target}: no Python files found (check the path and --exclude)")
    return target, files


def _read(file: Path) -> str:
    data = read_regular(file, SOURCE_LIMIT)  # a FIFO, a device or a huge file is a finding, not a hang
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)  # honours a PEP 263 coding line
    return data.decode(encoding)


def _unparsed(
    result: AuditResult,
    rel: str,
    exc: SyntaxError,
    index: fields.FieldIndex,
    notes: Mapping[str, str],
    target: str,
    source: str,
) -> None:
    if not _NEWER_SYNTAX.search(source) and "f-string" not in str(exc.msg):
        result.findings.append(_unreadable(rel, exc))
        return
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    result.notes.append(
        f"{rel}: needs a newer Python than {running} (line {exc.lineno}: {exc.msg}); only its SQL strings were "
        "checked: run the audit under the project's Python for the rest"
    )
    auditor = ModuleAuditor(rel, source, index, notes, target)
    auditor.scan_strings(source)
    result.findings.extend(auditor.findings)


def explain_spec(spec: str, root: str | Path) -> str:
    """``--explain`` takes FILE:LINE, FILE relative to the audited folder (or under it as typed): the same spelling
    as the findings' ``file:line``."""
    file, _, line = spec.rpartition(":")
    if not file or not line.isdigit():
        raise ConfigError(f"audit: --explain {spec}: expected FILE:LINE, e.g. shop/views.py:42")
    base = Path(root)
    candidate = Path(file)
    if candidate.is_absolute() or candidate.parts[: len(base.parts)] == base.parts:
        try:
            file = candidate.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            raise ConfigError(f"audit: --explain {spec}: {file} is not under {root}") from None
    return f"{file}:{int(line)}"


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
    message = f"cannot parse: {reason}"
    return Finding(rel, line, 1, rule.id, rule.severity, message, rule.instead, "", rule.probes, "", area_of(rel))
