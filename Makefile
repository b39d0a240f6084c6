# fiveplans — the README's two commands: `make demo` and `make test`.
# Each bootstraps .venv on a fresh machine (Python >= 3.10 with venv) and then runs.
#
# Installs are reproducible: every install is constrained by requirements/lock.txt, the tested
# set of every dependency (Python 3.11, Linux). `make lock` refreshes it after setup.cfg changes.
#
# The package is installed editable in setuptools' *strict* mode: a tree of links under build/
# that editors and type checkers (pyright, mypy, jedi) follow, so "go to definition" on
# fiveplans.analysis.find_conflicts opens analysis/conflicts.py. Edits to existing files are seen
# at once; a file added to or removed from the package is seen after a reinstall, which any make
# target does by itself (the install stamp depends on the list of package files).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.fiveplans-installed
FILES  := $(VENV)/.fiveplans-files
LOCK   := requirements/lock.txt
PYTEST_ARGS ?=
PACKAGE_DIRS  := gis layers analysis maps
PACKAGE_FILES := $(sort $(shell find $(PACKAGE_DIRS) -type f ! -path '*/__pycache__/*' \
                   ! -name '*.pyc' ! -name '.*' 2>/dev/null))

.PHONY: all install demo test lint format lock system-deps benchmark clean FORCE

all: test

# Rewritten only when the list of package files changes (its date then triggers a reinstall).
$(FILES): FORCE
	@mkdir -p $(VENV)
	@printf '%s\n' $(PACKAGE_FILES) > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv -f $@.new $@; fi

$(STAMP): setup.cfg pyproject.toml $(LOCK) $(FILES)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 'setuptools>=69' wheel
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[dev]' \
	    --config-settings editable_mode=strict
	@touch $(STAMP)

install: $(STAMP)

## make demo: install, then run the whole pipeline on the bundled demo pilot into out/demo/
demo: install
	$(BIN)/fiveplans demo --out out/demo --overwrite

## make test: install (and the system packages the tests need), then the whole suite, notebooks included
test: install system-deps
	$(BIN)/python -m pytest --nbmake tests notebooks $(PYTEST_ARGS)

## make lock: pin the tested set (setup.cfg incl. every extra, Python 3.11, Linux) with uv
lock:
	@PYTHON=$(PYTHON) bash scripts/lock.sh

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
	rm -rf out build dist *.egg-info .pytest_cache .ruff_cache $(STAMP) $(FILES)
