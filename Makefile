# The two commands in the README: `make book` and `make test`. Both set up what they need first.
VENV ?= .venv
BIN := $(VENV)/bin
BUILD := $(BIN)/jupyter-book build . --warningiserror --keep-going

.PHONY: setup book lint lint-js test bench clean mutation launch-check

setup:
	bash scripts/setup.sh

# Build the book into _build/html; executed notebooks are cached in _build/.jupyter_cache.
book: setup
	$(BIN)/python scripts/cache_guard.py
	$(BUILD)

# Static checks, one line per linter: ruff for Python (pyproject.toml), ESLint for the widgets' front ends
# (src/qkv/widgets/*.js; web/eslint.config.mjs).
lint: setup
	$(BIN)/ruff check src tests scripts book/_ext
	$(MAKE) lint-js

# Lint first, then unit tests and doctests, then every chapter notebook in a fresh kernel (the executed notebooks go
# into the book's execution cache), then the build (which reuses them), then the browser tests; last, the launch
# check, only if what it depends on changed since its last passing run (bench/launch.json).
test:
	QKV_NEED_BROWSER=1 bash scripts/setup.sh
	$(MAKE) lint
	$(BIN)/python scripts/cache_guard.py
	$(BIN)/python -m pytest -m "not browser"
	$(BUILD)
	$(BIN)/python -m pytest -m browser
	$(BIN)/python scripts/launch_check.py --if-changed

# Measure build times, each chapter's time and memory, page weights and qkv against PyTorch;
# writes bench/results.json (shown in the appendix "Running this book") and fails on a blown budget.
bench: setup
	$(BIN)/python scripts/bench.py

# Every chapter on a fresh Colab-like and a fresh Binder-like environment (scripts/launch_check.py; about 15
# minutes, downloads torch for Colab's Python). Writes bench/launch.json: commit it.
launch-check: setup
	$(BIN)/python scripts/launch_check.py $(LAUNCH_ARGS)

lint-js:
	cd web && npm run --silent lint

clean:
	rm -rf _build

# Mutation testing of the validation and masking code (qkv.checks, qkv.masks, qkv.attention) with mutmut,
# configured in pyproject.toml [tool.mutmut]; not part of `make test`. Results: `.venv/bin/mutmut results`.
mutation: setup
	$(BIN)/pip install -q -r requirements-mutation.txt
	rm -rf mutants
	QKV_MUTATION=1 OMP_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results
