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

.PHONY: dev test lint bench cluster uv sync docs

uv:
	@$(UV) --version >/dev/null 2>&1 || { $(PYTHON) -m venv .tools && .tools/bin/pip install --quiet uv==0.13.9; }

sync: uv ui
	@$(UV) sync --frozen --quiet

# The admin web UI (ui/, README "Admin web UI"): rebuilt when its sources are newer than the
# bundle. Without Node.js it says how to get it and goes on: the API serves everything else.
UI_SOURCES := $(shell find ui/src ui/scripts -type f 2>/dev/null) ui/index.html ui/package.json \
	ui/vite.config.ts ui/tsconfig.json
.PHONY: ui
HAVE_NODE := $(shell command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1 && echo yes)
ifeq ($(HAVE_NODE),yes)
ui: ui/dist/index.html
else
ui:
	@echo "Node.js 20+ and npm are missing: the admin UI (/admin/) is not built; the rest runs."
	@echo "  Get them from https://nodejs.org/ or your system (Debian: apt-get install nodejs npm), then run make sync."
endif
ui/node_modules/.package-lock.json: ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund --loglevel=error
ui/dist/index.html: ui/node_modules/.package-lock.json $(UI_SOURCES)
	cd ui && npm run --silent build

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
	$(UV) run --frozen python -m bench.site_apply
	$(UV) run --frozen python -m bench.admin_ui

# One admin API, three gateways and two renderers on loopback, against the local PostgreSQL
# (database dyndash_cluster, created when missing) and Redis; override with DATABASE_URL and
# REDIS_URL. Prints the URLs and an admin key; Ctrl-C stops every process.
cluster: sync
	$(UV) run --frozen python -m devtools.cluster

# The documentation site (README "Documentation"): docs/ with MkDocs and Material into site/;
# --strict makes a broken link, anchor or nav entry fail; `make test` runs the same build.
# NO_MKDOCS_2_WARNING keeps out a banner Material prints about its own future on every build.
docs: sync
	NO_MKDOCS_2_WARNING=1 $(UV) run --frozen mkdocs build --strict --site-dir site
