"""Find how a Django project runs its tests: its settings module and its runner (pytest-django or Django's).

Read-only: the project's files are only read, with regular expressions (never imported here; importing the
settings happens in a subprocess, :func:`dbbench.app.runner.preflight`). The order of the clues follows how
the project itself would be run: pytest configuration, ``manage.py``, ``conftest.py``, tox and runtests
scripts, and finally a ``settings.py`` file near the top.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from dbbench.errors import ConfigError

PYTEST_CONFIGS = ("pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini")
_DS_IN_CONFIG = re.compile(r"(?:DJANGO_SETTINGS_MODULE\s*[=:]\s*|--ds[= ])[\"']?([A-Za-z_][\w.]*)")
_DS_IN_CODE = re.compile(r"[\"']DJANGO_SETTINGS_MODULE[\"']\s*(?:,|\]\s*=)\s*[\"']([A-Za-z_][\w.]*)[\"']")
_SETTINGS_FLAG = re.compile(r"(?:--settings[= ]|DJANGO_SETTINGS_MODULE=)[\"']?([A-Za-z_][\w.]*)")
_SKIP = {".git", ".tox", ".nox", ".venv", "venv", "node_modules", "build", "dist", "__pycache__", "docs"}
SETTINGS_FILES = ("test_settings.py", "settings_test.py", "settings.py")


@dataclass(frozen=True)
class Project:
    """A Django project as dbbench will run it."""

    root: Path
    settings: str
    runner: str  # "pytest" or "django"
    command: tuple[str, ...] = ()  # the user's own --test-command, split; empty: dbbench builds it
    pythonpath: tuple[Path, ...] = field(default_factory=tuple)
    settings_source: str = ""  # where the settings module was found, for the output


def detect(path: str | Path, *, settings: str | None = None, test_command: str | None = None) -> Project:
    """The project at ``path``; raises :class:`ConfigError` (one line) when it is no Django project."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ConfigError(f"app: {path}: no such folder (give the folder of a Django project)")
    root = root.resolve()
    source = "--settings"
    if not settings:
        settings, source = find_settings(root)
    if not settings:
        raise ConfigError(
            f"app: {path} is not a Django project: no manage.py, no DJANGO_SETTINGS_MODULE in its pytest or tox "
            "configuration and no settings.py found (pass --settings MODULE)"
        )
    command = tuple(shlex.split(test_command)) if test_command else ()
    runner = _runner_of_command(command) if command else find_runner(root)
    extra = tuple(p for p in (root / "src",) if p.is_dir())
    return Project(root, settings, runner, command, (root, *extra), source)


def find_settings(root: Path) -> tuple[str | None, str]:
    """The settings module and the file that names it, or ``(None, "")``."""
    for name in PYTEST_CONFIGS:
        found = _search(root / name, _DS_IN_CONFIG)
        if found:
            return found, name
    for name in ("manage.py", "conftest.py", "tests/conftest.py", "runtests.py", "tox.ini", "Makefile"):
        found = _search(root / name, _DS_IN_CODE) or _search(root / name, _SETTINGS_FLAG)
        if found:
            return found, name
    for file in _settings_files(root):
        module = ".".join(file.relative_to(root).with_suffix("").parts)
        return module.removesuffix(".__init__"), file.relative_to(root).as_posix()
    return None, ""


def find_runner(root: Path) -> str:
    """``pytest`` when the project is set up for pytest-django, else ``django`` (manage.py test)."""
    for name in PYTEST_CONFIGS:
        text = _read(root / name)
        if re.search(r"DJANGO_SETTINGS_MODULE|--ds[= ]|pytest[-_]django", text) and (
            name == "pytest.ini" or "[tool.pytest" in text or "[pytest]" in text or "[tool:pytest]" in text
        ):
            return "pytest"
    for conftest in (root / "conftest.py", root / "tests" / "conftest.py"):
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
