# Two commands on a fresh clone: `make run` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint bench bench-smoke clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Tests also install the Ray launcher, so the Ray sweep test runs against a local Ray.
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $(TEST_STAMP)

run: $(STAMP)
	$(BIN)/twin run

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check twin tests benchmarks
	$(BIN)/ruff format --check twin tests benchmarks

# The benchmark suite: smoke (the CI gate, also run by `make test`) and full (minutes to hours).
bench-smoke: $(STAMP)
	$(BIN)/python -m benchmarks run --tier smoke --out benchmarks/results/smoke
	$(BIN)/python -m benchmarks check benchmarks/results/smoke

bench: $(STAMP)
	$(BIN)/python -m benchmarks run --tier full --out benchmarks/results/full
	$(BIN)/python -m benchmarks check benchmarks/results/full
	$(BIN)/python -m benchmarks report benchmarks/results/full

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
