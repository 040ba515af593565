# The README's two commands. Each creates the virtual environment when needed.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
HOST    ?= 127.0.0.1
PORT    ?= 5000

.PHONY: run test browser-deps bench bench-scale bench-report bench-rollup

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,prod]'
	touch $(STAMP)

## make run: the app on the embedded default (SQLite), demo tenants loaded
run: $(STAMP)
	$(VENV)/bin/steerco db upgrade
	$(VENV)/bin/steerco demo --if-empty
	@echo ""
	@echo "Steerco is starting at http://$(HOST):$(PORT)/login  (Ctrl-C stops it)"
	$(VENV)/bin/steerco run --host $(HOST) --port $(PORT)

## make test: the whole suite (set STEERCO_TEST_DATABASE_URL for PostgreSQL)
test: $(STAMP) browser-deps
	$(PY) -m pytest $(PYTEST_ARGS)

# Browser tests drive Debian's Chromium; Playwright cannot download browsers here.
browser-deps:
	@command -v chromium >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium and poppler-utils for the browser and PDF tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium poppler-utils >/dev/null; }

## make bench: the form benchmark (see bench/README.md)
bench: $(STAMP)
	$(PY) bench/form_bench.py

## make bench-scale: pages at 1k/10k/100k measures (SCALE_ARGS="--sizes 1000,10000 --databases sqlite,postgresql")
bench-scale: $(STAMP)
	$(PY) bench/scale_bench.py $(SCALE_ARGS)

## make bench-report: a 1,000-measure report PDF against WeasyPrint alone (see bench/README.md)
bench-report: $(STAMP)
	$(PY) bench/report_bench.py

## make bench-rollup: a portfolio's rollup at 100,000 measures against a bare SQL aggregate (ROLLUP_ARGS="--measures 10000 --databases sqlite")
bench-rollup: $(STAMP)
	$(PY) bench/rollup_bench.py $(ROLLUP_ARGS)
