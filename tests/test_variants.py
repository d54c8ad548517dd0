"""``dbbench load``'s variants (load/variants.py): which exist and what each changes, then each one for real: its
site starts, answers from the database over the variant's own connection path, and stops without leftovers."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from dbbench import processes
from dbbench.backends.targets import Target, parse_target
from dbbench.errors import ConfigError
from dbbench.load.config import LoadConfig, build_config, config_for_profile
from dbbench.load.site import site_env, start_site
from dbbench.load.variants import MIGRATION, NONE, SERVICE, SETTING, Variant, variants_for
from dbbench.results import load_result
from tests.helpers import ROOT, TARGETS, run_cli, small_sites

PG = parse_target("pg", "postgres://postgres@127.0.0.1:5432/dbbench_v")
MY = parse_target("my", "mysql://root@127.0.0.1:3306/dbbench_v")
PG2 = parse_target("pg2", "postgres://postgres@127.0.0.1:5433/dbbench_v")

# --- which variants, from the backend specs ---------------------------------------------------------------------


def test_the_default_set_follows_the_specs() -> None:
    variants = variants_for([PG, MY, PG2], build_config())
    # CONN_MAX_AGE outermost; the baseline's pool and pooler (CONN_MAX_AGE 0) join the 0 group.
    assert [v.name for v in variants] == [
        *("pg-cma0", "my-cma0", "pg2-cma0", "pg-pool", "pg-pgbouncer"),
        *("pg-cma60", "my-cma60", "pg2-cma60"),
    ]
    by_name = {v.name: v for v in variants}
    assert {n: v.change_kind for n, v in by_name.items()} == {
        "pg-cma0": NONE,
        "my-cma0": MIGRATION,
        "pg2-cma0": MIGRATION,
        "pg-pool": SETTING,
        "pg-pgbouncer": SERVICE,
        "pg-cma60": SETTING,
        "my-cma60": MIGRATION,
        "pg2-cma60": MIGRATION,
    }
    assert by_name["pg-cma60"].change == "`CONN_MAX_AGE = 60`"
    assert by_name["pg-pool"].change.startswith('`"OPTIONS": {"pool": {"min_size": 1, "max_size": 1, "timeout"')
    workers = build_config().workers  # Django's pools hold one connection per sync worker: PgBouncer as many
    assert by_name["pg-pgbouncer"].service_options == {"pool_size": workers}
    assert f"`pool_mode = transaction`, `default_pool_size = {workers}`" in by_name["pg-pgbouncer"].change
    assert "`DISABLE_SERVER_SIDE_CURSORS = True`" in by_name["pg-pgbouncer"].change
    assert (
        by_name["my-cma60"].change
        == 'the migration: `ENGINE = "django.db.backends.mysql"` and the data moved, with `CONN_MAX_AGE = 60`'
    )
    # Django refuses a pool with persistent connections; transaction pooling needs client-side cursors.
    assert by_name["pg-pool"].conn_max_age == 0 and by_name["pg-pool"].pool is not None
    assert by_name["pg-pgbouncer"].disable_server_side_cursors and by_name["pg-pgbouncer"].service == "pgbouncer"
    assert not any(v.disable_server_side_cursors or v.pool or v.service for v in variants if "cma" in v.name)


def test_the_run_s_default_profile_measures_the_migration_with_persistent_connections_only() -> None:
    config = config_for_profile("default")
    assert [v.name for v in variants_for([PG, MY], config)] == [
        *("pg-cma0", "pg-pool", "pg-pgbouncer"),
        *("pg-cma60", "my-cma60"),
    ]
    assert config.budget_s < LoadConfig().budget_s  # and each in a shorter search than `dbbench load`'s
    assert [v.name for v in variants_for([PG, MY], config_for_profile("full"))] == [
        v.name for v in variants_for([PG, MY], build_config())
    ]


def test_a_family_without_django_s_pool_or_a_pooler_gets_conn_max_age_only() -> None:
    assert not MY.spec.django_pool and MY.spec.pooler is None
    variants = variants_for([MY], build_config(conn_max_age="0,30"))
    assert [(v.name, v.change_kind) for v in variants] == [("my-cma0", NONE), ("my-cma30", SETTING)]
    # Another PostgreSQL server has them, but only the baseline's are run unless asked for.
    every = variants_for([PG, PG2], build_config(variants="pg2-pool,pg2-pgbouncer"))
    assert [(v.name, v.change_kind) for v in every] == [("pg2-pool", MIGRATION), ("pg2-pgbouncer", MIGRATION)]


def test_the_pool_fits_gunicorn_s_workers() -> None:
    """Each worker process has a pool of its own: as many connections as it serves requests at once, at most 4."""
    for threads, size in ((1, 1), (3, 3), (16, 4)):
        (pool,) = [v for v in variants_for([PG], build_config(threads=threads, workers=5)) if v.pool]
        assert pool.pool == {"min_size": size, "max_size": size, "timeout": 10.0}
    # The most --workers and --threads take stay under a max_connections of 300, all pools together.
    most = build_config(workers=64, threads=64)
    (pool,) = [v for v in variants_for([PG], most) if v.pool]
    assert most.workers * pool.pool["max_size"] < 300


def test_more_app_server_variants_run_when_named() -> None:
    """Twice the workers or four threads per worker, on the baseline only, never in the default set."""
    config = build_config(workers=3, conn_max_age="60")
    assert not [v for v in variants_for([PG, MY], config) if v.workers or v.threads]
    named = build_config(workers=3, conn_max_age="60", variants="pg-cma60-w6,pg-cma60-t4")
    more, threads = variants_for([PG, MY], named)
    assert (more.name, more.gunicorn(named), more.conn_max_age, more.change_kind) == (
        "pg-cma60-w6",
        (6, 1),
        60,
        "settings",
    )
    assert "`--workers 6`" in more.change
    assert (threads.gunicorn(named), threads.as_dict()["threads"]) == ((3, 4), 4)
    assert "`--worker-class gthread --threads 4`" in threads.change
    with pytest.raises(ConfigError, match="unknown variant 'my-cma60-w6'"):
        variants_for([PG, MY], build_config(workers=3, conn_max_age="60", variants="my-cma60-w6"))


def test_variants_by_name_keep_the_catalogue_order() -> None:
    config = build_config(variants="my-cma60,pg-pgbouncer,my-cma60")
    assert config.variants == ("my-cma60", "pg-pgbouncer")
    assert [v.name for v in variants_for([PG, MY], config)] == ["pg-pgbouncer", "my-cma60"]


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ("pg-cma30", "unknown variant 'pg-cma30' .*CONN_MAX_AGE values come from --conn-max-age"),
        (
            "my-pool",
            "unknown variant 'my-pool' \\(known here: pg-cma0, my-cma0, pg-cma0-w\\d+, pg-cma0-t4, pg-pool, "
            "pg-pgbouncer",
        ),
    ],
)
def test_an_unknown_variant_is_one_line(variants: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        variants_for([PG, MY], build_config(variants=variants))


@pytest.mark.parametrize("variants", [",", "Postgres-Pool", "pg pool", "pg"])
def test_a_malformed_variant_name_is_refused(variants: str) -> None:
    with pytest.raises(ConfigError, match="--variants"):
        build_config(variants=variants)


def test_the_cli_refuses_an_unknown_variant_before_writing(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    name = TARGETS[0].name
    result = run_cli("load", "--variants", f"{name}-cma7", "--attempts", "0", "--output", str(out), timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"dbbench: error: --variants: unknown variant '{name}-cma7'")
    assert result.stderr.count("\n") == 1 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("family", ["postgres", "mysql"])
def test_the_site_s_settings_come_from_the_variant(family: str) -> None:
    """What the site's Django makes of the environment site_env() gives it (no connection made)."""
    target = {"postgres": PG, "mysql": MY}[family]
    pool = next(v for v in variants_for([PG], build_config()) if v.pool)
    bouncer = next(v for v in variants_for([PG], build_config()) if v.service)
    code = (
        "import json; from django.conf import settings; d = settings.DATABASES['default']; "
        "print(json.dumps([d['CONN_MAX_AGE'], d['OPTIONS'].get('pool'), d['DISABLE_SERVER_SIDE_CURSORS']]))"
    )
    seen = []
    for variant in (pool, bouncer):
        env = site_env(target, variant)
        done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        seen.append(json.loads(done.stdout))
    # Django's pool only where the family has it; a pool option would break MySQLdb.connect().
    expected_pool = pool.pool if target.spec.django_pool else None
    assert seen == [[0, expected_pool, False], [0, None, True]]


def test_a_service_that_does_not_start_fails_its_variant_in_one_masked_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from contextlib import contextmanager

    from dbbench.load import variants

    secret = parse_target("pg", "postgres://app:s3cret@127.0.0.1:5432/dbbench_v")

    @contextmanager
    def refusing(target: Target, options: dict[str, Any]) -> Iterator[Target]:
        raise ConfigError(f"cannot reach {target.url}")
        yield target

    monkeypatch.setitem(variants.SERVICES, "pgbouncer", refusing)
    (bouncer,) = [v for v in variants_for([secret], build_config()) if v.service]
    with pytest.raises(variants.ServiceFailed) as caught, bouncer.serving():
        pass
    assert str(caught.value).startswith("pgbouncer for pg: cannot reach postgres://app:")
    assert "s3cret" not in str(caught.value)


# --- each variant for real ----------------------------------------------------------------------------------

CONFIG = LoadConfig(workers=2, users=(2,))
NAMES = [v.name for v in variants_for(TARGETS, CONFIG)]


@pytest.fixture(scope="module")
def sites() -> Iterator[list[Target]]:
    """Scratch databases on every backend holding ``fixtures/quiz_small.json``, dropped afterwards."""
    with small_sites("va") as scratch:
        yield scratch


def _tcp_peers(procs: list[psutil.Process], port: int) -> set[int]:
    """The local ports of ``procs``' TCP connections to ``port``: one per database connection they hold."""
    found = set()
    for proc in procs:
        for conn in proc.net_connections(kind="tcp"):
            if conn.raddr and conn.raddr.port == port and conn.status == psutil.CONN_ESTABLISHED:
                found.add(conn.laddr.port)
    return found


def _backends(target: Target) -> set[int]:
    """The client ports of the PostgreSQL sessions on ``target``'s database, other than this one."""
    with target.spec.connection(target, target.database) as conn:
        cur = conn.cursor()
        cur.execute(  # client backends: an autovacuum worker visiting the database is no session of the site's
            "SELECT client_port FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
        return {row[0] for row in cur.fetchall()}


def _listener(port: int) -> psutil.Process:
    """The process of this user listening on ``port``."""
    for proc in psutil.process_iter():
        try:
            if any(c.laddr.port == port and c.status == psutil.CONN_LISTEN for c in proc.net_connections("tcp")):
                return proc
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            continue
    raise AssertionError(f"nobody listens on port {port}")


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_each_variant_starts_serves_and_stops(name: str, sites: list[Target], tmp_path: Path) -> None:
    variant: Variant = next(v for v in variants_for(sites, CONFIG) if v.name == name)
    target = variant.target
    with variant.serving() as front:
        url, server = start_site(front, variant, CONFIG, tmp_path)
        with processes.running([server]):
            site_port = int(url.rsplit(":", 1)[1])
            # gunicorn answers as soon as its first worker has booted; the others can be a moment behind.
            for _ in processes.deadline_loop(10.0):
                held = psutil.Process(server.pid).children()  # the workers
                if len(held) == CONFIG.workers:
                    break
            assert len(held) == CONFIG.workers
            for _ in range(3 * CONFIG.workers):  # each worker serves some: the catalog comes from the database
                assert _get(f"{url}/quizzes/")["quizzes"]
            sessions = _tcp_peers(held, target.port)  # the site's connections straight to the server, idle now
            if variant.service is not None:
                # Through the pooler: the site never reaches the server itself; the pooler's connections do.
                assert front.port != target.port and not sessions
                held.append(_listener(front.port))
                # (PgBouncer's own login check went to the "postgres" database: only the site's count here.)
                sessions = _tcp_peers(held[-1:], target.port) & _backends(target)
                assert 1 <= len(sessions) <= variant.service_options["pool_size"]
                assert _get(f"{url}/quizzes/")["quizzes"]  # and again, over the pooler's kept connection
            elif variant.pool is not None:
                # Each worker keeps its pool's connections open between requests: PostgreSQL sees them.
                assert 1 <= len(sessions) <= CONFIG.workers * variant.pool["max_size"]
                assert sessions <= _backends(target)
            elif variant.conn_max_age:
                assert 1 <= len(sessions) <= CONFIG.workers  # persistent: one per sync worker that served
            else:
                # Closed at the end of every request: Django closes it once the response is done, which can be
                # just after the client has read it, so the last one gets a moment.
                deadline = time.monotonic() + 5
                while sessions and time.monotonic() < deadline:
                    time.sleep(0.1)
                    sessions = _tcp_peers(held, target.port)
                assert not sessions
        assert not server.running()
    _, alive = psutil.wait_procs(held, timeout=10)
    assert alive == [] and _port_free(site_port)
    assert variant.service is None or _port_free(front.port)  # the pooler's port too
    if variant.pool is not None or variant.service is not None:  # PostgreSQL ends their sessions too
        for _ in processes.deadline_loop(5.0):
            if not sessions & _backends(target):
                break
        assert not sessions & _backends(target)


@pytest.mark.slow
def test_a_load_run_records_each_variant(sites: list[Target], tmp_path: Path) -> None:
    """Through the CLI: the pool and the pooler of the baseline, each a run with its variant's keys."""
    base = sites[0]
    out = tmp_path / "load.json"
    result = run_cli(
        "load", "--target", f"{base.name}={base.url}", "--attempts", "0", "--users", "2", "--duration", "2s",
        "--think", "0.2-0.5", "--workers", "2", "--variants", f"{base.name}-pool,{base.name}-pgbouncer",
        "--output", str(out),
        timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    runs = load_result(out, "load")[1]["data"]["runs"]
    assert [(r["variant"], r["change_kind"], r["conn_max_age"], r["service"]) for r in runs] == [
        (f"{base.name}-pool", SETTING, 0, None),
        (f"{base.name}-pgbouncer", SERVICE, 0, "pgbouncer"),
    ]
    assert runs[0]["pool"]["max_size"] == 1 and runs[1]["pool"] is None
    assert runs[1]["disable_server_side_cursors"] and "PgBouncer" in runs[1]["change"]
    assert runs[0]["service_options"] is None and runs[1]["service_options"] == {"pool_size": 2}
    assert runs[0]["label"] == f"{runs[0]['vendor']} {runs[0]['version']} ({base.name}), Django's pool"
    assert runs[1]["label"].endswith(f"({base.name}), via pgbouncer")
    for run in runs:
        assert run["status"] == "complete" and run["alias"] == base.name
        (step,) = run["steps"]
        assert step["requests"] >= 2 and step["failures"] == 0
    assert f"{base.name}-pool" in result.stdout and "`CONN_MAX_AGE = 0`" in result.stdout
    # The report ranks them as the cheaper changes they are, in the runs' own words.
    from dbbench.report import capacity

    found = capacity.options({"runs": runs}, runs[0]["vendor"])
    assert sorted((o.variant, o.kind, o.change) for o in found) == sorted(
        (r["variant"], r["change_kind"], r["change"]) for r in runs
    )
    assert {o.kind for o in found} == {"settings", "service"}
