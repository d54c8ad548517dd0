"""Run a project's test suite once per target, in a subprocess, with every database alias pointed at the target.

How the databases are pointed, whatever way the project's settings choose them (environment variables, a
conftest that sets ``DJANGO_SETTINGS_MODULE`` itself, several aliases): dbbench writes a settings *shim* into a
temporary folder, never into the project. The shim imports the project's settings and replaces ``DATABASES``:
each alias goes to the target's server with a test database name that dbbench owns
(``dbbench_app_<random>_<alias>``). The child runs with ``DJANGO_SETTINGS_MODULE`` set to the shim, and for
pytest also ``--ds`` (which beats an environment variable set by a conftest). Django's test framework creates and
drops those databases as usual; after a timeout or a crash dbbench drops the ones left behind, by exact name.

The suite runs in the project's own interpreter (``--python``, or the project's virtualenv), so its requirements
never touch dbbench's: dbbench's child-side hooks are copied next to the shim as a small package that imports
only the standard library, Django and pytest. Nothing is written into the project's tree: no bytecode
(``PYTHONDONTWRITEBYTECODE``, and a cache prefix in dbbench's folder), no pytest cache, no ``.benchmarks``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dbbench import processes
from dbbench.app.child_settings import test_database_name as scratch_database_name
from dbbench.app.detect import Project
from dbbench.app.recorder import EVENTS_ENV
from dbbench.backends.targets import Target
from dbbench.errors import ConfigError, DbbenchError, StageFailed, mask_secrets, one_line

DEFAULT_TIMEOUT_S = 15 * 60
PREFLIGHT_TIMEOUT_S = 120
SHIM_MODULE = "dbbench_app_settings"
# dbbench's child-side modules, copied into a package of this name in the temporary folder: the suite runs in
# the project's own interpreter, where dbbench is not installed, and these import only the standard library,
# Django and pytest.
CHILD_PACKAGE = "dbbench_app_child"
CHILD_MODULES = ("recorder.py", "child_settings.py", "child_pytest.py", "child_django.py", "child_launch.py")

SHIM = f'''"""Written by dbbench app: the project's settings, with every database alias pointed at one target."""
import importlib as _importlib
import os as _os

from {CHILD_PACKAGE}.child_settings import RUNNER as _RUNNER, point_all as _point_all

_project = _importlib.import_module(_os.environ["DBBENCH_APP_SETTINGS"])
globals().update({{_k: _v for _k, _v in vars(_project).items() if _k.isupper()}})
DATABASES = _point_all(globals().get("DATABASES"))
if _os.environ.get("DBBENCH_APP_DJANGO_RUNNER"):
    TEST_RUNNER = _RUNNER
'''

# Run in the project's interpreter: imports the settings through the shim (or, for settings built in code, only
# Django and the target's driver) and says which module is missing, if one is.
PREFLIGHT = """
import json, sys
try:
    import django
    if sys.argv[2]:
        django.setup()
        from django.conf import settings
        aliases = list(settings.DATABASES)
        from django.db import connections
        [connections[a] for a in aliases]  # loads the target's driver
    else:
        from django.db.utils import load_backend
        load_backend(sys.argv[3])
        aliases = []
    if sys.argv[1] == "pytest":
        import pytest_django  # noqa: F401
    out = {"aliases": aliases}
except BaseException as exc:
    lines = [l for l in str(exc).splitlines() if l.strip()]
    cause = exc if isinstance(exc, ModuleNotFoundError) else exc.__cause__ or exc.__context__
    out = {"error": type(exc).__name__, "message": lines[0] if lines else "",
           "missing": getattr(cause, "name", None) if isinstance(cause, ModuleNotFoundError) else None}
print("DBBENCH_PREFLIGHT " + json.dumps(out))
"""


class SuiteCrashed(StageFailed):
    """The project's suite could not run its tests on a target (import crash, settings not used)."""


class SuiteTimedOut(StageFailed):
    """A suite ran past ``--timeout`` and was stopped; its partial results are kept."""


def prepare(root: Path) -> Path:
    """Write the settings shim and dbbench's child package into ``root/shim`` (``root``: a temporary folder of
    dbbench's) and return that folder; the events and output of each run go to ``root/out`` beside it.

    Written again before each target's run: a suite that deleted the shim's folder (it is in its environment)
    must not cost the next target its run, nor a run its events (they are not in that folder)."""
    workdir = root / "shim"
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (root / "out").mkdir(mode=0o700, exist_ok=True)
    (workdir / f"{SHIM_MODULE}.py").write_text(SHIM, encoding="utf-8")
    package = workdir / CHILD_PACKAGE
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text('"""dbbench app\'s hooks inside a project\'s test process."""\n')
    here = Path(__file__).parent
    for name in CHILD_MODULES:
        shutil.copyfile(here / name, package / name)
    return workdir


def child_env(project: Project, target: Target, prefix: str, shim_dir: Path, events: Path) -> dict[str, str]:
    """The child's environment: the shim and the project first on the path, the target's settings."""
    env = dict(os.environ)
    path = [str(shim_dir), *(str(p) for p in project.pythonpath)]
    if env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    if project.python != sys.executable:
        # The project's virtualenv first, as if activated: a suite that calls `python` or a tool gets its own.
        env.pop("PYTHONHOME", None)
        env.update(VIRTUAL_ENV=str(Path(project.python).parent.parent))
        env["PATH"] = os.pathsep.join([str(Path(project.python).parent), env.get("PATH", "")])
    env.update(
        PYTHONPATH=os.pathsep.join(path),
        DJANGO_SETTINGS_MODULE=SHIM_MODULE,
        DBBENCH_APP_SETTINGS=project.settings,
        DBBENCH_APP_TARGET=json.dumps(target.django_database()),
        DBBENCH_APP_PREFIX=prefix,
        DBBENCH_APP_WORKDIR=str(shim_dir),
        # Settings written for dj-database-url read this; the shim replaces DATABASES anyway. It names the test
        # database of the run (as the shim's "default"), never the target's own: a project that connects with it
        # by hand writes into the scratch database dbbench drops afterwards.
        DATABASE_URL=target.with_database(scratch_database_name(prefix, "default")).url,
        # Nothing written into the project's tree: no __pycache__ (and any bytecode cache kept in dbbench's folder).
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONPYCACHEPREFIX=str(shim_dir / "pycache"),
        **{EVENTS_ENV: str(events)},
    )
    if not project.settings:
        env.pop("DJANGO_SETTINGS_MODULE")  # settings built in code: settings.configure is patched instead
    if project.runner == "django":
        env["DBBENCH_APP_DJANGO_RUNNER"] = "1"
    return env


def test_command(project: Project) -> list[str]:
    """The command that runs the suite, in the project's interpreter, with dbbench's recorder and settings."""
    python = project.python
    pytest_args = ["-p", f"{CHILD_PACKAGE}.child_pytest", "-p", "no:cacheprovider"]
    if project.settings:
        pytest_args.insert(2, f"--ds={SHIM_MODULE}")
    if project.command:
        return [*_own_python(project.command, python), *(pytest_args if project.runner == "pytest" else [])]
    if project.script is not None:
        launch = [python, "-m", f"{CHILD_PACKAGE}.child_launch", str(project.script)]
        return launch if project.runner == "django" else [*launch, *pytest_args]
    if project.runner == "pytest":
        return [python, "-m", "pytest", *pytest_args]
    manage = ["manage.py"] if (project.workdir / "manage.py").is_file() else ["-m", "django"]
    return [python, *manage, "test", f"--settings={SHIM_MODULE}", "--noinput"]


def _own_python(command: tuple[str, ...], python: str) -> list[str]:
    """``python ...`` and ``pytest ...`` run in the suite's interpreter (the project's, where it has one)."""
    first, rest = command[0], list(command[1:])
    if first in ("python", "python3"):
        return [python, *rest]
    if first in ("pytest", "py.test"):
        return [python, "-m", "pytest", *rest]
    return list(command)


def preflight(project: Project, env: Mapping[str, str], engine: str) -> list[str]:
    """Import the settings (through the shim) in the suite's interpreter; returns the aliases or raises one line."""
    what = f"settings {project.settings}" if project.settings else "Django"
    try:
        done = subprocess.run(
            [project.python, "-c", PREFLIGHT, project.runner, project.settings, engine],
            env=dict(env),
            cwd=project.workdir,
            capture_output=True,
            text=True,
            timeout=PREFLIGHT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SuiteCrashed(f"app: importing {what} took over {PREFLIGHT_TIMEOUT_S} s") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith("DBBENCH_PREFLIGHT ")]
    if not lines:
        tail = " | ".join(done.stderr.strip().splitlines()[-2:])
        raise SuiteCrashed(f"app: importing {what} with {project.python} crashed: {tail or 'no output'}")
    result = json.loads(lines[-1].removeprefix("DBBENCH_PREFLIGHT "))
    if "error" in result:
        raise _preflight_error(project, result)
    return list(result["aliases"])


def _preflight_error(project: Project, result: dict[str, Any]) -> DbbenchError:
    from dbbench.app.hints import missing_module

    missing, settings = result.get("missing"), project.settings
    if missing and settings and (settings == missing or settings.startswith(missing + ".")):
        return ConfigError(
            f"app: settings module {settings!r} cannot be imported from {project.root} "
            f"(no module {missing!r}); pass --settings MODULE"
        )
    if missing:
        return ConfigError(f"app: {missing_module(missing, project)}")
    return ConfigError(f"app: settings {settings} cannot be loaded: {result['error']}: {one_line(result['message'])}")


def run_suite(
    project: Project, target: Target, *, timeout: float, workdir: Path, extra_env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Run the suite on one target; returns its run (partial and marked when stopped by the timeout).

    ``extra_env`` is added to the child's environment (``--capture``'s recorder: its ``PYTHONPATH`` goes first).
    """
    prepare(workdir.parent)
    if not project.workdir.is_dir():
        raise DbbenchError(f"app: {project.workdir} is gone (did the suite delete it?): the suite cannot run again")
    prefix = f"dbbench_app_{secrets.token_hex(4)}"
    events = workdir.parent / "out" / f"{target.name}.jsonl"
    log = workdir.parent / "out" / f"{target.name}.log"
    env = child_env(project, target, prefix, workdir, events)
    if extra_env:
        path = os.pathsep.join(p for p in (extra_env.get("PYTHONPATH"), env.get("PYTHONPATH")) if p)
        env.update(extra_env, PYTHONPATH=path)
    aliases = preflight(project, env, target.spec.engine)
    started = time.perf_counter()
    child = processes.spawn(f"tests on {target.name}", test_command(project), env=env, cwd=project.workdir, log=log)
    try:
        code = processes.wait(child, timeout)
    finally:
        # Also after a normal finish: a server or worker the suite started and never stopped is in its group.
        processes.stop(child)
        seconds = time.perf_counter() - started
        events_read = read_events(events)
        started_on = list((events_read["start"] or {}).get("databases") or {})
        leftovers = drop_test_databases(target, prefix, list(dict.fromkeys([*aliases, *started_on, "default"])))
    # The suite's own words (messages, recorded SQL and its parameters) may hold the target's password.
    run = masked(events_read, [target])
    run.update(
        target=target.name,
        aliases=aliases or started_on,
        seconds=round(seconds, 3),
        exit_code=code,
        timed_out=code is None,
        leftover_databases_dropped=leftovers,
        output_tail=mask_secrets(child.last_lines(3), [target]),
    )
    check_started(run, target, project)
    return run


def crashed_run(target: Target, message: str) -> dict[str, Any]:
    """A candidate on which the suite could not run at all: no tests, the one line that says why."""
    return {
        "start": None,
        "tests": {},
        "stopped_during": None,
        "collect_errors": [],
        "setup_errors": [],
        "target": target.name,
        "seconds": 0.0,
        "exit_code": None,
        "timed_out": False,
        "leftover_databases_dropped": [],
        "output_tail": "",
        "crashed": mask_secrets(message.removeprefix("app: "), [target]),
    }


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
    setup_errors: list[dict[str, Any]] = []
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
        elif kind == "setup_error":
            setup_errors.append(event)
        elif kind == "not_run":
            tests.update({test: {"outcome": "not_run", "seconds": 0.0} for test in event["tests"]})
    return {
        "start": start,
        "tests": tests,
        "stopped_during": running,
        "collect_errors": collect_errors,
        "setup_errors": setup_errors,
    }


def check_started(run: dict[str, Any], target: Target, project: Project) -> None:
    """Raise one line when the suite never reached its tests, or ran them on databases dbbench did not give it."""
    if run["timed_out"] or (run["setup_errors"] and run["start"] is None):
        return  # a test database that could not be built is a finding, not a crash
    crash = run["collect_errors"][0] if run["collect_errors"] else None
    if not run["tests"] and crash:
        hint, missing = "", re.search(r"No module named '([\w.]+)'", crash["message"])
        if missing:  # a test module's own requirement (factory_boy, model_bakery...): what to install, and where
            from dbbench.app.hints import missing_module

            hint = f"; {missing_module(missing.group(1), project)}"
        raise SuiteCrashed(
            f"app: the test suite crashed on import on {target.name}: {crash['where']}: {crash['message']}{hint}"
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
