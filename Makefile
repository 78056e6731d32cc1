# The two commands that matter: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: install bytecode demo test test-unit check lint format bench lock clean stack-up stack-down docs docs-serve screenshots

install: $(STAMP)

# The venv is (re)built from the committed lock whenever the lock or pyproject changes.
# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (as on this machine,
# and in many container images) no process writes it, and each Airflow process would compile
# Airflow from source as it starts (`import airflow`: 5.0 s without, 2.8 s with).
$(STAMP): requirements.lock pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# This checkout's own modules, compiled when they changed (seconds; nothing when none did).
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q -j 0 sparkify dags benchmarks

demo: bytecode
	$(BIN)/sparkify demo $(ARGS)

# Every tier, in two lanes side by side (tests/lanes.py): end to end, and the rest.
test: bytecode
	$(BIN)/python -m tests.lanes $(ARGS)

test-unit: bytecode
	$(BIN)/python -m pytest tests/unit tests/dags $(ARGS)

# While working: lint, format check, the unit and DAG-integrity tiers; no server starts.
check: bytecode
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit tests/dags $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The README's screenshot of the health page, as the browser test sees it.
screenshots: bytecode
	SPARKIFY_SCREENSHOTS=docs/images $(BIN)/python -m pytest -q tests/e2e/test_dirty_end_to_end.py -k test_the_health_page_in_a_browser

# The manual (mkdocs.yml, docs/): strict, so a broken link or a page left out fails it
# (not --quiet: it hides the warnings that strict mode counts).
# The reference pages are generated from the code at build time (docs/hooks.py).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

bench: bytecode
	$(BIN)/python -m benchmarks $(ARGS)

# Regenerate the lock after editing pyproject.toml (Airflow's constraints URL is not used).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra local --extra dev --python-version 3.11 --universal -o requirements.lock

stack-up: bytecode
	$(BIN)/sparkify stack up

stack-down: $(STAMP)
	$(BIN)/sparkify stack down

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
