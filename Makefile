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

.PHONY: venv test test-tools apt-tools test-calendar lint typecheck unit demo bench package deploy clean fmt provider-schema

# Tools some tests need, each in its own venv (their pins clash with ours), installed here and
# never inside a test: a test that finds one missing skips locally and fails when CI=true.
CHECKOV_PINS := checkov==3.3.30
BQEMULATOR_PINS := bqemulator==1.4.0 duckdb==1.5.5 duckdb-extension-spatial==1.5.5 numpy==2.4.6
CHECKOV := .venv-checkov/bin/checkov
BQEMULATOR := .venv-bqemulator/bin/bqemulator
# Wheels for the packaged-zip test, which installs a function's requirements.txt offline.
WHEELS := .venv-wheels
ZIP_TEST_FUNCTION := teams_notify
# Debian packages the tests use (a command of the same name each); installed with apt-get when
# missing (CI runs as root). chromium: the page tests' headless browser (tests/support/browser.py).
APT_TOOLS := faketime chromium
# Fonts the page tests need (checked with fc-list): color emoji, so the outbox preview's
# screenshots show the emoji the page renders.
APT_FONTS := fonts-noto-color-emoji:Noto\ Color\ Emoji
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The calendar test: the Python processes run a year ahead; Java emulators and Go servers keep
# the real clock, so tests that need the Pub/Sub or Firestore emulator are left out.
FAKETIME_OFFSET ?= +400d

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

$(CHECKOV):
	@rm -rf .venv-checkov
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet --disable-pip-version-check $(CHECKOV_PINS)

$(BQEMULATOR):
	@rm -rf .venv-bqemulator
	$(PYTHON) -m venv .venv-bqemulator
	.venv-bqemulator/bin/pip install --quiet --disable-pip-version-check $(BQEMULATOR_PINS)

$(WHEELS)/.done: pyproject.toml function.yaml $(STAMP)
	@mkdir -p $(WHEELS)
	$(PY) -c 'from cievents.deploy import manifest, package; \
	  print("\n".join(package.requirements(manifest.load().function("$(ZIP_TEST_FUNCTION)"))))' \
	  > $(WHEELS)/requirements.txt
	$(VENV)/bin/pip download --quiet --disable-pip-version-check -d $(WHEELS) \
	  -r $(WHEELS)/requirements.txt pip setuptools wheel
	@touch $@

apt-tools:
	@missing=""; for p in $(APT_TOOLS); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	for f in $(APT_FONTS); do fc-list 2>/dev/null | grep -qi "$${f#*:}" || missing="$$missing $${f%%:*}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing with apt-get"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test-tools: $(STAMP) $(CHECKOV) $(BQEMULATOR) $(WHEELS)/.done apt-tools $(PROVIDER_SCHEMA)

unit: test-tools
	$(VENV)/bin/pytest -q

# The suite with the clock moved FAKETIME_OFFSET ahead (libfaketime), for every test that
# does not need a Java emulator: nothing may depend on the day it was written. Under it, a
# timed lock wait never ends (see docs/DEVELOPING.md): test support polls with time.sleep.
FAKETIME := FAKETIME_ONLY_CMDS=pytest,python,python3 faketime -f $(FAKETIME_OFFSET)
test-calendar: test-tools
	@$(FAKETIME) $(PY) -c 'import datetime; print("test-calendar: today is", datetime.date.today())'
	$(FAKETIME) $(VENV)/bin/pytest -q -m "not java_emulator" -p no:cacheprovider

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
	@$(PY) -m cievents.deploy.gcloud $(if $(DRY_RUN),--dry-run,)

clean:
	rm -rf $(VENV) .venv-checkov .venv-bqemulator $(WHEELS) dist $(OUT) .pytest_cache .mypy_cache .ruff_cache
