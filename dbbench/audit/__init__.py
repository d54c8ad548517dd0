"""The portability audit: static analysis of a Django project's source for what ties it to PostgreSQL.

- ``scan``: walks a project, runs the rules, renders findings (``dbbench audit``).
- ``rules``: the AST rules (contrib.postgres, DISTINCT ON, JSON lookups, unique strings, ...).
- ``sql``: raw SQL strings read with sqlglot, PostgreSQL to MySQL.
"""
