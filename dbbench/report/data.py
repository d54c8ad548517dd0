"""Read result files for the report and turn raw timings into per-operation comparisons.

Only result files are read, never a live database: the report can be rebuilt anywhere, later, from the same files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dbbench.backends.registry import baseline_vendors
from dbbench.backends.registry import durability_settings as durability_setting_names
from dbbench.errors import ResultsError
from dbbench.results import load_result
from dbbench.stats import DEFAULT_THRESHOLD, Comparison, Label, Summary, compare, drift, summarize
from dbbench.units import format_mib

# The team's current database (PostgreSQL; dbbench.backends.spec: ``baseline``): the question is whether to leave it.
BASELINE_VENDORS = baseline_vendors()
DURABILITY_SETTINGS = durability_setting_names()  # each family's settings that decide whether a commit waits
UNSTEADY = 1.5  # a run whose slowest tenth of rounds is this much slower than its fastest was disturbed
# The control (the baseline measured again under another name in the same rounds) has no real difference to find.
# Its largest departure from 1.0 is the run's noise floor: no candidate difference smaller than that is called one.
# A control that strays further than this means the machine was too disturbed to resolve the threshold.
CONTROL_FLOOR_LIMIT = 0.10
# Interleaving keeps a busy machine from turning into a difference (under scripts/cpu_noise.py the control's
# estimates stayed within 2.6% of 1.0), so a disturbance shows as uneven rounds instead: 14 of 46 benchmarks had a
# tenth of their rounds 1.5x slower than another tenth under that noise, 1 to 5% of them in four quiet runs.
BUSY_SHARE = 0.2


@dataclass(frozen=True)
class Measurement:
    """One benchmark: an operation in one variant on one backend at one size, with its raw timings (ms)."""

    alias: str
    operation: str
    variant: str  # "orm" or "raw"
    size: int  # nominal step
    rows: int  # attempts in the table when measured
    samples_ms: np.ndarray = field(repr=False)
    seed: int | None
    data_bytes: int | None
    source: Path
    interleaved: bool = False  # its rounds alternated with the other backends' (dbbench.bench.measure)


@dataclass
class Backend:
    """A target as the result files describe it (what the server said about itself)."""

    alias: str
    vendor: str
    version: str
    settings: dict[str, str] = field(default_factory=dict)
    durable: bool | None = None
    buffer_bytes: int | None = None
    data_bytes: dict[int, int] = field(default_factory=dict)  # size -> quiz attempt table + indexes
    control_of: str | None = None  # the alias this backend is a second measurement of (the run's control)
    settings_by: str | None = None  # "set by dbbench" (a managed server) or "as found" (a server given by URL)
    display: str = ""  # "MariaDB 10.11.19", plus the alias when two backends would read the same


@dataclass
class Row:
    """One line of the latency tables: every backend's percentiles, each candidate's comparison."""

    operation: str
    variant: str
    size: int
    rows: dict[str, int]
    summaries: dict[str, Summary]
    comparisons: dict[str, Comparison]  # candidate alias -> against the baseline
    control: Comparison | None = None  # the control against the baseline: what "no difference" looked like
    drifts: dict[str, float | None] = field(default_factory=dict)  # alias -> stats.drift of its rounds

    @property
    def unsteady(self) -> bool:
        return any(d is not None and d >= UNSTEADY for d in self.drifts.values())


@dataclass
class ResultSet:
    files: list[tuple[Path, str]]
    measurements: list[Measurement]
    backends: dict[str, Backend]
    documents: dict[str, list[tuple[Path, dict[str, Any]]]]  # kind -> files of that kind
    notes: list[str]

    @property
    def baseline(self) -> str | None:
        """The first backend of a baseline family (PostgreSQL: the team's current database), else the first."""
        for alias, backend in self.backends.items():
            if backend.vendor in BASELINE_VENDORS:
                return alias
        return next(iter(self.backends), None)

    @property
    def candidates(self) -> list[str]:
        return [a for a in self.backends if a != self.baseline and not self.backends[a].control_of]

    @property
    def control(self) -> str | None:
        """The alias measuring the baseline a second time, when the run had one."""
        return next((a for a, b in self.backends.items() if b.control_of and b.control_of == self.baseline), None)

    @property
    def sizes(self) -> list[int]:
        return sorted({m.size for m in self.measurements})

    @property
    def missing_size(self) -> str | None:
        """A sentence when a run asked for a larger size than any measured (it crashed or was stopped before it):
        the verdict then stands at a smaller size, which the report must say."""
        requested = [
            s
            for _, doc in self.documents.get("benchmark", [])
            for s in (doc.get("dbbench_run") or {}).get("sizes") or []
            if isinstance(s, int) and not isinstance(s, bool)
        ]
        if not requested or not self.sizes or max(requested) <= max(self.sizes):
            return None
        return (
            f"the run asked for {max(requested):,} attempts but nothing was measured at that size (did it crash or "
            f"stop early?): every figure and the verdict are at {max(self.sizes):,}, the largest size measured"
        )

    @property
    def operations(self) -> list[str]:
        return list(dict.fromkeys(m.operation for m in self.measurements))


def load_results(paths: Iterable[Path | str]) -> ResultSet:
    """Load every file (one-line :class:`ResultsError` for anything missing, empty, corrupt or foreign)."""
    given = [Path(p) for p in paths]
    if not given:
        raise ResultsError("no results files given")
    files: list[tuple[Path, str]] = []
    documents: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    by_key: dict[tuple[str, str, str, int], Measurement] = {}
    backends: dict[str, Backend] = {}
    notes: list[str] = []
    for path in given:
        kind, document = load_result(path)
        files.append((path, kind))
        documents.setdefault(kind, []).append((path, document))
        if kind == "benchmark":
            for m in _benchmark_measurements(path, document, backends):
                key = (m.alias, m.operation, m.variant, m.size)
                if key in by_key:
                    notes.append(
                        f"{m.operation}/{m.variant} on {m.alias} at {m.size:,} is in several files: {path} kept"
                    )
                by_key[key] = m
    # The run's own target order says which backend is the baseline.
    order = [
        a for _, doc in documents.get("benchmark", []) for a in (doc.get("dbbench_run") or {}).get("targets") or []
    ]
    rank = {alias: i for i, alias in enumerate(dict.fromkeys(order))}
    backends = dict(sorted(backends.items(), key=lambda kv: rank.get(kv[0], len(rank))))
    if not backends and documents.get("replay"):  # a replay without benchmarks: its two servers are compared
        backends = _replay_backends(documents["replay"][0][1]["data"])
    _name_backends(backends)
    return ResultSet(files, list(by_key.values()), backends, documents, notes)


def _benchmark_measurements(path: Path, document: dict[str, Any], backends: dict[str, Backend]) -> list[Measurement]:
    found: list[Measurement] = []
    for bench in document["benchmarks"]:
        info = bench["extra_info"]["dbbench"]
        try:
            alias, operation, variant = str(info["alias"]), str(info["operation"]), str(info["variant"])
            size, rows = int(info["size"]), int(info["rows"])
            data = (bench.get("stats") or {}).get("data")
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultsError(f"{path}: benchmark {bench.get('name')!r} lacks dbbench field {exc}") from None
        if not data:
            raise ResultsError(
                f"{path}: benchmark {bench.get('name')!r} has no raw timings (save with --benchmark-save-data)"
            )
        try:
            samples = np.asarray(data, dtype=float) * 1000.0  # pytest-benchmark stores seconds
        except (TypeError, ValueError):
            raise ResultsError(f"{path}: benchmark {bench.get('name')!r} has non-numeric timings") from None
        if samples.ndim != 1 or not np.all(np.isfinite(samples)) or np.any(samples <= 0):
            raise ResultsError(f"{path}: benchmark {bench.get('name')!r} has invalid timings")
        server = info.get("server") or {}
        backend = backends.setdefault(
            alias,
            Backend(alias, str(server.get("vendor") or info.get("vendor") or "?"), str(info.get("version") or "?")),
        )
        if info.get("control_of"):
            backend.control_of = str(info["control_of"])
        if server:
            backend.version = str(server.get("version") or backend.version)
            backend.settings = {str(k): str(v) for k, v in (server.get("settings") or {}).items()}
            backend.settings_by = backend.settings.get("settings_source")
            backend.durable = server.get("durable")
            backend.buffer_bytes = server.get("buffer_bytes")
        data_bytes = info.get("data_bytes")
        if isinstance(data_bytes, int):
            backend.data_bytes[size] = max(data_bytes, backend.data_bytes.get(size, 0))
        interleaved = bool(info.get("interleaved_with"))
        found.append(
            Measurement(alias, operation, variant, size, rows, samples, info.get("seed"), data_bytes, path, interleaved)
        )
    return found


def _replay_backends(data: dict[str, Any]) -> dict[str, Backend]:
    """The baseline and the candidate of a replay, named as their servers called themselves (the vendor alone
    for a replay written before it asked them their version)."""
    servers, vendors = data.get("servers") or {}, data.get("vendors") or {}
    backends = {}
    for alias in (data.get("baseline"), data.get("candidate")):
        if isinstance(alias, str):
            found = servers.get(alias)
            server: dict[str, Any] = found if isinstance(found, dict) else {}
            vendor = str(server.get("vendor") or vendors.get(alias) or "?")
            backends[alias] = Backend(alias, vendor, str(server.get("version") or "?"))
    return backends


def _name_backends(backends: dict[str, Backend]) -> None:
    for b in backends.values():
        # Names go into headings and the HTML: keep what a vendor or version can hold, drop markup.
        b.vendor, b.version = _plain(b.vendor), _plain(b.version)
    plain = {a: f"{b.vendor} {b.version}" for a, b in backends.items()}
    compared = [plain[a] for a, b in backends.items() if not b.control_of]  # the control is named by its alias
    for alias, backend in backends.items():
        ambiguous = bool(backend.control_of) or compared.count(plain[alias]) > 1
        backend.display = f"{plain[alias]} ({alias})" if ambiguous else plain[alias]


def _plain(text: str) -> str:
    return re.sub(r"[^\w .+~-]", "", text)[:60] or "?"


def analyse(results: ResultSet, *, threshold: float = DEFAULT_THRESHOLD) -> list[Row]:
    """Percentiles for every measurement; each candidate compared with the baseline where both were measured.

    With a control in the results, candidates are labelled against the larger of ``threshold`` and the control's
    noise floor (:func:`noise_floor`): a difference the same server showed against itself is not a difference.
    """
    groups: dict[tuple[str, str, int], dict[str, Measurement]] = {}
    for m in results.measurements:
        groups.setdefault((m.operation, m.variant, m.size), {})[m.alias] = m
    order = {op: i for i, op in enumerate(results.operations)}
    base, control = results.baseline, results.control
    keys = sorted(groups, key=lambda k: (order[k[0]], k[2], k[1]))
    controls = {
        k: compare(groups[k][base].samples_ms, groups[k][control].samples_ms, threshold=threshold)
        for k in keys
        if control and base in groups[k] and control in groups[k]
    }
    effective = max(threshold, noise_floor(list(controls.values())) or 0.0)
    rows: list[Row] = []
    for key in keys:
        per_alias = groups[key]
        ordered = {a: per_alias[a] for a in results.backends if a in per_alias}
        comparisons: dict[str, Comparison] = {}
        if base in ordered:
            for cand in results.candidates:
                if cand in ordered:
                    comparisons[cand] = compare(ordered[base].samples_ms, ordered[cand].samples_ms, threshold=effective)
        op, variant, size = key
        rows.append(
            Row(
                op,
                variant,
                size,
                rows={a: m.rows for a, m in ordered.items()},
                summaries={a: summarize(m.samples_ms) for a, m in ordered.items()},
                comparisons=comparisons,
                control=controls.get(key),
                drifts={a: drift(m.samples_ms) for a, m in ordered.items()},
            )
        )
    return rows


def noise_floor(controls: list[Comparison]) -> float | None:
    """How far the control's estimates strayed from 1.0 (0.04: 4%), or None without a control.

    The same server measured twice has a true ratio of 1.0, so the largest departure of its estimates is what the
    machine alone produced in this run. The estimates, not the interval ends: one operation whose median sits
    between two modes has a wide interval of its own (the report shows it), without the machine being disturbed.
    """
    usable = [c for c in controls if c.label is not Label.TOO_FEW]
    if not usable:
        return None
    return max(max(c.ratio, 1.0 / c.ratio) - 1.0 for c in usable)


@dataclass(frozen=True)
class ControlCheck:
    """What the control says about this run's measurement."""

    comparisons: int
    floor: float  # see noise_floor
    false_differences: list[str]  # operations where the control itself came out faster or slower
    ok: bool
    unsteady: int = 0  # benchmarks of the run whose rounds were uneven (see Row.unsteady)...
    benchmarks: int = 0  # ...out of these

    @property
    def caveat(self) -> str | None:
        if self.ok:
            return None
        why = []
        if self.false_differences:
            why.append(
                "the control (the baseline measured twice) came out different from itself on "
                + ", ".join(self.false_differences)
            )
        if self.floor > CONTROL_FLOOR_LIMIT:
            why.append(f"its estimates strayed {self.floor:.0%} from no difference")
        if self.unsteady >= BUSY_SHARE * self.benchmarks:
            why.append(
                f"in {self.unsteady} of {self.benchmarks} benchmarks a tenth of the rounds ran {UNSTEADY:g}x slower "
                "than another tenth (another process competing for the CPU), so the intervals are wider than they "
                "would be on a quiet machine"
            )
        return "the machine was disturbed during the measurement: " + " and ".join(why)


def control_check(rows: list[Row]) -> ControlCheck | None:
    """Judge the run by its control: None when the results have none (older files, or a single backend)."""
    controls = [(r, r.control) for r in rows if r.control is not None]
    if not controls:
        return None
    floor = noise_floor([c for _, c in controls]) or 0.0
    decisive = (Label.FASTER, Label.SLOWER)
    false = [f"`{r.operation}`/{r.variant} at {r.size:,}" for r, c in controls if c.label in decisive]
    unsteady = sum(r.unsteady for r in rows)
    ok = not false and floor <= CONTROL_FLOOR_LIMIT and unsteady < BUSY_SHARE * len(rows)
    return ControlCheck(len(controls), floor, false, ok, unsteady, len(rows))


def replay_control(replay: dict[str, Any] | None, threshold: float = DEFAULT_THRESHOLD) -> ControlCheck | None:
    """The control of a replay (every shape's baseline replayed twice), judged as a benchmark run's is."""
    from dbbench.replay.mix import shape_ratios

    shapes = [r for r in shape_ratios(replay, threshold) if r.control is not None] if replay else []
    if not shapes:
        return None
    controls = [r.control for r in shapes if r.control is not None]
    floor = noise_floor(controls) or 0.0
    false = [f"shape `{r.id}`" for r in shapes if r.control and r.control.label in (Label.FASTER, Label.SLOWER)]
    ok = not false and floor <= CONTROL_FLOOR_LIMIT
    return ControlCheck(len(controls), floor, false, ok, 0, len(controls))


def fairness_flags(results: ResultSet) -> list[str]:
    """Settings that make the comparison unfair, in plain words."""
    flags: list[str] = []
    backends = list(results.backends.values())
    known = [b for b in backends if b.durable is not None]
    if len({b.durable for b in known}) > 1:
        strong = ", ".join(f"{b.display} ({durability_settings(b)})" for b in known if b.durable)
        weak = ", ".join(f"{b.display} ({durability_settings(b)})" for b in known if not b.durable)
        flags.append(
            f"unequal durability: {strong} wait(s) for each commit to reach the disk, {weak} do(es) not, so write "
            "timings are not comparable"
        )
    outgrown = _outgrown(results)
    if outgrown and not _buffers_declared_equal(results):
        size = max(max(b.data_bytes) for b in outgrown)
        which = ", ".join(
            f"{b.display} ({format_mib(b.data_bytes[max(b.data_bytes)])} in {format_mib(b.buffer_bytes or 0)})"
            for b in outgrown
        )
        # One caveat for every backend it concerns (the control is the baseline's own server: not named twice).
        flags.append(
            f"the attempt data at {size:,} attempts outgrows the buffer of {which}, so reads at that size also "
            "measure cache misses"
        )
    return flags


def buffer_note(results: ResultSet) -> str | None:
    """When the largest size outgrew buffers that dbbench itself set equal on both servers: said once, as a choice
    (``--server-memory``, a machine too small for the default buffers, or a size past the default profile's), not
    as a fault of the comparison; None otherwise."""
    outgrown = _outgrown(results)
    if not outgrown or not _buffers_declared_equal(results):
        return None
    size = max(max(b.data_bytes) for b in outgrown)
    buffer = format_mib(outgrown[0].buffer_bytes or 0)
    return (
        f"At {size:,} attempts the data is larger than the {buffer} of buffers dbbench gave each server (equal on "
        "both, by its declared profile): that size measures each engine reading past its cache, on purpose"
    )


def _outgrown(results: ResultSet) -> list[Backend]:
    """The measured servers whose attempt data at their largest size is larger than their buffer (not the control:
    it is the baseline's own server)."""
    return [
        b
        for b in results.backends.values()
        if not b.control_of and b.buffer_bytes and b.data_bytes and b.data_bytes[max(b.data_bytes)] > b.buffer_bytes
    ]


def _buffers_declared_equal(results: ResultSet) -> bool:
    backends = list(results.backends.values())
    return (
        bool(backends)
        and all(b.settings_by == "set by dbbench" for b in backends)
        and len({b.buffer_bytes for b in backends}) == 1
    )


def durability_settings(b: Backend) -> str:
    """The settings that decide whether a commit waits for the disk, as ``name=value`` text."""
    return ", ".join(f"{k}={b.settings[k]}" for k in DURABILITY_SETTINGS if k in b.settings) or "settings not recorded"


class _FirstSeen(dict[str, Any]):
    """Environment facts: the first file that recorded a value for a key wins; empty values do not count."""

    def offer(self, key: str, value: Any) -> None:
        if self.get(key) is None and value:
            self[key] = value


def calibration(results: ResultSet) -> list[dict[str, Any]]:
    """The harness's own cost as the benchmark runs measured it (``dbbench_run.calibration``), one entry per backend."""
    found: list[dict[str, Any]] = []
    for _, doc in results.documents.get("benchmark", []):
        for entry in (doc.get("dbbench_run") or {}).get("calibration") or []:
            if isinstance(entry, dict) and isinstance(entry.get("harness_over_bare"), int | float):
                found.append(entry)
    return found


def environment_summary(results: ResultSet) -> dict[str, str]:
    """Django, drivers, machine, date and commit from whichever result files recorded them."""
    env: _FirstSeen = _FirstSeen()
    for path_docs in results.documents.values():
        for _, doc in path_docs:
            header = doc.get("dbbench") if isinstance(doc.get("dbbench"), dict) else None
            if header:
                e = header.get("environment") or {}
                env.offer("django", e.get("django"))
                env.offer("drivers", e.get("drivers"))
                env.offer("python", e.get("python"))
                env.offer("machine", e.get("machine"))
                env.offer("commit", e.get("commit"))
                env.offer("date", header.get("created"))
            else:
                # pytest-benchmark JSON: the suite adds dbbench's own environment under "dbbench_run".
                mi = doc.get("machine_info") or {}
                extra = (doc.get("dbbench_run") or {}).get("environment") or {}
                env.offer("django", extra.get("django"))
                env.offer("drivers", extra.get("drivers"))
                env.offer("python", extra.get("python") or mi.get("python_version"))
                env.offer("machine", extra.get("machine") or mi)
                env.offer("commit", extra.get("commit") or doc.get("commit_info"))
                env.offer("date", doc.get("datetime"))
    out: dict[str, str] = {}
    for key in ("django", "python", "date"):
        if env.get(key):
            out[key] = str(env[key])
    if isinstance(env.get("drivers"), dict):
        out["drivers"] = ", ".join(f"{k} {v}" for k, v in env["drivers"].items())
    machine = env.get("machine")
    if isinstance(machine, dict):
        cpus = machine.get("cpus") or (machine.get("cpu") or {}).get("count")
        memory = machine.get("memory_bytes")
        brand = (machine.get("cpu") or {}).get("brand_raw")
        bits = [machine.get("node"), machine.get("system"), machine.get("release"), machine.get("machine"), brand]
        text = " ".join(str(b) for b in bits if b)
        text += f", {cpus} CPUs" if cpus else ""
        text += f", {memory / 2**30:.0f} GiB RAM" if memory else ""
        out["machine"] = text
    commit = env.get("commit")
    if isinstance(commit, dict) and commit.get("id"):
        out["commit"] = f"`{str(commit['id'])[:12]}`" + (" (uncommitted changes)" if commit.get("dirty") else "")
    return out


def replayed_operations(
    replay: dict[str, Any], base: str | None, cand: str, threshold: float
) -> tuple[list[tuple[str, int, Comparison]], dict[str, float]] | None:
    """A replay's shapes as the verdict's operations ``(name, rows, comparison)`` and their weights (share of the
    captured time), when the replay compared ``base`` with ``cand``; else None. The first replay file given wins."""
    if replay.get("candidate") != cand or replay.get("baseline") != base:
        return None
    from dbbench.replay.mix import shape_ratios

    ratios = shape_ratios(replay, threshold=threshold)
    rows = max((n or 0 for n in (replay.get("row_counts_before") or {}).get(base, {}).values()), default=0)
    ops = [(f"shape {r.id}", rows, r.comparison) for r in ratios]
    return (ops, {f"shape {r.id}": r.share for r in ratios}) if ops else None
