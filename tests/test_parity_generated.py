"""The generated parity probes (functions, lookups, aggregates) on the live servers.

Every generated probe must come out ``same`` on PostgreSQL and MariaDB unless it is pinned in ``DIFFERENCES``, which
records what it returned on each (PostgreSQL 15 and MariaDB 10.11, this machine's servers, default settings,
MariaDB time-zone tables not loaded). A new difference, or a pinned one that goes away, fails a test: re-observe
with ``dbbench parity --json`` and update the entry.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest

from dbbench.backends.database import drop_database
from dbbench.backends.targets import Target
from dbbench.parity.probes import catalogue
from dbbench.parity.suite import DIFFERENT, SAME, UNSUPPORTED, ParityReport, run_probes
from tests.helpers import TARGETS, mariadb_has_zone_tables
from tests.test_parity import GENERATED_PREFIXES, Raises, _check, differs

SUFFIX = "_pgen"
INF = math.inf

DIFFERENCES: dict[str, dict[str, Any]] = {
    "fn_ord_text": differs(
        [None, 0, 115, 32, 128512, 72],
        [None, 0, 115, 32, 4036991104, 72],
    ),
    "fn_sha1_text": differs(
        Raises("ProgrammingError"),
        [
            None,
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "62394a9f293949fe6b7e9fc5118337cb6311cd3f",
            "9c7ec6872cdddcaf14ec7efcbecf26d5a47abfd5",
            "f467d3d6dea2bfa0a3113c3cac5c02c1f5aeca07",
            "907d14fb3af2b0d4f18c2d46abe8aedce17367bd",
        ],
    ),
    "fn_sha224_text": differs(
        Raises("ProgrammingError"),
        [
            None,
            "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f",
            "465eaa0203d5e091c1e83cac57615e306da3ff8ee894df2f30f28cc5",
            "a74edc1c4efbf1c27f87637bf2dc62753eef18896dfb3a779d101ef6",
            "5044eb07a9228253c683d7b6eb1ab361a8edf1e9acd9cf63d701be76",
            "084c8331f4c7b78b265bd88082100033ad68972ee028f6b69c590b09",
        ],
    ),
    "fn_sha256_text": differs(
        Raises("ProgrammingError"),
        [
            None,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "787f4770613d3824cbc89b6d5da90a123e41b07b90b45ea3738c216b14616140",
            "d0c2a933c6a533f2439de45061950bb8a875a33bb97c8afa2200840bb32cf4b4",
            "acc28a670a888285e5397360acf91b6ea8c52846def6b505cd41abeac66b03ac",
            "03675ac53ff9cd1535ccc7dfcdfa2c458c5218371f418dc136f2d19ac1fbe8a5",
        ],
    ),
    "fn_sha384_text": differs(
        Raises("ProgrammingError"),
        [
            None,
            "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b",
            "7c162d5ac662eee0f252306224689576d9436036794366dad350125863d0593f46f6abd4835e4242d36381148e07c095",
            "dd1464151695b57fdd7ee1d64a6dd0c602b3a5df696feab970442272ccdb7eb5831cfa8ad4c36e0ba7de754cf929eee8",
            "f773d5dac28b8344aebc96c760296e9b3bc2210bb8100a18a3c2cc4ef13f9ec2c22e1aeda91098c7589eb59f8bac333d",
            "c7b9b2dbbdd22b8a3a4ad011e326d536f603a404e55af47196a24db6513d877706d122b35d5b45daeb6674f9527e9659",
        ],
    ),
    "fn_sha512_text": differs(
        Raises("ProgrammingError"),
        [
            None,
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
            "8a9266d8826f8b084c297e1ce053b9dadf7f9aeb3069156fc9a22ec835e8a266f4408ad5c07f14682706f0d06c75c6ee3b7968e60b79f374157dbd33333cdd56",
            "c64e6350d58e5ce3afdf303051959407aaba5e8173e3d4e27661ab11b5c2aea6126dd6fe29db6ea3754f3752ff242fc890e497e8bbd32e539aa47de80325c26d",
            "1ca02d767ffa6ee4bca3a62f32d8281b1a961140f94602f10f21a7f5f15b000a42d573cea278557c2583d71df322695b624306f481df23bd8e4f11b044b7e265",
            "45546d4d71407e82ecda31eba5bf74b65bc092b0436a2409a6b615c1f78fdb2d3da371758f07a65b5d2b3ee8fa9ea0c772dd1eff884c4c77d4290177b002ccdc",
        ],
    ),
    "fn_chr_n_mod": differs(
        [None, "Ϩ", "ϯ", "ϯ", "ٯ", "ϩ"],
        ["", "Ϩ", "ϯ", "ϯ", "ٯ", "ϩ"],
    ),
    "fn_round_f": differs(
        [None, 0.0, 3.0, -3.0, 1e300, 1.0],
        [None, 0.0, 2.0, -2.0, 1e300, 0.0],
    ),
    "fn_sqrt_n": differs(
        Raises("DataError"),
        [None, 0.0, 2.64575131106, None, 46340.9500011, 1.0],
    ),
    "fn_sqrt_dec": differs(
        Raises("DataError"),
        [None, "0", "1.581138830084189761393531626", None, "9999.999999994999598129652441", "1"],
    ),
    "fn_sqrt_f": differs(
        Raises("DataError"),
        [None, 0.0, 1.58113883008, None, 1e150, 0.707106781187],
    ),
    "fn_exp_n": differs(
        Raises("DataError"),
        Raises("IntegrityError"),
    ),
    "fn_exp_dec": differs(
        Raises("DataError"),
        Raises("IntegrityError"),
    ),
    "fn_exp_f": differs(
        Raises("DataError"),
        Raises("IntegrityError"),
    ),
    "fn_ln_n": differs(
        Raises("DataError"),
        [None, None, 1.94591014906, None, 21.4875625969, 0.0],
    ),
    "fn_ln_dec": differs(
        Raises("DataError"),
        [None, None, "0.9162907318741551065954809019", None, "18.4206807439513653434914886", "0"],
    ),
    "fn_ln_f": differs(
        Raises("DataError"),
        [None, None, 0.916290731874, None, 690.775527898, -0.69314718056],
    ),
    "fn_cot_n": differs(
        [None, INF, 1.14751542241, -1.14751542241, 0.950228942889, 0.642092615934],
        Raises("IntegrityError"),
    ),
    "fn_cot_dec": differs(
        [
            None,
            "Infinity",
            "-1.338648128304151363465734903",
            "1.338648128304151363465734903",
            "-0.3899340232039653075801766136",
            "0.6420926159343306460769440491",
        ],
        Raises("IntegrityError"),
    ),
    "fn_cot_f": differs(
        [None, INF, -1.3386481283, 1.3386481283, 0.703507564398, 1.83048772171],
        Raises("IntegrityError"),
    ),
    "fn_asin_n": differs(
        Raises("DataError"),
        [None, 0.0, None, None, None, 1.57079632679],
    ),
    "fn_asin_dec": differs(
        Raises("DataError"),
        [None, "0", None, None, None, "1.570796326794896557998981734"],
    ),
    "fn_asin_f": differs(
        Raises("DataError"),
        [None, 0.0, None, None, None, 0.523598775598],
    ),
    "fn_acos_n": differs(
        Raises("DataError"),
        [None, 1.57079632679, None, None, None, 0.0],
    ),
    "fn_acos_dec": differs(
        Raises("DataError"),
        [None, "1.570796326794896557998981734", None, None, None, "0"],
    ),
    "fn_acos_f": differs(
        Raises("DataError"),
        [None, 1.57079632679, None, None, None, 1.0471975512],
    ),
    "fn_mod_n_d": differs(
        Raises("DataError"),
        [None, None, 1.0, -1.0, 0.0, 1.0],
    ),
    "fn_power_f_half": differs(
        Raises("DataError"),
        Raises("IntegrityError"),
    ),
    "fn_log_10_n": differs(
        Raises("DataError"),
        [None, None, 0.845098040014, None, 9.33192986538, 0.0],
    ),
    "fn_pi": differs(
        [3.14159265359, 3.14159265359, 3.14159265359, 3.14159265359, 3.14159265359, 3.14159265359],
        [3.141593, 3.141593, 3.141593, 3.141593, 3.141593, 3.141593],
    ),
    "fn_greatest_n_null": differs(
        [None, 0, 7, 2, 2147483647, 3],
        [None, None, None, None, None, None],
    ),
    "fn_cast_text_int": differs(
        Raises("DataError"),
        [None, 0, 0, 0, 0, 0],
    ),
    "fn_cast_f_int": differs(
        Raises("DataError"),
        [None, 0, 2, -2, 9223372036854775807, 0],
    ),
    "fn_cast_f_decimal": differs(
        Raises("DataError"),
        [None, "0", "2.5", "-2.5", "999999999999999999.99", "0.5"],
    ),
    "fn_cast_f_text": differs(
        [None, "0", "2.5", "-2.5", "1e+300", "0.5"],
        [None, "0", "2.5", "-2.5", "1e300", "0.5"],
    ),
    "fn_cast_flag_text": differs(
        [None, "false", "true", "true", "false", "false"],
        [None, "0", "1", "1", "0", "0"],
    ),
    "fn_cast_at_text": differs(
        [
            None,
            "2000-01-01 00:00:00+00",
            "2024-02-29 12:30:45.5+00",
            "1999-12-31 23:59:59.999999+00",
            "2038-01-19 03:14:08+00",
            "2021-01-03 10:00:00+00",
        ],
        [
            None,
            "2000-01-01 00:00:00.000000",
            "2024-02-29 12:30:45.500000",
            "1999-12-31 23:59:59.999999",
            "2038-01-19 03:14:08.000000",
            "2021-01-03 10:00:00.000000",
        ],
    ),
    "fn_cast_span_text": differs(
        [None, "00:00:00", "1 day 02:03:04", "-1 days +23:00:00", "999 days", "00:00:01.5"],
        [None, "0", "93784000000", "-3600000000", "86313600000000", "1500000"],
    ),
    "fn_json_object": differs(
        [
            {"f": None, "n": None, "text": None},
            {"f": 0, "n": 0, "text": ""},
            {"f": 2.5, "n": 7, "text": "straße"},
            {"f": -2.5, "n": -7, "text": " Ünïcödé "},
            {
                "f": 10**300,  # jsonb keeps 1e300 exact: an int
                "n": 2147483647,
                "text": "😀 Ωmega",
            },
            {"f": 0.5, "n": 1, "text": "Hello, World"},
        ],
        [
            {"text": None, "n": None, "f": None},
            {"text": "", "n": 0, "f": 0},
            {"text": "straße", "n": 7, "f": 2.5},
            {"text": " Ünïcödé ", "n": -7, "f": -2.5},
            {"text": "😀 Ωmega", "n": 2147483647, "f": 1e300},
            {"text": "Hello, World", "n": 1, "f": 0.5},
        ],
    ),
    "fn_json_array": differs(
        [
            [None, None, None],
            ["", 0, False],
            ["straße", 7, True],
            [" Ünïcödé ", -7, True],
            ["😀 Ωmega", 2147483647, False],
            ["Hello, World", 1, False],
        ],
        [
            [None, None, None],
            ["", 0, 0],
            ["straße", 7, 1],
            [" Ünïcödé ", -7, 1],
            ["😀 Ωmega", 2147483647, 0],
            ["Hello, World", 1, 0],
        ],
    ),
    "fn_truncyear_at": differs(
        [
            None,
            "2000-01-01T00:00:00+00:00",
            "2024-01-01T00:00:00+00:00",
            "1999-01-01T00:00:00+00:00",
            "2038-01-01T00:00:00+00:00",
            "2021-01-01T00:00:00+00:00",
        ],
        Raises("ValueError"),
    ),
    "fn_truncquarter_day": differs(
        [None, "2000-01-01", "2024-01-01", "1999-10-01", "9999-10-01", "2021-01-01"],
        [None, "2000-01-01", "2024-01-01", "1999-10-01", None, "2021-01-01"],
    ),
    "fn_truncquarter_at": differs(
        [
            None,
            "2000-01-01T00:00:00+00:00",
            "2024-01-01T00:00:00+00:00",
            "1999-10-01T00:00:00+00:00",
            "2038-01-01T00:00:00+00:00",
            "2021-01-01T00:00:00+00:00",
        ],
        Raises("ValueError"),
    ),
    "fn_truncmonth_at": differs(
        [
            None,
            "2000-01-01T00:00:00+00:00",
            "2024-02-01T00:00:00+00:00",
            "1999-12-01T00:00:00+00:00",
            "2038-01-01T00:00:00+00:00",
            "2021-01-01T00:00:00+00:00",
        ],
        Raises("ValueError"),
    ),
    "fn_truncweek_at": differs(
        [
            None,
            "1999-12-27T00:00:00+00:00",
            "2024-02-26T00:00:00+00:00",
            "1999-12-27T00:00:00+00:00",
            "2038-01-18T00:00:00+00:00",
            "2020-12-28T00:00:00+00:00",
        ],
        Raises("ValueError"),
    ),
    "fn_truncday_at": differs(
        [
            None,
            "2000-01-01T00:00:00+00:00",
            "2024-02-29T00:00:00+00:00",
            "1999-12-31T00:00:00+00:00",
            "2038-01-19T00:00:00+00:00",
            "2021-01-03T00:00:00+00:00",
        ],
        Raises("ValueError"),
    ),
    "fn_trunchour_at": differs(
        [
            None,
            "2000-01-01T00:00:00+00:00",
            "2024-02-29T12:00:00+00:00",
            "1999-12-31T23:00:00+00:00",
            "2038-01-19T03:00:00+00:00",
            "2021-01-03T10:00:00+00:00",
        ],
        Raises("ValueError"),
    ),
    "fn_truncminute_at": differs(
        [
            None,
            "2000-01-01T00:00:00+00:00",
            "2024-02-29T12:30:00+00:00",
            "1999-12-31T23:59:00+00:00",
            "2038-01-19T03:14:00+00:00",
            "2021-01-03T10:00:00+00:00",
        ],
        Raises("ValueError"),
    ),
    "fn_truncsecond_at": differs(
        [
            None,
            "2000-01-01T00:00:00+00:00",
            "2024-02-29T12:30:45+00:00",
            "1999-12-31T23:59:59+00:00",
            "2038-01-19T03:14:08+00:00",
            "2021-01-03T10:00:00+00:00",
        ],
        Raises("ValueError"),
    ),
    "fn_extractday_span": differs(
        [None, 0, 1, -1, 999, 0],
        Raises("ValueError"),
    ),
    "fn_extracthour_span": differs(
        [None, 0, 2, 23, 0, 0],
        Raises("ValueError"),
    ),
    "fn_extractsecond_span": differs(
        [None, 0, 4, 0, 0, 1],
        Raises("ValueError"),
    ),
    "fn_window_cume_dist": differs(
        [0.166666666667, 0.5, 0.833333333333, 0.333333333333, 1.0, 0.666666666667],
        [0.1666666667, 0.5, 0.8333333333, 0.3333333333, 1.0, 0.6666666667],
    ),
    "lk_text_exact_case": differs(
        [],
        ["ascii"],
    ),
    "lk_text_exact_trailing_space": differs(
        [],
        ["neg"],
    ),
    "lk_text_iexact_accent": differs(
        [],
        ["neg"],
    ),
    "lk_text_gt_a": differs(
        ["half", "max"],
        ["half", "max", "ascii"],
    ),
    "lk_text_lt_a": differs(
        ["zero", "neg", "ascii"],
        ["zero", "neg"],
    ),
    "lk_text_range_a_z": differs(
        ["half"],
        ["half", "ascii"],
    ),
    "agg_stddev_pop_n": differs(
        4.96865172859,
        4.9687,
    ),
    "agg_stddev_samp_n": differs(
        5.73730482602,
        5.7373,
    ),
    "agg_var_samp_n": differs(
        32.9166666667,
        32.9167,
    ),
    "agg_stddev_pop_dec": differs(
        "1.8200274723201296",
        "1.820027470000000091587821771",
    ),
    "agg_stddev_samp_dec": differs(
        "2.1015867021530819",
        "2.101586699999999918730964055",
    ),
    "agg_var_samp_dec": differs(
        "4.4166666666666667",
        "4.416666669999999683682290197",
    ),
    "agg_sum_flag": differs(
        Raises("ProgrammingError"),
        "2",
    ),
    "agg_sum_flag_empty": differs(
        Raises("ProgrammingError"),
        None,
    ),
    "agg_avg_flag": differs(
        Raises("ProgrammingError"),
        "0.5",
    ),
    "agg_avg_flag_empty": differs(
        Raises("ProgrammingError"),
        None,
    ),
    "agg_max_flag": differs(
        Raises("ProgrammingError"),
        True,
    ),
    "agg_max_flag_empty": differs(
        Raises("ProgrammingError"),
        None,
    ),
    "agg_min_flag": differs(
        Raises("ProgrammingError"),
        False,
    ),
    "agg_min_flag_empty": differs(
        Raises("ProgrammingError"),
        None,
    ),
    "agg_stddev_pop_flag": differs(
        Raises("ProgrammingError"),
        0.5,
    ),
    "agg_stddev_pop_flag_empty": differs(
        Raises("ProgrammingError"),
        None,
    ),
    "agg_stddev_samp_flag": differs(
        Raises("ProgrammingError"),
        0.5774,
    ),
    "agg_stddev_samp_flag_empty": differs(
        Raises("ProgrammingError"),
        None,
    ),
    "agg_var_pop_flag": differs(
        Raises("ProgrammingError"),
        0.25,
    ),
    "agg_var_pop_flag_empty": differs(
        Raises("ProgrammingError"),
        None,
    ),
    "agg_var_samp_flag": differs(
        Raises("ProgrammingError"),
        0.3333,
    ),
    "agg_var_samp_flag_empty": differs(
        Raises("ProgrammingError"),
        None,
    ),
    "agg_sum_default_flag": differs(
        Raises("ProgrammingError"),
        "2",
    ),
    "agg_sum_default_flag_empty": differs(
        Raises("ProgrammingError"),
        False,
    ),
}


@pytest.fixture(scope="module")
def report(django_db_blocker: Any) -> ParityReport:
    """The generated probes on every configured target (scratch databases, dropped afterwards)."""
    names = [p.name for p in catalogue() if p.name.startswith(GENERATED_PREFIXES)]
    with django_db_blocker.unblock():
        return run_probes(TARGETS, only=names, suffix=SUFFIX)


def _both_vendors(report: ParityReport) -> None:
    if [t["vendor"] for t in report.targets] != ["PostgreSQL", "MariaDB"]:
        pytest.skip("the pinned differences compare PostgreSQL (first) with MariaDB")


def test_pinned_differences_are_generated_probes() -> None:
    generated = [p.name for p in catalogue() if p.name.startswith(GENERATED_PREFIXES)]
    assert len(generated) >= 300
    assert set(DIFFERENCES) <= set(generated)


def test_unpinned_generated_probes_are_the_same(report: ParityReport) -> None:
    _both_vendors(report)
    unexpected = {r.name: r.label for r in report.results if r.name not in DIFFERENCES and r.outcome != SAME}
    assert unexpected == {}


# Truncating an aware datetime in a named time zone: MariaDB needs its time-zone tables (dbbench's managed servers
# load them); without them it fails as pinned, with them it answers as PostgreSQL does.
ZONE_TABLE_PROBES = {f"fn_trunc{unit}_at" for unit in ("year", "quarter", "month", "week", "day", "hour", "minute")}
ZONE_TABLE_PROBES.add("fn_truncsecond_at")


@pytest.mark.parametrize("name", list(DIFFERENCES))
def test_pinned_difference(report: ParityReport, name: str) -> None:
    _both_vendors(report)
    result = next(r for r in report.results if r.name == name)
    if name in ZONE_TABLE_PROBES and mariadb_has_zone_tables():
        for target in report.targets:
            _check(result.observations[target["name"]], DIFFERENCES[name]["PostgreSQL"])
        assert result.outcome == SAME
        return
    pg, maria = DIFFERENCES[name]["PostgreSQL"], DIFFERENCES[name]["MariaDB"]
    for target in report.targets:
        _check(result.observations[target["name"]], DIFFERENCES[name][target["vendor"]])
    unsupported = isinstance(pg, Raises) != isinstance(maria, Raises)
    assert result.outcome == (UNSUPPORTED if unsupported else DIFFERENT)
    assert result.hint and "none needed" not in result.hint


def test_probes_with_writes_leave_nothing_behind(target: Target, django_db_blocker: Any) -> None:
    """DDL, isolation and write probes on a kept scratch database: no extra table, the fixture rows unchanged."""
    suffix = f"_pn{uuid.uuid4().hex[:6]}"
    scratch = target.with_database(target.database + suffix)
    names = [
        *("conditional_unique_constraint", "functional_unique_lower", "functional_index_lower"),
        *("textfield_db_index", "long_table_name", "rerun_failed_migration", "ddl_failed_migration"),
        *("atomic_after_error", "delete_in_sliced_subquery", "ordered_update_unique"),
        *(p.name for p in catalogue() if p.name.startswith("isolation_")),
    ]
    with django_db_blocker.unblock():
        run_probes([target], only=names, suffix=suffix, keep_database=True)
    try:
        spec = target.spec
        with spec.connection(scratch, scratch.database) as conn:
            cursor = conn.cursor()
            cursor.execute(spec.list_tables_sql())
            tables = {row[0] for row in cursor.fetchall()}
            cursor.execute("SELECT code, value FROM paritylab_slot ORDER BY code")
            slots = [tuple(row) for row in cursor.fetchall()]
            cursor.execute("SELECT pos FROM paritylab_rank ORDER BY pos")
            positions = [row[0] for row in cursor.fetchall()]
        assert not [t for t in tables if t.startswith("paritylab_ddl")]
        assert slots == [("a", 1), ("b", 2), ("c", 3)]
        assert positions == [1, 2, 3]
    finally:
        assert drop_database(scratch)


def test_isolation_probes_are_quick(report: ParityReport, django_db_blocker: Any) -> None:
    """Two connections and a lock timeout, but ordered by events: the four probes take seconds, not minutes."""
    import time

    names = [p.name for p in catalogue() if p.name.startswith("isolation_")]
    assert len(names) == 4
    started = time.monotonic()
    with django_db_blocker.unblock():
        again = run_probes(TARGETS, only=names, suffix=SUFFIX)
    assert time.monotonic() - started < 30
    assert all(obs.error is None for r in again.results for obs in r.observations.values())
