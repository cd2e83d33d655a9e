PYTHON ?= python3

.PHONY: setup demo test bench

setup:
	bash scripts/setup.sh

# Quick start 1: set up, then train on the built-in dataset and write samples.
demo: setup
	snowgan --mode train --recipe demo

# Quick start 2: set up, then run the test suite.
test: setup
	$(PYTHON) -m pytest -q

bench: setup
	$(PYTHON) bench/train_throughput.py
