# Yakuba — the two commands that matter: `make run` and `make test` (and `make lint` before a commit).
# python3.11 if present, else python3 (which must then be 3.11 or newer).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test test-postgres bench lint reset clean

# The integration tests that lean on Synapse's storage hardest (transactions, crash recovery,
# E2EE, offboarding, quiet hours, retention), run a second time with Synapse on PostgreSQL
# (a throwaway cluster: tests/postgres.py). YAKUBA_TEST_SYNAPSE_DB=postgres runs any test so.
POSTGRES_TESTS := $(addprefix tests/integration/test_,transactions.py effects_really_happen.py \
	synapse_restart.py forged_events.py e2ee_bot.py offboarding.py offboarding_trust.py \
	quiet_hours.py retention.py retention_trust.py)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { echo "Python 3.11 or newer is required"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/yakuba dev --data-dir var

# city-a (城北市) and city-b (城南町), each Synapse + Yakuba, federating; data in var/federation/.
.PHONY: run-federation
run-federation: $(STAMP)
	$(VENV)/bin/yakuba dev-federation --data-dir var/federation

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-postgres

test-postgres: $(STAMP)
	YAKUBA_TEST_SYNAPSE_DB=postgres $(PY) -m pytest -q $(PYTEST_ARGS) $(POSTGRES_TESTS)

# Refresh docs/images/ from the browser tests' screenshots (small copies; see tests/browser/client.py).
.PHONY: docs-screenshots
docs-screenshots: $(STAMP)
	YAKUBA_DOCS_SCREENSHOTS=1 $(PY) -m pytest -q tests/browser

bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# ruff, then mypy on appservice/ and bots/ (settings in pyproject.toml [tool.mypy]).
lint: $(STAMP)
	$(VENV)/bin/ruff check appservice bots tests bench
	$(VENV)/bin/mypy

reset:
	@echo "Removing var/ (Synapse database, tokens, Yakuba state, archive)…"
	rm -rf var

clean: reset
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
