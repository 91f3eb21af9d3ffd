# Every target installs what it needs first: a fresh clone needs only Python 3.11+,
# Node.js with npm, and a Java 17 JDK (for DynamoDB Local).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CDK := npx --no-install cdk

.PHONY: install synth test demo bench lint clean

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

synth: install
	@# --no-validation skips only the CDK's built-in CloudFormation validator (about 6 s of WebAssembly
	@# start-up); cdk-nag still runs, and `make test` runs cfn-lint. `cdk diff` and `deploy` keep it.
	PATH="$(CURDIR)/$(BIN):$$PATH" $(CDK) synth --quiet --no-validation

test: install
	$(BIN)/pytest

demo: synth
	$(BIN)/deadline-sqs demo

bench: install
	$(BIN)/python -m bench

lint: synth
	$(BIN)/cfn-lint cdk.out/*.template.json

clean:
	rm -rf cdk.out .pytest_cache .hypothesis
