"""The migration rehearsal's parts that need no server: COPY text made portable, the fitted downtime estimate."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dbbench.backends.bulkload import _unescape
from dbbench.rehearsal import rehearse as rehearsal
from dbbench.rehearsal.copy import TableCopy
from dbbench.rehearsal.estimate import (
    LINEAR,
    POWER,
    Point,
    earlier_points,
    estimate,
    fit,
    fits,
    load_points,
    setup_of,
)
from dbbench.rehearsal.render import render
from dbbench.rehearsal.source import copy_unescape, portable
from dbbench.rehearsal.verify import TableCheck
from dbbench.report.sections import _rehearsal_section
from dbbench.results import write_result

pytestmark = pytest.mark.nodb


def test_copy_text_without_foreign_escapes_passes_through_untouched() -> None:
    # COPY text of (1, 'Ada \ x', JSON text holding an escape, NULL), and a row with a tab in a value.
    ascii_rows = bytearray(b"1\tAda " + rb"\\ x" + b"\t" + rb'{"a": "\\u00fc"}' + b"\t" + rb"\N" + b"\n")
    ascii_rows += b"2\tBo" + rb"\t" + b'b\t{"b": [1, 2]}\t2024-01-02 03:04:05.000006\n'
    assert portable(ascii_rows, [2]) is ascii_rows  # nothing to decode: the server's bytes go as they are
    names = bytearray("1\tGrüße\t2024-01-02 03:04:05\n".encode())
    assert portable(names, []) is names  # non-ASCII outside JSON is the same text for both loaders
    mixed = bytearray('1\tGrüße\t{"a": 1}\n'.encode())
    assert portable(mixed, [2]) == mixed  # decoded (the line has non-ASCII) and written again the same


def test_copy_text_is_rewritten_where_load_data_would_misread_it() -> None:
    # COPY writes backspace, form feed and vertical tab as \b, \f and \v (LOAD DATA: "f", "v"; bulk_create's parser:
    # none), and jsonb's text keeps non-ASCII.
    plain = b'1\tplain\t{"a": 1}\n'
    awkward = '2\tform\\ffeed\\vtab\\bspace \\\\f\t{"k": "Grüße\\\\f", "ü": null}\n'.encode()
    out = portable(bytearray(plain + awkward), [2])
    first, second = out.decode().split("\n")[:2]
    assert first.encode() + b"\n" == plain
    pk, name, meta = [_unescape(v) for v in second.split("\t")]
    assert (pk, name) == ("2", "form\ffeed\vtab\bspace \\f")
    assert meta is not None and meta.isascii() and json.loads(meta) == {"k": "Grüße\f", "ü": None}
    assert copy_unescape("\\N") is None and copy_unescape("a\\\\b\\tc") == "a\\b\tc"


def test_two_sizes_give_a_straight_line_through_both() -> None:
    f = fit([(100_000, 12.0), (1_000_000, 102.0)])
    assert f is not None and f.kind == LINEAR and f.error == 0.0
    assert f.at(100_000) == pytest.approx(12.0) and f.at(1_000_000) == pytest.approx(102.0)
    assert f.at(10_000_000) == pytest.approx(1002.0)
    assert "through both sizes measured: 100k, 1m" in f.describe()
    assert fit([(1_000_000, 100.0)]) is None and fit([(1_000_000, 100.0), (1_000_000, 90.0)]) is None


def test_two_sizes_growing_faster_than_the_rows_give_a_power_law() -> None:
    f = fit([(100_000, 5.0), (1_000_000, 80.0)])  # a line through both would start at -3.3 s
    assert f is not None and f.kind == POWER
    assert f.b == pytest.approx(1.204, abs=1e-3) and f.at(100_000) == pytest.approx(5.0)
    assert f.at(10_000_000) > 80.0 * 10


def test_three_sizes_choose_the_curve_that_fits_them() -> None:
    linear = [(n, 2.0 + 9e-5 * n) for n in (10_000, 100_000, 1_000_000)]
    power = [(n, 1e-4 * n**1.1) for n in (10_000, 100_000, 1_000_000)]
    assert fit(linear).kind == LINEAR  # type: ignore[union-attr]
    got = fit(power)
    assert got is not None and got.kind == POWER and got.b == pytest.approx(1.1) and got.error < 1e-6
    noisy = fit([(10_000, 3.0), (100_000, 11.0), (1_000_000, 95.0)])
    assert noisy is not None and noisy.error > 0.0  # the result says how far the curve is from its points
    assert f"fitted to 3 sizes: 10k, 100k, 1m; largest error at them {noisy.error:.0%}" in noisy.describe()


def _result(copy_s: float, verify_s: float, attempts: int = 1_000_000) -> rehearsal.Rehearsal:
    endpoint = rehearsal.Endpoint("a", "PostgreSQL", "15", "db", "postgres://h/db")
    result = rehearsal.Rehearsal(endpoint, endpoint, method="LOAD DATA LOCAL INFILE")
    result.copies = [TableCopy("quiz_quiz", 300, 0.1, 1_000), TableCopy("quiz_quizattempt", attempts, copy_s, 10**9)]
    result.copy_seconds = copy_s
    result.checks = [TableCheck("quiz_quizattempt", attempts, attempts, "1:ab", "1:ab", 0)]
    result.smoke_ok = True
    result.verify_seconds = verify_s
    result.verify_table_seconds = {"quiz_quiz": 0.1, "quiz_quizattempt": verify_s - 0.1}
    return result


def test_the_estimate_fits_earlier_sizes_and_says_so() -> None:
    result = _result(102.0, 41.0)
    setup = setup_of("PostgreSQL", "PostgreSQL", "LOAD DATA LOCAL INFILE")
    result.earlier = [
        Point(100_000, 12.0, 5.0, "rehearsal-a.json", setup),
        Point(1_000_000, 1.0, 1.0, "same size", setup),  # this run's own 1m wins
        Point(10_000, 0.5, 0.2, "rehearsal-b.json", setup_of("PostgreSQL", "MariaDB", "LOAD DATA LOCAL INFILE")),
    ]
    assert [p.attempts for p in result.points()] == [1_000_000, 100_000]
    ten = estimate(result, 10_000_000)
    assert (ten["copy_seconds"], ten["verify_seconds"]) == (1002.0, 401.0)
    assert (ten["copy_basis"], ten["verify_basis"]) == (LINEAR, LINEAR)
    data = result.as_dict()
    assert [p["origin"] for p in data["points_left_out"]] == ["rehearsal-b.json"]
    assert data["points"][1] == {
        "attempts": 100_000,
        "copy_seconds": 12.0,
        "verify_seconds": 5.0,
        "origin": "rehearsal-a.json",
    }
    assert data["fits"]["copy"]["kind"] == LINEAR and data["fits"]["copy"]["sizes"] == [100_000, 1_000_000]
    text = render(result)
    assert "estimate, fitted to the sizes measured:" in text and "through both sizes measured: 100k, 1m" in text
    assert "left out, measured on other servers or another way: rehearsal-b.json" in text
    # The report's section reads the same estimates and says what they were fitted to.
    section = _rehearsal_section(json.loads(json.dumps(data)))
    assert "copy: " + data["fits"]["copy"]["text"] in section
    assert "| 10m | 1,002 | 401 | " in section and "| 1m | 102 | 41 | " in section


def test_one_size_falls_back_to_proportion_and_says_so() -> None:
    result = _result(100.0, 40.0)
    assert fits(result) == (None, None)
    ten = estimate(result, 10_000_000)
    assert ten["copy_basis"] == ten["verify_basis"] == "proportional"
    assert ten["copy_seconds"] == pytest.approx(0.1 + 100.0 * 10)  # the quizzes stay put
    assert "in proportion from 1m attempts, the only size measured" in render(result)


def test_earlier_results_count_only_when_they_measured_the_same_thing(tmp_path: Path) -> None:
    def saved(name: str, **changes: object) -> Path:
        data = {**_result(12.0, 5.0, 100_000).as_dict(), **changes}
        return write_result(tmp_path / name, "rehearsal", data)

    paths = [
        saved("same.json"),
        saved("older-algorithm.json", algorithm=None),
        saved("other-target.json", target_vendor="MySQL"),
        saved("failed.json", ok=False),
    ]
    points = load_points(paths)
    assert [p.origin for p in points] == ["same.json", "older-algorithm.json", "other-target.json"]
    result = _result(102.0, 41.0)
    result.earlier = points
    assert result.points()[1] == Point(100_000, 12.0, 5.0, "same.json", result.setup)
    assert len(result.points()) == 2


def test_json_is_compared_by_value_floats_by_number_and_anything_else_by_text() -> None:
    from dbbench.rehearsal.fields import same

    assert same("JSONField", '{"b": [1, {"c": null}], "a": "\\u00fc"}', '{"a":"ü","b":[1,{"c":null}]}')
    assert not same("JSONField", '{"a": 1}', '{"a": 1.0}')  # json.loads keeps 1 and 1.0 apart, as the old checksum did
    assert not same("JSONField", '{"a": 1}', "not JSON")
    assert not same("CharField", '{"a": 1}', '{"a":1}')  # a string column: its text is its value
    assert not same("DateTimeField", "2024-01-02 03:04:05.000001", "2024-01-02 03:04:05.000000")
    assert same("FloatField", "-1.7976931348623157e+308", "-1.7976931348623157e308")  # PostgreSQL vs MariaDB text
    assert not same("FloatField", "0.1", "0.10000000000000002")
    assert not same("FloatField", "0.1", None)


def test_a_run_fits_the_newest_earlier_rehearsal_of_each_size_in_its_results_directory(tmp_path: Path) -> None:
    def saved(path: Path, copy_s: float, attempts: int) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        written = write_result(path, "rehearsal", _result(copy_s, 5.0, attempts).as_dict())
        os.utime(written, (next(clock), next(clock)))  # in the order written, whatever the file system's clock
        return written

    clock = iter(range(1_000_000, 2_000_000, 10))
    saved(tmp_path / "rehearsal-old.json", 30.0, 100_000)
    saved(tmp_path / "run-a-default" / "rehearsal.json", 12.0, 100_000)  # newer, the same size: it counts
    saved(tmp_path / "run-b-quick" / "rehearsal.json", 2.0, 10_000)
    (tmp_path / "rehearsal-broken.json").write_text("{not json")  # not this run's input: passed over
    this = saved(tmp_path / "run-c-default" / "rehearsal.json", 99.0, 1_000_000)
    points = earlier_points(tmp_path, skip=this)
    assert [(p.attempts, p.copy_seconds, p.origin) for p in points] == [
        (10_000, 2.0, "run-b-quick/rehearsal.json"),
        (100_000, 12.0, "run-a-default/rehearsal.json"),
    ]
    result = _result(102.0, 41.0)
    result.earlier = points
    copy_fit, _ = fits(result)
    assert copy_fit is not None and copy_fit.sizes == (10_000, 100_000, 1_000_000)


def test_json_escaped_as_django_writes_it_needs_no_parsing() -> None:
    import json

    from dbbench.rehearsal.jsonpass import _same, escaped

    value = {"ü": ["ß", 1.5, None, True], "emoji": "🎉", "plain": "ascii"}
    jsonb_text = json.dumps(value, ensure_ascii=False)  # PostgreSQL's jsonb text keeps the characters
    assert escaped(jsonb_text) == json.dumps(value)  # what Django writes on MariaDB: \u escapes, surrogate pairs
    assert _same(jsonb_text, json.dumps(value)) and _same(json.dumps(value), jsonb_text)
    assert _same('{"a": 1, "b": "ü"}', '{"b":"\\u00fc","a":1}')  # another order: parsed, equal values
    assert not _same('{"a": "ü"}', '{"a": "u"}')
    assert not _same('{"a": "ü"}', None)
