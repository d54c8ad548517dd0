"""Run a project's test suite once per target, in a subprocess, with every database alias pointed at the target.

How the databases are pointed, whatever way the project's settings choose them (environment variables, a
conftest that sets ``DJANGO_SETTINGS_MODULE`` itself, several aliases): dbbench writes a settings *shim* into a
temporary folder, never into the project. The shim imports the project's settings and replaces ``DATABASES``:
each alias goes to the target's server with a test database name that dbbench owns
(``dbbench_app_<random>_<alias>``). The child runs with ``DJANGO_SETTINGS_MODULE`` set to the shim, and for
pytest also ``--ds`` (which beats an environment variable set by a conftest). Django's test framework creates and
drops those databases as usual; after a timeout or a crash dbbench drops the ones left behind, by exact name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dbbench import processes
from dbbench.app.detect import Project
from dbbench.app.recorder import EVENTS_ENV
from dbbench.backends.targets import Target
from dbbench.errors import ConfigError, DbbenchError, StageFailed, mask_secrets, one_line

DEFAULT_TIMEOUT_S = 15 * 60
PREFLIGHT_TIMEOUT_S = 120
SHIM_MODULE = "dbbench_app_settings"
# Settings keys of a project's DATABASES entry that describe how it is used, not where it is: they are kept.
_KEPT_KEYS = ("ATOMIC_REQUESTS", "AUTOCOMMIT", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "TIME_ZONE")

SHIM = f'''"""Written by dbbench app: the project's settings, with every database alias pointed at one target."""
import importlib as _importlib
import json as _json
import os as _os

from dbbench.app.runner import scratch_database_name as _scratch_database_name

_project = _importlib.import_module(_os.environ["DBBENCH_APP_SETTINGS"])
globals().update({{_k: _v for _k, _v in vars(_project).items() if _k.isupper()}})
_target = _json.loads(_os.environ["DBBENCH_APP_TARGET"])
_prefix = _os.environ["DBBENCH_APP_PREFIX"]


def _point(alias, entry):
    name = _scratch_database_name(_prefix, alias)
    test = dict(_target.get("TEST") or {{}}, NAME=name)
    for key in ("MIRROR", "DEPENDENCIES"):
        if key in (entry.get("TEST") or {{}}):
            test[key] = entry["TEST"][key]
    kept = {{k: entry[k] for k in {_KEPT_KEYS!r} if k in entry}}
    return dict(_target, **kept, NAME=name, TEST=test)


DATABASES = {{a: _point(a, e) for a, e in (globals().get("DATABASES") or {{"default": {{}}}}).items()}}
if _os.environ.get("DBBENCH_APP_DJANGO_RUNNER"):
    TEST_RUNNER = "dbbench.app.child_django.Runner"
'''


def scratch_database_name(prefix: str, alias: str) -> str:
    """The test database of one alias in one run: its readable start, and a digest of the whole alias so that
    two aliases that share their first 16 characters (or differ only in punctuation) never share a database."""
    readable = re.sub(r"[^a-z0-9_]", "_", alias.lower())[:16]
    return f"{prefix}_{readable}_{hashlib.sha256(alias.encode()).hexdigest()[:6]}"


PREFLIGHT = """
import json, sys
try:
    import django
    django.setup()
    from django.conf import settings
    if sys.argv[1] == "pytest":
        import pytest_django  # noqa: F401
    out = {"aliases": list(settings.DATABASES), "test_runner": getattr(settings, "TEST_RUNNER", "")}
except BaseException as exc:
    lines = [l for l in str(exc).splitlines() if l.strip()]
    out = {"error": type(exc).__name__, "message": lines[0] if lines else "",
           "missing": getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None}
print("DBBENCH_PREFLIGHT " + json.dumps(out))
"""


class SuiteCrashed(StageFailed):
    """The project's suite could not run its tests on a target (import crash, settings not used)."""


class SuiteTimedOut(StageFailed):
    """A suite ran past ``--timeout`` and was stopped; its partial results are kept."""


def prepare(workdir: Path) -> Path:
    """Write the settings shim into ``workdir`` (a temporary folder of dbbench's); returns the folder."""
    (workdir / f"{SHIM_MODULE}.py").write_text(SHIM, encoding="utf-8")
    return workdir


def child_env(project: Project, target: Target, prefix: str, shim_dir: Path, events: Path) -> dict[str, str]:
    """The child's environment: the shim and the project first on the path, the target's settings."""
    env = dict(os.environ)
    path = [str(shim_dir), *(str(p) for p in project.pythonpath)]
    if env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    env.update(
        PYTHONPATH=os.pathsep.join(path),
        DJANGO_SETTINGS_MODULE=SHIM_MODULE,
        DBBENCH_APP_SETTINGS=project.settings,
        DBBENCH_APP_TARGET=json.dumps(target.django_database()),
        DBBENCH_APP_PREFIX=prefix,
        # Settings written for dj-database-url read this; the shim replaces DATABASES anyway. It names the test
        # database of the run (as the shim's "default"), never the target's own: a project that connects with it
        # by hand writes into the scratch database dbbench drops afterwards.
        DATABASE_URL=target.with_database(scratch_database_name(prefix, "default")).url,
        PYTHONDONTWRITEBYTECODE="1",  # leave no __pycache__ in the project
        **{EVENTS_ENV: str(events)},
    )
    if project.runner == "django":
        env["DBBENCH_APP_DJANGO_RUNNER"] = "1"
    return env


def test_command(project: Project) -> list[str]:
    """The command that runs the suite, with dbbench's recorder and settings added."""
    pytest_args = ["-p", "dbbench.app.child_pytest", f"--ds={SHIM_MODULE}", "-p", "no:cacheprovider"]
    if project.command:
        return [*_own_python(project.command), *(pytest_args if project.runner == "pytest" else [])]
    if project.runner == "pytest":
        return [sys.executable, "-m", "pytest", *pytest_args]
    manage = ["manage.py"] if (project.root / "manage.py").is_file() else ["-m", "django"]
    return [sys.executable, *manage, "test", f"--settings={SHIM_MODULE}", "--noinput"]


def _own_python(command: tuple[str, ...]) -> list[str]:
    """``python ...`` and ``pytest ...`` run in dbbench's own interpreter, where the recorder is importable."""
    first, rest = command[0], list(command[1:])
    if first in ("python", "python3"):
        return [sys.executable, *rest]
    if first in ("pytest", "py.test"):
        return [sys.executable, "-m", "pytest", *rest]
    return list(command)


def preflight(project: Project, env: Mapping[str, str]) -> list[str]:
    """Import the settings (through the shim) in a subprocess; returns the aliases or raises one line."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", PREFLIGHT, project.runner],
            env=dict(env),
            cwd=project.root,
            capture_output=True,
            text=True,
            timeout=PREFLIGHT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SuiteCrashed(f"app: importing settings {project.settings} took over {PREFLIGHT_TIMEOUT_S} s") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith("DBBENCH_PREFLIGHT ")]
    if not lines:
        tail = " | ".join(done.stderr.strip().splitlines()[-2:])
        raise SuiteCrashed(f"app: importing settings {project.settings} crashed: {tail or 'no output'}")
    result = json.loads(lines[-1].removeprefix("DBBENCH_PREFLIGHT "))
    if "error" in result:
        raise _preflight_error(project, result)
    return list(result["aliases"])


def _preflight_error(project: Project, result: dict[str, Any]) -> DbbenchError:
    missing, settings = result.get("missing"), project.settings
    if missing and (settings == missing or settings.startswith(missing + ".")):
        return ConfigError(
            f"app: settings module {settings!r} cannot be imported from {project.root} "
            f"(no module {missing!r}); pass --settings MODULE"
        )
    if missing == "pytest_django":
        return ConfigError(
            f"app: the project runs its tests with pytest-django, which is not installed: {_pip('pytest-django')}"
        )
    if missing:
        return ConfigError(
            f"app: the project needs {missing!r}, which is not installed for {sys.executable}: install the project's "
            f"requirements there ({_pip(missing.split('.')[0])}, or pip install -r the project's requirements file)"
        )
    return ConfigError(f"app: settings {settings} cannot be loaded: {result['error']}: {one_line(result['message'])}")


def _pip(package: str) -> str:
    return f"{Path(sys.executable).name} -m pip install {package}"


def run_suite(
    project: Project, target: Target, *, timeout: float, workdir: Path, extra_env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Run the suite on one target; returns its run (partial and marked when stopped by the timeout).

    ``extra_env`` is added to the child's environment (``--capture``'s recorder: its ``PYTHONPATH`` goes first).
    """
    prefix = f"dbbench_app_{secrets.token_hex(4)}"
    events = workdir / f"{target.name}.jsonl"
    log = workdir / f"{target.name}.log"
    env = child_env(project, target, prefix, workdir, events)
    if extra_env:
        path = os.pathsep.join(p for p in (extra_env.get("PYTHONPATH"), env.get("PYTHONPATH")) if p)
        env.update(extra_env, PYTHONPATH=path)
    aliases = preflight(project, env)
    started = time.perf_counter()
    child = processes.spawn(f"tests on {target.name}", test_command(project), env=env, cwd=project.root, log=log)
    try:
        code = processes.wait(child, timeout)
    finally:
        # Also after a normal finish: a server or worker the suite started and never stopped is in its group.
        processes.stop(child)
        seconds = time.perf_counter() - started
        leftovers = drop_test_databases(target, prefix, aliases)
    # The suite's own words (messages, recorded SQL and its parameters) may hold the target's password.
    run = masked(read_events(events), [target])
    run.update(
        target=target.name,
        seconds=round(seconds, 3),
        exit_code=code,
        timed_out=code is None,
        leftover_databases_dropped=leftovers,
        output_tail=mask_secrets(child.last_lines(3), [target]),
    )
    check_started(run, target, project)
    return run


def masked(value: Any, targets: list[Target]) -> Any:
    """``value`` (the child's events) with every string in it masked: passwords, URLs, terminal escapes."""
    if isinstance(value, str):
        return _CONTROL.sub("", mask_secrets(value, targets))
    if isinstance(value, dict):
        return {masked(k, targets): masked(v, targets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v, targets) for v in value]
    return value


# C0 and C1 control characters but tab and newline: ANSI/OSC sequences that would act on the user's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def read_events(path: Path) -> dict[str, Any]:
    """Fold the child's event lines into one run: tests by id, the test running when it stopped, crashes."""
    tests: dict[str, dict[str, Any]] = {}
    start: dict[str, Any] | None = None
    running: str | None = None
    collect_errors: list[dict[str, str]] = []
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill
        kind = event.pop("event", "")
        if kind == "start":
            start = event
        elif kind == "begin":
            running = event["test"]
        elif kind == "result":
            tests[event.pop("test")] = event
            running = None
        elif kind == "collect_error":
            collect_errors.append(event)
    return {"start": start, "tests": tests, "stopped_during": running, "collect_errors": collect_errors}


def check_started(run: dict[str, Any], target: Target, project: Project) -> None:
    """Raise one line when the suite never reached its tests, or ran them on databases dbbench did not give it."""
    if run["timed_out"]:
        return
    crash = run["collect_errors"][0] if run["collect_errors"] else None
    if not run["tests"] and crash:
        raise SuiteCrashed(
            f"app: the test suite crashed on import on {target.name}: {crash['where']}: {crash['message']}"
        )
    if run["start"] is None:
        raise SuiteCrashed(
            f"app: the test suite on {target.name} exited ({run['exit_code']}) without running tests under dbbench's "
            f"settings (does the test command configure Django itself?): {run['output_tail'] or 'no output'}"
        )
    if not run["tests"]:
        raise SuiteCrashed(f"app: the test suite on {target.name} ran no tests: {run['output_tail'] or 'no output'}")
    engines = {d["engine"] for d in run["start"]["databases"].values()}
    if engines != {target.spec.engine}:
        raise SuiteCrashed(f"app: the test suite replaced dbbench's databases on {target.name} (engines: {engines})")


def drop_test_databases(target: Target, prefix: str, aliases: list[str]) -> list[str]:
    """Drop the test databases Django left behind (a stopped or crashed suite); returns their names.

    Only the exact names this run generated (a random prefix per run) are dropped, so nothing of anybody else's
    can match; Django drops them itself after a normal run and this finds none.
    """
    spec = target.spec
    names = [scratch_database_name(prefix, a) for a in aliases]
    dropped: list[str] = []
    with spec.connection(target, None) as conn:
        cursor = conn.cursor()
        for name in names:
            cursor.execute(spec.database_exists_sql(), (name,))
            if cursor.fetchone() is not None:
                _drop_when_free(cursor, spec.drop_database_sql(name), spec.driver_errors)
                dropped.append(name)
    return dropped


def _drop_when_free(cursor: Any, sql: str, errors: tuple[type[BaseException], ...]) -> None:
    # A killed child's sessions linger for a moment on the server; PostgreSQL refuses to drop a database in use.
    for wait in (0.2, 0.5, 1.0, 2.0, 0.0):
        try:
            cursor.execute(sql)
            return
        except errors:
            if not wait:
                raise
            time.sleep(wait)


def temp_workdir() -> tempfile.TemporaryDirectory[str]:
    """dbbench's own temporary folder for the shim, the event files and the child's output."""
    return tempfile.TemporaryDirectory(prefix="dbbench-app-")
