# The two commands: `make demo` and `make test`. Both build the environment first.
SHELL := /bin/bash
PYTHON ?= python3
# uv from PATH, else the one pip installs for this Python (`make env` installs it when absent).
UV_BIN := $(shell command -v uv 2>/dev/null)
UV ?= $(if $(UV_BIN),$(UV_BIN),$(PYTHON) -m uv)
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export CITY_USAGE_DATA_DIR ?= $(CURDIR)/data
DEMO_CONFIG ?= $(CURDIR)/examples/city-usage.demo.yaml
export UV_LINK_MODE := copy
RUN := $(UV) run --frozen

.PHONY: env uv demo test ui bench clean

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv

env: uv .venv/.synced
.venv/.synced: pyproject.toml uv.lock
	$(UV) sync --frozen
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: env $(DAGSTER_HOME)/dagster.yaml
	$(RUN) city-usage sample-data --days 14 --events-per-day 4000 --seed 7
	CITY_USAGE_CONFIG=$${CITY_USAGE_CONFIG:-$(DEMO_CONFIG)} $(RUN) city-usage materialize
	CITY_USAGE_CONFIG=$${CITY_USAGE_CONFIG:-$(DEMO_CONFIG)} $(RUN) city-usage report

test: env $(DAGSTER_HOME)/dagster.yaml
	$(RUN) ruff check usage_model assets pipelines tests benchmarks
	$(RUN) pytest -q -n 2 --dist loadfile

ui: env $(DAGSTER_HOME)/dagster.yaml
	CITY_USAGE_CONFIG=$${CITY_USAGE_CONFIG:-$(DEMO_CONFIG)} $(RUN) dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

bench: env
	$(RUN) python -m benchmarks.run

clean:
	rm -rf data .dagster_home
