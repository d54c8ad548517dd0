"""The portability audit: static analysis of a Django project's source for what ties it to PostgreSQL.

- ``scan``: walks a project (two passes: field index, then rules), baselines, notes (``dbbench audit``).
- ``rules``: the rule table (severity, advice, parity probes) and the Finding record.
- ``auditor``: the per-file visitor; ``queryrules``, ``modelrules`` and ``sqlrules`` hold its rules.
- ``guards``: vendor/feature guards (findings under them are "handled"); ``fields``: the project's model fields.
- ``sql``: raw SQL strings read with sqlglot, PostgreSQL to MySQL; ``catalog``: the names the rules know.
- ``baseline`` and ``render``: CI baselines, and the text/Markdown output.
"""
