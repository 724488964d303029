# ci-event-functions: every target bootstraps what it needs on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= .demo

.PHONY: venv test lint typecheck unit demo bench package deploy clean fmt

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict shared/cievents functions

unit: $(STAMP)
	$(VENV)/bin/pytest -q

test: lint typecheck unit

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

demo: $(STAMP)
	$(VENV)/bin/cievents demo --out $(OUT)

bench: $(STAMP)
	$(PY) bench/run.py

package: $(STAMP)
	$(PY) -m cievents.scanning.database
	$(PY) -m cievents.deploy.package --out dist

# make deploy PROJECT=my-project REGION=europe-west1 [JIRA_URL=… any deploy variable] [DRY_RUN=1]
# (variables given here reach the deploy through the environment; deploy.env fills the rest)
deploy: $(if $(DRY_RUN),$(STAMP),package)
	$(PY) -m cievents.deploy.gcloud $(if $(DRY_RUN),--dry-run,)

clean:
	rm -rf $(VENV) dist $(OUT) .pytest_cache .mypy_cache .ruff_cache
