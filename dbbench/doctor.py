"""``dbbench doctor``: is each server reachable, what is it really, and is the comparison fair?"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from dbbench.backends.spec import ServerInfo
from dbbench.backends.targets import Target
from dbbench.errors import DbbenchError
from dbbench.servers import resource_limits, settings_source

SOURCE_KEY = "settings_source"  # "set by dbbench" or "as found", recorded with the other settings
LIMITS_KEY = "resource_limits"  # a managed server's CPU and memory limits as the kernel reports them


@dataclass(frozen=True)
class Probe:
    """One target as seen by the doctor: either ``info`` or ``error`` is set."""

    target: Target
    info: ServerInfo | None
    error: str | None
    cause: DbbenchError | None = field(default=None, compare=False, repr=False)  # what --debug shows

    @property
    def ok(self) -> bool:
        return self.info is not None

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "alias": self.target.name,
            "url": self.target.safe_url,
            "family": self.target.family,
            "reachable": self.ok,
        }
        if self.info:
            result.update(self.info.as_dict())
        if self.error:
            result["error"] = self.error
        return result


def server_info(target: Target) -> ServerInfo:
    """Ask the server itself what it is and how it is configured (raises :class:`DbbenchError`)."""
    spec = target.spec
    # Read the target database's collation if it exists, else settle for the server's defaults.
    with spec.connection(target, None) as conn:
        cur = conn.cursor()
        cur.execute(spec.database_exists_sql(), (target.database,))
        exists = cur.fetchone() is not None
    with spec.connection(target, target.database if exists else None) as conn:
        try:
            info = spec.server_info(conn.cursor(), target.database if exists else None)
        except spec.driver_errors as exc:
            raise DbbenchError(f"{target.name}: connected, but reading server settings failed: {exc}") from None
    # Whether dbbench configured this server (a managed one) or measures it as its owner left it.
    extra = {SOURCE_KEY: settings_source(target), LIMITS_KEY: resource_limits(target)}
    return replace(info, settings={**info.settings, **extra})


def probe(target: Target) -> Probe:
    try:
        return Probe(target, server_info(target), None)
    except DbbenchError as exc:
        return Probe(target, None, str(exc), exc)


def fairness_warnings(probes: list[Probe]) -> list[str]:
    """Plain-words warnings about settings that would make the comparison unfair."""
    infos = [(p.target.name, p.info) for p in probes if p.info]
    warnings: list[str] = []
    durable = {name: info.durable for name, info in infos}
    if len(set(durable.values())) > 1:
        strong = ", ".join(n for n, d in durable.items() if d)
        weak = ", ".join(n for n, d in durable.items() if not d)
        warnings.append(
            f"unequal durability: {strong} wait for every commit to reach the disk, {weak} do not; "
            "write latencies are not comparable"
        )
    sizes = {name: info.buffer_bytes for name, info in infos}
    if sizes and max(sizes.values()) > 2 * max(1, min(sizes.values())):
        listed = ", ".join(f"{n} {b / 2**20:.0f} MiB" for n, b in sizes.items())
        warnings.append(f"unequal buffer memory ({listed}): large data sizes measure configuration, not engines")
    return warnings


def render(probes: list[Probe]) -> str:
    lines: list[str] = []
    for p in probes:
        if not p.info:
            lines.append(f"{p.target.name}: UNREACHABLE: {p.error}")
            continue
        info = p.info
        lines.append(f"{p.target.name}: {info.vendor} {info.version} at {p.target.safe_url}")
        lines.append(
            f"  durable commits: {'yes' if info.durable else 'NO'}; buffer: {info.buffer_bytes / 2**20:.0f} MiB"
        )
        for key, value in sorted(info.settings.items()):
            lines.append(f"  {key} = {value}")
    for warning in fairness_warnings(probes):
        lines.append(f"warning: {warning}")
    return "\n".join(lines)
