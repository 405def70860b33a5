# Two commands on a fresh clone: `make run` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: run test browser lint docs bench bench-smoke clean

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

# The report's browser test (tests/test_report.py) drives a Chromium or Chrome that is on the
# PATH (playwright's own browser download is never used). Where none is, a root shell with
# apt-get tries Debian's chromium; nothing here can fail `make test`: without a browser that
# one test skips and says why.
BROWSERS ?= chromium chromium-browser google-chrome google-chrome-stable
APT_GET ?= apt-get
browser:
	@for b in $(BROWSERS); do command -v $$b >/dev/null 2>&1 && exit 0; done; \
	if [ "$$(id -u)" = 0 ] && command -v $(APT_GET) >/dev/null 2>&1; then \
		$(APT_GET) update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive \
		$(APT_GET) install -y -qq --no-install-recommends chromium >/dev/null 2>&1 && exit 0; \
	fi; \
	echo "no Chromium or Chrome on the PATH: the report's browser test will skip"

test: $(TEST_STAMP) browser
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
