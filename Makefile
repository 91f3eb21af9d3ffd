# Every target installs what it needs first: a fresh clone needs only Python 3.11+,
# Node.js with npm, and a Java 17 JDK (for DynamoDB Local). `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CDK := npx --no-install cdk

.PHONY: help install synth test lint types demo bench clean distclean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(VENV)/.installed node_modules/.installed ## Install the pinned Python and Node tools (.venv, node_modules)

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@echo "Installing the Python tools into $(VENV) (first time: about a minute) ..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check --progress-bar on -r requirements-dev.txt | grep -E '^(Collecting|Installing|Successfully)' || exit $${PIPESTATUS[0]}
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	@echo "Installing the Node tools (CDK CLI, DynamoDB Local, pyright) into node_modules ..."
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

synth: install ## Synthesize the stack into cdk.out (offline)
	@# --no-validation skips only the CDK's built-in CloudFormation validator (about 6 s of WebAssembly
	@# start-up); cdk-nag still runs, and `make test` runs cfn-lint. `cdk diff` and `deploy` keep it.
	PATH="$(CURDIR)/$(BIN):$$PATH" $(CDK) synth --quiet --no-validation

lint: install ## ruff: lint and import order
	$(BIN)/ruff check .

types: install ## pyright on stacks/, lambda_src/ and deadline_sqs/
	npx --no-install pyright

test: lint types ## Every test: lint, types, unit, infrastructure (synth, cdk-nag, cfn-lint), integration
	$(BIN)/pytest

demo: synth ## The whole pipeline on local engines (no AWS account), checked
	$(BIN)/deadline-sqs demo

bench: install ## Benchmarks (bench/README.md)
	$(BIN)/python -m bench

clean: ## Remove generated output: cdk.out, test caches
	rm -rf cdk.out .pytest_cache .hypothesis .ruff_cache

distclean: clean ## Also remove everything installed: .venv, node_modules, build/
	rm -rf $(VENV) node_modules build *.egg-info
