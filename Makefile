# Atiende: the two commands of the README's quick start are `make demo` and `make test`.
.PHONY: venv demo test test-throwaway lock lint typecheck check bench clean

VENV := .venv
BIN := $(VENV)/bin

venv:
	@scripts/bootstrap.sh

demo: venv
	$(BIN)/atiende demo

# -rs: every skip is listed with its reason (ATIENDE_STRICT_SKIPS=1 fails on
# one not allow-listed in tests/support/skips.py; CI sets it).
test: venv
	scripts/with-test-services.sh $(BIN)/python -m pytest -q -rs $(PYTEST_ARGS)

# The fresh-machine path on any machine: the test URLs point at a port where
# nothing listens, so scripts/with-test-services.sh starts throwaway PostgreSQL
# and Redis servers; a smoke part of the suite that needs both runs on them.
SMOKE_TESTS ?= tests/test_support.py tests/crm_bridge/test_store_repository.py \
	tests/crm_bridge/sync/test_sync.py tests/agent_api/test_fanout.py \
	tests/reliability/test_postgres_outage.py
test-throwaway: venv
	ATIENDE_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:1/postgres \
	ATIENDE_TEST_REDIS_URL=redis://127.0.0.1:1/15 \
	scripts/with-test-services.sh $(BIN)/python -m pytest -q -rs $(SMOKE_TESTS) $(PYTEST_ARGS)

# Renews requirements.lock from pyproject.toml's ranges (see scripts/lock.sh).
lock:
	scripts/lock.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

check: lint typecheck test

# The headline benchmarks; every one (and its options) is in bench/README.md.
bench: venv
	$(BIN)/python -m bench.ami_ingest
	$(BIN)/python -m bench.simulated_load --seconds 10

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build *.egg-info
