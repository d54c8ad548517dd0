"""Behaviour parity: the Django queries that give a different answer, or none, on each backend.

- ``suite``: runs the probes in a scratch database per target and compares the outcomes.
- ``probes/``: the probe registry, one module per area (JSON, strings, queries, writes, locking, times, DDL).
- ``lab/``: the Django app whose tables the probes use; ``data/parity.json`` its fixture.
- ``routers``: keeps the lab's tables out of the benchmarked databases.
"""
