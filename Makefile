# The two commands of the README. Both set up a fresh machine themselves (scripts/bootstrap.sh).
PROFILE ?= default

.PHONY: run test bootstrap lint

bootstrap:
	scripts/bootstrap.sh

# The main job: check servers, seed, benchmark, load-test, parity, report.
run: bootstrap
	.venv/bin/dbbench run --profile $(PROFILE)

# The tests, on the real servers.
test: bootstrap
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/pytest tests -q

lint: bootstrap
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
