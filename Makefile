# Two commands for a newcomer: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test install clean bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/sfn-callback demo

test: $(STAMP)
	sh scripts/ensure-test-tools.sh
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/sfn-callback bench cloud

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
