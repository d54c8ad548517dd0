"""The package's shape: no import cycles inside dbbench, between modules or between packages, and a wheel that
works outside the checkout."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, ROOT

PACKAGE = ROOT / "dbbench"


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = path
    return mods


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every dbbench module ``name`` imports, at module level or inside a function (both make a cycle)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in found if m in known and m != name}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph`` (module -> modules it imports), each as a path that returns to its start."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return cycles


@pytest.mark.nodb
def test_the_cycle_finder_sees_a_cycle() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.nodb
def test_no_import_cycle_inside_dbbench() -> None:
    mods = _modules()
    graph = {name: _imports(name, path, set(mods)) for name, path in mods.items()}
    assert len(graph) > 40  # the walk found the package
    assert find_cycles(graph) == []


def _package(module: str) -> str:
    """The package a module belongs to at the first level: ``dbbench.servers.managed`` -> ``dbbench.servers``; a
    top-level module (``dbbench.errors``) is a node of its own."""
    return ".".join(module.split(".")[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """``graph`` collapsed to packages: an edge wherever some module of one imports some module of another."""
    packages: dict[str, set[str]] = {}
    for module, imported in graph.items():
        packages.setdefault(_package(module), set()).update(_package(m) for m in imported)
    return {package: imported - {package} for package, imported in packages.items()}


@pytest.mark.nodb
def test_the_package_graph_sees_an_import_between_packages() -> None:
    assert package_graph({"dbbench.a.x": {"dbbench.b.y"}, "dbbench.b.y": {"dbbench.a.z"}, "dbbench.a.z": set()}) == {
        "dbbench.a": {"dbbench.b"},
        "dbbench.b": {"dbbench.a"},
    }


@pytest.mark.nodb
def test_no_import_cycle_between_packages() -> None:
    """Packages layer: each may use those below it, never one that uses it back (``backends`` below ``servers``,
    ``stats`` below both ``bench`` and ``report``), so a package can be read, tested and moved on its own."""
    mods = _modules()
    packages = package_graph({name: _imports(name, path, set(mods)) for name, path in mods.items()})
    assert {"dbbench.backends", "dbbench.servers", "dbbench.bench", "dbbench.report"} <= set(packages)
    assert "dbbench.backends" in packages["dbbench.servers"]  # the walk sees imports between packages
    assert find_cycles(packages) == []


@pytest.mark.nodb
def test_no_module_is_much_over_500_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in _modules().values() if (n := len(p.read_text().splitlines())) > 550}
    assert long == {}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(out),
        str(ROOT),
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (path,) = out.glob("dbbench-*.whl")
    return path


@pytest.mark.slow
@pytest.mark.nodb
def test_wheel_installs_only_dbbench_with_its_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"dbbench"}  # no top-level `settings` to collide with a Django project's own
    assert "dbbench/parity/data/parity.json" in names
    assert "dbbench/bench/suite/pytest.ini" in names
    assert "dbbench/quiz/migrations/0001_initial.py" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[pytest11]" in text and "dbbench.bench.plugin" in text


@pytest.mark.slow
def test_installed_wheel_runs_from_an_empty_directory(wheel: Path, tmp_path: Path) -> None:
    """A new virtualenv with the wheel: commands work from a directory that is not the checkout."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    bin_dir = venv / "bin"
    site = Path(
        subprocess.run(
            [bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The dependencies come from this environment's site-packages (a plain path entry: its .pth files, among them
    # the checkout's editable install, are not processed); dbbench itself only from the wheel.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}

    def dbbench(*args: str) -> subprocess.CompletedProcess[str]:
        command = [str(bin_dir / "python"), "-m", "dbbench", *args]
        return subprocess.run(command, cwd=empty, env=env, capture_output=True, text=True, timeout=300)

    where = subprocess.run(
        [bin_dir / "python", "-c", "import dbbench; print(dbbench.__file__)"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr

    audit = dbbench("audit", str(FIXTURES / "audit_projects" / "postgres_contrib"))
    assert audit.returncode == 1 and "pg-import" in audit.stdout, audit.stderr
    doctor = dbbench("doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "PostgreSQL" in doctor.stdout and ("MariaDB" in doctor.stdout or "MySQL" in doctor.stdout)
    listed = subprocess.run(
        [bin_dir / "python", "-m", "pytest", "--co", "-q", str(site / "dbbench" / "bench" / "suite"), "-p", "no:cov"],
        cwd=empty,
        env={**env, "DJANGO_SETTINGS_MODULE": "dbbench.settings.all"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "bench_reads.py" in listed.stdout, listed.stdout[-2000:] + listed.stderr[-2000:]
    assert not (empty / "results").exists() or not any((empty / "results").iterdir())
