"""What ``dbbench load`` compares: named configurations ("variants") of the quiz site and its database.

A variant is one target plus what a team would change to run on it: Django settings (CONN_MAX_AGE, Django's own
connection pool), a service started in front of the server (PgBouncer), or the migration itself. Each says in a
user's words what adopting it takes, so the report can set "what a setting buys" beside "what migrating buys".
Which variants a target has comes from its backend spec (``django_pool``, ``pooler``), not from its vendor.

Names are stable ids, written into the results and taken by ``--variants``: ``<target>-cma<N>`` for plain
CONN_MAX_AGE N, ``<target>-pool`` for Django's pool, ``<target>-<pooler>`` (``postgres-pgbouncer``) for a pooler,
and for the baseline ``<target>-cma<N>-w<W>`` (twice the gunicorn workers) and ``<target>-cma<N>-t<T>``
(``T`` threads per worker): what helps when the app server, not the database, is the limit. Those two run only
when named: the default set stays the same size.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from dbbench.backends.targets import Target, baseline
from dbbench.errors import ConfigError, DbbenchError, mask_secrets
from dbbench.load.config import LoadConfig

# What adopting a variant takes, from least to most work (the report's words: dbbench.report.capacity).
NONE = "as is"  # the baseline as it runs today
SETTING = "settings"  # a line in settings.py
SERVICE = "service"  # a process to deploy and run beside the database
MIGRATION = "migration"  # moving the data to another server
CHANGE_KINDS = (NONE, SETTING, SERVICE, MIGRATION)

# Each gunicorn worker process holds a pool of its own. A sync worker serves one request at a time and needs one
# connection; a gthread worker needs at most one per thread, capped so that 64 workers stay under PostgreSQL's
# usual max_connections (64 x 4 = 256 < 300). The pool never holds more than CONN_MAX_AGE > 0 would.
POOL_MAX_PER_WORKER = 4
# A request waiting this long for a free pooled connection fails with PoolTimeout (logged, a 500) before
# gunicorn's own 30 s worker timeout kills the worker without a word.
POOL_TIMEOUT_S = 10.0

ENV_CONN_MAX_AGE = "DBBENCH_CONN_MAX_AGE"
ENV_DB_POOL = "DBBENCH_DB_POOL"
ENV_DISABLE_SERVER_SIDE_CURSORS = "DBBENCH_DISABLE_SERVER_SIDE_CURSORS"


class ServiceFailed(DbbenchError):
    """A variant's service did not start: that variant's run fails, and the others go on."""


@dataclass(frozen=True)
class Variant:
    """One configuration the load test runs: a target, the Django settings it changes, the service it needs."""

    name: str  # stable id in results and --variants: postgres-cma60, postgres-pool, postgres-pgbouncer, mysql-cma0
    target: Target  # the database it serves (a pooler sits in front of this one)
    conn_max_age: int  # Django's CONN_MAX_AGE (0 with a pool: Django refuses both at once)
    change_kind: str  # one of CHANGE_KINDS
    change: str  # what adopting it takes, in a user's words, quoting the settings lines
    pool: dict[str, Any] | None = None  # DATABASES OPTIONS "pool": psycopg_pool.ConnectionPool arguments, per worker
    service: str | None = None  # a key of SERVICES started in front of the target, e.g. "pgbouncer"
    service_options: dict[str, Any] | None = None  # the service's own settings, e.g. {"pool_size": 5}
    disable_server_side_cursors: bool = False  # Django's DISABLE_SERVER_SIDE_CURSORS, needed by transaction pooling
    workers: int | None = None  # gunicorn --workers instead of the load test's (None: the load test's)
    threads: int | None = None  # gunicorn --threads (with the gthread worker) instead of the load test's

    def gunicorn(self, config: LoadConfig) -> tuple[int, int]:
        """The app server's ``(workers, threads)`` for this variant."""
        return self.workers or config.workers, self.threads or config.threads

    @property
    def setting(self) -> str:
        """The connection handling in a few words: ``CONN_MAX_AGE=60``, ``Django's pool``, ``via pgbouncer``."""
        if self.pool is not None:
            return "Django's pool"
        if self.service is not None:
            return f"via {self.service}"
        return f"CONN_MAX_AGE={self.conn_max_age}"

    def label(self, vendor: str, version: str) -> str:
        """``PostgreSQL 15.20 (postgres), Django's pool``: the report's name for the configuration."""
        return f"{vendor} {version} ({self.target.name}), {self.setting}"

    def env(self) -> dict[str, str]:
        """The site's environment for these settings (read by dbbench.settings.base)."""
        env = {ENV_CONN_MAX_AGE: str(self.conn_max_age)}
        if self.pool is not None:
            env[ENV_DB_POOL] = json.dumps(self.pool, sort_keys=True)
        if self.disable_server_side_cursors:
            env[ENV_DISABLE_SERVER_SIDE_CURSORS] = "1"
        return env

    def serving(self) -> AbstractContextManager[Target]:
        """The target the site connects to, with this variant's service running in front of it meanwhile."""
        if self.service is None:
            return _as_is(self.target)
        return _started(self.service, self.target, self.service_options or {})

    def as_dict(self) -> dict[str, Any]:
        """The keys a load result's run carries about its variant."""
        return {
            "variant": self.name,
            "change_kind": self.change_kind,
            "change": self.change,
            "conn_max_age": self.conn_max_age,
            "pool": self.pool,
            "service": self.service,
            "service_options": self.service_options,
            "disable_server_side_cursors": self.disable_server_side_cursors,
            "workers": self.workers,
            "threads": self.threads,
        }


@contextmanager
def _as_is(target: Target) -> Iterator[Target]:
    yield target


@contextmanager
def _started(service: str, target: Target, options: Mapping[str, Any]) -> Iterator[Target]:
    with ExitStack() as stack:
        try:
            front = stack.enter_context(SERVICES[service](target, options))
        except (DbbenchError, OSError) as exc:  # not installed, no free port, refused to start...
            raise ServiceFailed(mask_secrets(f"{service} for {target.name}: {exc}", [target])) from None
        yield front


def _pgbouncer(target: Target, options: Mapping[str, Any]) -> AbstractContextManager[Target]:
    """PgBouncer in transaction pooling mode on a free loopback port, in front of ``target`` (same name)."""
    from dbbench.servers import pgbouncer  # a server module; imported only when the variant runs

    return pgbouncer.pgbouncer(target, pool_size=int(options["pool_size"]))


# The poolers a spec's ``pooler`` may name: started in front of a target for the length of one variant's sweep.
SERVICES: dict[str, Callable[[Target, Mapping[str, Any]], AbstractContextManager[Target]]] = {"pgbouncer": _pgbouncer}
# What deploying each takes, in a user's words ({pool_size}: service_options()).
SERVICE_CHANGES = {
    "pgbouncer": "run PgBouncer in front of PostgreSQL (`pool_mode = transaction`, `default_pool_size = {pool_size}`),"
    " point HOST/PORT at it and set `DISABLE_SERVER_SIDE_CURSORS = True`",
}


def pool_options(config: LoadConfig) -> dict[str, Any]:
    """Django's pool for one gunicorn worker: as many connections as it serves requests at once (capped), all
    opened up front so the first requests do not pay for connecting."""
    size = min(config.threads, POOL_MAX_PER_WORKER)
    return {"min_size": size, "max_size": size, "timeout": POOL_TIMEOUT_S}


def service_options(config: LoadConfig) -> dict[str, Any]:
    """A pooler holds as many server connections as Django's pools of all workers together: the two poolings
    compare at the same number of PostgreSQL sessions (and the site never waits for one with sync workers)."""
    return {"pool_size": config.workers * pool_options(config)["max_size"]}


def all_variants(targets: Sequence[Target], config: LoadConfig) -> list[Variant]:
    """Every variant ``--variants`` may name: each target at each of ``config.conn_max_ages``, and each target's
    pool and pooler where its spec has them. Ordered CONN_MAX_AGE outermost, so that the runs of one setting are
    close in time (same background noise); the pooled variants (CONN_MAX_AGE 0) join the 0 group."""
    if not targets:
        return []
    base = baseline(list(targets))
    pooled = [v for t in targets for v in _pooled(t, base, config)]
    found: list[Variant] = []
    for conn_max_age in config.conn_max_ages:
        found += [_plain(t, base, conn_max_age) for t in targets]
        found += _app_server(_plain(base, base, conn_max_age), config)
        if conn_max_age == 0:
            found += pooled
    if 0 not in config.conn_max_ages:
        found += pooled
    return found


def variants_for(targets: Sequence[Target], config: LoadConfig) -> list[Variant]:
    """The variants a load test runs: ``config.variants`` by name, else the default set (every target at every
    CONN_MAX_AGE, the others at ``config.candidate_conn_max_ages`` where set, plus the baseline's pool and pooler:
    what the team could adopt instead of migrating)."""
    every = all_variants(targets, config)
    if config.variants is None:
        base = baseline(list(targets)) if targets else None
        ages = config.candidate_conn_max_ages
        return [
            v
            for v in every
            if v.workers is None
            and v.threads is None
            and (
                (base and v.target.name == base.name)
                or (v.pool is None and v.service is None and (ages is None or v.conn_max_age in ages))
            )
        ]
    by_name = {v.name: v for v in every}
    unknown = [name for name in config.variants if name not in by_name]
    if unknown:
        raise ConfigError(
            f"--variants: unknown variant {unknown[0]!r} (known here: {', '.join(by_name)}; "
            "CONN_MAX_AGE values come from --conn-max-age)"
        )
    wanted = set(config.variants)
    return [v for v in every if v.name in wanted]  # in the catalogue's order, whatever order they were given


def _migration(target: Target, base: Target) -> str | None:
    if target.name == base.name:
        return None
    if target.family == base.family:
        return f"move the data to {target.name} (another {target.family} server)"
    # The label beside it names the server measured (e.g. MariaDB 10.11): the change is the engine and the data.
    return f'the migration: `ENGINE = "{target.spec.engine}"` and the data moved'


def _plain(target: Target, base: Target, conn_max_age: int) -> Variant:
    setting = f"`CONN_MAX_AGE = {conn_max_age}`"
    migration = _migration(target, base)
    if migration:
        kind, change = MIGRATION, f"{migration}, with {setting}"
    elif conn_max_age == 0:
        kind, change = NONE, f"none: Django's default, {setting}"
    else:
        kind, change = SETTING, setting
    return Variant(f"{target.name}-cma{conn_max_age}", target, conn_max_age, change_kind=kind, change=change)


APP_THREADS = 4  # gthread: four requests at once per worker, each waiting on SQL frees the CPU for another


def _app_server(plain: Variant, config: LoadConfig) -> list[Variant]:
    """More app server for a plain baseline variant: twice the workers, or threads per worker."""
    setting = f"`CONN_MAX_AGE = {plain.conn_max_age}`"
    workers = 2 * config.workers
    return [
        Variant(
            f"{plain.name}-w{workers}",
            plain.target,
            plain.conn_max_age,
            change_kind=SETTING,
            change=f"gunicorn `--workers {workers}` (twice {config.workers}; each worker is a process with its own "
            f"memory), with {setting}",
            workers=workers,
        ),
        Variant(
            f"{plain.name}-t{APP_THREADS}",
            plain.target,
            plain.conn_max_age,
            change_kind=SETTING,
            change=f"gunicorn `--worker-class gthread --threads {APP_THREADS}` ({config.workers} workers), with "
            f"{setting} (a connection per thread)",
            threads=APP_THREADS,
        ),
    ]


def _pooled(target: Target, base: Target, config: LoadConfig) -> list[Variant]:
    """The target's pool and pooler variants, where its spec offers them (CONN_MAX_AGE 0 in both)."""
    migration = _migration(target, base)
    found: list[Variant] = []
    if target.spec.django_pool:
        pool = pool_options(config)
        setting = f'`"OPTIONS": {{"pool": {json.dumps(pool)}}}` (with `CONN_MAX_AGE = 0`)'
        found.append(
            Variant(
                name=f"{target.name}-pool",
                target=target,
                conn_max_age=0,
                pool=pool,
                change_kind=MIGRATION if migration else SETTING,
                change=f"{migration}, with {setting}" if migration else setting,
            )
        )
    if target.spec.pooler in SERVICES:
        service = target.spec.pooler
        options = service_options(config)
        text = SERVICE_CHANGES[service].format(**options)
        found.append(
            Variant(
                name=f"{target.name}-{service}",
                target=target,
                # Django connects to the pooler per request (cheap, loopback); the pooler keeps the server's.
                conn_max_age=0,
                service=service,
                service_options=options,
                disable_server_side_cursors=True,
                change_kind=MIGRATION if migration else SERVICE,
                change=f"{migration}, and {text}" if migration else text,
            )
        )
    return found
