"""The verdict: a decision (stay, migrating is reasonable, or it depends on the user's own situation), the three
to five reasons that drive it, and what would change it.

Inputs are measured evidence only (comparisons at the largest size, the run's control, parity findings narrowed
to what the app's code uses, load results against the service level, fairness flags); the rules are deliberately
simple so a reader can check them by hand:

1. Combine the operations' ratios (candidate time / baseline time) into one weighted geometric mean over the quiz
   site's operation mix (:data:`DEFAULT_MIX`, or ``--mix``), with a bootstrap interval (:func:`stats.combine`).
   When a large share of the mix was not measured (a crashed run), there is no verdict.
2. *Stay* when the mix is slower beyond the practical threshold, or when speed is equal and the app's code uses
   behaviour that differs (a migration with work and nothing to gain).
3. *It depends* when a frequent operation (>= 5% of the mix) is >= 1.5x slower, when the candidate wins but the
   app uses differing behaviour, when the candidate gives out under load at fewer users or serves fewer requests,
   when the server settings were unequal (servers brought by the user), or when portability was not checked.
   dbbench's own measurement is named only when the control (the baseline measured twice) failed.
4. *Migrating is reasonable* otherwise: not slower on the mix, no hot spot, nothing the app uses breaks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from dbbench.errors import ConfigError
from dbbench.report.capacity import Alternatives
from dbbench.stats import Comparison, Label, combine
from dbbench.units import format_interval

# How often each operation (dbbench.bench.workloads.OPERATIONS) happens on a quiz site, relative to the others; the
# verdict weighs each operation's ratio by it. Documented in README ("The verdict"). Students mostly read: the
# dashboard of recent attempts and single results dominate; every submission reads the quiz and inserts once;
# leaderboards are popular pages; regrades, JSON analytics and per-quiz statistics are back-office work; bulk
# imports are rare. new_connection: with Django's default CONN_MAX_AGE=0 every request reconnects, but a
# production setup keeps connections (or pools them), so only worker churn pays it.
DEFAULT_MIX: dict[str, float] = {
    "student_recent": 25,
    "pk_lookup": 20,
    "submit_quiz": 10,
    "leaderboard": 10,
    "insert_attempt": 5,
    "update_attempt": 5,
    "new_connection": 5,
    "json_filter": 3,
    "json_contains": 2,
    "json_has_key": 2,
    "count_by_quiz": 2,
    "bulk_insert": 1,
}
HOT_SHARE = 0.05  # an operation this frequent...
HOT_RATIO = 1.5  # ...that is this much slower decides "it depends" on its own
LOAD_RPS_RATIO = 1.1  # under load, serving 10% fewer requests per second counts (Locust rounds to ~5%)
MISSING_LIMIT = 0.25  # no verdict when operations weighing this share of the mix were not measured
# Operations a team can reason about as one kind of traffic, for "what would change it".
TRAFFIC_KINDS: dict[str, tuple[str, ...]] = {
    "JSON key queries": ("json_filter", "json_contains", "json_has_key"),
    "new database connections": ("new_connection",),
    "writes": ("insert_attempt", "submit_quiz", "update_attempt", "bulk_insert"),
    "per-quiz statistics": ("count_by_quiz",),
}


class Decision(StrEnum):
    STAY = "stay"
    MIGRATE = "migrate"
    DEPENDS = "depends"
    NONE = "none"  # too much of the mix is missing to decide


@dataclass(frozen=True)
class OpEvidence:
    """One operation at the largest measured size: the candidate's ratio against the baseline."""

    operation: str
    rows: int
    comparison: Comparison
    anchor: str  # where the report shows its numbers


@dataclass(frozen=True)
class Portability:
    """What the parity suite found, and which of the differences the app's code uses (from the audit).

    ``used`` is None when the app's code was not audited: then every difference counts.
    """

    checked: int
    differing: int
    examples: list[str]
    anchor: str = "portability"
    used: int | None = None
    used_examples: list[str] = field(default_factory=list)

    @property
    def breaks(self) -> int:
        """The differences the verdict weighs: those the app uses, or all of them when that is unknown."""
        return self.differing if self.used is None else self.used


@dataclass(frozen=True)
class LoadEvidence:
    """The load test at the highest user count both backends ran, judged against the service level.

    A candidate is worse under load only when it crosses the p95 or failure limit at fewer users (its knee), or
    serves clearly fewer requests (:data:`LOAD_RPS_RATIO`; Locust keeps rounded histograms, so no interval). A
    ratio between two p95s that are both far under the limit is shown, not a reason.
    """

    users: int
    p95_ratio: float  # p95 response time, candidate / baseline (above 1: candidate slower)
    throughput_ratio: float  # requests/s, candidate / baseline (above 1: candidate serves more)
    knee_baseline: int | None = None  # most users served within the p95 limit (None: not even the first step)
    knee_candidate: int | None = None
    knees_reached: bool = False  # both sweeps went far enough to find a knee
    anchor: str = "load"

    @property
    def worse(self) -> bool:
        """The candidate gives out at fewer users, or serves clearly fewer requests at the highest common load."""
        lower_knee = self.knees_reached and (self.knee_candidate or 0) < (self.knee_baseline or 0)
        return lower_knee or self.throughput_ratio <= 1 / LOAD_RPS_RATIO


@dataclass(frozen=True)
class AppEvidence:
    """The user's own project: its test suite run on the baseline and on the candidate (``dbbench app``)."""

    name: str
    tests: int
    breaks: list[str]  # tests that pass on the baseline and fail on the candidate
    already_failing: int
    time_ratio: float | None  # the suite's test time, candidate / baseline
    anchor: str = "project"


@dataclass(frozen=True)
class Evidence:
    baseline: str  # how the report names it: "PostgreSQL 15.18"
    baseline_vendor: str  # "PostgreSQL": what the team would stay on
    candidate: str  # "MariaDB 10.11.19"
    candidate_vendor: str
    operations: list[OpEvidence]
    mix: dict[str, float]  # resolved weights (operation -> weight); operations not listed weigh nothing
    fairness: list[str] = field(default_factory=list)
    noise: str | None = None  # set when the run's control failed (see report.data.control_check)
    missing: list[str] = field(default_factory=list)  # mix operations with no measurement (a crashed run)
    app: AppEvidence | None = None  # the user's own project, when `dbbench app` ran
    portability: Portability | None = None
    load: LoadEvidence | None = None
    capacity: Alternatives | None = None  # the load test's best configuration with and without migrating


@dataclass(frozen=True)
class Reason:
    text: str
    anchor: str


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    headline: str
    mix: Comparison | None
    reasons: list[Reason]
    changes: list[str] = field(default_factory=list)  # what would change the decision, in the user's terms


# --- the operation mix ----------------------------------------------------------------------------------------


def parse_mix(value: str | Path | None) -> dict[str, float] | None:
    """``--mix``: a JSON/YAML file mapping operation -> weight, or inline ``pk_lookup=5,student_recent=3``."""
    if value is None:
        return None
    text = str(value).strip()
    path = Path(text)
    if path.suffix.lower() in {".json", ".yaml", ".yml"} or path.is_file():
        raw = _read_mix_file(path)
    else:
        raw = {}
        for item in re.split(r"[,\s]+", text):
            if not item:
                continue
            name, sep, weight = item.partition("=")
            if not sep:
                raise ConfigError(f"bad --mix entry {item!r}: expected operation=weight, e.g. pk_lookup=5")
            raw[name.strip()] = weight.strip()
    mix: dict[str, float] = {}
    for name, weight in raw.items():
        try:
            number = float(weight)  # type: ignore[arg-type]  # whatever the file held: a bad one is caught below
        except (TypeError, ValueError):
            raise ConfigError(f"bad --mix weight for {name!r}: {weight!r} is not a number") from None
        if not math.isfinite(number) or number < 0:
            raise ConfigError(f"bad --mix weight for {name!r}: must be a number >= 0")
        mix[str(name)] = number
    if not any(w > 0 for w in mix.values()):
        raise ConfigError("bad --mix: give at least one operation a positive weight")
    return mix


def _read_mix_file(path: Path) -> Mapping[str, object]:
    import yaml  # YAML is a superset of JSON: one parser for both

    from dbbench.files import MIB, FileRefused, read_regular_text

    if not path.is_file():
        raise ConfigError(f"--mix file {path} does not exist")
    try:
        data = yaml.safe_load(read_regular_text(path, MIB))
    except FileRefused as exc:
        raise ConfigError(f"--mix file {path} {exc}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"--mix file {path}: cannot parse ({type(exc).__name__})") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"--mix file {path}: expected a mapping of operation: weight")
    return data


def resolve_mix(mix: Mapping[str, float] | None, measured: list[str]) -> tuple[dict[str, float], list[str]]:
    """Weights for the measured operations, plus notes on what was dropped or left out of the mix.

    A user's mix must only name measured operations (a typo would silently weigh nothing); the default mix
    simply skips operations this run did not measure.
    """
    notes: list[str] = []
    if mix is not None:
        unknown = sorted(set(mix) - set(measured))
        if unknown:
            raise ConfigError(
                f"--mix names operation(s) not in the results: {', '.join(unknown)} (measured: {', '.join(measured)})"
            )
        weights = {op: float(mix.get(op, 0.0)) for op in measured}
    else:
        weights = {op: float(DEFAULT_MIX.get(op, 0.0)) for op in measured}
        if not any(weights.values()):
            notes.append("none of the measured operations is in the default mix: every operation weighs the same")
            weights = dict.fromkeys(measured, 1.0)
    unweighted = [op for op, w in weights.items() if w == 0]
    if unweighted:
        notes.append(f"measured but not in the mix (shown, not weighed): {', '.join(unweighted)}")
    return weights, notes


# --- the rules ------------------------------------------------------------------------------------------------


def decide(evidence: Evidence) -> Verdict:
    """Apply the rules in this module's docstring to the evidence."""
    missing_share = _missing_share(evidence)
    if missing_share >= MISSING_LIMIT:
        names = ", ".join(f"`{op}`" for op in evidence.missing)
        headline = (
            f"No verdict: {len(evidence.missing)} operation(s) of the mix were not measured ({names}: "
            f"{missing_share:.0%} of its weight)"
        )
        return Verdict(Decision.NONE, headline, None, [Reason(headline + ".", "measured")])
    ops = [o for o in evidence.operations if evidence.mix.get(o.operation, 0) > 0]
    if not ops:
        raise ConfigError("no measured operation has a weight in the mix: nothing to base a verdict on")
    total = sum(evidence.mix[o.operation] for o in ops)
    share = {o.operation: evidence.mix[o.operation] / total for o in ops}
    first = ops[0].comparison
    mix = combine(
        [o.comparison for o in ops],
        [evidence.mix[o.operation] for o in ops],
        threshold=first.threshold,
        confidence=first.confidence,
    )
    hot = [
        o
        for o in ops
        if share[o.operation] >= HOT_SHARE and o.comparison.label is Label.SLOWER and o.comparison.ratio >= HOT_RATIO
    ]
    port = evidence.portability
    breaks = (port is not None and port.breaks > 0) or bool(evidence.app and evidence.app.breaks)
    cand = evidence.candidate
    depends: list[str] = []

    if mix.label is Label.TOO_FEW:  # a quick look: too few rounds for an interval, so nothing to decide on
        decision, depends = Decision.DEPENDS, ["a longer measurement (too few rounds to compare)"]
    elif mix.label is Label.SLOWER:
        decision = Decision.STAY
        if evidence.fairness:
            decision, depends = Decision.DEPENDS, ["whether the slowdown survives equal server settings"]
        elif evidence.noise and mix.ratio < HOT_RATIO:
            decision, depends = Decision.DEPENDS, ["whether the slowdown survives a re-run on a quiet machine"]
    elif mix.label is Label.FASTER:
        depends = _conditions(evidence, hot, breaks, cand)
        decision = Decision.DEPENDS if depends else Decision.MIGRATE
    elif breaks:  # equal speed (or no difference shown): the migration is work with nothing to gain
        decision = Decision.STAY
    else:
        depends = _conditions(evidence, hot, breaks, cand)
        decision = Decision.DEPENDS if depends else Decision.MIGRATE

    headline = {
        Decision.STAY: f"Stay on {evidence.baseline_vendor}",
        Decision.MIGRATE: f"Migrating to {cand} is reasonable",
        Decision.DEPENDS: "It depends on " + _join(depends),
    }[decision]
    reasons = _reasons(evidence, mix, ops, share, hot)
    return Verdict(decision, headline, mix, reasons, what_would_change(evidence, mix, share))


def _missing_share(evidence: Evidence) -> float:
    """The share of the default mix's weight that sits on operations with no measurement."""
    return sum(DEFAULT_MIX.get(op, 0.0) for op in evidence.missing) / sum(DEFAULT_MIX.values())


def _conditions(evidence: Evidence, hot: list[OpEvidence], breaks: bool, cand: str) -> list[str]:
    conditions: list[str] = []
    if hot:
        conditions.append("how much of your traffic is " + _join([f"`{o.operation}`" for o in hot]))
    port = evidence.portability
    if evidence.app is not None and evidence.app.breaks:
        conditions.append(f"fixing the {len(evidence.app.breaks)} test(s) of your project that break on {cand}")
    if breaks and port is not None and port.breaks:
        if port.used is None:
            conditions.append(f"fixing the {port.differing} behaviour difference(s) the parity suite found")
        else:
            conditions.append(f"fixing the {port.used} behaviour difference(s) your code uses")
    load = evidence.load
    if load is not None and load.worse:
        if load.knees_reached and load.knee_baseline:
            conditions.append(f"whether you need more than {load.knee_candidate or 0} concurrent users on one server")
        else:
            conditions.append(f"whether {load.users} concurrent users are typical for you")
    if evidence.fairness:
        conditions.append("re-measuring with comparable server settings")
    if evidence.noise:
        conditions.append("a re-run on a quiet machine")
    if port is None:
        conditions.append(f"a portability check (run the parity suite against {cand})")
    return conditions


def what_would_change(evidence: Evidence, mix: Comparison, share: dict[str, float]) -> list[str]:
    """What in the user's own traffic would turn the mix to the other side of the practical threshold.

    For each kind of traffic (:data:`TRAFFIC_KINDS`) whose ratio lies on the other side of the threshold from the
    rest of the mix, the share of database time it would need for the whole mix to cross the threshold: solving
    ``s * log(r_kind) + (1 - s) * log(r_rest) = +-log(1 + threshold)`` for ``s``.
    """
    by_op = {o.operation: o.comparison.ratio for o in evidence.operations if o.operation in share}
    bound = math.log(1.0 + mix.threshold)
    out: list[str] = []
    for kind, members in TRAFFIC_KINDS.items():
        inside = [op for op in members if op in by_op]
        kind_share = sum(share[op] for op in inside)
        if not inside or kind_share >= 1.0:
            continue
        r_kind = sum(share[op] * math.log(by_op[op]) for op in inside) / kind_share
        rest = [op for op in by_op if op not in inside]
        r_rest = sum(share[op] * math.log(by_op[op]) for op in rest) / (1.0 - kind_share) if rest else 0.0
        crossings = []
        for target, word in ((bound, "slower"), (-bound, "faster")):
            if r_kind == r_rest or not (min(r_kind, r_rest) < target < max(r_kind, r_rest)):
                continue
            s = (target - r_rest) / (r_kind - r_rest)
            now = math.log(mix.ratio)
            if s <= 0 or (word == "slower" and now >= bound) or (word == "faster" and now <= -bound):
                continue  # already on that side
            crossings.append((abs(math.log(s / kind_share)), s, word))
        if crossings:  # the nearer of the two: the change a team is likelier to see
            _, s, word = min(crossings)
            direction = "more" if s > kind_share else "less"
            out.append(
                f"if {kind} took {direction} than {s:.0%} of your database time (the quiz site's mix gives them "
                f"{kind_share:.0%}), {evidence.candidate} would come out {word} over the mix"
            )
    cap = evidence.capacity
    if cap is not None and not cap.cheaper_goes_as_far and cap.stay.users is not None:
        out.append(
            f"if you need more than {cap.stay.users} concurrent users on one server: only migrating got further "
            f"({cap.move.label}: {cap.move.capacity_text()})"
        )
    load = evidence.load
    if cap is None and load is not None and load.knees_reached and load.knee_baseline and load.knee_candidate:
        low, high = sorted((load.knee_baseline, load.knee_candidate))
        if low != high:
            ahead = evidence.baseline if load.knee_baseline > load.knee_candidate else evidence.candidate
            out.append(f"if you need more than {low} concurrent users on one server: there {ahead} holds up to {high}")
    port = evidence.portability
    if port is not None and port.used:
        out.append(f"if your code stopped relying on {_join(port.used_examples[:3]) or 'the differing behaviour'}")
    return out


def _reasons(
    evidence: Evidence, mix: Comparison, ops: list[OpEvidence], share: dict[str, float], hot: list[OpEvidence]
) -> list[Reason]:
    cand, base = evidence.candidate, evidence.baseline
    reasons = [
        Reason(
            f"Over the operation mix, {cand} takes {_times(mix)} the time of {base} "
            f"({_ci(mix)}): **{_label_text(mix.label, mix.threshold)}**.",
            "mix",
        )
    ]
    # The operations that move the mix most: weight times the size of the (log) difference.
    by_effect = sorted(ops, key=lambda o: share[o.operation] * abs(math.log(o.comparison.ratio)), reverse=True)
    op_reasons = [o for o in by_effect if o in hot] + [o for o in by_effect if o not in hot]
    extra: list[Reason] = []
    if evidence.portability is not None:
        p = evidence.portability
        if p.used is not None and p.differing:
            examples = f" ({', '.join(p.used_examples[:3])})" if p.used_examples else ""
            extra.append(
                Reason(
                    f"Parity: {p.differing} of {p.checked} checked behaviours differ; your code uses "
                    f"{p.used} of them{examples}.",
                    p.anchor,
                )
            )
        elif p.differing:
            examples = f" (e.g. {', '.join(p.examples[:3])})" if p.examples else ""
            extra.append(Reason(f"Parity: {p.differing} of {p.checked} checked behaviours differ{examples}.", p.anchor))
        else:
            extra.append(Reason(f"Parity: all {p.checked} checked behaviours agree.", p.anchor))
    else:
        extra.append(Reason("Portability was not checked: no parity results were given.", "portability"))
    if evidence.load is not None:
        load = evidence.load
        knees = ""
        if load.knees_reached:
            knees = (
                f"; it serves up to {load.knee_candidate or 0} users within the p95 limit, "
                f"against {load.knee_baseline or 0}"
            )
        capacity = f" Capacity: {evidence.capacity.sentence()}." if evidence.capacity is not None else ""
        extra.append(
            Reason(
                f"Under {load.users} concurrent users, {cand} serves {load.throughput_ratio:.2f}x the requests/s of "
                f"{base} at {load.p95_ratio:.2f}x its p95 response time{knees}.{capacity}",
                load.anchor,
            )
        )
    if evidence.app is not None:
        a = evidence.app
        timing = f"; its tests take {a.time_ratio:.2f}x the time" if a.time_ratio else ""
        if a.breaks:
            named = ", ".join(f"`{b}`" for b in a.breaks[:3])
            text = f"Your project `{a.name}`: {len(a.breaks)} of {a.tests} tests break on {cand} ({named}){timing}."
        else:
            text = f"Your project `{a.name}`: none of its {a.tests} tests breaks on {cand}{timing}."
        extra.insert(0, Reason(text, a.anchor))
    caveats = [*evidence.fairness, *([evidence.noise] if evidence.noise else [])]
    if caveats:
        extra.append(Reason("Comparison caveat: " + "; ".join(caveats) + ".", "fairness"))
    # Three to five reasons: the mix, then the operations that move it most, then every other kind of evidence
    # (parity, load, caveats: at most three), so a caveat that decides the headline is never cut.
    slots = max(1, 5 - 1 - len(extra))
    for o in op_reasons[:slots]:
        c = o.comparison
        reasons.append(
            Reason(
                f"`{o.operation}` ({share[o.operation]:.0%} of the mix) at {o.rows:,} rows: {cand} takes "
                f"{_times(c)} the time ({_ci(c)}): {_label_text(c.label, c.threshold)}.",
                o.anchor,
            )
        )
    return (reasons + extra)[:5]


def _times(c: Comparison) -> str:
    return f"{c.ratio:.2f}x"


def _ci(c: Comparison) -> str:
    return format_interval(c.low, c.high, c.confidence, missing="too few samples for an interval")


def _label_text(label: Label, threshold: float | None = None) -> str:
    if label is Label.EQUIVALENT and threshold is not None:
        # Not "within 5%": an interval of 0.53-0.98 is labelled so too (it excludes 1 and reaches into the band).
        return f"equivalent (not shown to differ by more than {threshold:.0%})"
    return {
        Label.FASTER: "faster",
        Label.SLOWER: "slower",
        Label.EQUIVALENT: "equivalent (under the practical threshold)",
        Label.NO_DIFFERENCE: "no significant difference",
        Label.TOO_FEW: "too few samples",
    }[label]


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
