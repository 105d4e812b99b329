# One entry point for every offline check. `make demo` and `make test` set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
BIN := $(VENV)/bin
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
# sam build for python3.13 needs a python3.13 on PATH; pyenv hides its other versions unless named.
PYENV_VERSIONS := $(shell command -v pyenv >/dev/null 2>&1 && pyenv versions --bare 2>/dev/null | grep -E '^3\.(11|12|13)\.' | tr '\n' ':' | sed 's/:$$//')

# A pip configured with a local index (extra-index-url file://...) warns "Location ... is ignored"
# for every package that index lacks, though pip then finds the package elsewhere. Only those lines
# are dropped; any other warning and every error still show, and pip's exit status is kept.
PIP_QUIET := --quiet 2>&1 | sed -u "/^WARNING: Location '.*' is ignored/d"

.PHONY: demo test check lint typecheck cfn-lint sam-validate checkov asl-check unit build clean soak bench asl

$(BIN)/.installed: requirements/dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	set -o pipefail; $(BIN)/pip install --upgrade pip $(PIP_QUIET)
	set -o pipefail; $(BIN)/pip install -r requirements/dev.txt $(PIP_QUIET)
	set -o pipefail; $(BIN)/pip install --no-deps -e . $(PIP_QUIET)
	touch $@

$(SAM_VENV)/.installed: requirements/sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	set -o pipefail; $(SAM_VENV)/bin/pip install -r requirements/sam.txt $(PIP_QUIET)
	touch $@

$(CHECKOV_VENV)/.installed: requirements/checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	set -o pipefail; $(CHECKOV_VENV)/bin/pip install -r requirements/checkov.txt $(PIP_QUIET)
	touch $@

$(BIN)/.bench-installed: $(BIN)/.installed requirements/bench.txt
	set -o pipefail; $(BIN)/pip install -r requirements/bench.txt $(PIP_QUIET)
	touch $@

venv: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/python -m conveyor_cli.demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy layers/conveyor/conveyor_core functions localcloud conveyor_cli reliability bench statemachines

cfn-lint: $(BIN)/.installed
	$(BIN)/cfn-lint template.yaml

sam-validate: $(SAM_VENV)/.installed
	$(SAM_VENV)/bin/sam validate --lint --template template.yaml

# The generated ASL is current and every contract between it and the Python around it holds.
asl-check: $(BIN)/.installed
	PYTHONPATH=.:layers/conveyor $(BIN)/python -m statemachines.builder --check

checkov: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet

# One pytest run, CLI tests included. Six workers on two cores on purpose: the offline cloud's tests
# mostly wait (scaled sleeps, subprocesses). --dist loadscope (pyproject.toml) keeps each module on one
# worker, so a module-scoped cloud is built once; tests/conftest.py starts the longest modules first.
unit: $(BIN)/.installed $(CHECKOV_VENV)/.installed
	$(BIN)/pytest -n 6

# The fast lane, before each commit: static checks, the template and ASL tests, the unit tests.
check: lint typecheck cfn-lint sam-validate asl-check $(CHECKOV_VENV)/.installed
	$(BIN)/pytest -n 2 tests/unit tests/template

# Everything: what CI and the README run.
test: lint typecheck cfn-lint sam-validate asl-check checkov unit

# 50 pipeline runs with 10% injected faults on every AWS API; figures go to docs/reliability.md.
soak: $(BIN)/.installed
	$(BIN)/python -m reliability.fault_soak --runs 50 --rate 0.10

# Every CPU benchmark (figures in docs/performance.md); the cold-start one reads the sam build output.
bench: $(BIN)/.bench-installed build
	$(BIN)/python -m bench.run_all

# The ASL files are generated from statemachines/builder; commit what this writes.
asl: $(BIN)/.installed
	PYTHONPATH=.:layers/conveyor $(BIN)/python -m statemachines.builder

build: $(SAM_VENV)/.installed
	PYENV_VERSION="$(PYENV_VERSIONS)" $(SAM_VENV)/bin/sam build

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
