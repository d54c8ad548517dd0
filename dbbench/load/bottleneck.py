"""Which tier gave out: the bottleneck of a load run, named from the figures of the step where the site stopped
serving its users (the first step past the knee; the largest step when there was none).

The rules, in order, so a reader can check them by hand:

1. Locust saturated its core: the load generator was the limit, the site was under-driven.
1b. The app server waited for a CPU (run queue, /proc/<pid>/task/*/schedstat) for at least half the time
   requests spent inside Django (``STARVED``; without Server-Timing, as long as it ran): the CPUs it may use were
   busy; with this test's own work (the tier using most of its CPU is named) or, when other processes used more
   of the machine than the test's tiers, with those (the app server is named, and told to measure again on a
   quiet machine). Every other figure is then stretched. (The
   database server's own wait is told in rule 2: a server given by URL may serve other clients too.)
2. SQL took most of the time requests spent inside Django (Server-Timing, ``SQL_SHARE``): the database. Its CPU
   says whether it computed (CPU near its limit) or waited (locks, I/O, slow statements).
3. The app server used most of the CPU it may use (``SATURATED``): the app server, CPU-bound.
4. The machine's CPUs were busy (``SATURATED`` of all of them): the tier that used most of them.
5. Requests took much longer at the client than inside Django (``QUEUED``): they waited for a free app worker;
   the app server's worker count is the limit although its CPU was not.
6. Otherwise no tier was saturated (the limit is outside what dbbench measures, e.g. the network).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

SATURATED = 80.0  # % of the CPUs a tier may use
SQL_SHARE = 0.5  # of the time inside Django
QUEUED = 2.0  # client p95 over Django's own p95: requests waited in the app server's queue
STARVED = 1.0  # run-queue wait over CPU time used, for the tiers under test together
STARVED_MIN = 20.0  # % of one core: less waiting than this is scheduling noise

APP, DATABASE, POOLER, LOCUST, MACHINE = "app", "database", "pooler", "locust", "machine"
# How a report names the tier that gave out (None: none was saturated).
NAMES = {
    APP: "the app server",
    DATABASE: "the database server",
    POOLER: "the pooler (PgBouncer)",
    LOCUST: "the load generator (Locust)",
    MACHINE: "other work on the machine",
}


def limit_name(tier: str | None) -> str:
    """``the database server``...: the limiting tier in words."""
    return NAMES.get(tier or "", "no tier measured saturated")


def deciding_step(steps: Sequence[Mapping[str, Any]], knee: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The step the bottleneck is read at: the first one past the knee, else the largest measured."""
    if not steps:
        return None
    missed = (knee or {}).get("missed_at")
    at = [s for s in steps if missed is not None and int(s["users"]) == int(missed)]
    return at[-1] if at else max(steps, key=lambda s: int(s["users"]))


def _cpu(tiers: Mapping[str, Any], key: str) -> float | None:
    figures = tiers.get(key) or {}
    return None if figures.get("unknown") else figures.get("cpu_percent")


def _ms(value: float) -> str:
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def name(step: Mapping[str, Any], database: str = "the database") -> dict[str, Any]:
    """``{"tier", "users", "sentence", "figures"}`` for one step (``tier`` None: nothing saturated or not
    measured). ``database`` is how the sentence names the server (``PostgreSQL``)."""
    tiers = step.get("tiers") or {}
    timing = step.get("timing") or {}
    app, db = _cpu(tiers, APP), _cpu(tiers, DATABASE)
    figures = {
        "app_cpu_percent": app,
        "database_cpu_percent": db,
        "pooler_cpu_percent": _cpu(tiers, POOLER),
        "locust_cpu_percent": step.get("locust_cpu_percent"),
        "sql_share_of_app": timing.get("sql_share_of_app"),
        "sql_p95_ms": timing.get("sql_p95_ms"),
        "app_p95_ms": timing.get("app_p95_ms"),
        "request_p95_ms": timing.get("request_p95_ms") or step.get("p95_ms"),
        "machine_busy_percent": (step.get("machine") or {}).get("cpu_busy_percent"),
    }
    cpu_text = _cpu_text(app, db, database)
    sql_text = ""
    if timing.get("sql_p95_ms") is not None and figures["request_p95_ms"]:
        sql_text = f"SQL was {_ms(timing['sql_p95_ms'])} of a {_ms(figures['request_p95_ms'])} p95"
    tier, why = _decide(step, figures, database)
    sentence = "; ".join(part for part in (cpu_text, sql_text) if part)
    return {"tier": tier, "users": step.get("users"), "sentence": f"{sentence}: {why}" if sentence else why, **figures}


def _cpu_text(app: float | None, db: float | None, database: str) -> str:
    parts = []
    parts.append(f"the app server used {app:.0f}% of its CPU" if app is not None else "the app server's CPU unknown")
    if db is not None:
        parts.append(f"{database} {db:.0f}% of its own")
    else:
        parts.append(f"{database}'s CPU unknown")
    return ", ".join(parts)


def _decide(step: Mapping[str, Any], f: Mapping[str, Any], database: str) -> tuple[str | None, str]:
    if step.get("locust_saturated"):
        return LOCUST, "the load generator (Locust) saturated its core: the site was under-driven"
    starved = _starved(step)
    if starved is not None:
        return starved
    share, app, db = f["sql_share_of_app"], f["app_cpu_percent"], f["database_cpu_percent"]
    if share is not None and share >= SQL_SHARE:
        figures = (step.get("tiers") or {}).get(DATABASE) or {}
        db_wait, db_ran = float(figures.get("cpu_wait_percent") or 0), float(figures.get("cpu_core_percent") or 0)
        if db is not None and db >= SATURATED:
            how = "its CPU was the limit"
        elif db_wait >= STARVED_MIN and db_wait >= STARVED * db_ran:
            how = f"it was waiting for a CPU ({db_wait:.0f}% of a core's time, running {db_ran:.0f}%)"
        else:
            how = "it was waiting, not computing (locks, I/O or slow statements)"
        return DATABASE, f"requests spent {100 * share:.0f}% of their time in the app server waiting for SQL; {how}"
    if app is not None and app >= SATURATED:
        return APP, "the app server's CPU was the limit: requests waited for a free app worker"
    busy = f["machine_busy_percent"]
    check = step.get("cpu_accounting") or {}
    others = float(check.get("other_core_s") or 0.0)
    if busy is not None and busy >= SATURATED and others > sum((check.get("tiers_core_s") or {}).values()):
        share = 100 * others / float(check.get("total_core_s") or 1.0)
        return MACHINE, (
            f"the machine's CPUs were {busy:.0f}% busy, {share:.0f}% of them with other processes than this test's: "
            "the site got what was left (measure again on a quiet machine)"
        )
    if busy is not None and busy >= SATURATED:
        tiers = step.get("tiers") or {}
        used = {k: (t.get("cpu_core_percent") or 0) for k, t in tiers.items() if not t.get("unknown")}
        top = max(used, key=lambda k: used[k]) if used else None
        label = (tiers.get(top) or {}).get("label", "other processes") if top else "other processes"
        return MACHINE if top is None else top, f"the machine's CPUs were {busy:.0f}% busy, most of it {label}"
    request, inside = f["request_p95_ms"], f["app_p95_ms"]
    if request and inside and request >= QUEUED * inside:
        return APP, "requests waited for a free app worker (the worker count, not the CPU, was the limit)"
    if app is None and db is None:
        return None, "the tiers were not measured"
    return None, "no tier was saturated"


def _starved(step: Mapping[str, Any]) -> tuple[str, str] | None:
    """The app server waited for a CPU for much of the time requests spent in it: whose CPU it was (this test's
    own work, or other processes')."""
    tiers = {
        k: t for k, t in (step.get("tiers") or {}).items() if k in (APP, DATABASE, POOLER) and not t.get("unknown")
    }
    app = tiers.get(APP)
    if app is None:
        return None
    # The app server's own wait: it serves this test alone, while a database server given by URL may be serving
    # other clients too (its wait stretches SQL time, and the database rule speaks of it).
    ran = float(app.get("cpu_core_percent") or 0)
    waited = float(app.get("cpu_wait_percent") or 0)
    timing = step.get("timing") or {}
    # Request time inside Django per second, in % of a core: what the waiting is weighed against.
    inside = float(step.get("rps") or 0) * float(timing.get("app_mean_ms") or 0) / 10.0
    if waited < STARVED_MIN or waited < STARVED * (inside / 2 if inside else ran):
        return None
    text = f"the app server waited for a CPU {waited:.0f}% of a core's time while running {ran:.0f}%"
    check = step.get("cpu_accounting") or {}
    others = float(check.get("other_core_s") or 0)
    total = float(check.get("total_core_s") or 0)
    if not check or others <= sum((check.get("tiers_core_s") or {}).values()):
        own = max(tiers, key=lambda k: float(tiers[k].get("cpu_percent") or 0))
        return own, f"{text}: its CPUs were busy with this test's own work, most of it {tiers[own]['label']}"
    # Still the app server's CPU that limited (it is the tier that waited), but the figures describe the machine's
    # other jobs as much as the site.
    return APP, (
        f"{text}: its CPUs were busy with other processes than this test's ({100 * others / total:.0f}% of the "
        "machine's CPU time): measure again on a quiet machine"
    )


def utilization(step: Mapping[str, Any], site_cpus: float | None, slots: int) -> dict[str, float]:
    """How near a step was to the site's capacity, as shares (1: fully used) the knee search grows by.

    ``cpu``: the busiest of the app server's and the database server's (and pooler's) shares of the CPUs each may
    use, and of their use together of the ``site_cpus`` they share (the CPUs of the box, or those both may run
    on). ``workers``: the app server's ``slots`` (workers x threads) busy with a request, requests/s x the mean
    time inside Django (from Server-Timing; a sync worker waiting for SQL or for a CPU is busy too). Left out when
    not measured (``--measure off``).
    """
    tiers = [t for k, t in (step.get("tiers") or {}).items() if k in (APP, DATABASE, POOLER) and not t.get("unknown")]
    found: dict[str, float] = {}
    shares = [float(t["cpu_percent"]) / 100 for t in tiers if t.get("cpu_percent") is not None]
    if site_cpus:
        shares.append(sum(float(t.get("cpu_core_percent") or 0) for t in tiers) / 100 / site_cpus)
    if tiers and shares:
        found["cpu"] = round(max(shares), 3)
    app_mean = (step.get("timing") or {}).get("app_mean_ms")
    if app_mean is not None and slots > 0:
        found["workers"] = round(float(step.get("rps") or 0) * float(app_mean) / 1000 / slots, 3)
    return found


def for_run(run: Mapping[str, Any]) -> dict[str, Any] | None:
    """The bottleneck of one load run (its knee, or its largest step)."""
    knee = run.get("knee") or {}
    step = deciding_step(run.get("steps") or [], knee)
    if step is None:
        return None
    found = name(step, str(run.get("vendor") or "the database"))
    # No step past the limits: nothing gave out yet, the figures say which tier was nearest to it.
    found["gave_out"] = bool(knee.get("reached")) and knee.get("missed_at") is not None
    limit_at = knee.get("generator_limit_at")
    if limit_at is not None and not found["gave_out"]:  # the search stopped there: that is the limit found
        found["tier"] = LOCUST
        found["sentence"] = (
            f"the load generator (Locust) was the limit: it saturated its CPUs at {limit_at} users before the site "
            f"reached its limits, so its capacity is further; {found['sentence']}"
        )
    elif not found["gave_out"]:
        found["sentence"] = (
            f"still within the limits (nearest to its limit: {found['tier'] or 'none'}); {found['sentence']}"
        )
    return found


# What helps instead, by bottleneck: the gunicorn setting each needs (the report quotes these).
HELPS = {
    APP: "more app capacity: gunicorn `--workers` (processes; each needs its own memory) or `--threads` with "
    "`--worker-class gthread` (each thread waiting on SQL frees the CPU for another), or more CPUs for the app "
    "server (`dbbench load --variants <baseline>-cma60-w<2 x workers>,<baseline>-cma60-t4` measures the first two); "
    "a faster database does not help here",
    DATABASE: "the database: faster statements (indexes, fewer queries per request), persistent connections "
    "(`CONN_MAX_AGE`) or pooling, or more CPU for the server",
    LOCUST: "more load generators (`--locust-workers`) before reading the site's capacity",
    MACHINE: "a measurement on a quiet machine: other processes took the CPUs, so no tier of the site was measured "
    "at its own limit",
}
