# ci-event-functions: every target bootstraps what it needs on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= .demo
# The google provider's schema, offline: cdktf bindings generated from it (the deploy tests
# check every Terraform argument name against them). Pinned; shared by checkouts.
CDKTF_GOOGLE_VERSION := 16.12.1
PROVIDER_SCHEMA_DIR ?= $(HOME)/.cache/ci-event-functions/cdktf-provider-google-$(CDKTF_GOOGLE_VERSION)
PROVIDER_SCHEMA := $(PROVIDER_SCHEMA_DIR)/node_modules/@cdktf/provider-google/package.json
export CIEVENTS_PROVIDER_SCHEMA := $(PROVIDER_SCHEMA_DIR)/node_modules/@cdktf/provider-google

.PHONY: venv test lint typecheck unit demo bench package deploy clean fmt provider-schema

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

$(PROVIDER_SCHEMA):
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm; }
	mkdir -p $(PROVIDER_SCHEMA_DIR)
	npm install --silent --no-audit --no-fund --ignore-scripts --prefix $(PROVIDER_SCHEMA_DIR) \
		@cdktf/provider-google@$(CDKTF_GOOGLE_VERSION)

provider-schema: $(PROVIDER_SCHEMA)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict shared/cievents functions

unit: $(STAMP) $(PROVIDER_SCHEMA)
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
