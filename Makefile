# Two commands for a newcomer: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Test workers (pytest-xdist; each starts its own local cloud); TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2

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
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

bench: $(STAMP)
	$(BIN)/sfn-callback bench cloud

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
