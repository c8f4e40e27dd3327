# The two commands: `make demo` and `make test`. Both build the environment first.
SHELL := /bin/bash
PYTHON ?= python3
# uv from PATH, else the one pip installs for this Python (`make env` installs it when absent).
UV_BIN := $(shell command -v uv 2>/dev/null)
UV ?= $(if $(UV_BIN),$(UV_BIN),$(PYTHON) -m uv)
export CITY_USAGE_DATA_DIR ?= $(CURDIR)/data
# The CLI's own default too (pipelines/instance.py): CLI runs and `make ui` share one instance.
export DAGSTER_HOME ?= $(CITY_USAGE_DATA_DIR)/dagster
DEMO_CONFIG ?= $(CURDIR)/examples/city-usage.demo.yaml
# The demo and the UI show partitions from the first day of last month (where the sample data
# is), not the 1,000-day default; set CITY_USAGE_PARTITION_START to choose another start.
RECENT_START := $(shell date -u -d "$$(date -u +%Y-%m-01) -1 month" +%Y-%m-%d 2>/dev/null || echo 2024-01-01)
DEMO_ENV = CITY_USAGE_CONFIG=$${CITY_USAGE_CONFIG:-$(DEMO_CONFIG)} CITY_USAGE_PARTITION_START=$${CITY_USAGE_PARTITION_START:-$(RECENT_START)}
export UV_LINK_MODE := copy
RUN := $(UV) run --frozen
UI_PORT ?= 3000

.PHONY: env uv browser redis demo test ui bench clean cluster-up cluster-down

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv

env: uv .venv/.synced
.venv/.synced: pyproject.toml uv.lock
	$(UV) sync --frozen
	touch $@

# Debian's chromium for the report's browser test: installed once when missing and we are
# root with apt; otherwise that one test is skipped and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (once) for the report's browser test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	      >/dev/null) || echo "chromium could not be installed: the browser test is skipped"; \
	  else echo "no chromium and no root apt-get: the report's browser test is skipped"; fi; }

# Debian's redis-server for distributed mode (the Celery broker), like chromium above.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing redis-server (once) for distributed mode"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server \
	      >/dev/null) || echo "redis-server could not be installed"; \
	  else echo "no redis-server and no root apt-get: distributed mode cannot start here"; fi; }

# Distributed mode on 127.0.0.1 (docs/scale.md): Postgres, Redis, an S3 server, two Celery
# workers and a dagster-daemon (run monitoring; CLUSTER_AUTOMATION=on: sensors and schedules too), state under $(CITY_USAGE_DATA_DIR)/cluster;
# then `source .cluster/env`.
cluster-up: env redis
	CITY_USAGE_DATA_DIR=$(CITY_USAGE_DATA_DIR) cluster/up.sh

cluster-down:
	cluster/down.sh

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: env $(DAGSTER_HOME)/dagster.yaml
	$(RUN) city-usage sample-data --days 14 --events-per-day 4000 --seed 7
	$(DEMO_ENV) $(RUN) city-usage materialize
	@$(DEMO_ENV) $(RUN) city-usage status
	@echo "note:        broken.parquet and the bad rows are deliberate sample data: rejects are quarantined, never lost"

test: env browser redis $(DAGSTER_HOME)/dagster.yaml
	$(RUN) ruff check usage_model assets pipelines tests benchmarks
	$(RUN) pytest -q -n 2 --dist loadfile

ui: env $(DAGSTER_HOME)/dagster.yaml
	@# exec: make's SIGTERM reaches dagster dev (via uv), which stops its webserver and daemon.
	@# dagster maps SIGTERM to the SIGINT handler, so SIGINT must not be inherited as ignored
	@# (it is when make itself was started in the background).
	$(DEMO_ENV) exec env --default-signal=INT,TERM $(RUN) dagster dev -h 127.0.0.1 -p $(UI_PORT) -w workspace.yaml

bench: env
	$(RUN) python -m benchmarks.run

clean:
	rm -rf data .dagster_home
