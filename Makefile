# The habits of this project, one command each. `uv` is installed when missing.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
PYTHON ?= python3

.PHONY: dev test lint bench uv sync

uv:
	@command -v $(UV) >/dev/null 2>&1 || $(PYTHON) -m pip install --user --quiet uv || $(PYTHON) -m pip install --quiet uv

sync: uv
	@$(UV) sync --frozen --quiet

dev: sync
	$(UV) run --frozen dyndash dev

test: sync
	$(UV) run --frozen pytest

lint: sync
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
