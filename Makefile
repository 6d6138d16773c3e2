# Two entry points for a fresh machine: `make run` and `make test` (see README.md).
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
# `make run PORT=9000` (or HOST=...) sets server.port/host for init and serve alike, so the
# first init writes a public_base_url on that port; unset, psre.toml / PSRE_SERVER_* decide.
HOST   ?=
PORT   ?=
SERVE_ENV := $(if $(HOST),PSRE_SERVER_HOST=$(HOST)) $(if $(PORT),PSRE_SERVER_PORT=$(PORT))

.PHONY: run test deps test-deps sysdeps-run sysdeps-test lint bench clean

run: deps
	$(SERVE_ENV) $(BIN)/psre init
	$(SERVE_ENV) $(BIN)/psre serve

# The contracts gate the tests: CI (.ci/run -> make test) fails on a lint, type or import error.
# In one process by default: the fault tests (token away, database stopped, processes killed)
# time what they see, and a second worker on the same two cores makes that flaky. TEST_JOBS=2
# runs two pytest-xdist workers (every test has its own tmp dir, port, token and schema).
TEST_JOBS ?= 0
test: test-deps lint
	$(BIN)/python -m pytest -n $(TEST_JOBS) $(PYTEST_ARGS)

# Run-time system packages only; the tests' checkers, servers and browser come with test-deps.
deps: sysdeps-run $(VENV)/.installed
test-deps: sysdeps-test deps

sysdeps-run:
	@tools/sysdeps.sh run

sysdeps-test:
	@tools/sysdeps.sh run test

# Reinstall only when the dependency list changes.
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

# The import contracts (see [tool.importlinter] in pyproject.toml): hsm and policies import
# nothing of ours; psre/ on top, then the outer packages in layers, ca_core, the leaves; only
# ca_core.store imports SQLAlchemy; no
# exceptions. `lint-imports` alone also reports the "-target" ones still broken.
lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --contract leaves --contract layers --contract store-boundary

bench: test-deps
	$(BIN)/python bench/hsm_sign_rate.py

clean:
	rm -rf $(VENV) var .pytest_cache
