"""Behaviour parity suite: the same Django queries on every backend, compared against the first target.

Each probe of :mod:`dbbench.parity.probes` runs on every target in a scratch database of dbbench's own
(``<database>_parity``, created, marked and dropped here), against ``fixtures/parity.json``. The result per probe:

- ``same``: every target returned what the first one returned;
- ``different``: a target returned something else (both values are kept);
- ``unsupported``: a target raised an error where the first did not (or the other way round); the error is kept.

The SQL Django sent is recorded for every probe and target.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The JSON lookups this suite's probes find to differ live beside the audit's rules that flag them (one direction
# between the packages: parity -> audit); tests/test_parity.py checks a live run against them.
from dbbench.audit.rules import DIFFERING_JSON_LOOKUPS, JSON_LOOKUP_NOTES, rules_for_probe  # noqa: F401
from dbbench.backends.targets import Target
from dbbench.errors import ConfigError, mask_secrets, one_line
from dbbench.progress import Status

FIXTURE = Path(__file__).resolve().parent / "data" / "parity.json"
SCRATCH_SUFFIX = "_parity"
# Transaction-control statements are noise in the recorded SQL: every write probe runs in a rolled-back block.
_NOISE_PREFIXES = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")

_UNRECORDED = "(statement refused; the driver kept no text)"

SAME, DIFFERENT, UNSUPPORTED = "same", "different", "unsupported"


@dataclass(frozen=True)
class Observation:
    """What one probe did on one target: a value or an error, the SQL sent, and any warnings."""

    value: Any = None
    error: dict[str, str] | None = None  # {"type": "NotSupportedError", "message": "..."}
    sql: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def signature(self) -> str:
        """What is compared across targets: the value, or the error's type (messages differ by vendor)."""
        if self.error is not None:
            return "error:" + self.error["type"]
        return json.dumps(self.value, sort_keys=False, ensure_ascii=False)

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "error": self.error, "sql": self.sql, "warnings": self.warnings}


@dataclass(frozen=True)
class ProbeResult:
    """One probe across every target."""

    name: str
    category: str
    title: str
    hint: str
    json_lookups: tuple[str, ...]
    outcome: str  # same | different | unsupported
    unsupported_on: list[str]  # target names that raised where the first did not (or the first, if it raised)
    different_on: list[str]  # target names whose value differs from the first's
    observations: dict[str, Observation]

    @property
    def label(self) -> str:
        """``same``, ``different on mysql`` or ``unsupported on mysql``: the outcome in words."""
        if self.outcome == UNSUPPORTED:
            return f"unsupported on {', '.join(self.unsupported_on)}"
        if self.outcome == DIFFERENT:
            return f"different on {', '.join(self.different_on)}"
        return SAME

    def as_dict(self, vendors: dict[str, str]) -> dict[str, Any]:
        return {
            "name": self.name,
            "category": self.category,
            "title": self.title,
            "outcome": self.outcome,
            "label": self.label,
            "unsupported_on": self.unsupported_on,
            "different_on": self.different_on,
            "json_lookups": list(self.json_lookups),
            "what_to_change": None if self.outcome == SAME else self.hint,
            # The other direction of the audit's map: which rules find this construct in a project's code.
            "audit_rules": rules_for_probe(self.name, json_lookups=tuple(self.json_lookups)),
            "results": {
                alias: {"vendor": vendors.get(alias), **obs.as_dict()} for alias, obs in self.observations.items()
            },
        }


@dataclass(frozen=True)
class ParityReport:
    """The whole suite: which servers, and every probe's result."""

    targets: list[dict[str, Any]]  # name, vendor, version, family, url (masked), database
    results: list[ProbeResult]

    @property
    def vendors(self) -> dict[str, str]:
        return {t["name"]: t["vendor"] for t in self.targets}

    def counts(self) -> dict[str, int]:
        counts = {SAME: 0, DIFFERENT: 0, UNSUPPORTED: 0}
        for result in self.results:
            counts[result.outcome] += 1
        return counts

    def differing_json_lookups(self) -> list[str]:
        """JSON lookups exercised by probes that did not come out ``same`` in this run."""
        return sorted({lk for r in self.results if r.outcome != SAME for lk in r.json_lookups})

    def as_dict(self) -> dict[str, Any]:
        vendors = self.vendors
        return {
            "targets": self.targets,
            "baseline": self.targets[0]["name"] if self.targets else None,
            "summary": self.counts(),
            "differing_json_lookups": self.differing_json_lookups(),
            "probes": [r.as_dict(vendors) for r in self.results],
        }


# --- running ------------------------------------------------------------------------------------------------


def run_parity(
    targets: list[Target],
    output_dir: Path | None = None,
    *,
    only: list[str] | None = None,
    keep_database: bool = False,
    status: Status | None = None,
) -> Path:
    """The parity stage (``dbbench run`` calls it): run every probe, write ``<output_dir>/parity.json``, return it.

    ``status``: where to show the probe being run and the time left."""
    path = output_path(Path(output_dir) / "parity.json" if output_dir else None)
    return write_parity(run_probes(targets, only=only, keep_database=keep_database, status=status), path)


def run_probes(
    targets: list[Target],
    *,
    only: list[str] | None = None,
    suffix: str = SCRATCH_SUFFIX,
    keep_database: bool = False,
    status: Status | None = None,
) -> ParityReport:
    """Run the probes (all, or those named in ``only``) on every target and compare each with the first.

    Sets Django up for ``targets`` unless something already has. The scratch databases are registered as extra
    connection aliases, so the targets' own databases are never written to.
    """
    from django.apps import apps

    from dbbench import djangoenv
    from dbbench.doctor import server_info
    from dbbench.parity.probes import catalogue

    if not targets:
        raise ConfigError("parity needs at least one target")
    if not apps.ready:
        djangoenv.setup(targets)
    probes = catalogue()
    if only:
        known = {p.name for p in probes}
        unknown = [name for name in only if name not in known]
        if unknown:
            raise ConfigError(f"unknown probe(s): {', '.join(unknown)} (see dbbench parity --list)")
        probes = [p for p in probes if p.name in only]
    described: list[dict[str, Any]] = []
    started = time.monotonic()
    observations: dict[str, dict[str, Observation]] = {p.name: {} for p in probes}
    for target in targets:
        with scratch_alias(target, suffix=suffix, keep=keep_database) as alias:
            # The scratch database's own collation: the string probes depend on it.
            info = server_info(target.with_database(target.database + suffix))
            described.append(
                {
                    "name": target.name,
                    "vendor": info.vendor,
                    "version": info.version,
                    "family": target.family,
                    "collation": info.settings.get("collation"),
                    "url": target.safe_url,
                    "database": target.database + suffix,
                }
            )
            for number, p in enumerate(probes):
                if status is not None:  # the time left: the pace so far, over the probes still to run
                    done, total = (len(described) - 1) * len(probes) + number, len(targets) * len(probes)
                    eta = (time.monotonic() - started) / done * (total - done) if done else None
                    status.update(f"{target.name}: {p.category} ({p.name})", done, total, eta)
                observations[p.name][target.name] = observe(p.func, alias, target)
    results = [compare(p, observations[p.name], [t.name for t in targets]) for p in probes]
    return ParityReport(described, results)


def observe(func: Any, alias: str, target: Target) -> Observation:
    """Run one probe on one alias: its value or error, the SQL sent and the warnings raised."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    connection = connections[alias]
    capture = CaptureQueriesContext(connection)
    value: Any = None
    error: dict[str, str] | None = None
    # Warnings are recorded, not raised (pytest runs with filterwarnings=error) and not printed.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with capture:
                value = _jsonable(func(alias))
        except Exception as exc:  # any failure of a probe is a finding, recorded in one line
            error = {"type": type(exc).__name__, "message": one_line(exc, [target])}
    # A driver may keep no text for a refused statement (a driver in an aborted transaction may give None, Django's
    # MySQL backend then writes "None" after a lock wait timeout): say so.
    texts = [_UNRECORDED if q["sql"] in (None, "None") else q["sql"] for q in capture.captured_queries]
    sql = [mask_secrets(text, [target]) for text in texts if not text.startswith(_NOISE_PREFIXES)]
    return Observation(value, error, sql, sorted({f"{w.category.__name__}: {w.message}" for w in caught}))


def compare(probe: Any, observations: dict[str, Observation], order: list[str]) -> ProbeResult:
    """Classify one probe's observations against the first target's."""
    first = observations[order[0]]
    unsupported: list[str] = []
    different: list[str] = []
    for name in order[1:]:
        other = observations[name]
        if other.signature == first.signature:
            continue
        if (other.error is None) != (first.error is None):
            # One side raised: the side that raised does not support what the other did.
            unsupported.append(name if other.error is not None else order[0])
        else:
            different.append(name)
    unsupported = list(dict.fromkeys(unsupported))
    outcome = UNSUPPORTED if unsupported else DIFFERENT if different else SAME
    return ProbeResult(
        name=probe.name,
        category=probe.category,
        title=probe.title,
        hint=probe.hint,
        json_lookups=probe.json_lookups,
        outcome=outcome,
        unsupported_on=unsupported,
        different_on=different,
        observations={name: observations[name] for name in order},
    )


@contextmanager
def scratch_alias(target: Target, *, suffix: str = SCRATCH_SUFFIX, keep: bool = False) -> Iterator[str]:
    """A fresh dbbench-owned database ``<database><suffix>`` with the probe tables and fixture, as an alias.

    The database is dropped afterwards unless ``keep`` (it is dbbench's own: ``drop_database`` checks the mark).
    """
    from django.core.management import call_command
    from django.db import DatabaseError

    from dbbench.backends.database import drop_database, ensure_database
    from dbbench.djangoenv import temporary_alias
    from dbbench.errors import DbbenchError
    from dbbench.parity.routers import PARITY_ALIAS_PREFIX

    scratch = target.with_database(target.database + suffix)
    # Target names cannot hold "-", so this alias never shadows a configured one (and the router knows it).
    alias = f"{PARITY_ALIAS_PREFIX}{target.name}"
    drop_database(scratch)  # a leftover from an interrupted run: only dropped if it carries dbbench's mark
    ensure_database(scratch)
    try:
        with temporary_alias(alias, scratch):
            try:
                call_command("migrate", "paritylab", database=alias, interactive=False, verbosity=0)
                call_command("loaddata", str(FIXTURE), database=alias, verbosity=0)
            except DatabaseError as exc:
                raise DbbenchError(
                    f"{target.name}: preparing the parity database failed: {one_line(exc, [target])}"
                ) from None
            yield alias
    finally:
        if not keep:
            drop_database(scratch)


def _jsonable(value: Any) -> Any:
    """Lists for tuples and querysets, str for anything JSON cannot hold: values compare and serialise alike."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or hasattr(value, "__iter__") and not isinstance(value, (str, bytes)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


# --- output -------------------------------------------------------------------------------------------------


def write_parity(report: ParityReport, path: Path) -> Path:
    """Write the report as a ``parity`` result file (atomic)."""
    from dbbench.results import write_result

    return write_result(path, "parity", report.as_dict())


def _short(obs: Observation, width: int = 60) -> str:
    if obs.error is not None:
        text = f"{obs.error['type']}: {obs.error['message']}"
    else:
        text = json.dumps(obs.value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def render(report: ParityReport, *, show_same: bool = True) -> Any:
    """A rich Table: probe, category, outcome, and each target's value (or error)."""
    from rich.table import Table
    from rich.text import Text

    colours = {SAME: "green", DIFFERENT: "yellow", UNSUPPORTED: "red"}
    counts = report.counts()
    servers = ", ".join(f"{t['name']} = {t['vendor']} {t['version']}" for t in report.targets)
    table = Table(
        title=f"Parity: {servers}",
        caption=f"{counts[SAME]} same, {counts[DIFFERENT]} different, {counts[UNSUPPORTED]} unsupported "
        f"(compared with {report.targets[0]['name']})",
        show_lines=False,
    )
    table.add_column("probe", no_wrap=True)
    table.add_column("category")
    table.add_column("outcome")
    for t in report.targets:
        table.add_column(f"{t['name']} ({t['vendor']})", overflow="fold")
    for r in report.results:
        if r.outcome == SAME and not show_same:
            continue
        colour = colours[r.outcome]
        # Text, not markup: values such as [null, 5] would otherwise be read as rich style tags.
        table.add_row(
            r.name,
            r.category,
            Text(r.label, style=colour),
            *(Text(_short(r.observations[t["name"]])) for t in report.targets),
        )
    return table


def render_hints(report: ParityReport) -> list[str]:
    """One line per probe that is not ``same``: what a user would have to change."""
    return [f"{r.name}: {r.hint}" for r in report.results if r.outcome != SAME]


def print_report(report: ParityReport, *, differences_only: bool = False) -> None:
    """The table, then what to change for every probe that is not ``same``, on the terminal."""
    from rich.console import Console

    console = Console()
    console.print(render(report, show_same=not differences_only))
    hints = render_hints(report)
    if hints:
        console.print("\n[bold]What to change[/bold]")
        for line in hints:
            console.print(f"- {line}", highlight=False, markup=False)


def describe_probes() -> list[str]:
    """``name  category  title`` for every probe in the catalogue (``dbbench parity --list``)."""
    from dbbench.parity.probes import catalogue

    probes = catalogue()
    width = max(len(p.name) for p in probes)
    return [f"{p.name:<{width}}  {p.category:<8}  {p.title}" for p in probes]


def output_path(path: Path | None) -> Path:
    """Where the parity file goes: ``path``, or ``<results dir>/parity.json``. Checked before running."""
    from dbbench import results

    return results.output_path(path, "parity.json")
