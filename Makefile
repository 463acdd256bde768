# The front door. `make demo` and `make test` install what is missing first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export VIDMINE_HOME ?= $(CURDIR)/.vidmine

.PHONY: install demo test test-fast lint dev bench clean

install:
	@bash scripts/install.sh

demo: install
	$(PY) scripts/demo.py

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

test-fast: install
	$(VENV)/bin/pytest -m "not slow"

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

dev: install
	bash scripts/dev.sh

bench: install
	$(PY) bench/stage_times.py

clean:
	rm -rf .vidmine
