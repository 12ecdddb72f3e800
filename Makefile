# perf-workbench — the two README commands: `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTHON ?= python3
APT_PACKAGES := postgresql-15 redis-server redis-tools prometheus \
                prometheus-redis-exporter prometheus-postgres-exporter postgresql-15-hypopg \
                openjdk-17-jre-headless

BROWSER_PACKAGES := chromium

# apt_install: install those of the Debian packages $(1) that are missing (as root, or through sudo)
define apt_install
@missing=""; for p in $(1); do \
  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
done; \
if [ -n "$$missing" ]; then \
  echo "installing:$$missing"; \
  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
fi
endef

.PHONY: demo test venv dev services browser lab-deps lab lint bench samples clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip
	$(PIP) install -q -e '.[lab]'
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed pyproject.toml
	$(PIP) install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed
dev: $(VENV)/.dev-installed

## make demo: install, rebuild data/demo.duckdb from data/samples/, execute every notebook -> reports/index.html
demo: venv
	$(VENV)/bin/workbench demo

## services: Debian's PostgreSQL 15, Redis and Prometheus (+ exporters), only where missing
services:
	$(call apt_install,$(APT_PACKAGES))

## browser: Debian's Chromium for the report browser test and `workbench report --pdf`, only where missing
## (playwright drives this binary; it never downloads a browser of its own)
browser:
	$(call apt_install,$(BROWSER_PACKAGES))

## make lab: JupyterLab on 127.0.0.1:$(JUPYTER_PORT) with the project's environment, opened on notebooks/; each
## notebook reads its `db` parameter (default data/demo.duckdb: `make demo` first). Token: $JUPYTER_TOKEN or printed.
JUPYTER_PORT ?= 8888
lab: venv
	$(VENV)/bin/jupyter lab --no-browser --ip=127.0.0.1 --port=$(JUPYTER_PORT) --ServerApp.port_retries=0 \
	  --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/notebooks $$([ "$$(id -u)" = 0 ] && echo --allow-root)

## lab-deps: everything `workbench lab up` uses: the services above (with HypoPG) and the lab's Python extra
lab-deps: venv services

## make test: dev extras (with playwright) + services + chromium, then the whole suite (real servers on
## loopback ports of their own; report screenshots land in test-artifacts/browser/)
test: dev services browser
	$(VENV)/bin/ruff check workbench tests benchmarks scripts
	$(VENV)/bin/pytest --nbval-lax --durations=15 tests notebooks

lint: dev
	$(VENV)/bin/ruff check workbench tests benchmarks scripts

bench: dev
	$(PY) benchmarks/bench_k6_ingest.py
	$(PY) benchmarks/bench_stats.py
	$(PY) benchmarks/bench_roi.py
	$(PY) benchmarks/bench_parquet.py

## samples: re-capture data/samples/ from one short lab loop (real k6, PostgreSQL, Redis, Prometheus; ~2.5 min)
samples: lab-deps
	$(PY) scripts/capture_samples.py

clean:
	rm -rf reports/*.html reports/*.ipynb reports/*.pdf data/demo.duckdb test-artifacts
