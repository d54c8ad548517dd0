"""Result files: every stage writes self-describing JSON atomically and reads it back with one-line errors.

Each dbbench result file (seed, parity, load, rehearsal...) is an envelope::

    {"dbbench": {"kind": "parity", "schema": 1, "created": "...", "environment": {...}}, "data": {...}}

pytest-benchmark's own JSON (the benchmark suite) is recognised by its ``benchmarks`` list whose entries carry
``extra_info["dbbench"]``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from dbbench import __version__
from dbbench.errors import ResultsError
from dbbench.files import RESULTS_LIMIT, FileRefused, read_regular_text

SCHEMA = 1
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_RESULTS_DIR = Path(os.environ.get("DBBENCH_RESULTS_DIR", "results"))


# --- the envelope, as written (readers check what they read: a shared file may hold anything) --------------------


class Machine(TypedDict):
    node: str
    system: str
    release: str
    machine: str
    cpus: int | None
    memory_bytes: int | None


class Commit(TypedDict):
    id: str | None  # None outside a checkout of dbbench itself
    dirty: bool | None  # uncommitted changes to tracked files


class Environment(TypedDict):
    """Where a result was measured: every result file records it (the benchmark's JSON as ``dbbench_run``)."""

    dbbench: str
    django: str
    python: str
    machine: Machine
    commit: Commit
    drivers: dict[str, str]  # psycopg, mysqlclient: versions


class Header(TypedDict):
    kind: str  # seed, parity, load, rehearsal, audit, app, run...
    schema: int
    created: str  # ISO 8601, UTC
    environment: Environment


class Envelope(TypedDict):
    dbbench: Header
    data: dict[str, Any]  # the stage's own figures


def stamp() -> str:
    """The UTC time in result file and folder names: ``20261129-224316``."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def output_path(path: Path | None, default_name: str) -> Path:
    """Where a result file goes: ``path``, or ``<results dir>/<default_name>`` (the folder created).

    Checked before a stage runs, so a bad ``--output`` costs nothing: a directory, or a file in a folder that
    does not exist, is one line.
    """
    if path is None:
        DEFAULT_RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        return DEFAULT_RESULTS_DIR / default_name
    if path.is_dir():
        raise ResultsError(f"{path}: is a directory; give a file name such as {path / default_name}")
    if not path.parent.is_dir():
        raise ResultsError(f"results directory {path.parent} does not exist")
    return path


def environment() -> Environment:
    """Machine, software and commit: what every result records about where it was measured."""
    import django

    return {
        "dbbench": __version__,
        "django": django.get_version(),
        "python": platform.python_version(),
        "machine": {
            "node": platform.node(),
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "memory_bytes": _memory_bytes(),
        },
        "commit": commit_info(),
        "drivers": _driver_versions(),
    }


def commit_info() -> Commit:
    """The git commit of the dbbench checkout, and whether it had uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=PACKAGE_DIR, capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()

    try:
        # Only a checkout of dbbench itself has dbbench's commit: an installed copy inside someone else's
        # repository (a virtualenv in their project) must not report their commit as ours.
        if git("rev-parse", "--show-toplevel") != str(PACKAGE_DIR.parent):
            return {"id": None, "dirty": None}
        return {
            "id": git("rev-parse", "HEAD") or None,
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        }
    except (OSError, subprocess.SubprocessError):
        return {"id": None, "dirty": None}


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _driver_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    try:
        import psycopg

        versions["psycopg"] = f"{psycopg.__version__} ({psycopg.pq.__impl__})"
    except ImportError:
        pass
    try:
        import MySQLdb

        versions["mysqlclient"] = ".".join(str(p) for p in MySQLdb.version_info[:3])
    except ImportError:
        pass
    return versions


PRIVATE = 0o600  # result files: they describe a team's servers
SHARED = 0o666  # reports: made to be passed around (the umask still applies)


def atomic_write_files(files: Mapping[Path, bytes], *, mode: int = PRIVATE) -> None:
    """Write every file via a temporary file in its folder, then rename them all: readers see old or new files,
    never half a file, and a full disk or any other failure leaves the old ones in place.

    The rename replaces a symlink at the destination instead of following it, so a link planted in an output
    folder cannot make dbbench overwrite a file elsewhere. ``mode`` is masked by the umask.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files.items():
            path = Path(path)
            if not path.parent.is_dir():
                raise ResultsError(f"results directory {path.parent} does not exist")
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode & ~_umask())
        for tmp, path in staged:
            os.replace(tmp, path)
        staged.clear()
    except OSError as exc:
        where = Path(exc.filename).parent if exc.filename else "the results directory"
        raise ResultsError(f"cannot write to {where}: {exc.strerror or exc}") from None
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str, *, mode: int = PRIVATE) -> None:
    """One text file, written as :func:`atomic_write_files` writes."""
    atomic_write_files({Path(path): text.encode("utf-8")}, mode=mode)


def _umask() -> int:
    current = os.umask(0o077)  # reading the umask means setting it; put it straight back
    os.umask(current)
    return current


def write_result(path: Path, kind: str, data: dict[str, Any]) -> Path:
    """Write one result file of ``kind`` atomically; returns the path."""
    envelope: Envelope = {
        "dbbench": {
            "kind": kind,
            "schema": SCHEMA,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "environment": environment(),
        },
        "data": data,
    }
    atomic_write_text(Path(path), json.dumps(envelope, indent=2, ensure_ascii=False, default=str) + "\n")
    return Path(path)


def read_json(path: Path | str) -> Any:
    """Parse a JSON file, turning every failure into a one-line :class:`ResultsError`."""
    path = Path(path)
    if not path.exists():
        raise ResultsError(f"{path}: no such file")
    if path.is_dir():
        raise ResultsError(f"{path}: is a directory, not a results file")
    try:
        text = read_regular_text(path, RESULTS_LIMIT)
    except FileRefused as exc:
        raise ResultsError(f"{path}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: cannot read: {exc}") from None
    if not text.strip():
        raise ResultsError(f"{path}: empty file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON (truncated or corrupt? {exc.msg} at line {exc.lineno})") from None
    except RecursionError:  # "[[[[...]]]]": no dbbench file nests a thousand levels deep
        raise ResultsError(f"{path}: nested too deeply to be a dbbench results file") from None


def result_kind(document: Any) -> str | None:
    """``"benchmark"`` for dbbench's pytest-benchmark JSON, an envelope's kind, or None when not ours."""
    if not isinstance(document, dict):
        return None
    header = document.get("dbbench")
    if isinstance(header, dict) and isinstance(header.get("kind"), str) and isinstance(document.get("data"), dict):
        return header["kind"]
    benchmarks = document.get("benchmarks")
    if (
        isinstance(benchmarks, list)
        and benchmarks
        and all(
            isinstance(b, dict) and isinstance(b.get("extra_info"), dict) and "dbbench" in b["extra_info"]
            for b in benchmarks
        )
    ):
        return "benchmark"
    return None


# What the readers of each kind iterate over: ``key: (type of the value, type of its items)``. A file shared by
# someone else may hold anything; checking the containers here turns a TypeError deep in a reader into one line.
SHAPES: dict[str, dict[str, tuple[type, type | None]]] = {
    "load": {"runs": (list, dict), "config": (dict, None), "notes": (list, str)},
    "rehearsal": {
        "tables": (list, dict),
        "differences": (list, dict),
        "conversions": (list, dict),
        "estimates": (list, dict),
        "smoke": (list, str),
        "emptied_tables": (list, str),
    },
    "run": {"stages": (list, dict)},
}
RUN_SHAPE: dict[str, tuple[type, type | None]] = {"steps": (list, dict), "knee": (dict, None), "server": (dict, None)}


def _check_shape(path: Path, kind: str, document: dict[str, Any]) -> None:
    if kind == "benchmark":
        bad = [b for b in document["benchmarks"] if not isinstance(b["extra_info"].get("dbbench"), dict)]
        if bad:
            raise ResultsError(f"{path}: malformed benchmark file (extra_info.dbbench is not an object)")
        return
    data = document["data"]
    checks = [(data, SHAPES.get(kind, {}), "")]
    if kind == "load" and isinstance(data.get("runs"), list):
        checks += [(run, RUN_SHAPE, f"runs[{i}].") for i, run in enumerate(data["runs"]) if isinstance(run, dict)]
    for holder, shape, where in checks:
        for key, (outer, inner) in shape.items():
            value = holder.get(key)
            if value is None:
                continue  # an older or partial file: the readers treat a missing part as absent
            items: list[Any] = value if isinstance(value, list) else []
            if not isinstance(value, outer) or (inner is not None and not all(isinstance(v, inner) for v in items)):
                want = f"a list of {'objects' if inner is dict else 'strings'}" if outer is list else "an object"
                raise ResultsError(f"{path}: malformed {kind} file: {where}{key} is not {want}")


def load_result(path: Path, kind: str | None = None) -> tuple[str, dict[str, Any]]:
    """Read a result file; return ``(kind, document)``. Raises :class:`ResultsError` for anything not ours."""
    document = read_json(path)
    found = result_kind(document)
    if found is None:
        raise ResultsError(f"{path}: not a dbbench results file")
    if kind is not None and found != kind:
        raise ResultsError(f"{path}: a dbbench {found} file, expected {kind}")
    if found != "benchmark" and document["dbbench"].get("schema") != SCHEMA:
        raise ResultsError(f"{path}: results schema {document['dbbench'].get('schema')} is not supported ({SCHEMA})")
    _check_shape(path, found, document)
    return found, document
