"""``dbbench app``'s library entry: detect, run on each target, compare, explain; the CLI only prints."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dbbench.app import compare, detect, runner
from dbbench.backends.targets import Target
from dbbench.errors import ConfigError, DbbenchError


def output_path(path: Path | None) -> Path:
    """Where the app result goes: ``path``, or ``<results dir>/app.json``. Checked before running."""
    from dbbench import results

    return results.output_path(path, "app.json")


def server_label(target: Target) -> dict[str, str]:
    """``MariaDB 10.11``: the server's own name and major.minor version, asked of the server."""
    from dbbench.doctor import server_info

    info = server_info(target)
    short = ".".join(info.version.split("-")[0].split(".")[:2])
    return {"vendor": info.vendor, "version": info.version, "label": f"{info.vendor} {short}"}


def run_app(
    project: detect.Project,
    targets: Sequence[Target],
    *,
    timeout: float = runner.DEFAULT_TIMEOUT_S,
    with_audit: bool = True,
    capture: Path | None = None,
) -> dict[str, Any]:
    """Run the project's suite on every target (the first is the baseline) and compare; returns the app data.

    ``capture``: record the suite's queries on the baseline into that capture file (:mod:`dbbench.capture`).
    """
    if not targets:
        raise ConfigError("app: no targets chosen")
    servers = {t.name: server_label(t) for t in targets}
    audit = _audit(project.root) if with_audit else None
    runs: list[dict[str, Any]] = []
    with runner.temp_workdir() as tmp:
        workdir = runner.prepare(Path(tmp))
        for target in targets:
            try:
                if capture is not None and target is targets[0]:
                    from dbbench.capture.command import record_suite

                    with record_suite(project, capture) as extra:
                        run = runner.run_suite(project, target, timeout=timeout, workdir=workdir, extra_env=extra)
                else:
                    run = runner.run_suite(project, target, timeout=timeout, workdir=workdir)
            except DbbenchError as exc:
                if not runs:
                    raise  # nothing to compare with: the project cannot run here at all
                # The baseline's results are kept whatever the candidate does; the crash is part of the answer.
                run = runner.crashed_run(target, str(exc))
            run.update(servers[target.name], counts=compare.counts(run))
            runs.append(run)
    return {
        "path": str(project.root),
        "name": project.root.name,
        "settings": project.settings,
        "settings_source": project.settings_source,
        "runner": project.runner,
        "python": project.python,
        "command": runner.test_command(project),
        "timeout_s": timeout,
        "baseline": targets[0].name,
        "runs": runs,
        "comparisons": compare.compare(runs, audit=audit, root=project.root) if len(runs) > 1 else [],
        "audit": {"counts": audit["counts"], "findings": len(audit["findings"])} if audit else None,
    }


def _audit(root: Path) -> dict[str, Any] | None:
    """The static audit of the same folder (no database), or None when it cannot read it."""
    from dbbench.audit.scan import audit_path

    try:
        return audit_path(root).as_dict()
    except DbbenchError:
        return None


def timed_out(data: dict[str, Any]) -> list[str]:
    """The targets whose suite was stopped by the timeout."""
    return [run["target"] for run in data["runs"] if run["timed_out"]]


def crashed(data: dict[str, Any]) -> list[str]:
    """The targets on which the suite could not run at all, with the reason."""
    return [run["crashed"] for run in data["runs"] if run.get("crashed")]


def exit_code(data: dict[str, Any]) -> int:
    """1 when the move breaks any test or the test database cannot be built (for CI), else 0."""
    return 1 if any(c["breaks"] or c.get("setup_findings") for c in data["comparisons"]) else 0
