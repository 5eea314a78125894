# The kit's two commands: `make workshop` (the main job) and `make test` (the whole check).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup workshop test lint format benchmark clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

workshop: setup
	$(PY) -m jukebox.lab up
	cd 3-prod_datascience && ../$(PY) prod_train_save_pipeline.py
	@echo "The lab stays up: see its services with '$(PY) -m jukebox.lab status', stop it with '$(PY) -m jukebox.lab down'."

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

benchmark: setup
	$(PY) benchmarks/training_pipeline.py
	$(PY) benchmarks/lab.py
	$(PY) benchmarks/data_pipeline.py

clean:
	-$(PY) -m jukebox.lab down
	rm -rf .lab reports
