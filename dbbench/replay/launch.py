"""``dbbench replay``'s library entry: check the capture, start the child with the right settings, read its data.

The replay runs in a child process because Django is configured once per process and the replay needs the
*project's* settings (its apps and models, for the pickled queries) with dbbench's databases: a settings shim in
a temporary folder imports the project's settings and replaces ``DATABASES`` with the baseline, the candidate and
the control (the baseline again under another alias). Without a project it is dbbench's quiz site.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from dbbench import processes
from dbbench.app.detect import Project
from dbbench.backends.targets import ENV_TARGETS, Target
from dbbench.capture import capfile
from dbbench.errors import ConfigError, StageFailed, mask_secrets
from dbbench.replay.child import CONFIG_ENV, ERROR
from dbbench.replay.run import Options

SHIM_MODULE = "dbbench_replay_settings"
SHIM = '''"""Written by dbbench replay: the project's settings with the replay's databases."""
import importlib as _importlib
import json as _json
import os as _os

_project = _importlib.import_module(_os.environ["DBBENCH_REPLAY_SETTINGS"])
globals().update({_k: _v for _k, _v in vars(_project).items() if _k.isupper()})
DATABASES = _json.loads(_os.environ["DBBENCH_REPLAY_DATABASES"])
DATABASE_ROUTERS = []  # every alias is addressed explicitly (using=)
'''
TIMEOUT_S = 3 * 3600


def load_capture(path: Path, project: Project | None) -> dict[str, Any]:
    """The capture, refused in one line when it is not one, or from another Django version or project."""
    import django

    identity = capfile.project_identity(project.root, project.settings) if project else capfile.QUIZ_PROJECT
    return capfile.load(path, django_version=django.get_version(), project=identity)


def rehearsal_pair(targets: list[Target]) -> list[Target] | None:
    """The pair ``dbbench migrate-data --app`` leaves: the source (the first target) and its complete copy on the
    second target's server (``<database>_appcopy``), or None when there is no complete copy there."""
    if len(targets) != 2:
        return None
    copy = complete_copy(*targets)
    return None if copy is None else [targets[0], copy]


def complete_copy(source: Target, target: Target) -> Target | None:
    """The complete copy ``dbbench migrate-data --app`` made of ``source`` on ``target``'s server
    (``<database>_appcopy``), or None when there is none (absent, not dbbench's, interrupted or failed)."""
    from dbbench.backends.database import is_owned
    from dbbench.rehearsal.appcopy import copy_target_for
    from dbbench.rehearsal.rehearse import STATE_TABLE

    copy = copy_target_for(source, target, None)
    try:
        if not is_owned(copy):
            return None
        with copy.spec.connection(copy, copy.database) as conn:
            cursor = conn.cursor()
            cursor.execute(f"SELECT state FROM {copy.spec.quote_name(STATE_TABLE)} WHERE id = 1")
            row = cursor.fetchone()
    except copy.spec.driver_errors:  # no state table: not a rehearsal's copy
        return None
    return copy if row and row[0] == "complete" else None


def replay(
    capture_path: Path, targets: list[Target], *, project: Project | None, options: Options, control: bool = True
) -> dict[str, Any]:
    """Replay the capture at ``capture_path`` on ``targets`` (baseline first, then one candidate)."""
    if len(targets) != 2:
        raise ConfigError(f"replay: give exactly two targets, the baseline and the candidate (got {len(targets)})")
    load_capture(capture_path, project)  # refused here, in one line, before a child starts
    base, cand = targets
    measured = [base, cand]
    if control:
        measured.append(replace(base.with_database(base.database), name=f"{base.name[:22]}_control"))
    aliases = {"baseline": base.name, "candidate": cand.name, "control": measured[2].name if control else None}
    config = {"aliases": aliases, "options": dataclasses.asdict(options)}
    with tempfile.TemporaryDirectory(prefix="dbbench-replay-") as tmp:
        env = dict(os.environ, **{CONFIG_ENV: json.dumps(config)}, PYTHONDONTWRITEBYTECODE="1")
        cwd = Path(tmp)
        if project is not None:
            (cwd / f"{SHIM_MODULE}.py").write_text(SHIM, encoding="utf-8")
            databases = {"default": base.django_database(), **{t.name: t.django_database() for t in measured}}
            path = [tmp, *(str(p) for p in project.pythonpath), env.get("PYTHONPATH", "")]
            env.update(
                PYTHONPATH=os.pathsep.join(p for p in path if p),
                DJANGO_SETTINGS_MODULE=SHIM_MODULE,
                DBBENCH_REPLAY_SETTINGS=project.settings,
                DBBENCH_REPLAY_DATABASES=json.dumps(databases),
            )
            cwd = project.root
        else:
            env.update(
                {ENV_TARGETS: ",".join(f"{t.name}={t.url}" for t in measured)},
                DJANGO_SETTINGS_MODULE="dbbench.settings.all",
            )
        output, log = Path(tmp, "replay.json"), Path(tmp, "replay.log")
        argv = [sys.executable, "-m", "dbbench.replay.child", str(Path(capture_path).resolve()), str(output)]
        child = processes.spawn("replay", argv, env=env, cwd=cwd, log=log)
        try:
            code = processes.wait(child, TIMEOUT_S)
        finally:
            if child.running():
                processes.stop(child)
        text = log.read_text(errors="replace") if log.exists() else ""
        errors = [line.removeprefix(ERROR) for line in text.splitlines() if line.startswith(ERROR)]
        if errors:
            raise ConfigError(mask_secrets(errors[-1], targets))
        if code != 0 or not output.exists():
            raise StageFailed(mask_secrets(f"replay failed (exit {code}): {child.last_lines(2)}", targets))
        data = json.loads(output.read_text(encoding="utf-8"))
    data["targets"] = {t.name: t.safe_url for t in measured}
    # What each server calls itself, and its version: the report names the backends by it when no benchmark did.
    from dbbench.app.run import server_label

    data["servers"] = {t.name: server_label(t) for t in (base, cand)}
    data["capture_file"] = str(capture_path)
    return data
