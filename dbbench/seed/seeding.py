"""Seed the quiz tables to exactly N attempts of deterministic data: fast, growable, resumable.

- The seeder assigns ids itself (attempt ``j`` is id ``j + 1``), so foreign keys need no look-ups and the rows it
  owns are exactly ids ``1..N``; sequences are reset afterwards through Django (``sequence_reset_sql``).
- Each batch (students, attempts and the progress row ``SeedState``) is one transaction: after ``kill -9`` the
  server rolls the open batch back and the next run continues from the last committed one.
- Growing from M to N adds exactly the rows ``M..N-1``; they do not depend on M (see ``dbbench.seed.datagen``).
- Generation (Python, main thread) overlaps loading (server, worker thread): while the server ingests batch k
  through COPY / LOAD DATA, Python renders batch k+1. At most two batches exist at a time, so memory is bounded.
- From empty, the attempts table is loaded without its secondary indexes and foreign keys, which are built and
  checked afterwards, as pg_restore does (``dbbench.backends.bulkload.defer_constraints``). What was dropped is
  recorded first, so a run killed before the rebuild leaves the next run (of any size) to finish it.
"""

from __future__ import annotations

import contextlib
import resource
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from dbbench import djangoenv, servers
from dbbench import progress as shown
from dbbench.backends import bulkload
from dbbench.backends.bulkload import BatchFile
from dbbench.backends.database import MARKER_TABLE, exclusive
from dbbench.backends.targets import Target
from dbbench.errors import ConfigError, DbbenchError, ForeignDatabaseError, mask_secrets
from dbbench.seed import DEFAULT_SEED, datagen
from dbbench.seed.datagen import DataGenerator, students_for
from dbbench.units import parse_count

BATCH_ROWS = 50_000  # attempts per transaction: what a crash can cost, and the unit of the pipeline


@dataclass(frozen=True)
class SeedResult:
    alias: str
    vendor: str  # the server's own name for itself, as Django's backend reports it
    attempts: int  # QuizAttempt rows now (exactly what was asked for)
    added: int
    removed: int  # rows deleted: shrinking, replaced data, or rows the seeder had not written
    restarted: str | None  # why existing data was replaced rather than grown, if it was
    seconds: float  # seeding time (generation + loading), after the database exists and is migrated
    rows_per_s: float  # added / seconds
    seed: int
    students: int
    quizzes: int
    questions: int
    method: str  # COPY, LOAD DATA LOCAL INFILE or bulk_create
    batches: int
    peak_rss_bytes: int  # the process's peak resident memory so far (see peak_rss_bytes())
    batch_file_bytes: int  # the largest batch file; up to two exist at a time, in memory but outside the RSS
    rebuilt: int  # indexes and foreign keys dropped for the load (by this run or a killed one) and re-created
    rebuild_seconds: float  # of ``seconds``: re-creating them and checking the rows against the foreign keys

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def seed(
    target: Target,
    attempts: int | str,
    *,
    seed: int = DEFAULT_SEED,
    progress: bool | None = None,
    allow_foreign: bool = False,
    batch_rows: int = BATCH_ROWS,
    method: str | None = None,
    reset: bool = False,
) -> SeedResult:
    """Bring ``target``'s quiz tables to exactly ``attempts`` attempts of the data ``seed`` makes.

    Creates and migrates the database first. Django must be set up with ``target.name`` among its aliases.
    ``progress``: a bar on a terminal (None: only if stderr is one; plain lines otherwise; False: silent).
    ``method``: ``fast`` or ``bulk_create`` (default: fast when the server allows it). ``reset`` reseeds from 0.
    """
    attempts = parse_count(attempts, what="attempts")
    check_seed(seed)
    servers.check_disk(target, attempts)  # a managed server's disk: refuse before writing anything
    if batch_rows < 1:
        raise ConfigError(f"bad batch size {batch_rows}: must be at least 1")
    try:
        # Two seeders on one database would race (creating it, migrating, the same ids): the second one refuses.
        with exclusive(target, "seeding"):
            djangoenv.prepare(target, allow_foreign=allow_foreign)
            return _Seeder(target, seed, batch_rows, _Progress.create(target.name, progress)).run(
                attempts, method, reset
            )
    except DbbenchError:
        raise
    except Exception as exc:
        from django.db import Error

        if isinstance(exc, (Error, *target.spec.driver_errors)):
            text = " ".join(str(exc).split()) or type(exc).__name__
            raise DbbenchError(f"{target.name}: seeding failed: {mask_secrets(text, [target])}") from None
        raise


def describe(result: SeedResult, checksums: dict[str, str] | None = None) -> str:
    """One ``key=value`` line per target: readable, and parseable when stdout is not a terminal."""
    fields = {
        "attempts": result.attempts,
        "added": result.added,
        "removed": result.removed,
        "seconds": f"{result.seconds:.2f}",
        "rows_per_s": f"{result.rows_per_s:.0f}",
        "method": result.method.replace(" ", "_"),
        "seed": result.seed,
        "peak_rss_mb": f"{result.peak_rss_bytes / 2**20:.0f}",
    }
    if result.restarted:
        fields["restarted"] = f'"{result.restarted}"'
    line = f"{result.alias} ({result.vendor}): " + " ".join(f"{k}={v}" for k, v in fields.items())
    for table, value in (checksums or {}).items():
        line += f"\n  checksum {table}={value}"
    return line


def check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ConfigError(f"bad seed {seed!r}: use a whole number from 0 to 2^63-1")


def preflight(targets: list[Target], *, allow_foreign: bool = False) -> None:
    """Refuse before writing anywhere: a server that is down, or a database that is not dbbench's."""
    for target in targets:
        spec = target.spec
        with spec.connection(target, None) as conn:
            cur = conn.cursor()
            cur.execute(spec.database_exists_sql(), (target.database,))
            exists = cur.fetchone() is not None
        if not exists or allow_foreign:
            continue
        with spec.connection(target, target.database) as conn:
            cur = conn.cursor()
            cur.execute(spec.list_tables_sql())
            tables = [row[0] for row in cur.fetchall()]
        if tables and MARKER_TABLE not in tables:
            raise ForeignDatabaseError(
                f"{target.name}: database {target.database!r} on {target.host}:{target.port} holds {len(tables)} "
                f"tables that dbbench did not create (e.g. {tables[0]}) and no {MARKER_TABLE} marker; refusing to "
                "seed it. Point the URL at another database name, or pass --allow-foreign-database."
            )


def peak_rss_bytes() -> int:
    """This process's peak resident set size since it started.

    Linux: ``VmHWM``, the high-water mark of this address space. ``getrusage``'s ``ru_maxrss`` survives
    ``execve``: a child spawned by a 230 MB parent reported 230 MB whatever it used itself.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS reports bytes, others KiB


class _Seeder:
    def __init__(self, target: Target, seed: int, batch_rows: int, progress: _Progress) -> None:
        from dbbench.quiz.models import Question, Quiz, QuizAttempt, SeedState, Student

        self.target = target
        self.alias = target.name
        self.seed = seed
        self.batch_rows = batch_rows
        self.progress = progress
        self.models = (Student, Quiz, Question, QuizAttempt)
        self.Student, self.Quiz, self.Question, self.QuizAttempt = self.models
        self.SeedState = SeedState
        self.batch_file_bytes = 0

    def run(self, attempts: int, method: str | None, reset: bool) -> SeedResult:
        from django.db import connections

        started = time.perf_counter()
        gen = DataGenerator(self.seed)
        recipe = datagen.recipe(self.seed)
        self.method = bulkload.choose_method(self.target, method)
        state = self.SeedState.objects.using(self.alias).filter(pk=1).first()
        removed = 0
        restarted = None
        if reset or state is None or state.recipe != recipe:
            if state is not None:
                restarted = "--reset" if reset else f"data from another recipe ({state.recipe})"
            removed = self._flush()
            self._start(gen, recipe)
            done = 0
        else:
            done = state.attempts
            removed, damage = self._trim(state.attempts, state.students, gen.question_count)
            if damage:  # rows the seeder wrote are gone: the data can only be made whole from the start
                restarted = damage
                removed += self._flush()
                self._start(gen, recipe)
                done = 0
        batches = 0
        if attempts < done // 2:
            # Keeping under half: starting over loads the rest faster than DELETE removes the bulk (and a
            # DELETE leaves its space in the table until VACUUM FULL / OPTIMIZE TABLE).
            removed += self._flush()
            self._start(gen, recipe)
            done = 0
        if attempts > 0 and attempts - done >= done:
            # From empty, or at least doubling: load as pg_restore does, indexes and checks afterwards (building
            # an index over all rows once beats maintaining it row by row for most of them).
            self._defer_constraints()
        if attempts < done:
            removed += self._shrink(attempts)
        else:
            batches = self._grow(gen, done, attempts)
        # Also after a run killed with them dropped, whatever size this run asked for.
        rebuild_started = time.perf_counter()
        rebuilt = self._rebuild_constraints()
        rebuild_seconds = time.perf_counter() - rebuild_started
        seconds = time.perf_counter() - started
        added = max(0, attempts - done)
        return SeedResult(
            alias=self.alias,
            vendor=connections[self.alias].display_name,
            attempts=attempts,
            added=added,
            removed=removed,
            restarted=restarted,
            seconds=round(seconds, 3),
            rows_per_s=round(added / seconds, 1) if seconds > 0 else 0.0,
            seed=self.seed,
            students=students_for(attempts),
            quizzes=datagen.QUIZZES,
            questions=gen.question_count,
            method=bulkload.method_name(self.target, self.method),
            batches=batches,
            peak_rss_bytes=peak_rss_bytes(),
            batch_file_bytes=self.batch_file_bytes,
            rebuilt=rebuilt,
            rebuild_seconds=round(rebuild_seconds, 3),
        )

    def _defer_constraints(self) -> None:
        """Drop the attempts table's secondary indexes and foreign keys, recorded for the rebuild."""
        from django.db import connections

        with connections[self.alias].cursor() as cursor:
            bulkload.defer_constraints(self.target.spec, cursor, self.QuizAttempt._meta.db_table)

    def _rebuild_constraints(self) -> int:
        from django.db import connections

        with connections[self.alias].cursor() as cursor:
            return bulkload.rebuild_constraints(self.target.spec, cursor)

    # --- states of the tables -------------------------------------------------------------------------------

    def _flush(self) -> int:
        """Empty the quiz tables (the progress row first, so a crash midway never leaves a stale one)."""
        from django.core.management.color import no_style
        from django.db import connections

        connection = connections[self.alias]
        removed = sum(m._default_manager.using(self.alias).count() for m in self.models)
        ops = connection.ops
        ops.execute_sql_flush(ops.sql_flush(no_style(), [self.SeedState._meta.db_table], reset_sequences=True))
        tables = [m._meta.db_table for m in self.models]
        ops.execute_sql_flush(ops.sql_flush(no_style(), tables, reset_sequences=True))
        return removed

    def _start(self, gen: DataGenerator, recipe: str) -> None:
        """Quizzes, questions and the progress row, in one transaction."""
        from django.db import transaction

        with transaction.atomic(using=self.alias):
            for model, columns, text in (
                (self.Quiz, datagen.QUIZ_COLUMNS, gen.quiz_text()),
                (self.Question, datagen.QUESTION_COLUMNS, gen.question_text()),
            ):
                with BatchFile(model._meta.model_name or "rows") as batch:
                    batch.write(text.encode(), text.count("\n"))
                    bulkload.load(self.target, model, columns, batch, self.method)
            self.SeedState.objects.using(self.alias).create(
                pk=1, recipe=recipe, seed=self.seed, attempts=0, students=0, updated_at=datagen.now_utc()
            )
            self._reset_sequences()

    def _trim(self, attempts: int, students: int, questions: int) -> tuple[int, str | None]:
        """Delete rows the seeder did not write (ids past its record); report rows of its own that are gone."""
        expected = {
            self.QuizAttempt: attempts,
            self.Student: students,
            self.Question: questions,
            self.Quiz: datagen.QUIZZES,
        }
        removed = 0
        for model, count in expected.items():  # attempts first: they point at students and quizzes
            removed += model._default_manager.using(self.alias).filter(pk__gt=count).delete()[0]
        for model, count in expected.items():
            present = model._default_manager.using(self.alias).count()
            if present != count:
                return removed, f"{model._meta.db_table} holds {present} of the seeder's {count} rows"
        return removed, None

    def _shrink(self, attempts: int) -> int:
        from django.db import transaction

        with transaction.atomic(using=self.alias):
            self.SeedState.objects.using(self.alias).select_for_update().get(pk=1)
            removed = self.QuizAttempt.objects.using(self.alias).filter(pk__gt=attempts).delete()[0]
            removed += self.Student.objects.using(self.alias).filter(pk__gt=students_for(attempts)).delete()[0]
            self.SeedState.objects.using(self.alias).filter(pk=1).update(
                attempts=attempts, students=students_for(attempts), updated_at=datagen.now_utc()
            )
        return removed

    def _reset_sequences(self) -> None:
        """Point id sequences past the explicit ids (PostgreSQL; MySQL's AUTO_INCREMENT follows by itself)."""
        from django.core.management.color import no_style
        from django.db import connections

        connection = connections[self.alias]
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), list(self.models)):
                cursor.execute(sql)

    # --- growing: generate in this thread, load in a worker -------------------------------------------------

    def _plan(self, done: int, attempts: int) -> Iterator[tuple[int, int]]:
        # A short first batch gets the server busy sooner: nothing overlaps the rendering of the first one.
        first = min(self.batch_rows, max(datagen.ATTEMPT_BLOCK, self.batch_rows // 10))
        start = done
        while start < attempts:
            end = min(attempts, (start // self.batch_rows + 1) * self.batch_rows)
            if start == done:
                end = min(end, start + first)
            yield start, end
            start = end

    def _grow(self, gen: DataGenerator, done: int, attempts: int) -> int:
        from django.db import connections

        signups = gen.signups(students_for(attempts))
        self.progress.start(done, attempts)
        batches = 0
        pending: tuple[Future[None], list[tuple[Any, tuple[str, ...], BatchFile]], int] | None = None
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"dbbench-seed-{self.alias}")
        try:
            for start, end in self._plan(done, attempts):
                files = self._render(gen, signups, start, end)
                if pending:
                    self._finish(pending)
                pending = (executor.submit(self._load, files, start, end), files, end)
                batches += 1
            if pending:
                self._finish(pending)
                pending = None
        finally:
            if pending:  # an error or Ctrl-C in this thread: let the worker end its transaction first
                pending[0].cancel()
                with contextlib.suppress(BaseException):  # the first error is the one to report
                    pending[0].result()
                for _, _, batch in pending[1]:
                    batch.close()
            executor.submit(lambda: connections[self.alias].close()).result()  # the worker's own connection
            executor.shutdown()
            self.progress.stop()
        return batches

    def _render(
        self, gen: DataGenerator, signups: Any, start: int, end: int
    ) -> list[tuple[Any, tuple[str, ...], BatchFile]]:
        students = BatchFile("students")
        for chunk in gen.student_chunks(students_for(start), students_for(end)):
            students.write(chunk, chunk.count(b"\n"))
        attempts = BatchFile("attempts")
        for chunk in gen.attempt_chunks(start, end, signups):
            attempts.write(chunk, chunk.count(b"\n"))
        self.batch_file_bytes = max(self.batch_file_bytes, students.nbytes + attempts.nbytes)
        return [
            (self.Student, datagen.STUDENT_COLUMNS, students),
            (self.QuizAttempt, datagen.ATTEMPT_COLUMNS, attempts),
        ]

    def _load(self, files: list[tuple[Any, tuple[str, ...], BatchFile]], start: int, end: int) -> None:
        """One batch and its progress record, all or nothing (runs in the worker thread)."""
        from django.db import transaction

        with transaction.atomic(using=self.alias):
            state = self.SeedState.objects.using(self.alias).select_for_update().filter(pk=1).first()
            if state is None or state.attempts != start:
                found = "no progress record" if state is None else f"{state.attempts} attempts"
                raise DbbenchError(
                    f"{self.alias}: the quiz tables changed while seeding (found {found}, expected {start}); "
                    "is another seeder running on the same database?"
                )
            for model, columns, batch in files:
                bulkload.load(self.target, model, columns, batch, self.method)
            self.SeedState.objects.using(self.alias).filter(pk=1).update(
                attempts=end, students=students_for(end), updated_at=datagen.now_utc()
            )
            self._reset_sequences()

    def _finish(self, pending: tuple[Future[None], list[tuple[Any, tuple[str, ...], BatchFile]], int]) -> None:
        future, files, end = pending
        try:
            future.result()
        finally:
            for _, _, batch in files:
                batch.close()
        self.progress.update(end)


class _Progress:
    """Rows done, rows/s and ETA: a rich bar on a terminal, else a plain ``key=value`` line every few seconds."""

    PLAIN_EVERY_S = 5.0

    def __init__(self, alias: str, mode: str, stream: TextIO) -> None:
        self.alias = alias
        self.mode = mode  # "bar", "plain" or "off"
        self.stream = stream
        self._bar: Any = None

    @classmethod
    def create(cls, alias: str, progress: bool | None) -> _Progress:
        return cls(alias, shown.mode(progress), sys.stderr)

    def start(self, done: int, total: int) -> None:
        self.first, self.total = done, total
        self.t0 = self.last_print = time.perf_counter()
        if self.mode == shown.BAR and total > done:
            self._bar = shown.bar(f"seed {self.alias}", "attempts", rate=True, transient=True)
            self._task = self._bar.add_task("seed", total=total, completed=done, rate="-")

    def update(self, done: int) -> None:
        now = time.perf_counter()
        rate = (done - self.first) / max(now - self.t0, 1e-9)
        if self._bar is not None:
            self._bar.update(self._task, completed=done, rate=f"{rate:,.0f}")
        elif self.mode == "plain" and done < self.total and now - self.last_print >= self.PLAIN_EVERY_S:
            eta = (self.total - done) / rate if rate > 0 else 0.0
            print(
                f"progress alias={self.alias} attempts={done} of={self.total} rows_per_s={rate:.0f} eta_s={eta:.0f}",
                file=self.stream,
                flush=True,
            )
            self.last_print = now

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
