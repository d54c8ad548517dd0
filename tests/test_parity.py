"""The parity suite on the live servers: each probe's observed behaviour, per server vendor, is asserted.

``EXPECTED`` records what each probe returned on PostgreSQL 15.20 and MariaDB 10.11.19 (this machine's servers,
default settings: PostgreSQL collation C.UTF-8, MariaDB utf8mb4_general_ci, MariaDB time-zone tables not loaded).
A server upgrade or a configuration change that alters a behaviour fails its test: re-observe with
``dbbench parity --json`` and update the entry (and ``DIFFERING_JSON_LOOKUPS`` if a JSON lookup changed sides).
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dbbench.audit.rules import rules_for_probe
from dbbench.backends.database import is_owned
from dbbench.backends.targets import Target
from dbbench.errors import ForeignDatabaseError
from dbbench.parity.probes import Probe, catalogue
from dbbench.parity.suite import (
    DIFFERENT,
    DIFFERING_JSON_LOOKUPS,
    JSON_LOOKUP_NOTES,
    SAME,
    UNSUPPORTED,
    Observation,
    ParityReport,
    compare,
    render,
    run_probes,
)
from dbbench.results import load_result
from tests.helpers import TARGETS, mariadb_has_zone_tables, run_cli

SUFFIX = "_ptest"  # apart from a `dbbench parity` run by hand with the same URLs (its suffix is _parity)
GENERATED_PREFIXES = ("fn_", "lk_", "agg_")
CATEGORIES = {
    *("json", "strings", "queries", "writes", "locking", "times", "ddl"),
    *("transactions", "constraints", "expressions", "isolation", "functions", "lookups", "aggregates"),
}


@dataclass(frozen=True)
class Raises:
    """The probe raised this exception type on that server."""

    type: str


def same(value: Any) -> dict[str, Any]:
    return {"PostgreSQL": value, "MariaDB": value}


def differs(postgresql: Any, mariadb: Any) -> dict[str, Any]:
    return {"PostgreSQL": postgresql, "MariaDB": mariadb}


@dataclass(frozen=True)
class WithoutZoneTables:
    """MariaDB's answer when its time-zone tables are not loaded; with them it answers as PostgreSQL does."""

    value: Any


def zoned(postgresql: Any, mariadb_without_zone_tables: Any) -> dict[str, Any]:
    return {"PostgreSQL": postgresql, "MariaDB": WithoutZoneTables(mariadb_without_zone_tables)}


# PostgreSQL's numeric keeps 1.5e300 exact and writes it out in full: 15 followed by 299 zeros, an int on read.
_BIG_PG = str(15 * 10**299)

EXPECTED: dict[str, dict[str, Any]] = {
    # --- json
    "json_key_transform": same({"name=Zoë": ["alpha"], "name=zoë": [], "nested__level=3": ["gamma"]}),
    "json_key_int_vs_float": differs(
        {"k=1": ["alpha", "beta"], "k=1.0": ["alpha", "beta"]},
        {"k=1": ["alpha", "gamma"], "k=1.0": ["beta"]},
    ),
    "json_key_string_vs_number": differs(
        ["gamma"],
        ["alpha", "gamma"],
    ),
    "json_key_none_vs_string_null": differs(
        {"nul=None": ["alpha"], "nul__isnull=False": ["alpha", "beta"]},
        {"nul=None": ["alpha", "beta"], "nul__isnull=False": ["alpha", "beta"]},
    ),
    "json_null_vs_sql_null": same({"data=None": ["jsonnull"], "data__isnull=True": ["sqlnull"]}),
    "json_key_isnull": same(["beta", "delta", "epsilon", "zeta"]),
    "json_contains": same(["alpha"]),
    "json_contains_scalar": same(["number"]),
    "json_contained_by": same(["epsilon"]),
    "json_key_contains_list": differs(
        {"items__contains={f: g}": ["beta"], "items__contained_by=[{f: g}]": ["alpha"]},
        {"items__contains={f: g}": ["alpha", "beta"], "items__contained_by=[{f: g}]": ["alpha", "beta"]},
    ),
    "json_key_contains_list_portable": same(["alpha"]),
    "json_has_key": same(["alpha", "gamma"]),
    "json_has_numeric_key": same(["numkey"]),
    "json_has_keys": same(["alpha", "beta", "delta", "gamma"]),
    "json_has_any_keys": same(["alpha", "beta", "gamma"]),
    "json_key_in": differs(
        {"n__in=[5, 10, '50']": ["alpha", "beta", "zeta"], "n__in=[50, -1]": ["gamma"]},
        {"n__in=[5, 10, '50']": ["alpha", "beta", "zeta"], "n__in=[50, -1]": ["gamma", "zeta"]},
    ),
    "json_top_level_in": differs(
        ["array", "number", "string"],
        ["array", "number"],
    ),
    "json_top_level_in_portable": same(["array", "number", "string"]),
    "json_key_iexact_non_ascii": same(["beta", "gamma", "zeta"]),
    "json_key_icontains_non_ascii": same(["beta", "gamma", "zeta"]),
    "json_top_level_icontains_non_ascii": differs(
        ["alpha"],
        [],
    ),
    "json_key_icontains_portable": same(["alpha"]),
    "json_key_startswith": same(["beta", "zeta"]),
    "json_key_gt": differs(
        {"n__gt=9": ["beta", "delta", "epsilon"], "n__gte=10": ["beta", "delta", "epsilon"]},
        {"n__gt=9": ["beta", "delta", "epsilon", "zeta"], "n__gte=10": ["beta", "delta", "epsilon", "zeta"]},
    ),
    "json_key_lt": differs(
        {"n__lt=6": ["alpha", "gamma", "zeta"], "n__lte=5": ["alpha", "gamma", "zeta"]},
        {"n__lt=6": ["alpha", "gamma"], "n__lte=5": ["alpha", "gamma"]},
    ),
    "json_key_gt_numbers_only": same(["beta", "delta", "epsilon"]),
    "json_order_by_key": differs(
        ["zeta", "gamma", "alpha", "beta", "delta", "epsilon"],
        ["zeta", "gamma", "beta", "epsilon", "delta", "alpha"],
    ),
    "json_key_cast_portable": same(
        {
            "n__gt=9": ["beta", "delta", "epsilon", "zeta"],
            "order_by(n)": ["gamma", "alpha", "beta", "delta", "zeta", "epsilon"],
        }
    ),
    "json_array_index": same({"arr__0=1": ["alpha"], "arr__1=5": ["beta"]}),
    "json_negative_index": same(["alpha"]),
    "json_kt_text": same(["beta", "zeta"]),
    "json_bool_key": same({"flag=True": ["alpha"], "flag=False": ["beta"]}),
    "json_numbers_read_back": differs(
        ["1", "1.0", "12345678901234567890", "0.1", "1e-07", _BIG_PG],
        ["1", "1.0", "12345678901234567890", "0.1", "1e-07", "1.5e+300"],
    ),
    "json_numbers_raw_text": differs(
        "[1, 1.0, 12345678901234567890, 0.1, 0.0000001, " + _BIG_PG + "]",
        "[1, 1.0, 12345678901234567890, 0.1, 1e-07, 1.5e+300]",
    ),
    "json_key_order_read_back": differs(
        {"top": ["Ω", "mid", "zeta", "alpha"], "mid": ["a", "b"]},
        {"top": ["zeta", "alpha", "mid", "Ω"], "mid": ["b", "a"]},
    ),
    "json_raw_text": differs(
        '{"Ω": "ünï", "mid": {"a": 2, "b": 1}, "zeta": 1, "alpha": 2}',
        '{"zeta": 1, "alpha": 2, "mid": {"b": 1, "a": 2}, "\\u03a9": "\\u00fcn\\u00ef"}',
    ),
    "json_invalid_text": differs(
        "DataError",
        "IntegrityError",
    ),
    "json_duplicate_keys": differs(
        {"read": {"a": 2}, "a=2": ["dup"]},
        {"read": {"a": 2}, "a=2": []},
    ),
    # --- strings
    "str_exact_case": differs(
        ["apple"],
        ["APPLE", "Apple", "apple"],
    ),
    "str_exact_accent": differs(
        ["resume"],
        ["Resume", "resume", "résumé"],
    ),
    "str_exact_trailing_space": differs(
        [],
        ["pear "],
    ),
    "str_exact_sharp_s": same(["strasse"]),
    "str_iexact_accent": differs(
        ["résumé"],
        ["Resume", "resume", "résumé"],
    ),
    "str_contains_case": same(["APPLE"]),
    "str_icontains_accent": differs(
        ["résumé"],
        ["Resume", "resume", "résumé"],
    ),
    "str_startswith": same(["resume"]),
    "str_like_escape": same(["_under"]),
    "str_regex": same(["apple", "resume", "strasse", "zebra"]),
    "str_iregex_accent": same(["résumé"]),
    "str_regex_backreference": same(["Apple", "apple"]),
    "str_order": differs(
        [
            "10",
            "9",
            "APPLE",
            "Apple",
            "Resume",
            "Zulu",
            "_under",
            "apple",
            "pear ",
            "resume",
            "résumé",
            "strasse",
            "straße",
            "zebra",
            "Ωmega",
            "😀 smile",
        ],
        [
            "10",
            "9",
            "apple",
            "Apple",
            "APPLE",
            "pear ",
            "résumé",
            "resume",
            "Resume",
            "straße",
            "strasse",
            "zebra",
            "Zulu",
            "_under",
            "Ωmega",
            "😀 smile",
        ],
    ),
    "str_upper_sharp_s": same("STRAßE"),
    "str_emoji_round_trip": same({"equal": True, "length": 11}),
    "str_too_long": same("DataError"),
    "str_unique_case": differs(
        "ok",
        "IntegrityError",
    ),
    "str_unique_accent": differs(
        "ok",
        "IntegrityError",
    ),
    "str_unique_trailing_space": differs(
        "ok",
        "IntegrityError",
    ),
    # --- queries
    "nulls_order_asc": differs(
        [5, 10, 20, 30, None, None],
        [None, None, 5, 10, 20, 30],
    ),
    "nulls_order_desc": differs(
        [None, None, 30, 20, 10, 5],
        [30, 20, 10, 5, None, None],
    ),
    "nulls_last_explicit": same([5, 10, 20, 30, None, None]),
    "distinct_on": differs(
        [["ann", 30], ["bob", 20], ["cid", None], ["dee", 5]],
        Raises("NotSupportedError"),
    ),
    "distinct_on_window": same([["ann", 30], ["bob", 20], ["cid", None], ["dee", 5]]),
    "window_lag_default": differs(
        [0, 10, 30, None, 20, None],
        Raises("ProgrammingError"),
    ),
    "window_lag_coalesce": same([0, 10, 30, 0, 20, 0]),
    # --- writes
    "bulk_create_pks": same([True, True]),
    "bulk_create_ignore_conflicts": same({"pks_set": [False, False], "rows": 4}),
    "upsert_with_unique_fields": differs(
        99,
        Raises("NotSupportedError"),
    ),
    "upsert_without_unique_fields": differs(
        Raises("ValueError"),
        99,
    ),
    "int_overflow_small": same("DataError"),
    "int_overflow_big": same("DataError"),
    "positive_negative": differs(
        "IntegrityError",
        "DataError",
    ),
    "positive_above_int32": differs(
        "DataError",
        "ok",
    ),
    "int_filter_out_of_range": same(0),
    "fk_forward_reference": differs(
        "ok",
        "IntegrityError",
    ),
    # --- locking
    "sfu_skip_locked": same(["a", "b", "c"]),
    "sfu_nowait": same(["a", "b", "c"]),
    "sfu_of": differs(
        ["a", "b", "c"],
        Raises("NotSupportedError"),
    ),
    "sfu_no_key": differs(
        ["a", "b", "c"],
        Raises("NotSupportedError"),
    ),
    "sfu_skip_locked_behaviour": same(["b", "c"]),
    # --- times
    "dt_microseconds": same(
        ["2026-03-04T05:06:07.123456+00:00", "2026-03-04T23:30:00+00:00", "2025-12-31T23:59:59.999999+00:00"]
    ),
    "dt_aware_round_trip": same({"read": "2026-06-01T06:30:00.000500+00:00", "same_instant": True}),
    "dt_filter_date": same(["late", "precise"]),
    "dt_trunc_day_named_zone": zoned(
        ["2026-03-04T00:00:00+01:00", "2026-03-05T00:00:00+01:00", "2026-01-01T00:00:00+01:00"],
        Raises("ValueError"),
    ),
    "dt_extract_hour_named_zone": zoned(
        [6, 0, 0],
        [None, None, None],
    ),
    # --- ddl
    "ddl_failed_migration": differs(
        {"table_left_behind": False},
        {"table_left_behind": True},
    ),
    "ddl_long_unique_varchar": same({"create": "ok", "duplicate": "IntegrityError"}),
    # --- transactions, constraints, expressions, migrations, isolation (issue 17)
    "atomic_after_error": differs(
        {
            "failing_query": "ProgrammingError",
            "write_after": "InternalError",
            "read_after": "TransactionManagementError",
        },
        {"failing_query": "ProgrammingError", "write_after": "ok", "read_after": "ok"},
    ),
    "in_sliced_subquery": differs(
        ["a", "b"],
        Raises("NotSupportedError"),
    ),
    "delete_in_sliced_subquery": differs(
        {"deleted": 2, "left": ["c"]},
        Raises("NotSupportedError"),
    ),
    "ordered_update_unique": differs(
        {"update": "IntegrityError", "positions": [1, 2, 3]},
        {"update": "ok", "positions": [2, 3, 4]},
    ),
    "conditional_unique_constraint": differs(
        {"indexes": 1, "duplicate": "IntegrityError"},
        {"indexes": 0, "duplicate": "ok"},
    ),
    "functional_unique_lower": differs(
        {"indexes": 1, "duplicate": "IntegrityError"},
        {"indexes": 0, "duplicate": "ok"},
    ),
    "functional_index_lower": differs(
        {"indexes": 1},
        {"indexes": 0},
    ),
    "textfield_db_index": differs(
        {"indexes": 2},
        {"indexes": 0},
    ),
    "values_group_case_accent": differs(
        [1, 1, 1, 1, 1, 1],
        [3, 3],
    ),
    "distinct_count_case_accent": differs(
        6,
        2,
    ),
    "regex_word_boundary_b": differs(
        [],
        ["😀 smile"],
    ),
    "regex_w_non_ascii": differs(
        [
            "10",
            "9",
            "APPLE",
            "Apple",
            "Resume",
            "Zulu",
            "_under",
            "apple",
            "resume",
            "résumé",
            "strasse",
            "straße",
            "zebra",
            "Ωmega",
        ],
        ["10", "9", "APPLE", "Apple", "Resume", "Zulu", "_under", "apple", "resume", "strasse", "zebra"],
    ),
    "regex_dot_non_ascii": differs(
        ["Resume", "_under", "resume", "résumé", "straße"],
        ["Resume", "_under", "resume", "Ωmega"],
    ),
    "regex_y_boundary": differs(
        ["😀 smile"],
        Raises("OperationalError"),
    ),
    "int_division_filter": differs(
        [],
        ["half"],
    ),
    "int_division_annotate": differs(
        [[3, 6], [-3, -6], [0, 0]],
        [[3, 7], [-3, -7], [0, 1]],
    ),
    "decimal_division_precision": differs(
        ["0.33333333333333333333"],
        ["0.33333333"],
    ),
    "avg_decimal_precision": differs(
        "0.33333333333333333333",
        "0.33333333",
    ),
    "round_float_half": differs(
        [3.0, -3.0],
        [2.0, -2.0],
    ),
    "division_by_zero": differs(
        Raises("DataError"),
        [[None, None]],
    ),
    "max_sum_boolean": differs(
        Raises("ProgrammingError"),
        {"mx": True, "total": "2"},
    ),
    "long_table_name": differs(
        {"first": "ok", "second": "ProgrammingError", "created_name_lengths": [63]},
        {"first": "ProgrammingError", "second": "ProgrammingError", "created_name_lengths": []},
    ),
    "rerun_failed_migration": differs(
        {"first": "_StepFailed", "second": "_StepFailed", "table": False},
        {"first": "_StepFailed", "second": "OperationalError", "table": True},
    ),
    "isolation_read_committed_lost_update": same(
        {"level": "read committed", "first": "ok", "second": "ok", "increments_kept": 1}
    ),
    "isolation_repeatable_read_lost_update": differs(
        {"level": "repeatable read", "first": "ok", "second": "OperationalError", "increments_kept": 1},
        {"level": "repeatable read", "first": "ok", "second": "ok", "increments_kept": 1},
    ),
    "isolation_serializable_lost_update": differs(
        {"level": "serializable", "first": "ok", "second": "OperationalError", "increments_kept": 1},
        {"level": "serializable", "first": "OperationalError", "second": "ok", "increments_kept": 1},
    ),
    "isolation_server_default_lost_update": differs(
        {"level": "read committed", "first": "ok", "second": "ok", "increments_kept": 1},
        {"level": "repeatable read", "first": "ok", "second": "ok", "increments_kept": 1},
    ),
}


NO_SQL = {"int_filter_out_of_range"}


@pytest.fixture(scope="session")
def report(django_db_blocker: Any) -> ParityReport:
    """One run of every probe on every configured target (scratch databases, dropped afterwards)."""
    with django_db_blocker.unblock():
        return run_probes(TARGETS, suffix=SUFFIX)


def _expectation(name: str, vendor: str) -> Any:
    if vendor not in EXPECTED[name]:
        pytest.skip(f"no behaviour recorded for {vendor} (recorded: {', '.join(EXPECTED[name])})")
    expected = EXPECTED[name][vendor]
    if isinstance(expected, WithoutZoneTables):
        return EXPECTED[name]["PostgreSQL"] if mariadb_has_zone_tables() else expected.value
    return expected


def _check(obs: Observation, expected: Any) -> None:
    if isinstance(expected, Raises):
        assert obs.error is not None, f"expected {expected.type}, got the value {obs.value!r}"
        assert obs.error["type"] == expected.type, obs.error
    else:
        assert obs.error is None, obs.error
        assert obs.value == expected


@pytest.mark.parametrize("name", list(EXPECTED))
def test_probe_behaves_as_observed(report: ParityReport, name: str) -> None:
    result = next(r for r in report.results if r.name == name)
    for target in report.targets:
        obs = result.observations[target["name"]]
        _check(obs, _expectation(name, target["vendor"]))
        if obs.error is None:
            # Django answers an out-of-range integer lookup itself (EmptyResultSet): no query at all.
            assert bool(obs.sql) == (name not in NO_SQL), f"{name} on {target['name']}: SQL {obs.sql}"
    vendors = [t["vendor"] for t in report.targets]
    if vendors == ["PostgreSQL", "MariaDB"]:
        pg, maria = _expectation(name, "PostgreSQL"), _expectation(name, "MariaDB")
        if pg == maria:
            assert result.outcome == SAME
        elif isinstance(pg, Raises) != isinstance(maria, Raises):
            assert result.outcome == UNSUPPORTED
            assert result.unsupported_on == [report.targets[0 if isinstance(pg, Raises) else 1]["name"]]
        else:
            assert result.outcome == DIFFERENT
            assert result.different_on == [report.targets[1]["name"]]


def test_every_probe_has_an_expectation() -> None:
    # Generated probes (functions, lookups, aggregates) are pinned in test_parity_generated.py.
    assert [p.name for p in catalogue() if not p.name.startswith(GENERATED_PREFIXES)] == list(EXPECTED)


def test_differing_json_lookups_match_the_observations(report: ParityReport) -> None:
    if sorted(t["vendor"] for t in report.targets) != ["MariaDB", "PostgreSQL"]:
        pytest.skip("DIFFERING_JSON_LOOKUPS describes PostgreSQL vs the MySQL family")
    assert set(report.differing_json_lookups()) == DIFFERING_JSON_LOOKUPS
    assert set(JSON_LOOKUP_NOTES) == DIFFERING_JSON_LOOKUPS


def test_every_probe_has_a_hint_and_known_category() -> None:
    probes: list[Probe] = catalogue()
    assert len(probes) >= 60
    for p in probes:
        assert p.hint and p.title, p.name
        assert p.category in CATEGORIES, p.name


def test_scratch_databases_are_gone_and_reported(report: ParityReport) -> None:
    for target, described in zip(TARGETS, report.targets, strict=True):
        assert described["database"] == target.database + SUFFIX
        assert described["vendor"] in {"PostgreSQL", "MariaDB", "MySQL"}
        assert not is_owned(target.with_database(target.database + SUFFIX))
        assert "***" in described["url"] or ":" not in described["url"].split("@")[0].split("//")[1]


def test_report_serialises_with_both_values_and_hints(report: ParityReport) -> None:
    data = json.loads(json.dumps(report.as_dict(), ensure_ascii=False))
    assert data["baseline"] == TARGETS[0].name
    assert sum(data["summary"].values()) == len(catalogue())
    for probe in data["probes"]:
        assert set(probe["results"]) == {t.name for t in TARGETS}
        assert (probe["what_to_change"] is None) == (probe["outcome"] == SAME)
        # Each probe names the audit rules that find its construct in code (the audit names the probes back).
        assert probe["audit_rules"] == rules_for_probe(probe["name"], json_lookups=tuple(probe["json_lookups"]))
    named = {p["name"]: p["audit_rules"] for p in data["probes"]}
    assert "unique-string-ci" in named["str_unique_case"] and "in-sliced-subquery" in named["in_sliced_subquery"]


def test_render_shows_every_probe_and_escapes_values(report: ParityReport) -> None:
    from rich.console import Console

    console = Console(width=250, record=True, file=io.StringIO())
    console.print(render(report))
    text = console.export_text()
    for name in ("json_key_contains_list", "distinct_on", "nulls_order_asc"):
        assert name in text
    # Values that look like rich markup ([null, 5]) must be printed, not swallowed as style tags.
    assert "[5, 10, 20, 30, null, null]" in text


# --- pure comparison, on literal observations --------------------------------------------------------------


def _probe() -> Probe:
    return Probe("p", "json", "title", lambda alias: None, "hint")


@pytest.mark.parametrize(
    ("observations", "outcome", "unsupported_on", "different_on"),
    [
        ({"a": Observation(value=[1]), "b": Observation(value=[1])}, SAME, [], []),
        ({"a": Observation(value=[1]), "b": Observation(value=[2])}, DIFFERENT, [], ["b"]),
        (
            {"a": Observation(value=1), "b": Observation(error={"type": "NotSupportedError", "message": "x"})},
            UNSUPPORTED,
            ["b"],
            [],
        ),
        (
            {"a": Observation(error={"type": "ValueError", "message": "x"}), "b": Observation(value=1)},
            UNSUPPORTED,
            ["a"],
            [],
        ),
        (
            {
                "a": Observation(error={"type": "E", "message": "x"}),
                "b": Observation(error={"type": "E", "message": "y"}),
            },
            SAME,
            [],
            [],
        ),
        (
            {
                "a": Observation(value=1),
                "b": Observation(value=2),
                "c": Observation(error={"type": "E", "message": ""}),
            },
            UNSUPPORTED,
            ["c"],
            ["b"],
        ),
    ],
)
def test_compare(
    observations: dict[str, Observation], outcome: str, unsupported_on: list[str], different_on: list[str]
) -> None:
    result = compare(_probe(), observations, list(observations))
    assert (result.outcome, result.unsupported_on, result.different_on) == (outcome, unsupported_on, different_on)


# --- scratch databases and the command line -----------------------------------------------------------------


def test_keep_database_keeps_an_owned_scratch_database(target: Target, django_db_blocker: Any) -> None:
    from dbbench.backends.database import drop_database

    suffix = f"_pk{uuid.uuid4().hex[:6]}"
    scratch = target.with_database(target.database + suffix)
    with django_db_blocker.unblock():
        run_probes([target], only=["json_contains"], suffix=suffix, keep_database=True)
    try:
        assert is_owned(scratch)
    finally:
        assert drop_database(scratch)


def test_refuses_a_foreign_scratch_database(target: Target, django_db_blocker: Any) -> None:
    suffix = f"_pf{uuid.uuid4().hex[:6]}"
    foreign = target.with_database(target.database + suffix)
    spec = target.spec
    with spec.connection(target, None) as conn:
        conn.cursor().execute(spec.create_database_sql(foreign.database))
    try:
        with spec.connection(foreign, foreign.database) as conn:
            conn.cursor().execute("CREATE TABLE someone_elses (id integer PRIMARY KEY)")
        with django_db_blocker.unblock(), pytest.raises(ForeignDatabaseError):
            run_probes([target], only=["json_contains"], suffix=suffix)
        with spec.connection(foreign, foreign.database) as conn:
            cur = conn.cursor()
            cur.execute(spec.list_tables_sql())
            assert [row[0] for row in cur.fetchall()] == ["someone_elses"]  # untouched, not marked
    finally:
        # We created this database in this test, so we drop it (drop_database would refuse: it is not marked).
        with spec.connection(target, None) as conn:
            conn.cursor().execute(spec.drop_database_sql(foreign.database))


def test_cli_writes_a_parity_file_and_prints_the_table(tmp_path: Path) -> None:
    out = tmp_path / "parity.json"
    proc = run_cli("parity", "--probe", "json_contains,distinct_on", "--probe", "nulls_order_asc", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "distinct_on" in proc.stdout and f"wrote {out}" in proc.stdout
    kind, document = load_result(out, "parity")
    assert kind == "parity"
    # Catalogue order, whatever order they were asked for in.
    assert [p["name"] for p in document["data"]["probes"]] == ["json_contains", "nulls_order_asc", "distinct_on"]
    assert [t["name"] for t in document["data"]["targets"]] == [t.name for t in TARGETS]


def test_cli_json_and_list(tmp_path: Path) -> None:
    proc = run_cli("parity", "--probe", "sfu_of", "--json", "--output", str(tmp_path / "p.json"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["probes"][0]["name"] == "sfu_of"
    listed = run_cli("parity", "--list")
    assert listed.returncode == 0 and "json_key_contains_list" in listed.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--probe", "no_such_probe"], "unknown probe(s): no_such_probe"),
        (["--output", "/nonexistent-dir/parity.json"], "does not exist"),
        (["--backend", "nosuch"], "unknown backend 'nosuch'"),
    ],
)
def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "parity.json"
    full = [*args] if "--output" in args else [*args, "--output", str(out)]
    proc = run_cli("parity", *full)
    assert proc.returncode == 2
    assert proc.stderr.startswith("dbbench: error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not out.exists()


def test_run_parity_is_the_pipeline_stage(tmp_path: Path, django_db_blocker: Any) -> None:
    from dbbench.parity.suite import run_parity

    with django_db_blocker.unblock():
        path = run_parity(TARGETS, tmp_path, only=["json_top_level_in"])
    assert path == tmp_path / "parity.json"
    _, document = load_result(path, "parity")
    assert document["data"]["probes"][0]["name"] == "json_top_level_in"


def test_paritylab_has_no_missing_migrations() -> None:
    from django.apps import apps
    from django.db.migrations.autodetector import MigrationAutodetector
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.state import ProjectState

    # The loader without a connection reads migration files only: no test database needed.
    loader = MigrationLoader(None, ignore_no_migrations=True)
    detector = MigrationAutodetector(loader.project_state(), ProjectState.from_apps(apps))
    assert "paritylab" not in detector.changes(graph=loader.graph, trim_to_apps={"paritylab"})
