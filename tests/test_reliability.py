"""What a red-team pass broke (issue 20): a copy onto its own source, writers that collided, SIGTERM, absurd sizes.

Against the real servers; each database here is a scratch one of this module's, dropped afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from dbbench.backends.database import drop_database, exclusive, is_owned, lock_name
from dbbench.backends.targets import Target, parse_target
from dbbench.errors import DbbenchError
from dbbench.results import load_result
from tests.helpers import ROOT, row_counts, run_cli, scratch_user, url_for


def _other_spelling(target: Target) -> Target:
    """The same server and database under another host name (127.0.0.1 <-> localhost)."""
    host = "localhost" if target.host != "localhost" else "127.0.0.1"
    return parse_target(target.name, target.url.replace(f"@{target.host}", f"@{host}", 1))


def _count(target: Target, table: str) -> int:
    return row_counts(target, (table,))[table]


@pytest.fixture
def seeded(target: Target) -> Iterator[Target]:
    """A scratch database on ``target``'s server with 1k seeded attempts."""
    scratch = target.with_database(f"{target.database}_r{uuid.uuid4().hex[:8]}")
    proc = run_cli("seed", "--attempts", "1k", "--target", f"src={scratch.url}")
    assert proc.returncode == 0, proc.stderr
    try:
        yield scratch
    finally:
        drop_database(scratch)


def test_migrate_data_refuses_its_own_source_under_another_host_name(seeded: Target, tmp_path: Path) -> None:
    """127.0.0.1 and localhost are one server: --into the source database is refused, and the source keeps its
    rows (it used to be emptied, verified "0 / 0 ok" and reported as a success)."""
    other = _other_spelling(seeded)
    before = _count(seeded, "quiz_quizattempt")
    assert before >= 1000
    proc = run_cli(
        "migrate-data",
        *("--target", f"src={seeded.url}", "--target", f"dst={other.url}"),
        *("--from", "src", "--to", "dst", "--into", seeded.database, "--replace"),
        *("--output", str(tmp_path / "r.json")),
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("dbbench: error: the copy would overwrite its source"), proc.stderr
    assert _count(seeded, "quiz_quizattempt") == before


def test_the_server_identity_is_the_servers_own_answer(target: Target) -> None:
    def identity(t: Target) -> str:
        with t.spec.connection(t, None) as conn:
            return t.spec.server_identity(conn.cursor())

    assert identity(target) == identity(_other_spelling(target))
    assert identity(target) and ":" in identity(target)


def test_a_copy_of_nothing_from_a_non_empty_source_fails() -> None:
    from dbbench.rehearsal.copy import TableCopy
    from dbbench.rehearsal.rehearse import Endpoint, Rehearsal
    from dbbench.rehearsal.verify import TableCheck

    end = Endpoint("a", "PostgreSQL", "15", "db", "postgres://h/db")
    result = Rehearsal(end, end, copies=[TableCopy("quiz_quizattempt", 0, 0.1, 0)], smoke_ok=True)
    result.checks = [TableCheck("quiz_quizattempt", 0, 0, "x:0", "x:0", 0)]
    result.source_rows_before = {"quiz_quizattempt": 5000}
    assert result.emptied == ["quiz_quizattempt"] and not result.ok
    result.source_rows_before = {"quiz_quizattempt": 0}
    assert result.ok


# --- one writer per database ------------------------------------------------------------------------------------


def test_a_second_writer_is_refused_whatever_the_command(seeded: Target, tmp_path: Path) -> None:
    """A migrate-data into a copy that another process is writing refuses at once, as seed does during bench."""
    copy = seeded.with_database(seeded.database + "_copy")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from dbbench.backends.targets import parse_target; "
            "from dbbench.backends.database import exclusive; "
            "t = parse_target('x', sys.argv[1]); cm = exclusive(t, 'a test'); cm.__enter__(); "
            "print('held', flush=True); time.sleep(60)",
            copy.url,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        migrate = run_cli(
            "migrate-data",
            *("--target", f"src={seeded.url}", "--from", "src", "--to", "src", "--into", copy.database),
            *("--output", str(tmp_path / "r.json")),
        )
        seed = run_cli("seed", "--attempts", "1k", "--target", f"c={_other_spelling(copy).url}")
    finally:
        holder.kill()
        holder.communicate()
        drop_database(copy)
    for proc in (migrate, seed):
        assert proc.returncode == 2, proc.stderr
        assert "another dbbench process is writing to database" in proc.stderr, proc.stderr
    assert not (tmp_path / "r.json").exists()


def test_lock_names_stay_apart_for_long_database_names(target: Target) -> None:
    """The names used to be cut at 64 characters: two long database names then shared one lock."""
    a = target.with_database("d" * 59 + "_one")
    b = target.with_database("d" * 59 + "_two")
    assert lock_name(a) != lock_name(b) and len(lock_name(a)) <= 64
    with exclusive(a, "a test"), exclusive(b, "a test"):
        pass


def test_the_lock_is_reentrant_within_a_process(target: Target) -> None:
    with exclusive(target, "outer"), exclusive(_other_spelling(target), "inner"):
        pass


def test_a_lock_held_elsewhere_is_reported_in_one_line(target: Target) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from dbbench.backends.targets import parse_target; "
            "from dbbench.backends.database import exclusive; "
            "cm = exclusive(parse_target('x', sys.argv[1]), 'a test'); cm.__enter__(); "
            "print('held', flush=True); time.sleep(60)",
            target.url,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(DbbenchError, match="refusing to start seeding"), exclusive(target, "seeding"):
            pass
    finally:
        holder.kill()
        holder.communicate()


# --- SIGTERM ----------------------------------------------------------------------------------------------------


def test_sigterm_during_seed_benchmark_removes_its_temp_files(target: Target, tmp_path: Path) -> None:
    """SIGTERM unwinds like Ctrl-C: the seeding child stops, the temporary TSV files go, exit 128 + 15."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dbbench", "seed-benchmark", "--attempts", "300k", "--backend", target.name],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(temp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        # Wait until the raw load's temporary folder exists (the seeding child has finished by then).
        while not list(temp.glob("dbbench-seedbench-*")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "terminated (SIGTERM)" in err
    assert list(temp.iterdir()) == []
    assert not is_owned(target.with_database(f"{target.database}_seedbench"))


# --- absurd sizes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["999999999999999999TB", "1e400", "99999999999999999999"])
def test_an_absurd_estimate_size_is_refused_before_anything_runs(size: str, tmp_path: Path) -> None:
    started = time.monotonic()
    proc = run_cli(
        "migrate-data",
        *("--target", "a=postgres://postgres@127.0.0.1/dbbench_nonexistent_h20", "--from", "a", "--to", "a"),
        *("--estimate-for", size, "--output", str(tmp_path / "r.json")),
    )
    assert proc.returncode == 2 and proc.stderr.startswith("dbbench: error: bad --estimate-for size"), proc.stderr
    assert time.monotonic() - started < 30


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dbbench", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _sigterm_once_pytest_runs(proc: subprocess.Popen[str]) -> tuple[list[psutil.Process], str]:
    """Wait for the command's pytest child, SIGTERM the command; its descendants at that moment and its stderr."""
    try:
        deadline = time.monotonic() + 240
        children: list[psutil.Process] = []
        while time.monotonic() < deadline and proc.poll() is None:
            children = psutil.Process(proc.pid).children(recursive=True)
            if any("pytest" in " ".join(_cmdline(c)) for c in children):
                break
            time.sleep(0.1)
        assert proc.poll() is None and children, proc.communicate()[1]
        time.sleep(1.0)  # inside the benchmarks, not at the child's first instruction
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return children, err


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    gone, alive = psutil.wait_procs(processes, timeout=10)
    return [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]


def test_sigterm_during_bench_leaves_no_pytest_child(target: Target, tmp_path: Path) -> None:
    proc = _start(
        "bench", "--backend", target.name, "--profile", "quick", "--sizes", "1k", "--output-dir", str(tmp_path)
    )
    children, err = _sigterm_once_pytest_runs(proc)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert _alive(children) == []


def test_sigterm_during_run_writes_run_json_marked_interrupted(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _start("run", "--profile", "quick", "--skip", "parity,load,rehearsal", "--output-dir", str(out))
    children, err = _sigterm_once_pytest_runs(proc)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert _alive(children) == []
    _, manifest = load_result(out / "run.json", "run")
    last = manifest["data"]["stages"][-1]
    assert (last["stage"], last["status"]) == ("benchmarks", "interrupted")


def test_a_second_run_into_the_same_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    from dbbench.pipeline import folder_lock

    with folder_lock(tmp_path):
        proc = run_cli("run", "--profile", "quick", "--output-dir", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "another dbbench run" in proc.stderr and str(os.getpid()) in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".dbbench-run.lock"]  # nothing of a run was written
    with folder_lock(tmp_path):  # released when its holder is done
        pass


# --- malformed results files (issue 20, case 12) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"dbbench": {"kind": "load", "schema": 1}, "data": ' + '{"a":' * 5000 + "1" + "}" * 5000 + "}", "nested"),
        ('{"benchmarks": [{"extra_info": 5}]}', "not a dbbench results file"),
        ('{"dbbench": {"kind": "load", "schema": 1}, "data": {"runs": 5}}', "runs is not a list of objects"),
        ('{"dbbench": {"kind": "load", "schema": 1}, "data": {"runs": [5]}}', "runs is not a list of objects"),
        ('{"dbbench": {"kind": "load", "schema": 1}, "data": {"runs": [{"steps": {}}]}}', "runs[0].steps is not"),
        ('{"dbbench": {"kind": "rehearsal", "schema": 1}, "data": {"tables": 5}}', "tables is not a list"),
        ('{"dbbench": {"kind": "run", "schema": 1}, "data": {"stages": ["x"]}}', "stages is not a list"),
    ],
)
def test_a_malformed_results_file_is_one_line_and_exit_2(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    proc = run_cli("report", str(path), "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and message in proc.stderr and "Error" not in proc.stderr


def test_a_failed_copy_does_not_say_copied(capsys: pytest.CaptureFixture[str]) -> None:
    from dbbench.rehearsal.copy import Progress

    progress = Progress("plain")
    progress.table("quiz_quizattempt", 260_000)
    progress.advance(260_000)
    progress.stop(failed=True)
    err = capsys.readouterr().err
    assert "copy of quiz_quizattempt failed after 260,000 rows" in err and "copied" not in err
    progress.table("quiz_quiz", 10)
    progress.advance(10)
    progress.stop()
    assert "copied quiz_quiz: 10 rows" in capsys.readouterr().err


def test_seed_benchmark_reports_a_missing_create_privilege_at_once(target: Target) -> None:
    """A user who may not create the scratch database hears so before any quiescing or seeding."""
    with scratch_user(target) as (user, password):
        weak = parse_target(target.name, url_for(target, user, password))
        started = time.monotonic()
        proc = run_cli("seed-benchmark", "--attempts", "300k", "--target", f"{target.name}={weak.url}", timeout=120)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith(f"dbbench: error: {target.name}: cannot create {target.database}_seedbench: ")
        assert time.monotonic() - started < 30
        assert "seeded" not in proc.stdout
