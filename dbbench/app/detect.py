"""Find how a Django project runs its tests: its settings, its runner, its path and its interpreter.

Read-only: the project's files are only read, with regular expressions (never imported here; importing the
settings happens in a subprocess, :func:`dbbench.app.runner.preflight`). The clues are tried in the order a
project itself would be run by its developers:

1. pytest configuration naming the settings (``pytest.ini``, ``pyproject.toml``, ``setup.cfg``, ``tox.ini``);
2. ``manage.py`` at the root, then ``tests/manage.py`` next to the package (run from its own folder, as
   ``cd tests && python manage.py test`` would);
3. ``conftest.py`` setting ``DJANGO_SETTINGS_MODULE``;
4. the commands in ``Makefile``, ``tox.ini``, ``noxfile.py`` and CI workflows that set ``PYTHONPATH`` and
   ``--settings`` / ``DJANGO_SETTINGS_MODULE`` (e.g. ``PYTHONPATH=.:tests django-admin test --settings=settings``);
5. a ``runtests.py`` naming a settings module, or building the settings in code with ``settings.configure(...)``
   (then the script itself is run, as the project does, with ``configure`` patched to point the databases);
6. a ``settings.py`` file near the top.

The project stays the folder given (its name, its audit) even when the suite lives in ``tests/``.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dbbench.errors import ConfigError

PYTEST_CONFIGS = ("pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini")
TEST_DIRS = ("tests", "test")
RUNTESTS = ("runtests.py", "run_tests.py")
COMMAND_FILES = ("Makefile", "tox.ini", "noxfile.py", "setup.cfg")
VENVS = (".venv", "venv", "env", ".env")
_DS_IN_CONFIG = re.compile(r"(?:DJANGO_SETTINGS_MODULE\s*[=:]\s*|--ds[= ])[\"']?([A-Za-z_][\w.]*)")
_DS_IN_CODE = re.compile(r"[\"']DJANGO_SETTINGS_MODULE[\"']\s*(?:,|\]\s*=)\s*[\"']([A-Za-z_][\w.]*)[\"']")
_SETTINGS_FLAG = re.compile(r"(?:--settings[= ]|--ds[= ]|DJANGO_SETTINGS_MODULE\s*[=:]\s*)[\"']?([A-Za-z_][\w.]*)")
_PYTHONPATH = re.compile(r"PYTHONPATH\s*[=:]\s*[\"']?([^\s\"';]+)")
_CONFIGURE = re.compile(r"settings\.configure\(")
_SKIP = {".git", ".tox", ".nox", ".venv", "venv", "node_modules", "build", "dist", "__pycache__", "docs"}
SETTINGS_FILES = ("test_settings.py", "settings_test.py", "settings.py")


@dataclass(frozen=True)
class Project:
    """A Django project as dbbench will run it."""

    root: Path
    settings: str  # empty when the project builds its settings in code (settings.configure)
    runner: str  # "pytest" or "django"
    command: tuple[str, ...] = ()  # the user's own --test-command, split; empty: dbbench builds it
    pythonpath: tuple[Path, ...] = field(default_factory=tuple)
    settings_source: str = ""  # where the settings module was found, for the output
    python: str = sys.executable  # the interpreter that runs the suite: the project's own when it has one
    cwd: Path | None = None  # where the suite runs (None: the root)
    script: Path | None = None  # a runtests.py that configures Django itself, run as the project does

    @property
    def workdir(self) -> Path:
        return self.cwd or self.root


@dataclass(frozen=True)
class _Found:
    settings: str = ""
    source: str = ""
    runner: str = ""  # "" = decide from the pytest configuration
    cwd: Path | None = None
    pythonpath: tuple[Path, ...] = ()
    script: Path | None = None


def detect(
    path: str | Path,
    *,
    settings: str | None = None,
    test_command: str | None = None,
    python: str | None = None,
    pythonpath: tuple[str, ...] = (),
) -> Project:
    """The project at ``path``; raises :class:`ConfigError` (one line) when it is no Django project."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ConfigError(f"app: {path}: no such folder (give the folder of a Django project)")
    root = root.resolve()
    found = _Found(settings, "--settings") if settings else find(root)
    if not found.settings and not found.script:
        raise ConfigError(
            f"app: {path} is not a Django project: no manage.py, no DJANGO_SETTINGS_MODULE in its pytest, tox or "
            "Makefile configuration, no runtests.py and no settings.py found (pass --settings MODULE)"
        )
    command = tuple(shlex.split(test_command)) if test_command else ()
    runner = _runner_of_command(command) if command else (found.runner or find_runner(root))
    given = tuple((root / p).resolve() for p in pythonpath)
    paths = [*given, *found.pythonpath, root, *(p for p in (root / "src",) if p.is_dir())]
    if found.settings:
        home = _module_home(found.settings, [*paths, *(root / d for d in TEST_DIRS)])
        if home:
            paths.insert(0, home)
    if found.cwd:
        paths.insert(0, found.cwd)  # `python manage.py` puts its own folder first
    unique = tuple(dict.fromkeys(p for p in paths if p.is_dir()))
    return Project(
        root,
        found.settings,
        runner,
        command,
        unique,
        found.source,
        find_python(root, python),
        found.cwd,
        found.script,
    )


def find(root: Path) -> _Found:
    """The first clue of how the project runs its tests (see the module's docstring for the order)."""
    for name in PYTEST_CONFIGS:
        ds = _search(root / name, _DS_IN_CONFIG)
        if ds and (name != "tox.ini" or re.search(r"^\[pytest\]", _read(root / name), re.M)):
            return _Found(ds, name)
    manage = _search(root / "manage.py", _DS_IN_CODE)
    if manage:
        return _Found(manage, "manage.py")
    for folder in TEST_DIRS:
        ds = _search(root / folder / "manage.py", _DS_IN_CODE)
        if ds:
            return _Found(ds, f"{folder}/manage.py", "django", root / folder)
    for name in ("conftest.py", *(f"{d}/conftest.py" for d in TEST_DIRS)):
        ds = _search(root / name, _DS_IN_CODE)
        if ds:
            return _Found(ds, name, "pytest")
    for file in _command_files(root):
        found = _from_commands(root, file)
        if found:
            return found
    for name in [f"{d}{n}" for d in ("", *(f"{t}/" for t in TEST_DIRS)) for n in RUNTESTS]:
        script = root / name
        text = _read(script)
        ds = _search(script, _DS_IN_CODE) or _search(script, _SETTINGS_FLAG)
        if ds:
            return _Found(ds, name, "", script.parent if script.parent != root else None)
        if _CONFIGURE.search(text):
            runner = "pytest" if re.search(r"\bpytest\.main\(", text) else "django"
            return _Found("", f"{name} (settings.configure)", runner, script=script)
    for name in ("conftest.py", *(f"{d}/conftest.py" for d in TEST_DIRS)):
        if _CONFIGURE.search(_read(root / name)):
            return _Found("", f"{name} (settings.configure)", "pytest")
    for file in _settings_files(root):
        module = ".".join(file.relative_to(root).with_suffix("").parts)
        return _Found(module.removesuffix(".__init__"), file.relative_to(root).as_posix())
    return _Found()


def find_settings(root: Path) -> tuple[str | None, str]:
    """The settings module and the file that names it, or ``(None, "")``."""
    found = find(root)
    return (found.settings or None, found.source)


def _command_files(root: Path) -> list[Path]:
    workflows = sorted((root / ".github" / "workflows").glob("*.y*ml"))
    return [*(root / n for n in COMMAND_FILES), *workflows]


def _from_commands(root: Path, file: Path) -> _Found | None:
    """A line of a Makefile, tox.ini, noxfile or workflow that names the settings, with its PYTHONPATH."""
    text = _read(file)
    for line in text.splitlines():
        ds = _SETTINGS_FLAG.search(line)
        if not ds or "pip install" in line:
            continue
        # PYTHONPATH is often set on its own line (tox's setenv, a workflow's env:), so look in the whole file.
        paths = _PYTHONPATH.search(line) or _PYTHONPATH.search(text)
        folders = _paths(root, paths.group(1)) if paths else ()
        runner = "pytest" if re.search(r"\bpy\.?test\b", line) else ("django" if re.search(r"\btest\b", line) else "")
        return _Found(ds.group(1), file.relative_to(root).as_posix(), runner, pythonpath=folders)
    return None


def _paths(root: Path, value: str) -> tuple[Path, ...]:
    """``.:tests``, ``{toxinidir}/tests``, ``$(PWD)/tests``, ``${{ github.workspace }}/tests``: the folders."""
    value = re.sub(r"\{toxinidir\}|\$\(\w+\)|\$\{\{[^}]*\}\}|\$\{?\w+\}?|\{\w+\}", ".", value)
    folders = []
    for part in re.split(r"[:;,]", value):
        part = part.strip().strip("/") if part.strip() not in (".", "./") else "."
        candidate = (root / part).resolve() if part else root
        if candidate.is_dir() and candidate.is_relative_to(root):
            folders.append(candidate)
    return tuple(folders)


def _module_home(module: str, folders: list[Path]) -> Path | None:
    """The folder on whose path ``module`` is importable (``settings`` in ``tests/``), or None."""
    rel = Path(*module.split("."))
    for folder in folders:
        if (folder / rel).with_suffix(".py").is_file() or (folder / rel / "__init__.py").is_file():
            return folder
    return None


def find_python(root: Path, given: str | None = None) -> str:
    """``--python``, else the project's own virtualenv (``.venv``, ``venv``, ``env``), else dbbench's."""
    if given:
        python = Path(given).expanduser()
        if not (python.is_file() and os.access(python, os.X_OK)):
            raise ConfigError(f"app: --python {given}: no such interpreter (give the path of a python executable)")
        return str(python.absolute())
    for venv in VENVS:
        python = root / venv / "bin" / "python"
        if python.is_file() and os.access(python, os.X_OK):
            return str(python)
    return sys.executable


def find_runner(root: Path) -> str:
    """``pytest`` when the project is set up for pytest-django, else ``django`` (manage.py test)."""
    for name in PYTEST_CONFIGS:
        text = _read(root / name)
        if re.search(r"DJANGO_SETTINGS_MODULE|--ds[= ]|pytest[-_]django", text) and (
            name == "pytest.ini" or "[tool.pytest" in text or "[pytest]" in text or "[tool:pytest]" in text
        ):
            return "pytest"
    for conftest in (root / "conftest.py", *(root / d / "conftest.py" for d in TEST_DIRS)):
        if re.search(r"django", _read(conftest), re.I):
            return "pytest"
    return "django"


def _runner_of_command(command: tuple[str, ...]) -> str:
    """A user's command is run as pytest (dbbench adds its plugin) when it runs pytest, else as given."""
    words = [Path(w).name for w in command[:3]]
    return "pytest" if "pytest" in words or "py.test" in words else "django"


def _settings_files(root: Path) -> list[Path]:
    """``settings.py`` files up to three folders deep, test settings first, shallowest first."""
    found: list[Path] = []
    for depth in range(4):
        for name in SETTINGS_FILES:
            for file in sorted(root.glob("/".join(["*"] * depth + [name]))):
                if not _SKIP.intersection(file.relative_to(root).parts) and "site-packages" not in file.parts:
                    found.append(file)
        for file in sorted(root.glob("/".join(["*"] * depth + ["settings", "__init__.py"]))):
            if not _SKIP.intersection(file.relative_to(root).parts):
                found.append(file)
    return sorted(found, key=lambda f: (SETTINGS_FILES.index(f.name) if f.name in SETTINGS_FILES else 3, len(f.parts)))


def _search(file: Path, pattern: re.Pattern[str]) -> str | None:
    match = pattern.search(_read(file))
    return match.group(1) if match else None


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8", errors="replace") if file.is_file() else ""
    except OSError:
        return ""
