"""Each pytest-xdist worker on databases of its own: ``python -m pytest -p tests.workers -n 2 tests``.

Loaded with ``-p`` so that it runs before any plugin reads the targets (pytest-django loads the settings, which
read them, before ``conftest.py``). In worker ``gw1`` every configured target's database ``dbbench`` becomes
``dbbench_gw1``, so the databases the tests derive from it (``dbbench_gw1_parity``, ``dbbench_gw1_10k``...)
never meet those of another worker. Outside xdist it changes nothing.
"""

from __future__ import annotations

import os

from dbbench.backends.targets import ENV_TARGETS, ENV_URL, targets_from_env

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
# The runs the tests start (``dbbench bench`` runs pytest) are sessions of their own, not workers: pytest-benchmark
# switches itself off when it sees this variable. Only pytest-benchmark reads it; xdist keeps its own record.
for _name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
    os.environ.pop(_name, None)
# Set here, checked by conftest.py: a worker without it would share its databases with the others.
MARK = "DBBENCH_TEST_WORKER"


def _per_worker() -> None:
    if not WORKER or os.environ.get(MARK) == WORKER:
        return
    targets = [t.with_database(f"{t.database}_{WORKER}") for t in targets_from_env()]
    if os.environ.get(ENV_TARGETS, "").strip():
        os.environ[ENV_TARGETS] = ",".join(f"{t.name}={t.url}" for t in targets)
    else:
        for t in targets:
            os.environ[ENV_URL.format(name=t.name.upper())] = t.url
    os.environ[MARK] = WORKER


_per_worker()
