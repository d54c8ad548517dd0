"""Downtime estimates of a migration rehearsal for other data sizes, and ``--estimate-for`` sizes.

Measured at two or more sizes (this rehearsal's plus earlier ones, ``Point``), copy and verification time are each
fitted to a curve (``fit``): a straight line a + b*n, or a power law a*n^k when that fits the points better (three
sizes or more) or when the straight line through two sizes would need a negative fixed time (time growing faster
than the rows). With two sizes any two-parameter curve passes through both, so the choice is an assumption, and the
result says which curve and which points. Measured at one size only, the estimate scales the growing tables' time
in proportion to the rows (``estimate`` says so).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dbbench.errors import ConfigError
from dbbench.rehearsal.copy import TableCopy
from dbbench.units import format_count, parse_count

# The copy and verification whose times the points measure; another algorithm's times are not comparable.
ALGORITHM = "copy-out, indexes deferred; digest sums per id range"


def setup_of(source_vendor: str, target_vendor: str, method: str) -> str:
    """What a time measures besides the size: the servers, the load path and the algorithm."""
    return f"{source_vendor} -> {target_vendor} via {method or 'no copy'}; {ALGORITHM}"


@dataclass(frozen=True)
class Point:
    """One measured size: attempts, copy and verification seconds (None: not measured there), and where from."""

    attempts: int
    copy_seconds: float | None
    verify_seconds: float | None
    origin: str  # "this rehearsal" or the result file it came from
    setup: str  # setup_of(): only points of the same setup are fitted together

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "copy_seconds": None if self.copy_seconds is None else round(self.copy_seconds, 3),
            "verify_seconds": None if self.verify_seconds is None else round(self.verify_seconds, 3),
            "origin": self.origin,
        }


class Rehearsal(Protocol):
    """What an estimate needs of a rehearsal (``rehearse.Rehearsal``; a protocol keeps the imports one-way)."""

    # Read-only (properties): a protocol's plain attributes would have to match the implementation's types exactly.
    @property
    def copies(self) -> Sequence[TableCopy]: ...
    @property
    def copy_seconds(self) -> float: ...
    @property
    def verify_seconds(self) -> float: ...
    @property
    def verify_table_seconds(self) -> dict[str, float]: ...

    @property
    def attempts(self) -> int: ...

    def points(self) -> list[Point]: ...  # this rehearsal's size first, then earlier ones of the same setup


ESTIMATE_ATTEMPTS = (1_000_000, 10_000_000, 100_000_000)
LINEAR, POWER = "linear", "power"


@dataclass(frozen=True)
class Fit:
    """seconds = a + b*n (linear) or a * n**b (power), fitted to the points at ``sizes``."""

    kind: str
    a: float
    b: float
    sizes: tuple[int, ...]
    error: float  # the largest relative error at the measured points (0: through all of them)

    def at(self, attempts: int) -> float:
        return self.a + self.b * attempts if self.kind == LINEAR else self.a * attempts**self.b

    def describe(self) -> str:
        if self.kind == LINEAR:
            curve = f"{self.a:.1f} s + {self.b * 1e6:.2f} s per million attempts"
        else:
            curve = f"{self.a:.3g} s * n^{self.b:.2f}"
        sizes = ", ".join(format_count(n) for n in self.sizes)
        if len(self.sizes) == 2:  # any two-parameter curve passes through two points: no error to speak of
            return f"{curve} ({self.kind}, through both sizes measured: {sizes})"
        fitted = f"fitted to {len(self.sizes)} sizes: {sizes}"
        return f"{curve} ({self.kind}, {fitted}; largest error at them {self.error:.0%})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "a": self.a,
            "b": self.b,
            "sizes": list(self.sizes),
            "max_relative_error": round(self.error, 4),
            "text": self.describe(),
        }


def fit(points: Sequence[tuple[int, float]]) -> Fit | None:
    """The curve for seconds at n attempts through ``points`` (n, seconds); None with fewer than two sizes."""
    points = [(n, y) for n, y in points if n > 0 and y > 0]
    sizes = tuple(sorted({n for n, _ in points}))
    if len(sizes) < 2:
        return None
    linear = _fit_linear(points, sizes)
    power = _fit_power(points, sizes)
    if len(sizes) == 2:
        # Both pass through both sizes: the straight line (a fixed part plus a part per row) unless its fixed part
        # would be negative, which says time grows faster than the rows.
        return linear if linear.a >= 0 else power
    return min((linear, power), key=lambda f: (_rms_error(f, points), f.kind != LINEAR))


def _fit_linear(points: list[tuple[int, float]], sizes: tuple[int, ...]) -> Fit:
    # Least squares of the relative error (weights 1/y^2): the sizes span orders of magnitude.
    w = [1 / y**2 for _, y in points]
    sw = sum(w)
    sx = sum(wi * n for wi, (n, _) in zip(w, points, strict=True))
    sy = sum(wi * y for wi, (_, y) in zip(w, points, strict=True))
    sxx = sum(wi * n * n for wi, (n, _) in zip(w, points, strict=True))
    sxy = sum(wi * n * y for wi, (n, y) in zip(w, points, strict=True))
    b = (sw * sxy - sx * sy) / (sw * sxx - sx * sx)
    a = (sy - b * sx) / sw
    return _with_error(Fit(LINEAR, a, b, sizes, 0.0), points)


def _fit_power(points: list[tuple[int, float]], sizes: tuple[int, ...]) -> Fit:
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    k = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return _with_error(Fit(POWER, math.exp(my - k * mx), k, sizes, 0.0), points)


def _with_error(f: Fit, points: list[tuple[int, float]]) -> Fit:
    error = max(abs(f.at(n) - y) / y for n, y in points)
    return Fit(f.kind, f.a, f.b, f.sizes, error if error > 1e-9 else 0.0)


def _rms_error(f: Fit, points: list[tuple[int, float]]) -> float:
    return math.sqrt(sum(((f.at(n) - y) / y) ** 2 for n, y in points) / len(points))


def fits(result: Rehearsal) -> tuple[Fit | None, Fit | None]:
    """The copy's and the verification's fitted curves (None where fewer than two sizes were measured)."""
    points = result.points()
    return (
        fit([(p.attempts, p.copy_seconds) for p in points if p.copy_seconds is not None]),
        fit([(p.attempts, p.verify_seconds) for p in points if p.verify_seconds is not None]),
    )


def _growing() -> set[str]:
    """Tables that grow with the attempts (``dbbench.seed.datagen``: one student per 20); the others stay put."""
    from dbbench.quiz.models import QuizAttempt, Student

    return {Student._meta.db_table, QuizAttempt._meta.db_table}


def estimate(result: Rehearsal, attempts: int) -> dict[str, Any]:
    """Copy and verification time for ``attempts`` attempts: from the fitted curves (``fits``) where two sizes or
    more were measured, else scaled in proportion from this rehearsal's times (``basis`` says which).

    Scaling in proportion leaves out that indexes get slower to maintain once they outgrow the server's buffers,
    so figures far above the measured size are lower bounds.
    """
    copy_fit, verify_fit = fits(result)
    copy, verify = _proportional(result, attempts)
    if copy_fit is not None:
        copy = max(copy_fit.at(attempts), 0.0)
    if verify_fit is not None:
        verify = max(verify_fit.at(attempts), 0.0)
    return {
        "attempts": attempts,
        "label": format_count(attempts) if len(format_count(attempts)) <= 5 else f"~{attempts / 1e6:.1f}m",
        "copy_seconds": round(copy, 1),
        "verify_seconds": round(verify, 1),
        "downtime_seconds": round(copy + verify, 1),
        "downtime": duration(copy + verify),
        "measured_at": result.attempts,
        "copy_basis": copy_fit.kind if copy_fit else "proportional",
        "verify_basis": verify_fit.kind if verify_fit else "proportional",
    }


def _proportional(result: Rehearsal, attempts: int) -> tuple[float, float]:
    """Copy and verification time with the growing tables' share scaled in proportion to the attempts."""
    growing = getattr(result, "growing", None) or _growing()  # a project's copy: every table grows
    factor = attempts / result.attempts if result.attempts else 0.0
    fixed = sum(c.seconds for c in result.copies if c.table not in growing)
    scaled = sum(c.seconds for c in result.copies if c.table in growing)
    rest = max(result.copy_seconds - fixed - scaled, 0.0)  # ids and statistics: they grow with the data
    copy = fixed + (scaled + rest) * factor
    v_fixed = sum(s for t, s in result.verify_table_seconds.items() if t not in growing)
    verify = v_fixed + (result.verify_seconds - v_fixed) * factor
    return copy, verify


def load_points(paths: Sequence[Path]) -> list[Point]:
    """The measured sizes of earlier rehearsal result files that verified, each with its setup; a rehearsal fits
    only those of its own setup (others measure something else)."""
    from dbbench.errors import ResultsError
    from dbbench.results import load_result

    points = []
    for path in paths:
        _, document = load_result(path, "rehearsal")
        data = document["data"]
        problem = _implausible(data)
        if problem:  # checked before anything is copied: the fit would divide by it after the whole copy
            raise ResultsError(f"{path}: {problem}: not a rehearsal dbbench measured")
        attempts = data.get("attempts")
        if not data.get("ok") or not isinstance(attempts, int) or attempts <= 0:
            continue
        vendors, method = (str(data.get("source_vendor")), str(data.get("target_vendor"))), str(data.get("method"))
        algorithm = data.get("algorithm") or "one from before dbbench recorded it"
        setup = setup_of(*vendors, method) if algorithm == ALGORITHM else f"another algorithm: {algorithm}"
        copy, verify = _seconds(data.get("copy_seconds")), _seconds(data.get("verify_seconds"))
        origin = path.name if path.name != "rehearsal.json" else f"{path.parent.name}/{path.name}"  # a run's
        points.append(Point(attempts, copy, verify, origin, setup))
    return points


def earlier_points(directory: Path, *, skip: Path | None = None) -> list[Point]:
    """The sizes earlier rehearsals measured under ``directory`` (``migrate-data``'s ``rehearsal-*.json`` and each
    run's ``*/rehearsal.json``), newest last, so a run at a new size is fitted with the ones before it. A file that
    is not a readable rehearsal result is passed over: these are not the run's inputs."""
    from dbbench.errors import ResultsError

    found = [*directory.glob("rehearsal-*.json"), *directory.glob("*/rehearsal.json")]
    points: list[Point] = []
    for path in sorted(found, key=lambda p: p.stat().st_mtime):
        if skip is not None and path.resolve() == skip.resolve():
            continue
        try:
            points += load_points([path])
        except (ResultsError, OSError, KeyError, TypeError):
            continue
    # The newest measurement of each size counts (a server or the code may have changed since the older one).
    newest = {(p.setup, p.attempts): p for p in points}
    return sorted(newest.values(), key=lambda p: p.attempts)


MIN_SECONDS, MAX_SECONDS = 1e-3, 1e8  # a millisecond to three years: what a measured copy can have taken


def _implausible(data: dict[str, Any]) -> str | None:
    """Why a rehearsal file's figures cannot be a measurement (a boolean, an extreme or non-finite number), or None."""
    attempts = data.get("attempts")
    if attempts is not None and (
        isinstance(attempts, bool) or not isinstance(attempts, int) or not 0 <= attempts <= MAX_ESTIMATE_ATTEMPTS
    ):
        return f"attempts is {attempts!r}, not a count from 0 to {MAX_ESTIMATE_ATTEMPTS}"
    for key in ("copy_seconds", "verify_seconds"):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return f"{key} is {value!r}, not a number of seconds"
        if value and not MIN_SECONDS <= value <= MAX_SECONDS:
            return f"{key} is {value!r}, outside {MIN_SECONDS:g} to {MAX_SECONDS:g} seconds"
    return None


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and value > 0 else None


_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b\s*$", re.IGNORECASE)


MAX_ESTIMATE_BYTES = 2**50  # 1 PiB
MAX_ESTIMATE_ATTEMPTS = 10**12


def check_estimate_sizes(texts: list[str]) -> None:
    """Refuse a bad --estimate-for before anything runs (sizes in bytes are turned into attempts afterwards)."""
    for text in texts:
        match = _BYTES.match(text)
        if match and _bytes(match) > MAX_ESTIMATE_BYTES:
            raise ConfigError(f"bad --estimate-for size {text!r}: at most 1 PiB of source data")
        if not match and parse_count(text, what="--estimate-for size") > MAX_ESTIMATE_ATTEMPTS:
            raise ConfigError(f"bad --estimate-for size {text!r}: at most {MAX_ESTIMATE_ATTEMPTS:,} attempts")


def _bytes(match: re.Match[str]) -> float:
    return float(match.group(1)) * 1024 ** " kmgt".index(match.group(2).lower() or " ")


def parse_estimate_size(text: str, result: Rehearsal) -> int:
    """``5m`` (attempts) or ``20GB`` (of source data: turned into attempts with the source's bytes per attempt)."""
    match = _BYTES.match(text)
    if not match:
        return parse_count(text, what="--estimate-for size")
    size = sum(c.source_bytes for c in result.copies if c.table in _growing())
    if not (result.attempts and size):
        raise ConfigError(f"cannot turn {text!r} into attempts: nothing was copied to measure bytes per attempt")
    return max(1, min(round(_bytes(match) / (size / result.attempts)), MAX_ESTIMATE_ATTEMPTS))


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
