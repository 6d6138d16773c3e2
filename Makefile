# Two entry points for a fresh machine: `make run` and `make test` (see README.md).
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: run test deps sysdeps lint bench clean

run: deps
	$(BIN)/psre init
	$(BIN)/psre serve --host $(HOST) --port $(PORT)

test: deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

deps: sysdeps $(VENV)/.installed

sysdeps:
	@tools/sysdeps.sh

# Reinstall only when the dependency list changes.
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

lint: deps
	$(BIN)/ruff check .

bench: deps
	$(BIN)/python bench/hsm_sign_rate.py

clean:
	rm -rf $(VENV) var .pytest_cache
