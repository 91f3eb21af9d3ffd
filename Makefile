# Every target installs what it needs first: a fresh clone needs only Python 3.11+,
# Node.js 22 or 24 (LTS) with npm, and a Java 17 JDK (for DynamoDB Local). `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CDK := npx --no-install cdk
# The CDK CLI runs `python3 app.py`: the virtualenv's.
WITH_VENV := PATH="$(CURDIR)/$(BIN):$$PATH"
# The studio's config file for `make synth`, `make diff` and `make deploy`, e.g. STUDIO=studios/acme.json,
# and further CDK context for them, e.g. CONTEXT="-c batch_size=50 -c history=true".
STUDIO ?=
CONTEXT ?=
STUDIO_CONTEXT = $(if $(STUDIO),-c config=$(STUDIO)) $(CONTEXT)
RUNTIME_VENV := .venv-runtime

.PHONY: help install check-node synth test lint types workflows test-runtime demo docs-samples bench bench-quick diff deploy clean distclean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: check-node $(VENV)/.installed node_modules/.installed ## Install the pinned Python and Node tools (.venv, node_modules)

# Phony, so it runs once per make command: one warning about an old Node.js, before npm ci needs it.
check-node:
	@scripts/check-toolchain node

$(VENV)/.installed: requirements.txt requirements-runtime.txt requirements-dev.txt pyproject.toml
	@echo "Installing the Python tools into $(VENV) (first time: 2 to 5 minutes) ..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check --progress-bar on -r requirements-dev.txt | grep -E '^(Collecting|Installing|Successfully)' || exit $${PIPESTATUS[0]}
	touch $@

node_modules/.installed: package.json package-lock.json | check-node
	@echo "Installing the Node tools (CDK CLI, DynamoDB Local, pyright) into node_modules ..."
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

synth: install ## Synthesize the stack into cdk.out (offline); optional STUDIO=studios/<name>.json, CONTEXT="-c key=value"
	@# --no-validation skips only the CDK's built-in CloudFormation validator (about 6 s of WebAssembly
	@# start-up); cdk-nag still runs, and `make test` runs cfn-lint. `cdk diff` and `deploy` keep it.
	@$(if $(STUDIO),$(call require_studio,synth),true)
	$(WITH_VENV) $(CDK) synth --quiet --no-validation $(STUDIO_CONTEXT)

lint: install ## ruff: lint and import order
	$(BIN)/ruff check .

types: install ## pyright on stacks/, lambda_src/ and deadline_sqs/
	npx --no-install pyright

workflows: install ## zizmor: the example CI workflow's security audit (offline)
	$(BIN)/zizmor --offline .github/workflows/

test: lint types workflows test-runtime ## Every test: lint, types, workflows, unit, infrastructure (synth, cdk-nag, cfn-lint), integration
	@scripts/check-toolchain java
	$(BIN)/pytest

test-runtime: install ## The processor's tests on the Lambda runtime's Python, where this machine has it
	@runtime=$$($(BIN)/python -c 'from stacks.roles import PROCESSOR_RUNTIME; print(PROCESSOR_RUNTIME)'); \
	python=$$(command -v $$runtime || ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$${runtime#python}.*/bin/python 2>/dev/null | tail -1); \
	if [ -z "$$python" ]; then \
		echo "test-runtime: skipped: $$runtime (the processor's Lambda runtime) is not on this machine"; exit 0; \
	fi; \
	echo "test-runtime: the processor's tests on $$($$python --version)"; \
	[ -x $(RUNTIME_VENV)/bin/pytest ] || $$python -m venv $(RUNTIME_VENV); \
	$(RUNTIME_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-runtime.txt && \
	$(RUNTIME_VENV)/bin/pytest -q -p no:cacheprovider tests/unit/test_processor_*.py

# The demo's studio: the defaults plus one chat channel of each kind (and webhooks), so every path runs locally.
demo: STUDIO = studios/local-demo.json
demo: synth ## The whole pipeline on local engines (no AWS account), checked (studios/local-demo.json)
	@scripts/check-toolchain java
	$(BIN)/deadline-sqs demo --archive .deadline-sqs/archive

docs-samples: install ## Regenerate the sample outputs of local commands in docs/ (runs them: make demo)
	$(BIN)/python -m local_pipeline.docs_samples

bench: install ## Benchmarks, the full run (bench/README.md; about 12 minutes)
	@scripts/check-toolchain java
	$(BIN)/python -m bench --skip-suite

bench-quick: install ## The headline benchmark ratios and their targets in under 3 minutes
	@scripts/check-toolchain java
	$(BIN)/python -m bench.quick

diff: install ## What a deploy would change: make diff STUDIO=studios/<name>.json (checks credentials first)
	@$(call require_studio,diff)
	$(BIN)/python -m deadline_sqs.preflight --config $(STUDIO)
	$(WITH_VENV) $(CDK) diff $(STUDIO_CONTEXT) --method change-set

deploy: install ## Deploy the studio's stack: make deploy STUDIO=studios/<name>.json (checks credentials first)
	@$(call require_studio,deploy)
	$(BIN)/python -m deadline_sqs.preflight --config $(STUDIO)
	$(WITH_VENV) $(CDK) deploy $(STUDIO_CONTEXT) --outputs-file cdk-outputs.json

define require_studio
test -n "$(STUDIO)" || { echo "make $(1): name the studio's config: make $(1) STUDIO=studios/<name>.json" >&2; exit 2; }; \
test -f "$(STUDIO)" || { echo "make $(1): no such file: $(STUDIO) (start from studios/starter.json)" >&2; exit 2; }
endef

clean: ## Remove generated output: cdk.out, test caches
	rm -rf cdk.out .pytest_cache .hypothesis .ruff_cache

distclean: clean ## Also remove everything installed: .venv, .venv-runtime, node_modules, build/
	rm -rf $(VENV) $(RUNTIME_VENV) node_modules build *.egg-info
