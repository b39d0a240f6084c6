# fiveplans — the README's two commands: `make demo` and `make test`.
# Each bootstraps .venv on a fresh machine (Python >= 3.10 with venv) and then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.fiveplans-installed
PYTEST_ARGS ?=

.PHONY: all install demo test lint format system-deps benchmark clean

all: test

$(STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## make demo: install, then run the whole pipeline on the bundled demo pilot into out/demo/
demo: install
	$(BIN)/fiveplans demo --out out/demo --overwrite

## make test: install (and the system packages the tests need), then the whole suite, notebooks included
test: install system-deps
	$(BIN)/python -m pytest --nbmake tests notebooks $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## PostGIS, Chromium and CJK fonts (installed when missing and running as root)
system-deps:
	@bash scripts/install-system-deps.sh

benchmark: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf out build dist *.egg-info .pytest_cache .ruff_cache
