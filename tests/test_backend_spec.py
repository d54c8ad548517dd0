"""The backend spec as Django's backends are built: a family is checked when its class is defined, and a new
family is one module plus its line in ``registry.FAMILIES``.

The third family here, a CockroachDB-like stub (it speaks PostgreSQL's protocol, as django-cockroachdb builds on
Django's PostgreSQL backend), lives in this one file and registers itself for its tests. Made real, it touches two
files of the package: ``dbbench/backends/cockroach.py`` (the class below) and ``dbbench/backends/registry.py`` (one
entry in ``FAMILIES``), plus its tests: three files in all. Nothing else in the package, nor these tests, names a
family (the docs' table of managed servers is generated from the specs).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from dbbench.backends.bulkload import BULK_CREATE, defer_constraints, method_name
from dbbench.backends.database import drop_database, ensure_database, is_owned
from dbbench.backends.postgres import PostgresSpec
from dbbench.backends.registry import (
    BACKENDS,
    FAMILIES,
    durability_settings,
    register,
    spec_for_engine,
    spec_for_scheme,
    unregister,
)
from dbbench.backends.spec import BackendSpec, missing
from dbbench.backends.targets import Target, baseline, parse_target
from dbbench.doctor import probe
from dbbench.errors import ConfigError
from dbbench.load.config import build_config
from dbbench.load.variants import variants_for
from dbbench.servers.pgbouncer import pgbouncer
from dbbench.servers.profile import Profile
from tests.helpers import TARGETS


class CockroachSpec(PostgresSpec):
    """A family that reuses PostgreSQL's SQL and driver and declares what it does not support."""

    family = "cockroach_stub"  # names a real CockroachDB family would not take
    engine = "django_cockroachdb_stub"
    schemes = ("cockroach-stub", "crdb-stub")
    default_port = 26257
    default_user = "root"
    vendors = ("CockroachDB",)
    baseline = False
    default_target = None
    django_pool = False
    pooler = None
    supports_bulk_load = False
    bulk_load_name = "bulk_create"
    defers_constraints = False
    copies_out = False
    durability_settings = ("kv.raft_log.disable_synchronization_unsafe",)
    managed_description = ""  # dbbench starts no server of this family (PostgresSpec's would be inherited)


@pytest.fixture
def cockroach() -> Iterator[BackendSpec]:
    spec = register(CockroachSpec)
    try:
        yield spec
    finally:
        unregister(CockroachSpec.family)


@pytest.mark.nodb
def test_a_third_family_is_found_by_scheme_and_engine_and_offers_only_what_it_declares(
    cockroach: BackendSpec,
) -> None:
    target = parse_target("crdb", "cockroach-stub://root@db.example/app")
    assert (target.family, target.port, target.spec) == ("cockroach_stub", 26257, cockroach)
    assert spec_for_scheme("CRDB-STUB") is cockroach and spec_for_engine("django_cockroachdb_stub") is cockroach
    assert target.django_database()["ENGINE"] == "django_cockroachdb_stub"
    assert "kv.raft_log.disable_synchronization_unsafe" in durability_settings()
    # No Django pool and no pooler declared: the load test offers CONN_MAX_AGE only, and PgBouncer refuses it.
    variants = variants_for([target], build_config(conn_max_age="0,30"))
    assert [v.name for v in variants] == ["crdb-cma0", "crdb-cma30"]
    with pytest.raises(ConfigError, match="PgBouncer pools PostgreSQL connections"), pgbouncer(target):
        pass
    assert method_name(target, BULK_CREATE) == "bulk_create"
    # Not a baseline family: a PostgreSQL target stays the baseline wherever it is listed.
    pg = parse_target("pg", "postgres://postgres@127.0.0.1/app")
    assert baseline([target, pg]) is pg
    # Nor bulk loading or deferred constraints: the seeder takes bulk_create and leaves indexes alone.
    assert not cockroach.bulk_load_available(None) and defer_constraints(cockroach, None, "t") == []
    assert Profile().describe().count("PostgreSQL:") == 1  # not among the servers dbbench starts


@pytest.mark.nodb
def test_unregistered_the_third_family_is_gone() -> None:
    assert list(BACKENDS) == [cls.family for cls in FAMILIES] and CockroachSpec.family not in BACKENDS
    assert {"postgresql", "mysql"} <= set(BACKENDS)
    with pytest.raises(ConfigError, match="unknown URL scheme"):
        parse_target("crdb", "cockroach-stub://root@db.example/app")


def test_a_third_family_reaches_a_live_server_through_the_shared_code(cockroach: BackendSpec) -> None:
    """Pointed at the PostgreSQL server (whose protocol it speaks): dbbench's databases and the doctor work
    through the spec alone."""
    pg = next(t for t in TARGETS if t.family == "postgresql")
    url = "cockroach-stub" + pg.url[pg.url.index("://") :]
    target: Target = parse_target("crdb", url).with_database(f"{pg.database}_crdb{uuid.uuid4().hex[:6]}")
    assert target.family == "cockroach_stub"
    ensure_database(target)
    try:
        assert is_owned(target)
        found = probe(target)
        assert found.ok, found.error
        assert found.info is not None and found.info.vendor == "CockroachDB"
        assert found.info.settings["fsync"] == "on"
    finally:
        assert drop_database(target)


def _incomplete(drop: str = "", **attributes: Any) -> type[BackendSpec]:
    """A family class that names itself and sets the required attributes (but ``drop``), and no method."""
    namespace: dict[str, Any] = {
        "family": "halfdone",
        "engine": "x",
        "schemes": ("halfdone",),
        "default_port": 1,
        "default_user": "u",
        "vendors": ("Half",),
        "lock_timeout_sql": "",
        "isolation_level_sql": "",
        **attributes,
    }
    namespace.pop(drop, None)
    return type("HalfDoneSpec", (BackendSpec,), namespace)


@pytest.mark.nodb
def test_a_family_missing_a_required_method_fails_when_its_class_is_defined() -> None:
    with pytest.raises(TypeError, match=r"HalfDoneSpec \('halfdone'\) lacks: .*chunk_sql.*server_info"):
        _incomplete()
    # A subclass that turns a feature on without the method behind it fails the same way.
    with pytest.raises(TypeError, match=r"lacks: .*, copy_out \(for copies_out\)$"):
        _incomplete(copies_out=True)

    # And one that leaves a required attribute unset (after the abstract methods, which are listed first).
    with pytest.raises(TypeError, match=r"lacks: .*utc_text_sql, vendors$"):
        _incomplete(drop="vendors")


@pytest.mark.nodb
def test_a_shared_base_without_a_family_is_not_checked_but_cannot_be_registered() -> None:
    class SharedBase(BackendSpec):  # no family: a base for families to come, left abstract
        supports_bulk_load = True

    assert "bulk_load (for supports_bulk_load)" in missing(SharedBase) and "family" in missing(SharedBase)
    with pytest.raises(TypeError, match="lacks"):
        register(SharedBase)  # type: ignore[type-abstract]  # what mypy would refuse, the registry refuses too


@pytest.mark.nodb
def test_registering_a_family_twice_or_on_a_taken_scheme_fails(cockroach: BackendSpec) -> None:
    with pytest.raises(TypeError, match="registered twice"):
        register(CockroachSpec)

    class Clash(CockroachSpec):
        family = "clash"
        schemes = ("clash", "postgres")

    with pytest.raises(TypeError, match=r"URL schemes already taken: postgres \(postgresql\)"):
        register(Clash)
    assert "clash" not in BACKENDS


@pytest.mark.nodb
def test_every_registered_family_is_complete() -> None:
    assert {cls.__name__: missing(cls) for cls in FAMILIES} == {cls.__name__: [] for cls in FAMILIES}
