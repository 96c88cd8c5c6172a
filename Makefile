# The two commands: `make dev` serves the gateway locally, `make test` runs everything.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
# sam build needs a python3.12 and a python3.13 (ManagedChatFunction) on PATH; pyenv machines keep
# them under $(pyenv root)/versions.
PY312_BIN := $(shell d=$$(ls -d $$(pyenv root 2>/dev/null)/versions/3.12*/bin 2>/dev/null | tail -n 1); echo $$d)
PY313_BIN := $(shell d=$$(ls -d $$(pyenv root 2>/dev/null)/versions/3.13*/bin 2>/dev/null | tail -n 1); echo $$d)
export SAM_CLI_TELEMETRY := 0
export PATH := $(if $(PY312_BIN),$(PY312_BIN):,)$(if $(PY313_BIN),$(PY313_BIN):,)$(PATH)

.PHONY: install dynamodb-local browser agents dev test soak lint typecheck check build validate clean bench screenshots

$(VENV)/.installed: pyproject.toml layers/common/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed dynamodb-local browser agents

dynamodb-local:
	scripts/install-dynamodb-local.sh

# Debian's chromium and chromedriver for the console's browser tests (apt-get, only when missing)
browser:
	scripts/install-browser.sh

# The coding-agent CLIs tests/agents drives (Claude Code, Codex CLI, Gemini CLI), at the versions pinned in
# devtools/agents/package-lock.json, installed with `npm ci` into .local/agents.
agents:
	scripts/install-agents.sh

dev: $(VENV)/.installed dynamodb-local
	$(PY) -m devtools.devserver

# The property suite (tests/properties) with twenty times the examples `make test` gives it, fresh
# random ones each run (make test's are fixed). Tens of minutes.
soak: install
	HYPOTHESIS_PROFILE=soak $(VENV)/bin/pytest tests/properties --timeout=0

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

test: install
	$(VENV)/bin/pytest
	$(MAKE) --no-print-directory lint typecheck

validate: $(VENV)/.installed
	$(VENV)/bin/sam validate --lint

build: $(VENV)/.installed
	$(VENV)/bin/sam build

# The console's browser tests, keeping their screenshots in docs/console/ (linked from the README)
screenshots: install
	CONSOLE_SCREENSHOTS=docs/console $(VENV)/bin/pytest tests/e2e -q

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache

# Benchmarks (issues 7, 18): fake upstream, DynamoDB Local, the gateway (as the template deploys it and
# as make dev serves it), LiteLLM's proxy (own venv under .local/bench) and Portkey's gateway (npm, own
# folder under .local/bench), all on 127.0.0.1; waits for a quiet machine; writes docs/BENCHMARKS.md.
bench: install
	$(PY) -m bench.run
