"""The summary of a migration rehearsal that ``dbbench migrate-data`` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dbbench.rehearsal.estimate import duration, fits
from dbbench.units import format_count

if TYPE_CHECKING:
    from dbbench.rehearsal.rehearse import Rehearsal


def render(result: Rehearsal) -> str:
    """The summary the CLI prints: copy, verification, ids, smoke test, conversions, estimates."""
    lines = [f"rehearsal: {result.source.label()} -> {result.target.label()}", f"  copy at {result.target.url}"]
    if result.restarted:
        lines.append(f"  replaced the rows that were there ({result.restarted})")
    if result.copies:
        rate = result.rows / result.copy_seconds if result.copy_seconds else 0.0
        lines.append(
            f"copy: {result.rows:,} rows in {result.copy_seconds:.1f} s ({rate:,.0f} rows/s) via {result.method}, "
            f"batches of {result.batch_size:,}; ids and statistics included"
        )
        for c in result.copies:
            share = f"{c.load_seconds / c.seconds:.0%}" if c.seconds else "-"
            lines.append(
                f"  {c.table:<18} {c.rows:>11,} rows {c.seconds:>8.2f} s {c.rows_per_s:>9,.0f} rows/s"
                f"  (target loading {share} of it, indexes and keys {c.index_seconds:.2f} s)"
            )
    lines.append(
        f"verify: {result.verify_seconds:.1f} s, both servers summing row digests per id range; "
        "rows read back where the sums differ"
    )
    if result.emptied:
        lines.append(
            f"  FAILED: the source held rows in {', '.join(result.emptied)} before the copy; the copy has none"
        )
    for check in result.checks:
        verdict = "ok" if check.ok else f"MISMATCH: {check.differing_rows:,} differing rows"
        lines.append(
            f"  {check.table:<18} rows {check.source_rows:,} / {check.target_rows:,}  checksum "
            f"{check.source_checksum.split(':')[1][:12]} / {check.target_checksum.split(':')[1][:12]}  {verdict}"
        )
        if check.rewritten:
            lines.append(f"    {check.rewritten:,} rows written another way (JSON key order or escapes): equal values")
        lines += [f"    {d.describe()}" for d in check.examples]
        if check.differing_rows > len(check.examples):
            lines.append(f"    ... and {check.differing_rows - len(check.examples):,} more")
    if result.next_ids:
        lines.append("ids continue at: " + ", ".join(f"{t} {n:,}" for t, n in result.next_ids.items()))
    if result.smoke:
        lines.append(f"smoke test through the ORM: {'ok' if result.smoke_ok else 'FAILED'}")
        lines += [f"  {s}" for s in result.smoke]
    if result.conversions:
        lines.append("converted:")
        for conv in result.conversions:
            lines.append(f"  {conv.what}: {conv.source} -> {conv.target}: {conv.note}")
            lines.append(f"    ({conv.columns})")
    estimates = result.estimates()
    if estimates:
        copy_fit, verify_fit = fits(result)
        if copy_fit is None and verify_fit is None:
            lines.append(
                f"estimate, in proportion from {format_count(result.attempts)} {result.size_unit}, the only size "
                "measured (a lower bound far above it):"
            )
        else:
            lines.append("estimate, fitted to the sizes measured:")
            for what, f in (("copy", copy_fit), ("verify", verify_fit)):
                text = f.describe() if f else f"in proportion from {format_count(result.attempts)} {result.size_unit}"
                lines.append(f"  {what}: {text}")
        lines += [
            f"  {e['label']:>6} {result.size_unit}: copy {duration(e['copy_seconds'])}, "
            f"verify {duration(e['verify_seconds'])}"
            for e in estimates
        ]
        other = [p.origin for p in result.earlier if p.setup != result.setup]
        if other:
            lines.append(f"  left out, measured on other servers or another way: {', '.join(other)}")
    return "\n".join(lines)
