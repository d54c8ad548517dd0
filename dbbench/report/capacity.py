""" "What gets you further": the load test's configurations ranked by capacity, with the change each one needs.

The question behind "should we move to MySQL?" is often "what gets the site past N users?". Migrating is one
answer; a settings line (persistent connections, Django's pool) or a service (PgBouncer) are cheaper ones. Each
load run is one configuration (a *variant*); its capacity is the knee the search found: the most users served
with p95 and failures within the limits, and the requests/s at that point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dbbench.load import bottleneck
from dbbench.markdown import table

# Capacities this close count as the same: Locust rounds its percentiles to ~5%, and the search stops within its
# resolution (10% by default) of the true knee.
SAME_CAPACITY = 0.15

MIGRATION = "migration"


@dataclass(frozen=True)
class Option:
    """One configuration of the load test, as a team would weigh it."""

    variant: str  # the result's name for it, e.g. "postgresql-pool"
    label: str  # "PostgreSQL 15.20, Django's pool"
    vendor: str
    kind: str  # "as is", "settings", "service" or "migration"
    change: str  # what it takes, in the team's words
    users: int | None  # capacity: most users within the limits (None: not even the first step)
    rps: float | None
    reached: bool  # False: no knee within what the search measured, so ``users`` is a lower bound
    p95_at_expected_ms: float | None  # p95 at the expected load, interpolated between measured steps
    over_at_expected: bool  # the expected load lies past this configuration's knee
    bottleneck: dict[str, Any] | None = None  # load/bottleneck.py: the tier that gave out, with its figures

    @property
    def migration(self) -> bool:
        return self.kind == MIGRATION

    def capacity_text(self) -> str:
        if self.users is None:
            return "below the first step"
        rps = f" ({self.rps:.0f} req/s)" if self.rps else ""
        return f"{'>= ' if not self.reached else ''}{self.users:,} users{rps}"


def options(document: Mapping[str, Any], baseline_vendor: str, expected_users: int | None = None) -> list[Option]:
    """The load document's completed runs as options, best capacity first (ties: the cheaper change first)."""
    found: list[Option] = []
    for run in document.get("runs") or []:
        if not isinstance(run, Mapping) or not run.get("steps"):
            continue
        knee = run.get("knee") or {}
        vendor = str(run.get("vendor") or "?")
        kind = str(run.get("change_kind") or ("as is" if vendor == baseline_vendor else MIGRATION))
        if vendor != baseline_vendor:
            kind = MIGRATION  # whatever else the run changes, it needs the move first
        p95, over = p95_at(run["steps"], expected_users, knee)
        found.append(
            Option(
                variant=str(run.get("variant") or f"{run.get('alias')}-cma{run.get('conn_max_age')}"),
                label=str(run.get("label") or f"{vendor} {run.get('version', '')}".strip()),
                vendor=vendor,
                kind=kind,
                change=str(run.get("change") or ("move to " + vendor if kind == MIGRATION else "nothing")),
                users=knee.get("users"),
                rps=knee.get("rps"),
                reached=bool(knee.get("reached")),
                p95_at_expected_ms=p95,
                over_at_expected=over,
                bottleneck=bottleneck.for_run(run) or run.get("bottleneck"),  # the rules read the stored figures
            )
        )
    order = {"as is": 0, "settings": 1, "service": 2, MIGRATION: 3}
    return sorted(found, key=lambda o: (-(o.users or 0), order.get(o.kind, 2), o.variant))


def p95_at(steps: Sequence[Mapping[str, Any]], users: int | None, knee: Mapping[str, Any]) -> tuple[float | None, bool]:
    """p95 at ``users``, interpolated linearly between the measured steps around it (None when the steps do
    not reach it), and whether ``users`` lies past the knee."""
    if users is None:
        return None, False
    points = sorted((int(s["users"]), float(s["p95_ms"])) for s in steps if s.get("requests") and s.get("p95_ms"))
    over = bool(knee.get("reached")) and (knee.get("users") or 0) < users
    for (u0, p0), (u1, p1) in zip(points, points[1:], strict=False):
        if u0 <= users <= u1:
            return (p0 if u1 == u0 else p0 + (p1 - p0) * (users - u0) / (u1 - u0)), over
    exact = [p for u, p in points if u == users]
    return (exact[0] if exact else None), over


@dataclass(frozen=True)
class Alternatives:
    """The best configuration without migrating against the best with it: what the verdict says of capacity."""

    stay: Option
    move: Option

    @property
    def cheaper_goes_as_far(self) -> bool:
        """The best non-migration option serves at least about as many users as the best migration does."""
        if self.stay.users is None or self.move.users is None:
            return self.move.users is None
        if not self.stay.reached and self.stay.users >= (self.move.users or 0):
            return True
        return self.stay.users >= self.move.users * (1 - SAME_CAPACITY)

    def sentence(self) -> str:
        stay, move = self.stay, self.move
        how = f"{stay.label} ({stay.change})" if stay.kind != "as is" else stay.label
        if self.cheaper_goes_as_far:
            return (
                f"{how} serves {stay.capacity_text()}, as far as migrating does ({move.label}: "
                f"{move.capacity_text()}): capacity is no reason to migrate" + self.limit_text(said=True)
            )
        return (
            f"migrating ({move.label}) serves {move.capacity_text()}; the best configuration without migrating "
            f"({how}) serves {stay.capacity_text()}" + self.limit_text()
        )

    @property
    def database_not_the_limit(self) -> bool:
        """The baseline's best configuration gave out somewhere other than its database (measured)."""
        found = self.stay.bottleneck or {}
        return found.get("gave_out", True) and found.get("tier") is not None and found["tier"] != bottleneck.DATABASE

    def limit_text(self, said: bool = False) -> str:
        """What limited the configuration the team would stay on, and what helps instead when that was not the
        database: then a faster database (a migration) cannot move its capacity (said once: ``said`` when the
        sentence before already concluded so)."""
        found = self.stay.bottleneck or {}
        if not found.get("tier"):
            return ""
        text = f"; at {found.get('users')} users {found['sentence']}"
        if self.database_not_the_limit:
            text += ": the database was not the limit" + ("" if said else ", so capacity is no reason to migrate")
            text += "; what helps instead is " + bottleneck.HELPS.get(
                found["tier"], f"more capacity for the {found['tier']}"
            )
        return text


def alternatives(found: Sequence[Option]) -> Alternatives | None:
    stay = next((o for o in found if not o.migration), None)
    move = next((o for o in found if o.migration), None)
    return Alternatives(stay, move) if stay and move else None


def render(found: Sequence[Option], expected_users: int | None, p95_limit_ms: float | None) -> str:
    """The ranking as Markdown: capacity, p95 at the expected load, and the change each configuration needs."""
    if not found:
        return "No load run completed a step, so there is nothing to rank.\n"
    expected = f"p95 at {expected_users:,} users" if expected_users else "p95 at your load (give --expected-users)"
    rows = []
    for rank, o in enumerate(found, 1):
        if o.p95_at_expected_ms is None:
            at = ("past its knee" if o.over_at_expected else "not measured") if expected_users else "-"
        else:
            at = f"{o.p95_at_expected_ms:,.0f} ms" + (" (past its knee)" if o.over_at_expected else "")
        rows.append([str(rank), o.label, o.capacity_text(), at, o.kind, o.change])
    out = ["\n".join(table(["#", "configuration", "capacity", expected, "kind", "what it takes"], rows))]
    limit = f"p95 under {p95_limit_ms:,.0f} ms" if p95_limit_ms else "p95 within the limit"
    out.append(
        f"\nCapacity is the most concurrent users served with {limit} and failures within the limit, found by "
        "the load test's search; `>=` marks a configuration that was still within the limits at the most users "
        "measured. Capacities within 15% of each other are the same within the search's resolution.\n"
    )
    limits = [
        f"- {o.label}: **{bottleneck.limit_name(o.bottleneck.get('tier'))}**; at {o.bottleneck.get('users')} "
        f"users, {o.bottleneck['sentence']}"
        for o in found
        if o.bottleneck and o.bottleneck.get("sentence")
    ]
    if limits:
        out.append("What limited each configuration (at the step past its knee, else its largest step):\n")
        out.append("\n".join(limits) + "\n")
    best = alternatives(found)
    if best is not None:
        out.append(best.sentence()[0].upper() + best.sentence()[1:] + ".\n")
    return "\n".join(out)
