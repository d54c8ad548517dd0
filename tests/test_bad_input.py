"""Bad input, table-driven: one line on stderr, a non-zero exit, no traceback, nothing written.

Each case runs the real CLI in a subprocess against the real servers (or a port where none listens).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from dbbench.backends.database import is_owned
from tests.helpers import FIXTURES, ROOT, TARGETS, run_cli, url_for

SECRET = "Wr0ng-Pa55word"
# A database name no test uses: after a failing command it must still not exist.
UNTOUCHED = f"dbbench_badinput_{uuid.uuid4().hex[:6]}"
# None with the targets of one family: the case that needs it is left out (collection must not stop at import).
MYSQL = next((t for t in TARGETS if t.family == "mysql"), None)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _files(tmp: Path, name: str, text: str | None) -> Path:
    path = tmp / name
    if text is not None:
        path.write_text(text)
    return path


# (id, argv built from a tmp dir, expected fragment of the one-line error)
Case = tuple[str, Callable[[Path], list[str]], str]
CASES: list[Case] = [
    ("malformed URL", lambda t: ["doctor", "--target", "pg=postgres://h:port/db"], "malformed URL"),
    ("unknown scheme", lambda t: ["seed", "--target", "x=oracle://h/db", "--attempts", "10"], "unknown URL scheme"),
    *(
        [
            (
                "wrong password",
                lambda t: [
                    "seed",
                    "--target",
                    f"my={url_for(MYSQL, MYSQL.user, SECRET, UNTOUCHED)}",
                    "--attempts",
                    "10",
                ],
                "Access denied",
            )
        ]
        if MYSQL is not None
        else []
    ),
    (
        "server down",
        lambda t: [
            "seed",
            "--target",
            f"pg=postgres://postgres@127.0.0.1:{_closed_port()}/{UNTOUCHED}",
            "--attempts",
            "10",
        ],
        "cannot connect",
    ),
    (
        "unreachable host",
        lambda t: ["setup", "--target", f"pg=postgres://postgres@nonexistent.invalid:5432/{UNTOUCHED}"],
        "cannot connect",
    ),
    ("unknown backend", lambda t: ["seed", "--backend", "oracle", "--attempts", "10"], "unknown backend 'oracle'"),
    ("unknown profile", lambda t: ["run", "--profile", "huge"], "invalid choice: 'huge'"),
    ("zero attempts", lambda t: ["seed", "--attempts", "0"], "must be at least 1"),
    ("negative attempts", lambda t: ["seed", "--attempts", "-5"], "bad --attempts"),
    ("attempts not a number", lambda t: ["seed", "--attempts", "lots"], "bad --attempts"),
    ("bad sizes", lambda t: ["bench", "--sizes", "10k,zero"], "bad"),
    ("zero load users", lambda t: ["load", "--users", "0"], "bad"),
    ("results file missing", lambda t: ["report", str(t / "missing.json")], "no such file"),
    ("results file empty", lambda t: ["report", str(_files(t, "empty.json", ""))], "empty file"),
    (
        "results file truncated",
        lambda t: ["report", str(_files(t, "cut.json", (FIXTURES / "results_small.json").read_text()[:500]))],
        "not valid JSON",
    ),
    (
        "results file foreign",
        lambda t: ["report", str(_files(t, "other.json", '{"benchmarks": [{"name": "x"}]}'))],
        "not a dbbench results file",
    ),
    (
        "results directory missing",
        lambda t: ["report", str(FIXTURES / "results_small.json"), "--output-dir", str(t / "no" / "such" / "dir")],
        "does not exist",
    ),
    (
        "results directory read-only",
        # Even root cannot create files in sysfs.
        lambda t: ["report", str(FIXTURES / "results_small.json"), "--output-dir", "/sys"],
        "cannot write",
    ),
    ("audit path missing", lambda t: ["audit", str(t / "nowhere")], "no such file"),
]


@pytest.mark.parametrize(("name", "argv", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path: Path, name: str, argv: Callable[[Path], list[str]], fragment: str) -> None:
    args = argv(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = run_cli(*args, timeout=120)
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("dbbench: error:"), lines[0]
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    # Nothing written: no new files next to the inputs, no database created on either server.
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not any((ROOT / "results").glob(f"*{UNTOUCHED}*"))
    for server in TARGETS:
        assert not is_owned(server.with_database(UNTOUCHED))


def test_unparseable_python_is_reported_not_crashed(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text("class Broken(:\n    pass\n")
    proc = run_cli("audit", str(tmp_path))
    assert proc.returncode == 1  # a blocker: the audit cannot vouch for code it could not read
    assert "python-syntax" in proc.stdout and "models.py:1" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


# One case per command whose own code raises the error (argparse's usage errors come before --debug is read).
DEBUG_CASES = ["malformed URL", "wrong password", "unknown backend", "results file truncated", "audit path missing"]


@pytest.mark.parametrize("name", DEBUG_CASES)
def test_debug_shows_the_traceback_behind_the_line(tmp_path: Path, name: str) -> None:
    """``--debug``: the traceback, down to what went wrong first (a driver error, a JSON decoder's), and then the
    same one line; still no password."""
    _, argv, fragment = next(c for c in CASES if c[0] == name)
    proc = run_cli(*argv(tmp_path), "--debug", timeout=120)
    assert proc.returncode != 0, proc.stdout
    assert proc.stderr.startswith("Traceback (most recent call last):"), proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("dbbench: error:") and fragment in last, last
    assert "rerun with --debug" not in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
