# milvus-cloud: every target creates the virtual environment first if it is missing.
SHELL := /bin/bash
PYTHON ?= $(shell PYENV_VERSION=3.13.0 python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null || command -v python3.13)
VENV := .venv
SAM_VENV := .venv-sam
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/layers/common:$(CURDIR)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
PORT ?= 3000

.PHONY: venv sam-venv run serve token test lint validate build openapi sweep security bench clean

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt
	@test -n "$(PYTHON)" || { echo "Python 3.13 not found (pyenv 3.13.0 or python3.13 on PATH)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

$(SAM_VENV)/.installed:
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q aws-sam-cli
	touch $@

sam-venv: $(SAM_VENV)/.installed

TOOLS_VENV := .venv-tools
$(TOOLS_VENV)/.installed:
	test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install -q checkov cfn-lint
	touch $@

security: venv $(TOOLS_VENV)/.installed  ## checkov and cfn-lint on the template, bandit on the code
	$(TOOLS_VENV)/bin/checkov -f template.yaml --config-file .checkov.yaml
	$(TOOLS_VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/bandit -q -r layers functions local

run: venv  ## the main job on the local stack
	$(PY) -m local run

serve: venv  ## the local stack serving the API on http://127.0.0.1:$(PORT)
	$(PY) -m local serve --port $(PORT)

token: venv  ## make token USER=<username>: a session token, as the last line
	@test -n "$(USER)" || { echo "usage: make token USER=<username>"; exit 2; }
	@$(PY) -m local token --user "$(USER)"

test: venv  ## every test: unit, handlers, end-to-end through the local stack
	$(PY) -m pytest -n 2 --dist loadfile

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

validate: sam-venv  ## sam validate --lint (offline)
	$(SAM_VENV)/bin/sam validate --lint

build: sam-venv  ## sam build (offline, no container)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(SAM_VENV)/bin/sam build

sweep: venv  ## the orphan sweep against `make serve`'s stack: dry-run; APPLY=1 removes
	$(PY) -m local sweep $(if $(APPLY),--apply,)

openapi: venv  ## regenerate openapi.json from the handlers
	$(PY) -m local.openapi

bench: venv
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(SAM_VENV) $(TOOLS_VENV) .aws-sam .local .pytest_cache .mypy_cache .ruff_cache
