# Two commands do everything: `make train` and `make test` (each creates .venv when missing).
# `make test` is ruff and the fast tests (`-m 'not slow'`, pyproject.toml); `make test-all`
# runs every test (packaging, notebooks, SIGTERM/kill, ddp_sim, real-data cross-checks too).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: train test test-all lint clean install

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(PY) -m ras_lightning.train $(ARGS)

test: $(STAMP)
	$(PY) -m ruff check ras_lightning tests benchmarks
	WANDB_MODE=offline $(PY) -m pytest -q $(PYTEST_ARGS)

test-all: $(STAMP)
	$(PY) -m ruff check ras_lightning tests benchmarks
	WANDB_MODE=offline $(PY) -m pytest -q -m '' $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check ras_lightning tests benchmarks

clean:
	rm -rf $(VENV) logs outputs multirun .pytest_cache
