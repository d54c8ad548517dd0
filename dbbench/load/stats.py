"""Pure figures of a load test: Locust's raw output -> one step's figures, the knee, tables and curves.

Locust records each response time rounded to two significant digits above 100 ms (e.g. 1,234 ms -> 1,200 ms),
so percentiles here are exact over those rounded values: good to ~5%, plenty to find where a site gives out.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

DEFAULT_P95_THRESHOLD_MS = 1000.0
DEFAULT_MAX_FAILURE_RATE = 0.01  # a step that fails more than 1% of requests does not "serve" its users
TOP_ERRORS = 5


@dataclass(frozen=True)
class Endpoint:
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True)
class StepFigures:
    """One user count held for a fixed time, ramp-up excluded."""

    users: int
    requests: int
    failures: int
    seconds: float  # the measured window: end of ramp-up to stop
    rps: float  # completed requests (successes and failures) per second of the window
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)  # the most frequent: {"endpoint", "error", "count"}
    locust_workers: int = 0  # workers connected to the Locust master (0: one Locust process)
    tool_errors: int = 0  # tracebacks in Locust's own log: the load generator misbehaved, not the site
    failure_kinds: dict[str, int] = field(default_factory=dict)  # FAILURE_KINDS -> failed requests
    server_error: str | None = None  # the site's own explanation of its errors (its log), when it gave one
    locust_cpu_percent: float | None = None  # the busiest load-generating Locust process, % of one core (window)
    locust_saturated: bool = False  # that process was at its core's limit (or Locust warned): it under-drove
    locust_note: str | None = None  # what dbbench did about it, e.g. "locust saturated ...: 2 workers used"
    started_at: float | None = None  # the measured window, wall-clock (time.time()): the tiers' figures use it
    stopped_at: float | None = None
    # Server-Timing (load/timing.py): sql_/app_/request_ p50, p95 and mean in ms, sql_share, timed_requests.
    timing: dict[str, Any] = field(default_factory=dict)

    @property
    def site_errors(self) -> int:
        """Failures that are the site's fault whatever the load: answers 5xx, or connections refused or reset.
        A timeout is what an overloaded but working site gives; the knee is where those start."""
        return self.failure_kinds.get("http_5xx", 0) + self.failure_kinds.get("connection", 0)

    @property
    def failure_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failure_rate"] = self.failure_rate
        return data


# An adaptive search's state (Knee.search): running, or why it stopped. None: a fixed list of user counts (or a
# file from before the search).
SEARCH_RUNNING = "running"
SEARCH_KNEE = "knee"  # the first step over the limits is within the resolution of the last one under them
SEARCH_BUDGET = "budget"  # the time budget could not hold another step
SEARCH_MAX_USERS = "max_users"  # the largest user count allowed was served within the limits
SEARCH_LOCUST = "locust"  # the load generator saturated before the site reached its limits
SEARCH_FAILED = "failed"  # the run broke (the site died, its errors passed the limit)
SEARCH_INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Knee:
    """The most users served with p95 under the threshold (and few failures) before the first step that is not.

    ``users`` is None when even the smallest step missed; ``reached`` is False when no step missed (the knee lies
    beyond the largest step measured). ``missed_at`` is the first step that missed and ``reason`` why: ``failures``
    (over ``max_failure_rate``, at ``value``), ``p95`` (over ``threshold_ms``, at ``value`` ms) or ``no requests``.
    ``rps`` is the requests/s served at ``users``. An adaptive search also records its state (``search``: running,
    or why it stopped, ``SEARCH_*``), its ``max_users``, ``resolution``, ``budget_s`` and the seconds it
    ``spent_s``; these are None for a fixed list of user counts. ``generator_limit_at``: the users at which the
    load generator saturated (the search stopped there; that step is not counted).
    """

    users: int | None
    reached: bool
    threshold_ms: float
    max_failure_rate: float
    missed_at: int | None = None  # None in files written before it was recorded
    reason: str | None = None
    value: float | None = None
    rps: float | None = None
    search: str | None = None
    max_users: int | None = None
    resolution: float | None = None
    budget_s: float | None = None
    spent_s: float | None = None
    generator_limit_at: int | None = None  # the step at which Locust saturated and the search stopped

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Knee:
        """From :meth:`as_dict` of this or another version (keys it does not know are left out)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def why(self) -> str:
        """Why the step at ``missed_at`` did not serve its users, e.g. ``failures 28.0% over the 1% limit``."""
        if self.reason == "failures":
            return f"failures {100 * (self.value or 0):.1f}% over the {100 * self.max_failure_rate:g}% limit"
        if self.reason == "p95":
            return f"p95 {self.value or 0:.0f} ms over {self.threshold_ms:g} ms"
        if self.reason == "no requests":
            return "no request completed"
        return f"p95 over {self.threshold_ms:g} ms or failures over {100 * self.max_failure_rate:g}%"

    def describe(self) -> str:
        at = f" at {self.missed_at} users" if self.missed_at is not None else ""
        rps = f", {self.rps:.1f} req/s" if self.rps else ""
        if self.search == SEARCH_MAX_USERS:
            return f"no knee up to {self.max_users or self.users} users (served within the limits{rps})"
        if self.users is None and self.reached:
            if self.search is None:
                text = f"below the smallest step ({self.why()}{at})"
            else:  # the search looked down to a handful of users
                text = f"below {self.missed_at} users ({self.why()})"
        elif not self.reached:
            unknown = "unknown" if self.search == SEARCH_LOCUST else "no step measured"
            text = f">= {self.users} users (not reached{rps})" if self.users is not None else unknown
        else:
            text = f"{self.users} users{rps} ({self.why()}{at})" if self.reason else f"{self.users} users{rps}"
        return text + self._search_note()

    def _search_note(self) -> str:
        """What cut an adaptive search short (nothing for a fixed list or a search that narrowed the knee)."""
        if self.search == SEARCH_BUDGET:
            spent = f"{self.spent_s:.0f} s of " if self.spent_s is not None else ""
            short = "it narrowed the knee down further" if self.reached else "a step passed the limits"
            return f" [the search's budget ({spent}{self.budget_s or 0:.0f} s) ran out before {short}]"
        if self.search == SEARCH_LOCUST:
            return (
                f" [the load generator (Locust) was the limit: it saturated its CPUs at {self.generator_limit_at} "
                "users before the site reached its limits]"
            )
        if self.search in (SEARCH_FAILED, SEARCH_INTERRUPTED):
            return f" [the search {self.search}]"
        return ""


def miss(step: Mapping[str, Any], threshold_ms: float, max_failure_rate: float) -> tuple[str, float | None] | None:
    """Why a step did not serve its users (``(reason, value)``, as in :class:`Knee`), or None when it did."""
    # Failures first: requests that fail fast make p95 look good (33 ms while half the requests got a 500).
    if int(step["requests"]) <= 0:
        return "no requests", None
    if float(step["failure_rate"]) > max_failure_rate:
        return "failures", float(step["failure_rate"])
    if float(step["p95_ms"]) > threshold_ms:
        return "p95", float(step["p95_ms"])
    return None


class TimingHistograms:
    """Server-Timing of many responses: histograms (two significant digits, like Locust's) of the SQL time
    (``db``), the time inside Django (``app``) and the whole request as the client saw it (``total``), in ms."""

    KINDS = ("db", "app", "total")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.sums = dict.fromkeys(self.KINDS, 0.0)
        self.histograms: dict[str, dict[str, int]] = {k: {} for k in self.KINDS}

    def add(self, header: str, total_ms: float) -> None:
        values = parse_server_timing(header)
        if "db" not in values or "app" not in values:
            return
        values["total"] = total_ms
        self.count += 1
        for kind in self.KINDS:
            self.sums[kind] += values[kind]
            key = bucket(values[kind])
            self.histograms[kind][key] = self.histograms[kind].get(key, 0) + 1

    def merge(self, data: Mapping[str, Any]) -> None:
        self.count += int(data.get("count") or 0)
        for kind in self.KINDS:
            self.sums[kind] += float((data.get("sums") or {}).get(kind) or 0.0)
            mine = self.histograms[kind]
            for key, n in ((data.get("histograms") or {}).get(kind) or {}).items():
                mine[key] = mine.get(key, 0) + int(n)

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "sums": dict(self.sums),
            "histograms": {k: dict(v) for k, v in self.histograms.items()},
        }


def parse_server_timing(header: str | None) -> dict[str, float]:
    """``"db;dur=2.1, app;dur=6.9"`` -> ``{"db": 2.1, "app": 6.9}`` (metrics without a duration are left out)."""
    found: dict[str, float] = {}
    for metric in (header or "").split(","):
        name, *params = (part.strip() for part in metric.split(";"))
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "dur" and name:
                with contextlib.suppress(ValueError):
                    found[name] = float(value.strip().strip('"'))
    return found


def bucket(ms: float) -> str:
    """A duration rounded to two significant digits, as a JSON key: 0.347 -> ``"0.35"``, 1234 -> ``"1.2e+03"``."""
    return f"{max(ms, 0.0):.2g}"


def timing_figures(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """p50/p95 of SQL time, of the time inside Django and of the whole request, and SQL's share, from
    :class:`TimingHistograms`. Empty when no response carried Server-Timing (measuring off)."""
    if not data or not data.get("count"):
        return {}
    histograms = {
        k: {float(b): int(n) for b, n in (data["histograms"].get(k) or {}).items()} for k in TimingHistograms.KINDS
    }
    sums = data.get("sums") or {}
    out: dict[str, Any] = {"timed_requests": int(data["count"])}
    for kind, name in (("db", "sql"), ("app", "app"), ("total", "request")):
        out[f"{name}_p50_ms"] = round(percentile(histograms[kind], 0.50), 3)
        out[f"{name}_p95_ms"] = round(percentile(histograms[kind], 0.95), 3)
        out[f"{name}_mean_ms"] = round(float(sums.get(kind) or 0.0) / data["count"], 3)
    total = float(sums.get("total") or 0.0)
    app = float(sums.get("app") or 0.0)
    out["sql_share"] = round(float(sums.get("db") or 0.0) / total, 4) if total > 0 else None  # of the whole request
    out["sql_share_of_app"] = round(float(sums.get("db") or 0.0) / app, 4) if app > 0 else None
    return out


def percentile(histogram: Mapping[Any, int], fraction: float) -> float:
    """Nearest-rank percentile of a ``{response_ms: count}`` histogram (0 for an empty one)."""
    total = sum(histogram.values())
    if total <= 0:
        return 0.0
    rank = max(1, math.ceil(fraction * total - 1e-9))  # the epsilon keeps 0.95 * 100 at 95, not 96
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return float(value)
    return float(max(histogram))


def merge_histograms(histograms: Iterable[Mapping[Any, int]]) -> dict[int, int]:
    """Add histograms; JSON turns Locust's integer keys into strings, so keys are parsed back."""
    merged: dict[int, int] = {}
    for histogram in histograms:
        for key, count in histogram.items():
            merged[int(float(key))] = merged.get(int(float(key)), 0) + int(count)
    return merged


def step_figures(locust: Mapping[str, Any], users: int) -> StepFigures:
    """Figures for one step from the JSON the locustfile writes (``--dbbench-output``)."""
    entries = list(locust.get("entries") or [])
    histogram = merge_histograms(e.get("response_times") or {} for e in entries)
    requests = sum(int(e.get("num_requests") or 0) for e in entries)
    failures = sum(int(e.get("num_failures") or 0) for e in entries)
    total_ms = sum(float(e.get("total_response_time") or 0) for e in entries)
    reset_at, stopped_at = locust.get("reset_at"), locust.get("stopped_at")
    seconds = float(stopped_at) - float(reset_at) if reset_at and stopped_at else 0.0
    endpoints = {}
    for e in sorted(entries, key=lambda e: str(e.get("name"))):
        h = merge_histograms([e.get("response_times") or {}])
        name = f"{e.get('method', '')} {e.get('name', '')}".strip()
        endpoints[name] = Endpoint(
            int(e.get("num_requests") or 0), int(e.get("num_failures") or 0), percentile(h, 0.5), percentile(h, 0.95)
        )
    errors: list[dict[str, Any]] = [
        {
            "endpoint": f"{e.get('method', '')} {e.get('name', '')}".strip(),
            "error": str(e.get("error")),
            "count": int(e.get("occurrences") or 0),
        }
        for e in locust.get("errors") or []
    ]
    errors = sorted(errors, key=lambda e: -e["count"])[:TOP_ERRORS]
    kinds = failure_kinds(locust.get("errors") or [])
    return StepFigures(
        users=users,
        requests=requests,
        failures=failures,
        seconds=round(seconds, 3),
        rps=requests / seconds if seconds > 0 else 0.0,
        p50_ms=percentile(histogram, 0.50),
        p95_ms=percentile(histogram, 0.95),
        p99_ms=percentile(histogram, 0.99),
        mean_ms=total_ms / requests if requests else 0.0,
        max_ms=float(max(histogram)) if histogram else 0.0,
        endpoints=endpoints,
        errors=errors,
        locust_workers=int(locust.get("workers") or 0),
        failure_kinds=kinds,
        started_at=float(reset_at) if reset_at else None,
        stopped_at=float(stopped_at) if stopped_at else None,
        timing=timing_figures(locust.get("server_timing")),
    )


def knee(
    steps: Sequence[Mapping[str, Any]],
    *,
    threshold_ms: float = DEFAULT_P95_THRESHOLD_MS,
    max_failure_rate: float = DEFAULT_MAX_FAILURE_RATE,
) -> Knee:
    """Walk the steps by user count; the knee is the last one served well before the first one that is not.

    Conservative on purpose: a lucky larger step after a bad one does not move the knee up (that is noise).
    """
    served: Mapping[str, Any] | None = None
    for step in sorted(steps, key=lambda s: int(s["users"])):
        missed = miss(step, threshold_ms, max_failure_rate)
        if missed is not None:
            return Knee(
                _users(served), True, threshold_ms, max_failure_rate, int(step["users"]), *missed, rps=_rps(served)
            )
        served = step
    return Knee(_users(served), False, threshold_ms, max_failure_rate, rps=_rps(served))


def _users(step: Mapping[str, Any] | None) -> int | None:
    return None if step is None else int(step["users"])


def _rps(step: Mapping[str, Any] | None) -> float | None:
    return None if step is None or step.get("rps") is None else round(float(step["rps"]), 2)


FAILURE_KINDS = ("http_5xx", "http_4xx", "timeout", "connection", "other")
_STATUS = re.compile(r"(?:code=|\b)([45])\d\d\b(?! *ms)")


def failure_kind(error: str) -> str:
    """One of :data:`FAILURE_KINDS` for a Locust error text (``LocustBadStatusCode(code=500)``,
    ``ConnectionRefusedError(111, ...)``, ``Timeout``...)."""
    lowered = error.lower()
    if "timeout" in lowered or "timed out" in lowered:
        return "timeout"
    if "badstatuscode" in lowered or "httperror" in lowered or "status" in lowered:
        match = _STATUS.search(error)
        if match:
            return "http_5xx" if match.group(1) == "5" else "http_4xx"
    if any(word in lowered for word in ("connection", "refused", "reset", "disconnected", "broken pipe", "eof")):
        return "connection"
    return "other"


def failure_kinds(errors: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Failed requests per kind, from Locust's error table (``{"error", "occurrences"}`` entries)."""
    counts = dict.fromkeys(FAILURE_KINDS, 0)
    for error in errors:
        counts[failure_kind(str(error.get("error")))] += int(error.get("occurrences") or 0)
    return counts


def encode_ids(ids: Iterable[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3,7"``: seeded ids are mostly contiguous, so this stays short."""
    parts: list[str] = []
    run: list[int] = []
    for i in sorted(set(ids)):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [i]
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


def compact_ids(ids: Sequence[int], max_chars: int = 20_000) -> str:
    """:func:`encode_ids`, thinned to every k-th id when the ranges would be too long for a command line.

    Seeded ids are contiguous (``"1-5000"``); scattered ids (someone else's data) are sampled evenly instead of
    overflowing Linux's 128 KiB limit on one argument.
    """
    ordered = sorted(set(ids))
    step = 1
    while len(text := encode_ids(ordered[::step])) > max_chars:
        step *= 2
    return text


def parse_ids(text: str) -> tuple[int, ...]:
    """``"1-3,7"`` -> ``(1, 2, 3, 7)`` (the inverse of :func:`encode_ids`)."""
    ids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        ids.extend(range(int(low), int(high or low) + 1))
    return tuple(ids)


def run_label(run: Mapping[str, Any]) -> str:
    """``PostgreSQL 15.18, CONN_MAX_AGE=60`` (with the alias when the vendor alone is ambiguous)."""
    name = f"{run.get('vendor') or '?'} {run.get('version') or ''}".strip()
    # The variant (postgres-pool...) tells apart runs of one alias at one CONN_MAX_AGE; older files have none.
    return f"{name} ({run.get('variant') or run['alias']}), CONN_MAX_AGE={run['conn_max_age']}"


def curves(data: Mapping[str, Any]) -> dict[str, list[tuple[float, float, float]]]:
    """``{label: [(users, requests/s, p95 ms), ...]}`` for every run of a load result (``plots.load_curves``)."""
    return {
        run_label(run): sorted((float(s["users"]), float(s["rps"]), float(s["p95_ms"])) for s in run.get("steps", []))
        for run in data.get("runs", [])
    }


def render_table(data: Mapping[str, Any]) -> str:
    """The sweep as a Markdown table, one row per backend, CONN_MAX_AGE and user count, then the knees."""
    lines = [
        "| backend | CONN_MAX_AGE | users | requests/s | p50 ms | p95 ms | p99 ms | failures | requests |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    knees: list[str] = []
    for run in data.get("runs", []):
        name = f"{run.get('vendor') or '?'} {run.get('version') or ''} ({run.get('variant') or run['alias']})"
        # By user count: an adaptive search measures them out of order (100, 200, 400, 800, 600, 500...).
        for s in sorted(run.get("steps", []), key=lambda s: int(s["users"])):
            lines.append(
                f"| {name} | {run['conn_max_age']} | {s['users']} | {s['rps']:.1f} | {s['p50_ms']:.0f} | "
                f"{s['p95_ms']:.0f} | {s['p99_ms']:.0f} | {100 * s['failure_rate']:.2f}% | {s['requests']} |"
            )
        status = run.get("status", "?")
        knee_text = Knee.from_dict(run["knee"]).describe() if run.get("knee") else "-"
        suffix = "" if status == "complete" else f" [{status}{': ' + run['error'] if run.get('error') else ''}]"
        knees.append(f"- knee of {name}, CONN_MAX_AGE={run['conn_max_age']}: {knee_text}{suffix}")
    return "\n".join([*lines, "", *knees])
