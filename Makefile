# microsim: two commands for a new user.
#   make demo   set up .venv if needed, then run the bundled default case (both interfaces) and print the table
#   make test   set up .venv if needed, then run the test suite serially and under mpiexec -n 2
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.microsim-installed
MPI_RANKS ?= 2
TEST_TIMEOUT ?= 1500
PYTEST_ARGS ?=

.PHONY: demo test test-serial test-mpi bench paper paper-quick calibrate lint format clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v cc >/dev/null || { echo "microsim: a C compiler (cc) is needed for FFCx JIT: apt-get install gcc" >&2; exit 1; }
	@if [ ! -x $(PY) ]; then \
	  py=$$(scripts/find-python.sh) || exit 1; \
	  echo "microsim: creating $(VENV) with $$py ($$($$py --version))"; \
	  $$py -m venv $(VENV) || exit 1; \
	fi
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[fenics,fit,homogenised,test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/microsim demo --out results/demo

test: $(STAMP)
	$(MAKE) test-serial
	$(MAKE) test-mpi

test-serial: $(STAMP)
	timeout $(TEST_TIMEOUT) $(PY) -m pytest -m "not slow" $(PYTEST_ARGS) tests

test-mpi: $(STAMP)
	timeout $(TEST_TIMEOUT) $(VENV)/bin/mpiexec -n $(MPI_RANKS) $(PY) -m mpi4py -m pytest -m "mpi and not slow" $(PYTEST_ARGS) tests

bench: $(STAMP)
	$(PY) benchmarks/bench_resistance.py --out benchmarks/results

# The paper's calibration and its 3D reproduction (hours on 2 cores; resumable: rerun after an interruption).
# Their case stores are committed under validation/paper/ (without checkpoints and meshes), so a rerun replays
# what is stored and runs only what is missing (docs/calibration.md).
calibrate: $(STAMP)
	$(VENV)/bin/mpiexec -n $(MPI_RANKS) $(VENV)/bin/microsim calibrate validation/paper/calibration.toml \
	  --out validation/paper/calibration --ranks-per-case 1

paper: $(STAMP)
	$(VENV)/bin/mpiexec -n $(MPI_RANKS) $(VENV)/bin/microsim paper validation/paper/paper.toml \
	  --out validation/paper/store --report-dir validation/paper --ranks-per-case 1 \
	  $(if $(wildcard validation/paper/calibration/calibration.json),\
	  --calibration-result validation/paper/calibration/calibration.json)

paper-quick: $(STAMP)
	$(VENV)/bin/mpiexec -n $(MPI_RANKS) $(VENV)/bin/microsim paper validation/paper/paper.toml \
	  --out results/paper --quick --ranks-per-case 1

lint: $(STAMP)
	$(VENV)/bin/ruff format --check microsim tests benchmarks scripts
	$(VENV)/bin/ruff check microsim tests benchmarks scripts
	$(VENV)/bin/lint-imports
	$(PY) -m mypy

format: $(STAMP)
	$(VENV)/bin/ruff format microsim tests benchmarks scripts
	$(VENV)/bin/ruff check --fix microsim tests benchmarks scripts

clean:
	rm -rf results .pytest_cache
