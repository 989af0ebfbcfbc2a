# Atiende: the two commands of the README's quick start are `make demo` and `make test`.
.PHONY: venv demo test lint typecheck check bench clean

VENV := .venv
BIN := $(VENV)/bin

venv:
	@scripts/bootstrap.sh

demo: venv
	$(BIN)/atiende demo

test: venv
	scripts/with-test-services.sh $(BIN)/python -m pytest -q $(PYTEST_ARGS)

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
