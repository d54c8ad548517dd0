"""Latency benchmarks of the quiz app's operations as the data grows.

- ``workloads``: the operations (ORM, and raw-driver twins); ``dataset``: the data they draw arguments from.
- ``measure``: interleaved rounds across backends, so drift on the machine cannot favour one.
- ``cursor``: the kept cursor every timed raw call sends through (the raw twins and ``dbbench replay``).
- ``runner``: runs the suite in a pytest subprocess (``dbbench bench``); profiles and sizes.
- ``plugin``: the pytest plugin (entry point ``pytest11``) that parametrises and measures the suite.
- ``suite/``: the pytest-benchmark suite itself, ``bench_*.py``.
"""
