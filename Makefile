# The README's commands. `make demo` and `make test` each set up .venv from requirements.lock
# on first use (Python >= 3.11 and pip are all a fresh machine needs).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= configs/default.yaml

.PHONY: demo test test-fast lint bench mutate lock clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)  ## run the whole pipeline on the embedded simulated league
	$(BIN)/gameline run --config $(CONFIG)

test: $(STAMP)  ## run the test suite (tests on ../shared/data are skipped, with a reason, without it)
	$(BIN)/python -m pytest -n auto --maxschedchunk 2

test-fast: $(STAMP)  ## the unit tier only (about 30 s): the inner loop; CI runs `make test`
	$(BIN)/python -m pytest -n auto tests/unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)  ## ingest + validate + features: NBA file, 100k and 1M simulated games
	$(BIN)/python bench/bench_ingest.py

# Mutation testing (not in CI): mutmut mutates the core modules listed under [tool.mutmut] in
# pyproject.toml and runs the unit tests that reach each mutated function.
MUTMUT ?= mutmut==3.8.1
mutate: $(STAMP)  ## mutation testing of the core modules; prints the score and the survivors
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock $(MUTMUT)
	rm -rf mutants src && mkdir -p src/gameline && ln -s ../../tasks src/gameline/tasks
	$(BIN)/mutmut run --max-children 2; status=$$?; \
	  $(BIN)/mutmut results; $(BIN)/python tests/mutation_score.py; rm -rf src; exit $$status

lock: $(STAMP)  ## rewrite requirements.lock from the current .venv
	{ echo "# Exact versions of everything Gameline installs (Python 3.11). Regenerate with 'make lock'."; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e'; } > requirements.lock

clean:
	rm -rf $(VENV) .gameline .gameline-*
