# The two commands of the README. Both set up a fresh machine themselves (scripts/bootstrap.sh).
PROFILE ?= default

.PHONY: run test bootstrap lint docs

bootstrap:
	scripts/bootstrap.sh

# The main job: check servers, seed, benchmark, load-test, parity, report. With no target configured it runs on
# dbbench's managed servers (started for the run unless `dbbench servers start` already did).
run: bootstrap
	.venv/bin/dbbench run --profile $(PROFILE)

# The tests, on real servers: dbbench's managed ones (exec points DBBENCH_POSTGRES_URL / DBBENCH_MYSQL_URL at
# them and stops them afterwards), so no system server needs to run. Two workers, each on databases of its own
# (tests/workers.py): most tests wait on servers and subprocesses, so two run in the time of one. A module's
# tests stay on one worker (--dist loadfile), which sets up its fixtures once.
test: bootstrap
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/mkdocs build --strict --quiet
	.venv/bin/dbbench servers exec -- .venv/bin/python -m pytest -p tests.workers -n 2 --dist loadfile tests -q --durations=15

# ruff, then mypy on the package and the tests ([tool.mypy] in pyproject.toml says what it checks and relaxes).
lint: bootstrap
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy
	.venv/bin/python scripts/docs_facts.py --check
	.venv/bin/mkdocs build --strict --quiet

# The documentation site (docs/, mkdocs.yml) into site/; its tables of profiles and defaults regenerated first.
docs: bootstrap
	.venv/bin/python scripts/docs_facts.py
	.venv/bin/mkdocs build --strict
