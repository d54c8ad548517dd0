"""The report: built from result files in fixtures/, both formats, every section, plots embedded, no password.

The fixtures are real results from this machine's PostgreSQL 15 and MariaDB 10.11 (README, "dbbench report"):
``results_small.json`` from the benchmark suite's quick profile (1k and 2k attempts), ``parity_small.json`` from
the parity suite, ``load_small.json`` from the load test's quick profile. Hand-made files below test the rules
that real data cannot steer.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dbbench.errors import ConfigError, ResultsError
from dbbench.report.build import build_report
from dbbench.report.verdict import parse_mix
from tests.helpers import FIXTURES, run_cli

pytestmark = pytest.mark.nodb  # runs on a machine without database servers

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BENCH = FIXTURES / "results_small.json"
PARITY = FIXTURES / "parity_small.json"
LOAD = FIXTURES / "load_small.json"
SECTIONS = [
    "## Verdict",
    "## What was measured",
    "### Is the comparison fair?",
    "## The operation mix",
    "## Latency per operation and size",
    "## At the largest size",
    "## ORM overhead",
    "## Portability: does the app behave the same?",
    "## Under concurrent load",
    "## How to read this report",
]


def _operations(path: Path) -> set[str]:
    document = json.loads(path.read_text())
    return {b["extra_info"]["dbbench"]["operation"] for b in document["benchmarks"]}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    """The report built once from the checked-in fixtures: (markdown, html, folder)."""
    folder = tmp_path_factory.mktemp("report")
    md, html = build_report([BENCH, PARITY, LOAD], folder)
    return md.read_text(), html.read_text(), folder


def test_both_formats_and_every_section(built: tuple[str, str, Path]) -> None:
    md, html, folder = built
    assert (folder / "report.md").is_file() and (folder / "report.html").is_file()
    for heading in SECTIONS:
        assert heading in md, heading
    for op in _operations(BENCH):
        assert f'<a id="op-{op}"></a>' in md, op
        assert f'id="op-{op}"' in html, op
    # The verdict is one of the three answers, followed by three to five numbered reasons.
    verdict = md.split("## Verdict", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"> \*\*(Stay on PostgreSQL|Migrating to .+ is reasonable|It depends on .+)\.\*\*", verdict)
    reasons = re.findall(r"^\d\. .+\(\[numbers\]\(#[\w-]+\)\)$", verdict, flags=re.MULTILINE)
    assert 3 <= len(reasons) <= 5


def test_vendors_are_named_as_the_servers_report_them(built: tuple[str, str, Path]) -> None:
    md, _, _ = built
    measured = md.split("## What was measured", 1)[1].split("### Is the comparison fair?", 1)[0]
    assert "PostgreSQL 15." in measured
    assert "MariaDB 10.11" in measured
    assert not re.search(r"MySQL \d", md)  # MariaDB is never called MySQL
    for item in ("**Django** 5.2", "psycopg", "mysqlclient", "**Machine**", "**commit**", "**Data sizes**"):
        assert item in measured, item


def test_plots_are_embedded(built: tuple[str, str, Path]) -> None:
    md, html, folder = built
    images = re.findall(r"!\[[^\]]*\]\((report_files/[^)]+\.png)\)", md)
    assert len(images) >= 4  # latency vs rows, largest size, ORM overhead, load curves
    for image in images:
        assert (folder / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert html.count('src="data:image/png;base64,') == len(images)
    # Self-contained: nothing is fetched from a file next to it or from the network.
    assert "report_files/" not in html
    assert not re.search(r"""(src|href)=["']https?:""", html)


def test_the_method_and_the_reproduction_command_are_stated(built: tuple[str, str, Path]) -> None:
    md, _, _ = built
    method = md.split("## How to read this report", 1)[1]
    assert "bootstrap" in method and "5%" in method
    assert "dbbench report " in method
    assert "rounds were interleaved" in method  # the fixture comes from the current suite


def test_results_measured_one_backend_after_another_say_so(tmp_path: Path) -> None:
    # Files from before the suite interleaved the backends (no interleaved_with) still load, with the caveat.
    md, _ = build_report([_benchmark_file(tmp_path / "old.json", {"pk_lookup": 1.0})], tmp_path / "out")
    method = md.read_text().split("## How to read this report", 1)[1]
    assert "measured one backend after another" in method and "rounds were interleaved" not in method


def test_no_password_anywhere(tmp_path: Path) -> None:
    document = json.loads(PARITY.read_text())
    for target in document["data"]["targets"]:
        target["url"] = "postgres://postgres:s3cret-pw@127.0.0.1:5432/dbbench"
    differing = next(p for p in document["data"]["probes"] if p["outcome"] != "same")
    differing["what_to_change"] = "see mysql://root:s3cret-pw@127.0.0.1:3306/x for details"
    leaky = tmp_path / "parity.json"
    leaky.write_text(json.dumps(document))
    bench = _benchmark_file(tmp_path / "bench.json", {"pk_lookup": 1.0})
    md, html = build_report([bench, leaky], tmp_path / "out")
    for path in (md, html):
        assert "s3cret" not in path.read_text()
    # The probe's advice is in the full list of differences, which report.html shows (folded) and report.md points to.
    assert "***@127.0.0.1" in html.read_text()


def test_report_renders_in_headless_chromium(built: tuple[str, str, Path], tmp_path: Path) -> None:
    _, html, _ = built
    # A copy with a probe script: did every image decode, and did the page lay out without script errors?
    probe = (
        "<script>window.addEventListener('load', () => { const imgs = [...document.images];"
        "document.body.setAttribute('data-images', imgs.length);"
        "document.body.setAttribute('data-decoded', imgs.filter(i => i.complete && i.naturalWidth > 0).length);"
        "document.body.setAttribute('data-height', document.body.scrollHeight); });</script>"
    )
    page = tmp_path / "probe.html"
    page.write_text(html.replace("</body>", probe + "</body>"))
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1200,2000",
                f"--user-data-dir={profile}",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    images = int(re.search(r'data-images="(\d+)"', dom).group(1))  # type: ignore[union-attr]
    decoded = int(re.search(r'data-decoded="(\d+)"', dom).group(1))  # type: ignore[union-attr]
    height = int(re.search(r'data-height="(\d+)"', dom).group(1))  # type: ignore[union-attr]
    assert images >= 4 and decoded == images
    assert height > 2000  # a long document, not an error page
    assert "<h1>Should this Django app move from PostgreSQL" in dom


# --- hand-made inputs: rules and bad input ---------------------------------------------------------------------


def _benchmark_file(path: Path, factors: dict[str, float], *, aliases: tuple[str, ...] = ("postgres", "mysql")) -> Path:
    """A benchmark JSON in the suite's format with lognormal timings: the candidate takes ``factor`` x as long."""
    rng = np.random.default_rng(1)
    vendors = {"postgres": ("PostgreSQL", "15.20"), "mysql": ("MariaDB", "10.11.19")}
    benchmarks: list[dict[str, Any]] = []
    for size in (1_000, 2_000):
        for op, factor in factors.items():
            for alias in aliases:
                vendor, version = vendors[alias]
                median_s = 0.001 * (factor if alias == "mysql" else 1.0)
                data = list(rng.lognormal(math.log(median_s), 0.2, 60))
                info = {
                    "operation": op,
                    "variant": "orm",
                    "alias": alias,
                    "vendor": vendor,
                    "version": version,
                    "rows": size,
                    "size": size,
                    "seed": 42,
                    "server": {
                        "vendor": vendor,
                        "version": version,
                        "settings": {},
                        "durable": True,
                        "buffer_bytes": 2**27,
                    },
                    "data_bytes": size * 500,
                }
                benchmarks.append({"name": f"{op}[{alias}]", "extra_info": {"dbbench": info}, "stats": {"data": data}})
    path.write_text(json.dumps({"machine_info": {}, "commit_info": {}, "benchmarks": benchmarks}))
    return path


def test_verdict_follows_the_data(tmp_path: Path) -> None:
    slow = _benchmark_file(tmp_path / "slow.json", {"pk_lookup": 2.0, "student_recent": 2.0, "leaderboard": 2.0})
    # Three of the twelve operations: the default mix would be 39% missing (no verdict, below); a mix of their own.
    mix = {"pk_lookup": 2.0, "student_recent": 2.0, "leaderboard": 1.0}
    md, _ = build_report([slow, PARITY], tmp_path / "a", mix)
    assert "> **Stay on PostgreSQL.**" in md.read_text()
    md, _ = build_report([slow, PARITY], tmp_path / "missing")
    assert "> **No verdict: 9 operation(s) of the mix were not measured" in md.read_text()
    even = _benchmark_file(tmp_path / "even.json", {"pk_lookup": 1.0, "student_recent": 1.0, "leaderboard": 1.0})
    md, _ = build_report([even], tmp_path / "b", mix)
    text = md.read_text()
    assert "> **It depends on a portability check" in text  # no parity results given
    assert "no significant difference" in text or "equivalent" in text


def test_mix_option_reweighs_and_is_checked(tmp_path: Path) -> None:
    mixed = _benchmark_file(tmp_path / "m.json", {"pk_lookup": 2.0, "student_recent": 0.5})
    md, _ = build_report([mixed], tmp_path / "a", parse_mix("pk_lookup=1"))
    assert _mix_ratio(md) == pytest.approx(2.0, rel=0.1)
    md, _ = build_report([mixed], tmp_path / "b", parse_mix("student_recent=1"))
    assert _mix_ratio(md) == pytest.approx(0.5, rel=0.1)
    md, _ = build_report([mixed], tmp_path / "b", parse_mix("student_recent=1,pk_lookup=1"))
    assert _mix_ratio(md) == pytest.approx(1.0, rel=0.1)
    with pytest.raises(ConfigError, match="typo"):
        build_report([mixed], tmp_path / "c", parse_mix("typo=1"))
    assert not (tmp_path / "c").exists()


def _mix_ratio(md: Path) -> float:
    match = re.search(r"Over the operation mix, .+? takes (\d+\.\d+)x the time", md.read_text())
    assert match, "no mix reason"
    return float(match.group(1))


def test_one_backend_gives_a_report_without_verdict(tmp_path: Path) -> None:
    single = _benchmark_file(tmp_path / "one.json", {"pk_lookup": 1.0}, aliases=("postgres",))
    md, html = build_report([single], tmp_path / "out")
    assert "No verdict: only one backend was measured" in md.read_text()
    assert html.is_file()


def _bad_files(tmp: Path) -> dict[str, Path]:
    files = {
        "missing": tmp / "nope.json",
        "empty": tmp / "empty.json",
        "corrupt": tmp / "corrupt.json",
        "foreign": tmp / "foreign.json",
        "no raw timings": tmp / "noraw.json",
    }
    files["empty"].write_text("")
    files["corrupt"].write_text(BENCH.read_text()[:300])
    files["foreign"].write_text('{"benchmarks": [{"name": "x", "stats": {"data": [1]}}]}')
    document = json.loads(BENCH.read_text())
    for bench in document["benchmarks"]:
        bench["stats"].pop("data", None)
    files["no raw timings"].write_text(json.dumps(document))
    return files


def test_bad_input_raises_one_line(tmp_path: Path) -> None:
    for name, path in _bad_files(tmp_path).items():
        with pytest.raises(ResultsError) as info:
            build_report([path], tmp_path / "out")
        assert "\n" not in str(info.value) and str(path) in str(info.value), name
    assert not (tmp_path / "out").exists()


def test_bad_threshold_is_refused(tmp_path: Path) -> None:
    for threshold in (0.0, 1.0, -0.05):
        with pytest.raises(ConfigError, match="threshold"):
            build_report([BENCH], tmp_path / "out", threshold=threshold)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cli_bad_input_exits_non_zero_without_traceback(tmp_path: Path) -> None:
    # One subprocess per kind of failure would be slow (each imports numpy and matplotlib): the library test
    # above covers every case, this one the CLI's handling of them.
    bad = _bad_files(tmp_path)["corrupt"]
    out = tmp_path / "out"
    result = run_cli("report", str(bad), "--output-dir", str(out))
    assert result.returncode == 2
    assert result.stderr.startswith(f"dbbench: error: {bad}: not valid JSON") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr and not out.exists()


@pytest.mark.slow
def test_cli_writes_next_to_the_results(tmp_path: Path) -> None:
    _benchmark_file(tmp_path / "bench.json", {"pk_lookup": 1.0, "student_recent": 1.2})
    result = run_cli("report", str(tmp_path / "bench.json"), "--mix", "pk_lookup=1,student_recent=1")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "report.md").is_file() and (tmp_path / "report.html").is_file()
    assert str(tmp_path / "report.html") in result.stdout
