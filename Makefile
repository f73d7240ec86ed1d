# The habits of this project, one command each. `uv` is installed when missing.
SHELL := /bin/bash
PYTHON ?= python3
# uv from PATH, else a private copy in .tools/ (a venv, so it works where pip may not
# install into the system Python). The version is the Dockerfile's (tests/operations keeps
# them equal), so the image and CI resolve the lock with the same tool.
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := .tools/bin/uv
endif

.PHONY: dev test lint bench cluster uv sync

uv:
	@$(UV) --version >/dev/null 2>&1 || { $(PYTHON) -m venv .tools && .tools/bin/pip install --quiet uv==0.13.9; }

sync: uv
	@$(UV) sync --frozen --quiet

dev: sync
	$(UV) run --frozen dyndash dev --ticker

test: sync
	$(UV) run --frozen pytest

lint: sync
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

bench: sync
	$(UV) run --frozen python -m bench.event_latency
	$(UV) run --frozen python -m bench.gateway
	$(UV) run --frozen python -m bench.cold_miss
	$(UV) run --frozen python -m bench.renderer

# One admin API, three gateways and two renderers on loopback, against the local PostgreSQL
# (database dyndash_cluster, created when missing) and Redis; override with DATABASE_URL and
# REDIS_URL. Prints the URLs and an admin key; Ctrl-C stops every process.
cluster: sync
	$(UV) run --frozen python -m devtools.cluster
