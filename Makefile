# Every target runs in a virtual environment: the active one when there is one
# (VIRTUAL_ENV or CONDA_PREFIX set), otherwise ./.venv, which `setup` creates.
VENV ?= .venv
ifneq ($(VIRTUAL_ENV)$(CONDA_PREFIX),)
PY ?= python
else
PY ?= $(VENV)/bin/python
endif

.PHONY: setup demo test bench

setup:
	PYTHON=$(PY) VENV=$(VENV) bash scripts/setup.sh

# Quick start 1: set up, then train on the built-in dataset and write samples.
demo: setup
	$(PY) -m snowgan --mode train --recipe demo

# Quick start 2: set up, then run the test suite.
test: setup
	$(PY) -m pytest -q -n auto --durations=15

bench: setup
	$(PY) bench/train_throughput.py
