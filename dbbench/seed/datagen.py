"""Deterministic, realistic quiz data, written straight into the bulk loaders' tab-separated format.

Proportions (the issue asks for them to be documented here):

- ``QUIZZES`` = 300 quizzes, each with 10-20 questions of 3-5 choices (about 4,500 questions). They do not grow.
- One student per ``ATTEMPTS_PER_STUDENT`` = 20 attempts: N attempts need ``students_for(N)`` students.
- Attempt ``j`` (0-based) is by a student picked uniformly among students ``0 .. j // 20``, so early students
  collect more attempts (about 200 for the first one at 1M) and recent ones a few: a long tail, mean 20.
- Quiz popularity follows a Zipf-like curve (the most popular quiz gets ~28x the attempts of the median one).
- Students sign up between 2021-06-01 and 2024-12-01; an attempt starts after its student's signup and before
  2025-01-01. 5% of attempts are abandoned: a prefix of the questions answered, ``finished_at`` NULL.
- Each answer is right with a probability set by the student's ability (0.35-0.95) and the question's ease;
  ``score`` is the percentage of the quiz's questions answered right; ``finished_at`` = start + the answers'
  time + 5-90 s. Answers to questions changed: 6% when right, 18% when wrong.

Determinism: every value of row ``j`` comes from a random stream seeded by ``(seed, table, j // block)``, so the
rows are the same however a run is split (one step, ten steps, or resumed after a crash). Faker is only used
up front to fill pools (names, email domains, quiz titles, questions), because per-row Faker runs at ~5k rows/s.
Growth and resume also need the same Faker and numpy versions: ``recipe()`` records them.

Speed: the attempts' JSON is assembled from a table of pre-rendered per-answer fragments (position, choice,
changed, time), picked with numpy, and a whole block is produced with a single ``str.join``. That keeps Python at
a few microseconds per row (~150k rows/s on one core here), well above what the servers ingest.
"""

from __future__ import annotations

import ipaddress
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from faker import Faker

GENERATOR_VERSION = 3  # bump whenever the rows for a seed change: existing data is then replaced, not grown
QUIZZES = 300
ATTEMPTS_PER_STUDENT = 20
MAX_QUESTIONS = 20
MAX_CHOICES = 5
ATTEMPT_BLOCK = 2_000  # rows drawn from one random stream; the unit of determinism, not of commits
STUDENT_BLOCK = 1_000
UNFINISHED_SHARE = 0.05

# Column order of the tab-separated rows, per table (Django column names).
STUDENT_COLUMNS = ("id", "name", "email", "signed_up_at")
QUIZ_COLUMNS = ("id", "title", "topic", "created_at")
QUESTION_COLUMNS = ("id", "quiz_id", "position", "text", "choices", "correct_choice")
ATTEMPT_COLUMNS = ("id", "student_id", "quiz_id", "started_at", "finished_at", "score", "meta", "answers")
NULL = "\\N"  # NULL in PostgreSQL's COPY text format and in LOAD DATA's default format alike

_PERSON = ["faker.providers.person"]
_EN_PROVIDERS = [*_PERSON, "faker.providers.internet", "faker.providers.lorem", "faker.providers.company"]
_EPOCH = np.datetime64("2021-01-01T00:00:00", "us")


def _us(iso: str) -> int:
    return int((np.datetime64(iso, "us") - _EPOCH) / np.timedelta64(1, "us"))


QUIZ_CREATED = (_us("2021-01-01"), _us("2021-06-01"))
SIGNUP = (_us("2021-06-01"), _us("2024-12-01"))
ACTIVITY_END = _us("2025-01-01")

TOPICS = (
    "Algebra",
    "Geometry",
    "Statistics",
    "Biology",
    "Chemistry",
    "Physics",
    "World History",
    "Geography",
    "English Grammar",
    "Literature",
    "Computer Science",
    "Economics",
    "Music Theory",
    "Art History",
    "Spanish",
    "Astronomy",
)
# Share of students per Faker locale: mostly English, with enough others for non-ASCII names.
LOCALES = (
    ("en_US", 0.50),
    ("en_GB", 0.10),
    ("de_DE", 0.08),
    ("fr_FR", 0.08),
    ("es_ES", 0.08),
    ("it_IT", 0.05),
    ("pl_PL", 0.04),
    ("pt_BR", 0.04),
    ("nl_NL", 0.03),
)
# (device share, [(browser, share, versions)])
DEVICES = {
    "desktop": (0.55, [("Chrome", 0.6, "118-131"), ("Firefox", 0.15, "119-133"), ("Edge", 0.15, "118-131"),
                       ("Safari", 0.10, "16.6,17.0-17.6,18.0-18.1")]),
    "mobile": (0.38, [("Chrome", 0.55, "118-131"), ("Safari", 0.35, "16.6,17.0-17.6,18.0-18.1"),
                      ("Samsung Internet", 0.10, "22-26")]),
    "tablet": (0.07, [("Safari", 0.6, "16.6,17.0-17.6,18.0-18.1"), ("Chrome", 0.4, "118-131")]),
}  # fmt: skip
REFERRERS = (("google", 0.12), ("classroom", 0.08), ("newsletter", 0.05), ("teacher link", 0.03), ("bing", 0.02))


def students_for(attempts: int) -> int:
    """How many students exist when ``attempts`` attempts do: one per 20 attempts, rounded up."""
    return (attempts + ATTEMPTS_PER_STUDENT - 1) // ATTEMPTS_PER_STUDENT


def block_rng(seed: int, stream: int, block: int) -> np.random.Generator:
    """The random stream of one block: independent of every other block and of how a run is split."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, stream, block])))


def tsv(text: str) -> str:
    """Escape a value for the tab-separated format both COPY (text) and LOAD DATA (defaults) read."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def timestamp(us: int) -> str:
    """A naive UTC timestamp string for ``us`` microseconds after the epoch (both loaders read it as UTC)."""
    return str(_EPOCH + np.timedelta64(int(us), "us"))


def _timestamps(us: NDArray[np.int64]) -> NDArray[np.str_]:
    return np.datetime_as_string(_EPOCH + us.astype("timedelta64[us]"), unit="us")


def _lookup_table(weights: list[float], size: int = 8192) -> NDArray[np.int64]:
    """Map a uniform draw (``u * size``) to an index with the given weights, without a per-row search."""
    cumulative = np.cumsum(np.asarray(weights, dtype=float))
    return np.searchsorted(cumulative / cumulative[-1], (np.arange(size) + 0.5) / size).astype(np.int64)


def _versions(spec: str) -> list[str]:
    out: list[str] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        if not hi:
            out.append(lo if "." in lo else f"{lo}.0")
        elif "." in lo:
            major, minor = lo.split(".")
            out += [f"{major}.{m}" for m in range(int(minor), int(hi.split(".")[1]) + 1)]
        else:
            out += [f"{v}.0" for v in range(int(lo), int(hi) + 1)]
    return out


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(c for c in ascii_text if c.isalnum()) or "user"


# IPv4 ranges that are not public (RFC 6890 special-purpose blocks below 224.0.0.0), as (first, last) addresses.
_NOT_PUBLIC_V4 = [
    (int(n.network_address), int(n.broadcast_address))
    for n in map(
        ipaddress.IPv4Network,
        ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
         "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
         "203.0.113.0/24"),
    )
]  # fmt: skip
_IPV6_BLOCKS = (0x2001, 0x2400, 0x2600, 0x2605, 0x2A00, 0x2A01, 0x2A02)  # prefixes the RIRs hand out


def _public_ips(rng: np.random.Generator, count: int) -> list[str]:
    """Client addresses: 90% public IPv4, 10% global IPv6 (Faker's ipv4_public costs ~0.1 ms each)."""
    v4 = rng.integers(1 << 24, 224 << 24, size=2 * count)
    for first, last in _NOT_PUBLIC_V4:
        v4 = v4[(v4 < first) | (v4 > last)]
    octets = [(v4[: int(count * 0.9)] >> shift) & 255 for shift in (24, 16, 8, 0)]
    ips = [f"{a}.{b}.{c}.{d}" for a, b, c, d in zip(*(o.tolist() for o in octets), strict=True)]
    while len(ips) < count:
        block = _IPV6_BLOCKS[int(rng.integers(len(_IPV6_BLOCKS)))]
        low = int(rng.integers(0, 1 << 48)) << 64 | int(rng.integers(0, 1 << 63)) << 1 | int(rng.integers(2))
        ips.append(str(ipaddress.IPv6Address(block << 112 | low)))
    return ips


@dataclass(frozen=True)
class Quiz:
    title: str
    topic: str
    created_us: int
    questions: list[tuple[str, list[str], int]]  # (text, choices, correct choice)


class DataGenerator:
    """All seeded data for one seed: small tables in full, students and attempts by index range."""

    def __init__(self, seed: int) -> None:
        from faker import Faker

        self.seed = seed
        setup = np.random.default_rng([seed, 0])
        fakers = []
        for i, (locale, _) in enumerate(LOCALES):
            # Only the providers used: Faker's discovery of all of them costs ~0.15 s per locale.
            fake = Faker(locale, providers=_EN_PROVIDERS if i == 0 else _PERSON)
            fake.seed_instance(seed * 1000 + i)
            fakers.append(fake)
        en = fakers[0]

        # Pools of Faker values, drawn once; rows pick from them with numpy.
        self.first_names = [[tsv(f.first_name()) for _ in range(300)] for f in fakers]
        self.last_names = [[tsv(f.last_name()) for _ in range(300)] for f in fakers]
        self.locale_lut = _lookup_table([share for _, share in LOCALES])
        # Most students use a free mail provider, some a school's or employer's domain.
        free = sorted({en.free_email_domain() for _ in range(200)})
        other = sorted({en.domain_name() for _ in range(40)} - set(free))
        self.domains = free + other
        self.domain_lut = _lookup_table([0.85 / len(free)] * len(free) + [0.15 / len(other)] * len(other))

        self.quizzes = self._make_quizzes(en, setup)
        self._make_attempt_tables(setup)

    # --- quizzes and questions (fixed: a few hundred, created in the first batch) --------------------------

    def _make_quizzes(self, fake: Faker, rng: np.random.Generator) -> list[Quiz]:
        quizzes: list[Quiz] = []
        titles: set[str] = set()
        created = np.sort(rng.integers(*QUIZ_CREATED, size=QUIZZES))
        # Faker's word list, drawn from with numpy: 9,000 sentence()/words() calls took ~0.3 s.
        words = sorted(set(fake.words(nb=5_000)))
        for q in range(QUIZZES):
            topic = TOPICS[int(rng.integers(len(TOPICS)))]
            title = base = f"{topic}: {fake.catch_phrase()}"
            part = 1
            while title in titles:  # titles are the quizzes' natural key (see dbbench.seed.checksum)
                part += 1
                title = f"{base} (part {part})"
            titles.add(title)
            questions = []
            for _ in range(int(rng.integers(10, MAX_QUESTIONS + 1))):
                text = " ".join(words[int(i)] for i in rng.integers(len(words), size=int(rng.integers(6, 15))))
                n_choices = int(rng.integers(3, MAX_CHOICES + 1))
                choices = [words[int(i)].capitalize() for i in rng.choice(len(words), n_choices, replace=False)]
                questions.append((text.capitalize() + "?", choices, int(rng.integers(n_choices))))
            quizzes.append(Quiz(title, topic, int(created[q]), questions))
        return quizzes

    def quiz_text(self) -> str:
        return "".join(
            f"{i + 1}\t{tsv(q.title)}\t{tsv(q.topic)}\t{timestamp(q.created_us)}\n" for i, q in enumerate(self.quizzes)
        )

    def question_text(self) -> str:
        lines = []
        qid = 0
        for i, quiz in enumerate(self.quizzes):
            for pos, (text, choices, correct) in enumerate(quiz.questions, start=1):
                qid += 1
                # json.dumps as Django writes JSONField values (ensure_ascii, ", " and ": " separators).
                lines.append(f"{qid}\t{i + 1}\t{pos}\t{tsv(text)}\t{tsv(json.dumps(choices))}\t{correct}\n")
        return "".join(lines)

    @property
    def question_count(self) -> int:
        return sum(len(q.questions) for q in self.quizzes)

    # --- students -----------------------------------------------------------------------------------------

    def signups(self, count: int) -> NDArray[np.int64]:
        """Signup times (microseconds after the epoch) of students ``0 .. count-1``; attempts start after them."""
        blocks = [self._student_signups(block_rng(self.seed, 1, b)) for b in range(-(-count // STUDENT_BLOCK))]
        return np.concatenate(blocks)[:count] if blocks else np.zeros(0, dtype=np.int64)

    @staticmethod
    def _student_signups(rng: np.random.Generator) -> NDArray[np.int64]:
        return rng.integers(*SIGNUP, size=STUDENT_BLOCK)  # the first draw of every student block

    def student_chunks(self, start: int, end: int) -> Iterator[bytes]:
        """Rows of students ``start .. end-1`` (ids start + 1 ..), one encoded chunk per block."""
        for b in range(start // STUDENT_BLOCK, -(-end // STUDENT_BLOCK)):
            rng = block_rng(self.seed, 1, b)
            signup = _timestamps(self._student_signups(rng)).tolist()
            u = rng.random((STUDENT_BLOCK, 4))
            locale = self.locale_lut[(u[:, 0] * len(self.locale_lut)).astype(np.int64)].tolist()
            first_i = (u[:, 1] * 300).astype(np.int64).tolist()
            last_i = (u[:, 2] * 300).astype(np.int64).tolist()
            domain = self.domain_lut[(u[:, 3] * len(self.domain_lut)).astype(np.int64)].tolist()
            lines = []
            base = b * STUDENT_BLOCK
            for k in range(max(start, base) - base, min(end, base + STUDENT_BLOCK) - base):
                first = self.first_names[locale[k]][first_i[k]]
                last = self.last_names[locale[k]][last_i[k]]
                sid = base + k + 1
                # The id in the email keeps it unique (it is the students' natural key); lower case because
                # MariaDB's default collation compares case-insensitively.
                email = f"{_slug(first)}.{_slug(last)}{sid}@{self.domains[domain[k]]}"
                lines.append(f"{sid}\t{first} {last}\t{email}\t{signup[k]}\n")
            yield "".join(lines).encode()

    # --- attempts -----------------------------------------------------------------------------------------

    def _make_attempt_tables(self, rng: np.random.Generator) -> None:
        n_q = np.array([len(q.questions) for q in self.quizzes])
        self.n_questions = n_q
        self.n_choices = np.ones((QUIZZES, MAX_QUESTIONS), dtype=np.int64) * 2
        self.correct = np.zeros((QUIZZES, MAX_QUESTIONS), dtype=np.int64)
        for i, quiz in enumerate(self.quizzes):
            for p, (_, choices, correct) in enumerate(quiz.questions):
                self.n_choices[i, p] = len(choices)
                self.correct[i, p] = correct
        self.ease = rng.normal(0.0, 0.15, size=(QUIZZES, MAX_QUESTIONS))
        self.quiz_lut = _lookup_table(list(rng.permutation(1.0 / (np.arange(QUIZZES) + 10.0) ** 1.2)))

        # Time per answer: 512 lognormal draws per position (~10k distinct values), median ~9 s.
        self.time_levels = 512
        times = np.exp(rng.normal(np.log(9_000), 0.7, size=(MAX_QUESTIONS, self.time_levels)))
        self.times_ms = np.clip(times, 700, 180_000).astype(np.int64)
        fragments: list[str] = []
        for p in range(MAX_QUESTIONS):
            sep = ", " if p else ""
            for c in range(MAX_CHOICES):
                for changed in ("false", "true"):
                    fragments += [
                        f'{sep}"q{p + 1}": {{"choice": {c}, "time_ms": {t}, "changed": {changed}}}'
                        for t in self.times_ms[p].tolist()
                    ]
        fragments.append("")  # unanswered questions of abandoned attempts
        self.fragments = np.array(fragments, dtype=object)

        # meta: '{"device": .., "browser": {..}, "ip": "' + ip + tail; key order as in the model's docstring.
        heads, weights = [], []
        for device, (d_share, browsers) in DEVICES.items():
            for name, b_share, spec in browsers:
                versions = _versions(spec)
                for v in versions:
                    heads.append(f'{{"device": "{device}", "browser": {{"name": "{name}", "version": "{v}"}}, "ip": "')
                    weights.append(d_share * b_share / len(versions))
        self.meta_heads = np.array(heads, dtype=object)
        self.meta_head_lut = _lookup_table(weights)
        self.ips = np.array(_public_ips(rng, 8192), dtype=object)
        # The tail also opens the answers column, saving one string per row in the final join.
        tails = ['"}\t{'] + [f'", "referrer": "{r}"}}\t{{' for r, _ in REFERRERS]
        self.meta_tails = np.array(tails, dtype=object)
        self.meta_tail_lut = _lookup_table([1.0 - sum(s for _, s in REFERRERS)] + [s for _, s in REFERRERS])

        # One row of text is 16 + MAX_QUESTIONS strings: six values each followed by a tab, meta in three
        # pieces (the last one opens the answers), one fragment per question, and the closing brace + newline.
        self.small_ints = np.array([str(i) for i in range(QUIZZES + 1)], dtype=object)
        self._rows = np.empty((ATTEMPT_BLOCK, 16 + MAX_QUESTIONS), dtype=object)
        for col in (1, 3, 5, 7, 9, 11):
            self._rows[:, col] = "\t"
        self._rows[:, -1] = "}\n"

    def attempt_chunks(self, start: int, end: int, signups: NDArray[np.int64]) -> Iterator[bytes]:
        """Rows of attempts ``start .. end-1`` (ids start + 1 ..), one encoded chunk per block.

        ``signups`` holds at least ``students_for(end)`` entries (see :meth:`signups`).
        """
        for b in range(start // ATTEMPT_BLOCK, -(-end // ATTEMPT_BLOCK)):
            lo = b * ATTEMPT_BLOCK
            block = self._attempt_block(b, signups)
            yield "".join(block[max(start, lo) - lo : min(end, lo + ATTEMPT_BLOCK) - lo].ravel().tolist()).encode()

    def _attempt_block(self, b: int, signups: NDArray[np.int64]) -> NDArray[np.object_]:
        n = ATTEMPT_BLOCK
        rng = block_rng(self.seed, 2, b)
        j = np.arange(b * n, (b + 1) * n, dtype=np.int64)
        u = rng.random((n, 10))
        draws = rng.random((4, n, MAX_QUESTIONS))

        student = (u[:, 0] * (j // ATTEMPTS_PER_STUDENT + 1)).astype(np.int64)
        quiz = self.quiz_lut[(u[:, 1] * len(self.quiz_lut)).astype(np.int64)]
        signup = signups[np.minimum(student, len(signups) - 1)]  # rows past `end` are cut off by the caller
        started = signup + (u[:, 2] * (ACTIVITY_END - signup)).astype(np.int64)
        ability = 0.35 + 0.6 * u[:, 3] ** 0.7
        n_q = self.n_questions[quiz]
        unfinished = u[:, 4] < UNFINISHED_SHARE
        answered = np.where(unfinished, (u[:, 5] * n_q).astype(np.int64), n_q)

        positions = np.arange(MAX_QUESTIONS)
        asked = positions[None, :] < answered[:, None]
        right = draws[0] < np.clip(ability[:, None] + self.ease[quiz], 0.05, 0.97)
        correct = self.correct[quiz]
        wrong = (draws[1] * (self.n_choices[quiz] - 1)).astype(np.int64)
        choice = np.where(right, correct, wrong + (wrong >= correct))
        changed = draws[2] < np.where(right, 0.06, 0.18)
        level = (draws[3] * self.time_levels).astype(np.int64)

        score = (200 * (right & asked).sum(axis=1) + n_q) // (2 * n_q)
        spent_ms = np.where(asked, self.times_ms[positions[None, :], level], 0).sum(axis=1)
        finished = started + (spent_ms + 5_000 + (u[:, 6] * 85_000).astype(np.int64)) * 1_000
        codes = ((positions[None, :] * MAX_CHOICES + choice) * 2 + changed) * self.time_levels + level
        codes[~asked] = len(self.fragments) - 1

        rows = self._rows  # reused: refilled per block (the caller joins a block before asking for the next)
        rows[:, 0] = list(map(str, (j + 1).tolist()))
        rows[:, 2] = list(map(str, (student + 1).tolist()))
        rows[:, 4] = self.small_ints[quiz + 1]
        rows[:, 6] = _timestamps(started)
        rows[:, 8] = np.where(unfinished, NULL, _timestamps(finished))
        rows[:, 10] = self.small_ints[score]
        rows[:, 12] = self.meta_heads[self.meta_head_lut[(u[:, 7] * len(self.meta_head_lut)).astype(np.int64)]]
        rows[:, 13] = self.ips[(u[:, 8] * len(self.ips)).astype(np.int64)]
        rows[:, 14] = self.meta_tails[self.meta_tail_lut[(u[:, 9] * len(self.meta_tail_lut)).astype(np.int64)]]
        np.take(self.fragments, codes, out=rows[:, 15 : 15 + MAX_QUESTIONS])
        return rows


def recipe(seed: int) -> str:
    """What decides the data besides the row index: growth and resume continue only with the same recipe."""
    import faker

    return f"v{GENERATOR_VERSION} seed={seed} faker={faker.VERSION} numpy={np.__version__}"


def now_utc() -> datetime:
    return datetime.now(UTC)
