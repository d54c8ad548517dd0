"""``dbbench capture``'s library side: run any command with the recorder in its Django processes, merge the parts.

The recorder reaches the command's Python processes through a ``sitecustomize`` module on ``PYTHONPATH`` (Python
imports it at start-up): it installs :mod:`dbbench.capture.hook` when ``DBBENCH_CAPTURE`` is set and Django is
importable, so ``runserver`` and its reloader child, gunicorn's workers or a management command are all
recorded, each into a part file of its own, merged when the command ends. The hook is copied beside it, so the
command may run in the project's own interpreter, where dbbench is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dbbench import processes
from dbbench.capture import capfile, hook
from dbbench.errors import ConfigError

SITECUSTOMIZE = '''"""Written by dbbench capture: record this process's Django queries (see dbbench_capture_hook)."""
try:
    import dbbench_capture_hook as _dbbench_capture_hook

    _dbbench_capture_hook.install_from_environment()
except Exception as _exc:  # never stop the user's command: say why this process is not recorded
    import sys as _sys

    print(f"dbbench capture: not recording process: {type(_exc).__name__}: {_exc}", file=_sys.stderr)
'''


@dataclass(frozen=True)
class Options:
    """What to keep: instances per shape, parameter values, a sample of requests (middleware), limits."""

    keep: int = hook.KEEP_FIRST
    params: bool = True
    max_seconds: float = 0.0
    max_instances: int = 0
    skip_setup: bool = False  # a test suite's database set-up and flushes are left out
    root: str = ""  # call sites under this folder are written relative to it

    def config(self, folder: Path, project: Mapping[str, str]) -> dict[str, Any]:
        return {
            "skip_setup": self.skip_setup,
            "root": self.root,
            "dir": str(folder),
            "keep": self.keep,
            "params": self.params,
            "max_seconds": self.max_seconds,
            "max_instances": self.max_instances,
            "project": dict(project),
        }


@contextmanager
def recording_env(project: Mapping[str, str], options: Options) -> Iterator[tuple[dict[str, str], Path]]:
    """Environment additions that record a command's Django processes, and the folder their parts go to."""
    if options.keep < 1:
        raise ConfigError(f"capture: --keep must be at least 1, not {options.keep}")
    with tempfile.TemporaryDirectory(prefix="dbbench-capture-") as tmp:
        site, parts = Path(tmp, "site"), Path(tmp, "parts")
        site.mkdir()
        parts.mkdir(mode=0o700)
        shutil.copyfile(hook.__file__, site / "dbbench_capture_hook.py")
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
        env = {
            "PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p),
            hook.CONFIG_ENV: json.dumps(options.config(parts, project)),
        }
        yield env, parts


def collect(parts: Path) -> dict[str, Any]:
    """The merged capture of every part in ``parts``; one line when no Django query was recorded."""
    found = capfile.read_parts(parts)
    if not found:
        raise ConfigError(
            "capture: no Django query was recorded (did the command run Django with a database, in Python with "
            "Django installed?)"
        )
    return capfile.merge(found)


def capture_command(
    command: Sequence[str], output: Path, *, project: Mapping[str, str], cwd: Path | None, options: Options
) -> tuple[dict[str, Any], int]:
    """Run ``command`` to its end (Ctrl-C ends it too) with recording on; write the capture; ``(data, exit code)``."""
    if not command:
        raise ConfigError("capture: give the command to run after --, e.g. -- python manage.py runserver")
    argv = [sys.executable, *command[1:]] if command[0] in ("python", "python3") else list(command)
    if cwd is not None and not options.root:
        options = replace(options, root=str(cwd) + os.sep)
    with recording_env(project, options) as (extra, parts):
        env = {**os.environ, **extra}
        if cwd is not None:
            env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], str(cwd)])
        try:
            code = processes.foreground(argv, env=env, cwd=cwd)
        except KeyboardInterrupt:  # the way a runserver session ends: keep what was recorded
            code = 130
        except FileNotFoundError:
            raise ConfigError(f"capture: command not found: {command[0]}") from None
        data = collect(parts)
    capfile.write(output, data)
    return data, code


@contextmanager
def record_suite(project: Any, output: Path) -> Iterator[dict[str, str]]:
    """``dbbench app --capture``: the environment that records a test suite's queries; the capture is written
    to ``output`` when the block ends (a suite that recorded nothing writes nothing, and says so)."""
    options = Options(skip_setup=True, root=str(project.root) + os.sep)
    identity = capfile.project_identity(project.root, project.settings)
    with recording_env(identity, options) as (extra, parts):
        yield extra
        capfile.write(output, collect(parts))
