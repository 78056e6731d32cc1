# The two commands that matter: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: install demo test test-unit check lint format bench lock clean stack-up stack-down docs docs-serve

install: $(STAMP)

# The venv is (re)built from the committed lock whenever the lock or pyproject changes.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sparkify demo $(ARGS)

# Every tier, in two lanes side by side (tests/lanes.py): end to end, and the rest.
test: $(STAMP)
	$(BIN)/python -m tests.lanes $(ARGS)

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit tests/dags $(ARGS)

# While working: lint, format check, the unit and DAG-integrity tiers; no server starts.
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit tests/dags $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The manual (mkdocs.yml, docs/): strict, so a broken link or a page left out fails it
# (not --quiet: it hides the warnings that strict mode counts).
# The reference pages are generated from the code at build time (docs/hooks.py).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(ARGS)

# Regenerate the lock after editing pyproject.toml (Airflow's constraints URL is not used).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra local --extra dev --python-version 3.11 --universal -o requirements.lock

stack-up: $(STAMP)
	$(BIN)/sparkify stack up

stack-down: $(STAMP)
	$(BIN)/sparkify stack down

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
