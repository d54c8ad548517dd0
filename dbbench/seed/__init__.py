"""Seeding the quiz tables with realistic, deterministic data.

- ``datagen``: the rows (Faker pools and numpy, seeded), identical on every backend.
- ``seeding``: grows or shrinks a database to exactly N attempts, resumably, through the fast load path.
- ``checksum``: content checksums of the quiz tables, computed the same way on every backend.
- ``benchmark``: ``dbbench seed-benchmark``, the seeder against the raw fast path.
"""

# One seed for every stage that generates data or draws arguments, so a run's stages see the same data.
DEFAULT_SEED = 42
# Loading connections while the foreign keys are dropped (see ``seeding``). Two: on the reference machine (2 cores)
# two COPY / LOAD DATA statements of 500k attempts each took 59% / 61% of the time of one statement of 1M.
STREAMS = 2
