# `make train` runs the main job, `make test` the tests; both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= configs/mnist_cnn.yaml
# The real datasets, when they sit beside the checkout (as in CI); otherwise Keras downloads.
DATA_DIR ?= $(wildcard ../shared/data)

.PHONY: install train test test-fast bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

train: install
	$(BIN)/dlcourse train $(CONFIG) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

# Two workers, one a core; worksteal hands a finished worker the other's queued tests.
test: install
	$(BIN)/python -m pytest -n 2 --dist worksteal

test-fast: install
	$(BIN)/python -m pytest -n 2 --dist worksteal -m "not slow"

# About 40 minutes on 2 cores: plain Keras scripts against dlcourse, see benchmarks/RESULTS.md.
bench: install
	$(BIN)/python benchmarks/run.py $(if $(DATA_DIR),--data-dir $(DATA_DIR)) --scaling

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
