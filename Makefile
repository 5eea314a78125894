# The kit's two commands: `make workshop` (the main job) and `make test` (the whole check).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# make test's pytest workers, side by side (tests/workers.py keeps the tests that share a lab or a folder on one).
WORKERS ?= 2

.PHONY: setup browser world-map workshop workbench test test-fast test-latest pins-update lint format benchmark clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

# The browser tests drive the system's Chromium; install Debian's package where we can (CI runs as root).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests…"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else \
	    echo "No chromium here: install your system's chromium package, or the browser tests skip."; \
	  fi; }

# The Jukebox page's world map (kept in git): world-atlas from the npm registry, hash checked, made into static/world.json.
world-map: setup
	$(PY) -m jukebox.serving.jukebox_ui.build_world

# The whole course in the lab as user1: chapter 3, scenario A (DVC), scenario B (Feast, the Jukebox page).
workshop: setup
	$(PY) -m jukebox.lab up --no-status
	$(PY) -m jukebox.workshop
	@echo "The lab stays up: see its services with '$(PY) -m jukebox.lab status', stop it with '$(PY) -m jukebox.lab down'."

# JupyterLab with Elyra on the kit's folder, its kernels wired to the local lab (started if down).
workbench: setup
	$(PY) -m jukebox.lab jupyter

test: setup browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -n $(WORKERS) --dist loadscope

# The quick part: lint and every test that needs neither a lab nor a whole pipeline run.
test-fast: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -m "not slow and not lab"

# The whole check with today's releases instead of the pins, in a copy of the kit (.latest/): what moved,
# what broke and which upgrade breaks it (reports/latest.md); all green: requirements.latest.txt.
test-latest: setup browser
	$(PY) tools/latest_pins.py test

# Adopt the candidate pins that test-latest wrote when every test passed (requirements.txt and the chapters').
pins-update: setup
	$(PY) tools/latest_pins.py adopt

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
	$(PY) benchmarks/feature_store.py
	$(PY) benchmarks/serving.py
	$(PY) benchmarks/feast_import.py

clean:
	-$(PY) -m jukebox.lab down
	rm -rf .lab reports .latest
