# Two commands for a fresh machine with Python >= 3.10 and pip:
#   make lab    set up .venv and open the lessons in JupyterLab
#   make test   set up .venv and run the whole test suite (notebooks included, quick mode)
# TORCH picks the PyTorch build: the default release from PyPI is a CUDA build on Linux and a
# CPU/MPS build on macOS; override it for another, e.g. make lab TORCH="torch --index-url ...".

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: setup lab test notebooks benchmark clean-venv

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# JupyterLab's settings for the lessons (no "get notified about Jupyter news?" pop-up, no update check):
# lab/overrides.json, copied to where JupyterLab reads its overrides (its application folder's settings/,
# `jupyter lab path`), also into a venv made before the file existed.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json

setup: $(VENV)/.installed $(LAB_OVERRIDES)

$(LAB_OVERRIDES): lab/overrides.json | $(VENV)/.installed
	mkdir -p $(dir $@)
	cp lab/overrides.json $@

# JupyterLab listens on 127.0.0.1 only and asks for its token (printed in the terminal).
lab: setup
	$(BIN)/jupyter lab --ip=127.0.0.1 --notebook-dir=notebooks

# The tests keep their runs in .cache/test-home, apart from the lessons' cache in your home folder.
# One thread per process: the tests train tiny networks, and on a busy 2-core machine competing
# thread pools slow them down many times over.
test: setup
	$(BIN)/ruff check diffaug_lessons tests benchmarks
	OMP_NUM_THREADS=1 DIFFAUG_LESSONS_QUICK=1 DIFFAUG_LESSONS_HOME=$(CURDIR)/.cache/test-home \
		$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-sanitize-with notebooks/nbval_sanitize.cfg -p no:cacheprovider --durations=20

# Re-execute every notebook in full CPU mode and store its outputs (what is committed).
notebooks: setup
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=3600 notebooks/*.ipynb

benchmark: setup
	$(BIN)/python benchmarks/bench_augment.py

clean-venv:
	rm -rf $(VENV)
