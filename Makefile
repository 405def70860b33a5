# Two commands on a fresh clone: `make run` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: run test lint docs bench bench-smoke clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Tests also install the Ray launcher, so the Ray sweep test runs against a local Ray, and
# the docs tools, so the site's strict build is tested (tests/test_docs_site.py).
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,ray,docs]'
	touch $(TEST_STAMP)

# The default scenario end to end, with its report page (twin report) beside the Parquet files.
run: $(STAMP)
	$(BIN)/twin run report=true

# The report's browser test (tests/test_report.py) drives Debian's chromium; playwright's own
# browser download is never used.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

test: $(TEST_STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -n 2 -q

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,docs]'
	touch $(DOCS_STAMP)

# The documentation site (mkdocs.yml) into site/; strict: any warning fails the build.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

lint: $(STAMP)
	$(BIN)/ruff check twin tests benchmarks docs
	$(BIN)/ruff format --check twin tests benchmarks docs

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
