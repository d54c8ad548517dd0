"""Seeding the quiz tables with realistic, deterministic data.

- ``datagen``: the rows (Faker pools and numpy, seeded), identical on every backend.
- ``seeding``: grows or shrinks a database to exactly N attempts, resumably, through the fast load path.
- ``checksum``: content checksums of the quiz tables, computed the same way on every backend.
- ``benchmark``: ``dbbench seed-benchmark``, the seeder against the raw fast path.
"""
