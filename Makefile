# Two commands matter on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint format bench openapi docs clean

# The virtual environment, rebuilt when the dependencies change.
$(VENV)/.runtime: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: $(VENV)/.runtime  ## migrate ./qasid.db, print a demo key, serve on QASID_PORT (8000)
	$(BIN)/qasid migrate
	$(BIN)/qasid demo
	$(BIN)/qasid serve

# The test SMSC's one dependency, node-smpp, exactly as package-lock.json pins it (see tests/smsc/).
tests/smsc/node/node_modules: tests/smsc/node/package-lock.json
	cd tests/smsc/node && npm ci --no-audit --no-fund
	touch $@

test: $(VENV)/.dev tests/smsc/node/node_modules  ## the whole suite (PostgreSQL too when QASID_TEST_DATABASE_URL is set)
	$(BIN)/pytest -q

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.dev  ## accept throughput on SQLite and PostgreSQL (see docs/performance.md)
	$(BIN)/python bench/accept.py

openapi docs: $(VENV)/.dev  ## regenerate docs/openapi.json and docs/errors.md from the code
	$(BIN)/python -m qasid.api.openapi > docs/openapi.json
	$(BIN)/python -m qasid.api.problems > docs/errors.md
	$(BIN)/python -m qasid.settings > docs/configuration.md

clean:
	rm -rf $(VENV) qasid.db qasid.db-wal qasid.db-shm .qasid-demo-key
