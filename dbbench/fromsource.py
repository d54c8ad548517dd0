"""``dbbench run --app PATH --from SOURCE``: the team's own data rehearsed, and its own queries replayed on it.

SOURCE is the team's PostgreSQL database. It is only ever read: the rehearsal copies it (``dbbench migrate-data
--app``) into a database of dbbench's on the candidate's server, and once more onto the baseline's server, so that
the replay of the project's captured queries runs on two copies of the same data on the servers being compared.
The replay never touches SOURCE itself: its rolled-back writes still take locks and draw ids from sequences, and a
production server measured against a local candidate would not be a fair comparison anyway.

Each copy runs in a child process (``python -m dbbench migrate-data --app``): Django is configured once per
process, and the copy needs the project's settings while the run's other stages use dbbench's.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Collection
from pathlib import Path

from dbbench import processes
from dbbench.app.detect import Project
from dbbench.backends.targets import ENV_TARGETS, Target, parse_target
from dbbench.errors import ConfigError, mask_secrets, mask_url
from dbbench.results import load_result, write_result

CAPTURE_FILE = "app.capture.json"  # the suite's queries on the baseline (dbbench app --capture)
BASELINE_COPY_FILE = "replay-baseline-copy.json"  # the copy the replay's baseline side runs on
COPY_TIMEOUT_S = 6 * 3600


def parse_source(url: str, taken: Collection[str] = ()) -> Target:
    """``--from URL`` as a target, refused in one line unless it is of the baseline's family (PostgreSQL).

    Its name is one no configured target has (the copy's child process gets both under their names)."""
    from dbbench.backends.registry import baseline_vendors

    name = next(n for n in ("source", "source_db", "team_source") if n not in taken)
    try:
        source = parse_target(name, url)
    except ConfigError as exc:
        raise ConfigError(f"--from: {exc}") from None
    if not source.spec.baseline:
        raise ConfigError(
            f"--from {source.safe_url}: the team's database must be {' or '.join(baseline_vendors())} "
            f"(the server you would move from), not {source.family}"
        )
    return source


def check_source(url: str, targets: list[Target]) -> Target:
    """SOURCE parsed, reached, and not one of the databases this run writes (a target's, or a copy's): one line
    and nothing written otherwise."""
    from dbbench.rehearsal.appcopy import copy_target_for
    from dbbench.rehearsal.rehearse import database_identity

    if len(targets) != 2:
        raise ConfigError(
            f"--from replays your queries on one baseline and one candidate: give two targets, not {len(targets)}"
        )
    source = parse_source(url, {t.name for t in targets})
    mine = database_identity(source)  # reaches the server: an unreachable SOURCE is one line here
    for target in targets:
        for written in (target, copy_target_for(source, target, None)):
            if written.family == source.family and database_identity(written) == mine:
                raise ConfigError(
                    f"--from {source.safe_url} is the database {written.safe_url} that this run writes to "
                    f"(target {target.name}); give the team's database, which dbbench only reads"
                )
    with source.spec.connection(source, source.database) as conn:  # the database exists and lets us read it
        cursor = conn.cursor()
        cursor.execute(source.spec.list_tables_sql())
        tables = {row[0] for row in cursor.fetchall()}
    # The commonest slip, caught before the suite runs; whether its migrations are the project's is the
    # rehearsal's check (it needs the project loaded).
    if "django_migrations" not in tables:
        raise ConfigError(
            f"--from {source.safe_url} is not a Django project's database (no django_migrations table): give the "
            "database your project runs on"
        )
    return source


def describe(source: Target, echo: Callable[[str], None]) -> None:
    """The doctor stage's line for SOURCE: what it is, and that it is only read."""
    from dbbench.doctor import probe

    p = probe(source)
    if not p.ok or p.info is None:
        raise ConfigError(f"--from {source.safe_url}: {p.error}")
    echo(f"    --from: {p.info.vendor} {p.info.version} at {source.safe_url} (only read)")


def rehearse(
    project: Project, source: Target, target: Target, output: Path, echo: Callable[[str], None], allow_foreign: bool
) -> Path:
    """Copy SOURCE into ``<target database>_appcopy`` on ``target``'s server and verify it (``migrate-data
    --app``, replacing an earlier copy); returns the rehearsal result file. A copy that does not verify fails."""
    argv = [
        *("migrate-data", "--app", str(project.root), "--settings", project.settings),
        *("--from", source.name, "--to", target.name, "--replace", "--output", str(output)),
        *(["--allow-foreign-database"] if allow_foreign else []),
    ]
    env = {**os.environ, ENV_TARGETS: f"{source.name}={source.url},{target.name}={target.url}"}
    log = output.with_suffix(".log")
    log.unlink(missing_ok=True)
    child = processes.spawn(
        "migrate-data", [sys.executable, "-m", "dbbench", *argv], env=env, cwd=output.parent, log=log
    )
    shown = 0
    try:
        code = None
        for _ in processes.deadline_loop(COPY_TIMEOUT_S, interval=1.0):
            code = child.popen.poll()
            shown = _relay(log, shown, echo)
            if code is not None:
                break
    finally:
        if child.running():
            processes.stop(child)
    _relay(log, shown, echo)
    text = log.read_text(errors="replace") if log.exists() else ""
    log.unlink(missing_ok=True)  # its lines were shown; the result file holds the rest
    errors = [line.removeprefix("dbbench: error: ") for line in text.splitlines() if line.startswith("dbbench: error:")]
    if code is None:
        raise ConfigError(f"the copy to {target.name} did not finish within {COPY_TIMEOUT_S / 3600:g} h")
    if code != 0 or not output.exists():
        tail = " | ".join(line.strip() for line in text.splitlines()[-2:] if line.strip())
        why = errors[-1] if errors else f"exit {code}: {tail}"
        # run has no --into: the copy's name follows the target's database, so that is what to change.
        why = why.replace("copy --into another database", "point the target at another database (copy: <db>_appcopy)")
        raise ConfigError(mask_secrets(f"copy to {target.name}: {why}", [source, target]))
    _, document = load_result(output, "rehearsal")
    data = document["data"]
    echo(
        f"    {data['source']} -> {data['target']}: {len(data['tables'])} tables, {data['rows']:,} rows, "
        f"copy {data['copy_seconds']:.1f} s, verify {data['verify_seconds']:.1f} s, every row equal"
    )
    return output


def _relay(log: Path, shown: int, echo: Callable[[str], None]) -> int:
    """Echo the child's progress lines written since the last call; returns how many lines have been seen."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return shown
    lines = text.splitlines()
    if lines and not text.endswith("\n"):
        lines.pop()  # a line the child is still writing: shown once it is whole
    for line in lines[shown:]:
        if line.startswith(("progress ", "not copied")):
            echo("    " + mask_url(line))
    return len(lines)


def replay(
    project: Project,
    source: Target,
    targets: list[Target],
    out: Path,
    echo: Callable[[str], None],
    allow_foreign: bool,
    seconds: float,
) -> list[Path]:
    """The capture replayed on SOURCE's copies on both servers (the baseline's copy made here), under the
    targets' own names so that the report matches the replay with the other stages' results."""
    from dbbench.replay import launch
    from dbbench.replay.run import Options

    capture = out / CAPTURE_FILE
    if not capture.exists():
        raise ConfigError(f"no capture of the suite's queries ({capture.name}): the app stage did not write one")
    base, cand = targets
    echo(f"    copying --from to {base.name} too (the replay's baseline side)")
    rehearse(project, source, base, out / BASELINE_COPY_FILE, echo, allow_foreign)
    pair = []
    for target in targets:
        copy = launch.complete_copy(source, target)
        if copy is None:  # the rehearsal stage leaves a verified copy, or fails
            raise ConfigError(f"no complete copy of --from on {target.name}: the rehearsal did not finish")
        pair.append(dataclasses.replace(copy, name=target.name))
    echo(f"    replaying on {pair[0].safe_url} and {pair[1].safe_url}")
    data = launch.replay(capture, pair, project=project, options=Options(cap_s=seconds))
    path = write_result(out / "replay.json", "replay", data)
    from dbbench.replay.render import render_text

    for line in render_text(data).splitlines()[1:3]:  # the shapes' fates, and the mix
        echo("    " + line)
    if not data["data_unchanged"]:
        raise ConfigError("the replay changed the copies' row counts (see replay.json)")
    return [path]
