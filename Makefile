# themesift: `make demo` and `make test` do everything on a fresh machine.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORPUS ?=
ARGS ?=
# The local index prints one harmless warning per package; keep real errors visible.
QUIET_PIP := { grep -v "is ignored: it is neither a file nor a directory" || true; }

export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120
export DO_NOT_TRACK ?= 1
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: help install demo test test-unit lint serve api clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	@echo "installing the CPU build of torch first (so nothing pulls CUDA wheels)..."
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0 2>&1 | $(QUIET_PIP)
	@echo "installing themesift and its dependencies..."
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]' 2>&1 | $(QUIET_PIP)
	touch $@

install: $(STAMP) ## create .venv and install (CPU torch first)

demo: $(STAMP) ## run the whole pipeline offline on the stdlib-docstrings corpus (or CORPUS=<folder or file>)
ifeq ($(CORPUS),)
	$(BIN)/themesift demo-corpus .themesift/demo-bucket
	$(BIN)/themesift run --bucket file://.themesift/demo-bucket $(ARGS)
else
	$(BIN)/themesift run --corpus "$(CORPUS)" $(ARGS)
endif

test: $(STAMP) lint ## lint, then run the whole test suite
	@# The report browser tests drive Debian's chromium (CI runs as root; playwright never downloads a browser).
	command -v chromium >/dev/null || (export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq chromium)
	@# The PDF and web-page decoders are also read against real manuals that Debian packages ship as PDF and HTML.
	test -f /usr/share/doc/libtasn1-doc/libtasn1.pdf -a -f /usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf \
		|| (export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq libtasn1-doc shared-mime-info)
	$(BIN)/python -m pytest -q $(ARGS)

lint: $(STAMP) ## ruff, configured in pyproject.toml (a lint failure fails `make test`)
	$(BIN)/ruff check .

test-unit: $(STAMP) ## run the fast unit tests only
	$(BIN)/python -m pytest -q tests/unit $(ARGS)

serve: $(STAMP) ## local Prefect server (unless PREFECT_API_URL is set) + prefect.yaml's deployments + a worker (Ctrl-C stops)
	$(BIN)/themesift serve --worker $(ARGS)

api: $(STAMP) ## the HTTP API on 127.0.0.1:8000 + a local Prefect server (unless PREFECT_API_URL is set) + a worker
	$(BIN)/themesift api $(ARGS)

clean: ## remove local state and outputs (keeps .venv)
	rm -rf .themesift out .prefect
