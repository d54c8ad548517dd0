"""Seed the quiz tables to exactly N attempts of deterministic data: fast, growable, resumable.

- The seeder assigns ids itself (attempt ``j`` is id ``j + 1``), so foreign keys need no look-ups and the rows it
  owns are exactly ids ``1..N``; sequences are reset afterwards through Django (``sequence_reset_sql``).
- Each batch's rows commit before its progress row ``SeedState`` says they are there (in the same transaction
  when one connection loads them): after ``kill -9`` the server rolls the open transactions back, and the next
  run deletes any rows past the progress row and continues from there.
- Growing from M to N adds exactly the rows ``M..N-1``; they do not depend on M (see ``dbbench.seed.datagen``).
- Generation (Python, main thread) overlaps loading (server, a worker thread per stream): while the server
  ingests batch k through COPY / LOAD DATA, Python renders batch k+1. At most two batches exist at a time, so
  memory is bounded.
- From empty, the attempts table is loaded without its secondary indexes and foreign keys, which are built and
  checked afterwards, as pg_restore does (``dbbench.backends.bulkload.defer_constraints``). What was dropped is
  recorded first, so a run killed before the rebuild leaves the next run (of any size) to finish it.
- While the foreign keys are dropped, each batch's attempts are split into ``streams`` id ranges loaded by as
  many connections at once (as ``pg_restore --jobs`` loads tables side by side): the servers parse the JSON
  columns on one core per statement, and that parsing, not Python, bounds a single stream. With the foreign keys
  in place one connection loads the batch, since a stream's attempts point at students another stream has not
  committed yet.
"""

from __future__ import annotations

import itertools
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
from dbbench.seed import DEFAULT_SEED, STREAMS, datagen
from dbbench.seed.datagen import DataGenerator, students_for
from dbbench.units import parse_count

BATCH_ROWS = 50_000  # attempts per transaction: what a crash can cost, and the unit of the pipeline
Part = list[tuple[Any, tuple[str, ...], BatchFile]]  # what one connection loads of a batch: model, columns, rows


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
    batch_file_bytes: int  # the largest batch's files; up to two batches exist at a time, in memory, not in the RSS
    rebuilt: int  # indexes and foreign keys dropped for the load (by this run or a killed one) and re-created
    rebuild_seconds: float  # of ``seconds``: re-creating them and checking the rows against the foreign keys
    streams: int  # connections that loaded the batches at once (1 while the foreign keys were in place; 0: none)

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
    streams: int = STREAMS,
) -> SeedResult:
    """Bring ``target``'s quiz tables to exactly ``attempts`` attempts of the data ``seed`` makes.

    Creates and migrates the database first. Django must be set up with ``target.name`` among its aliases.
    ``progress``: a bar on a terminal (None: only if stderr is one; plain lines otherwise; False: silent).
    ``method``: ``fast`` or ``bulk_create`` (default: fast when the server allows it). ``reset`` reseeds from 0.
    ``streams``: connections loading at once while the foreign keys are dropped (see the module's notes).
    """
    attempts = parse_count(attempts, what="attempts")
    check_seed(seed)
    servers.check_disk(target, attempts)  # a managed server's disk: refuse before writing anything
    if batch_rows < 1:
        raise ConfigError(f"bad batch size {batch_rows}: must be at least 1")
    check_streams(streams)
    try:
        # Two seeders on one database would race (creating it, migrating, the same ids): the second one refuses.
        with exclusive(target, "seeding"):
            djangoenv.prepare(target, allow_foreign=allow_foreign)
            seeder = _Seeder(target, seed, batch_rows, _Progress.create(target.name, progress), streams)
            return seeder.run(attempts, method, reset)
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
        "streams": result.streams,
    }
    if result.restarted:
        fields["restarted"] = f'"{result.restarted}"'
    line = f"{result.alias} ({result.vendor}): " + " ".join(f"{k}={v}" for k, v in fields.items())
    for table, value in (checksums or {}).items():
        line += f"\n  checksum {table}={value}"
    return line


def check_streams(streams: int) -> None:
    if isinstance(streams, bool) or not isinstance(streams, int) or not 1 <= streams <= 16:
        raise ConfigError(f"bad number of streams {streams!r}: use a whole number from 1 to 16")


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
    def __init__(self, target: Target, seed: int, batch_rows: int, progress: _Progress, streams: int) -> None:
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
        self.streams = streams

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
        streams = self.streams if self._constraints_deferred() else 1
        if attempts < done:
            removed += self._shrink(attempts)
        else:
            batches = self._grow(gen, done, attempts, streams)
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
            streams=streams if batches else 0,
        )

    def _defer_constraints(self) -> None:
        """Drop the attempts table's secondary indexes and foreign keys, recorded for the rebuild."""
        from django.db import connections

        with connections[self.alias].cursor() as cursor:
            bulkload.defer_constraints(self.target.spec, cursor, self.QuizAttempt._meta.db_table)

    def _constraints_deferred(self) -> bool:
        from django.db import connections

        with connections[self.alias].cursor() as cursor:
            return bulkload.deferred_constraints(self.target.spec, cursor) is not None

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
        """Delete rows past the progress record (not the seeder's, or a batch cut short after some of its streams
        committed); report rows of its own that are gone."""
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

    def _grow(self, gen: DataGenerator, done: int, attempts: int, streams: int) -> int:
        from django.db import connections

        signups = gen.signups(students_for(attempts))
        self.progress.start(done, attempts)
        batches = 0
        pending: _Batch | None = None
        # One executor per stream: each thread keeps its own connection (Django's are per thread) for the run.
        executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"dbbench-seed-{self.alias}-{i}")
            for i in range(streams)
        ]
        try:
            for start, end in self._plan(done, attempts):
                parts = self._render(gen, signups, start, end, streams)
                if pending:
                    self._finish(pending)
                # One stream: the progress row commits with the rows, all or nothing.
                together = len(parts) == 1
                futures = [
                    executor.submit(self._load, part, start, end, together)
                    for executor, part in zip(executors[: len(parts)], parts, strict=True)  # a tiny batch: fewer parts
                ]
                pending = _Batch(start, end, parts, futures)
                batches += 1
            if pending:
                self._finish(pending)
                pending = None
        finally:
            if pending:  # an error or Ctrl-C in this thread: let the workers end their transactions first
                pending.settle(abandon=True)
            for executor in executors:  # each worker's own connection
                executor.submit(lambda: connections[self.alias].close()).result()
                executor.shutdown()
            self.progress.stop()
        return batches

    def _render(self, gen: DataGenerator, signups: Any, start: int, end: int, streams: int) -> list[Part]:
        """The batch's rows as ``streams`` parts of consecutive attempt ids; the students go with the first."""
        students = BatchFile("students")
        for chunk in gen.student_chunks(students_for(start), students_for(end)):
            students.write(chunk, chunk.count(b"\n"))
        parts: list[Part] = [[(self.Student, datagen.STUDENT_COLUMNS, students)]]
        bounds = [start + (end - start) * i // streams for i in range(streams + 1)]
        for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
            if hi == lo:
                continue
            attempts = BatchFile("attempts")
            for chunk in gen.attempt_chunks(lo, hi, signups):
                attempts.write(chunk, chunk.count(b"\n"))
            if i == 0:
                parts[0].append((self.QuizAttempt, datagen.ATTEMPT_COLUMNS, attempts))
            else:
                parts.append([(self.QuizAttempt, datagen.ATTEMPT_COLUMNS, attempts)])
        self.batch_file_bytes = max(self.batch_file_bytes, sum(b.nbytes for part in parts for _, _, b in part))
        return parts

    def _load(self, part: Part, start: int, end: int, record: bool) -> None:
        """One connection's share of a batch in one transaction (runs in a worker thread); with ``record``, the
        whole batch and its progress row."""
        from django.db import transaction

        with transaction.atomic(using=self.alias):
            if record:
                self._check_progress(start)
            for model, columns, batch in part:
                bulkload.load(self.target, model, columns, batch, self.method)
            if record:
                self._record_progress(end)

    def _check_progress(self, start: int) -> None:
        state = self.SeedState.objects.using(self.alias).select_for_update().filter(pk=1).first()
        if state is None or state.attempts != start:
            found = "no progress record" if state is None else f"{state.attempts} attempts"
            raise DbbenchError(
                f"{self.alias}: the quiz tables changed while seeding (found {found}, expected {start}); "
                "is another seeder running on the same database?"
            )

    def _record_progress(self, end: int) -> None:
        self.SeedState.objects.using(self.alias).filter(pk=1).update(
            attempts=end, students=students_for(end), updated_at=datagen.now_utc()
        )
        self._reset_sequences()

    def _finish(self, batch: _Batch) -> None:
        batch.settle()
        if len(batch.parts) > 1:  # every stream has committed: the progress row may say so now
            from django.db import transaction

            with transaction.atomic(using=self.alias):
                self._check_progress(batch.start)
                self._record_progress(batch.end)
        self.progress.update(batch.end)


@dataclass
class _Batch:
    """A batch being loaded: its attempt ids ``start..end-1``, its parts and each part's loading."""

    start: int
    end: int
    parts: list[Part]
    futures: list[Future[None]]

    def settle(self, *, abandon: bool = False) -> None:
        """Wait for every part's transaction to end (none is left open) and free the files; then raise the first
        error. ``abandon`` (an error or Ctrl-C is being handled, and is the one to report): parts not started yet
        never start, and errors are not raised."""
        errors: list[BaseException] = []
        for future in self.futures:
            if abandon:
                future.cancel()
            if not future.cancelled():
                try:
                    future.result()
                except BaseException as exc:  # noqa: BLE001 - kept and re-raised below
                    errors.append(exc)
        for part in self.parts:
            for _, _, batch in part:
                batch.close()
        if errors and not abandon:
            raise errors[0]


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
