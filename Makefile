# One venv holds the core and every plugin under plugins/, all editable.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Every plugin, and the example provider of docs/adding-a-provider.md (tested like the others).
PLUGINS := $(sort $(dir $(wildcard plugins/*/pyproject.toml examples/*/pyproject.toml)))
STAMP := $(VENV)/.installed
# Where `make wheels` writes the wheels.
DIST ?= dist

.PHONY: help setup browser demo test lint typecheck pytest clients bench profile soak wheels clean
.DEFAULT_GOAL := help

# Shows pip's progress: a first run downloads the provider SDKs (about 400 MB) and takes minutes.
$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml examples/*/pyproject.toml)
	@echo "Setting up $(VENV): the core and $(words $(PLUGINS)) plugins, editable, and the dev tools."
	@test -e $(VENV) || echo "First run: downloads about 400 MB of provider SDKs; a few minutes."
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(PY) -m pip install --disable-pip-version-check --progress-bar off -e '.[dev]' \
		$(foreach p,$(PLUGINS),-e $(p)) 2>&1 | { grep --line-buffered -v "^WARNING: Location" || true; }
	touch $(STAMP)
	@echo "Done. Use the venv: source $(VENV)/bin/activate (or run $(VENV)/bin/copass-router)."

help:  ## list the targets (what `make` alone does)
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /\1\t/' | expand -t 12

setup: $(STAMP)  ## .venv with the core and every plugin under plugins/, editable, plus dev tools

# The console's browser tests drive Debian's chromium (never a downloaded browser build); they
# skip with one line where it is missing and this cannot install it (not root, not Debian).
browser:  ## Debian's chromium for the console's browser tests (installed when root and missing)
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium (the console's browser tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	fi

demo: setup  ## the main job: a multi-provider conversation, offline
	$(PY) examples/demo.py

test: lint typecheck pytest  ## every check CI runs

lint: setup  ## ruff check and ruff format --check
	$(VENV)/bin/ruff check src plugins tests bench examples soak
	$(VENV)/bin/ruff format --check src plugins tests bench examples soak

typecheck: setup  ## mypy on src/ and plugins/*/src
	$(VENV)/bin/mypy src $(foreach p,$(PLUGINS),$(p)src)

# The suite mostly waits (servers, emulators, subprocesses), so it runs in PYTEST_WORKERS
# processes (pytest-xdist), each test file on one of them; PYTEST_WORKERS=0 runs it in one.
PYTEST_WORKERS ?= 4

pytest: setup clients browser  ## the whole test suite
	$(VENV)/bin/pytest -q -n $(PYTEST_WORKERS) --dist loadfile

# The protocols' official npm clients, from tests/clients/package-lock.json; without node their
# tests skip.
CLIENTS_STAMP := tests/clients/node_modules/.package-lock.json

clients:  ## the official npm clients the hosted protocol tests drive (needs node; else skipped)
	@if command -v npm >/dev/null; then \
		$(MAKE) --no-print-directory $(CLIENTS_STAMP); \
	else echo "node/npm not installed: the npm client tests will skip"; fi

$(CLIENTS_STAMP): tests/clients/package-lock.json
	cd tests/clients && npm ci --no-audit --no-fund --loglevel=error

bench: setup  ## speed figures; never part of `make test`
	$(PY) -m bench

profile: setup  ## pyinstrument profiles of figures 1, 2z and 2 (bench/profile-*.txt)
	$(PY) -m bench.profile

soak: setup  ## 60 s of 1,000 concurrent hosted runs, echo then the Anthropic emulator; not a test
	$(PY) -m soak.run_soak --seconds 60 --concurrency 1000

wheels: setup  ## wheels of the core and every plugin in dist/, to install where no checkout is
	$(PY) -m pip wheel --quiet --no-deps --wheel-dir $(DIST) . $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
	@ls $(DIST)/*.whl

clean:  ## remove the .venv
	rm -rf $(VENV)
