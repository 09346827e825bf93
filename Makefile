# Every target is one line; the work lives in scripts/ and the Python packages.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)

.PHONY: install infra browser run test chaos fuzz lint typecheck audit migrate migrate-legacy bench chat replay replay-lab format clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	scripts/install.sh $(VENV) && touch $@

infra:
	scripts/infra.sh

run: install infra
	$(PY) -m walocal.localdev && $(PY) -m walocal.supervisor --replicas "$(REPLICAS)" $$($(PY) -m walocal.localdev --sandbox-flag)

browser:
	scripts/browser.sh

test: install infra browser
	$(PY) -m pytest

chaos: install infra
	$(PY) -m pytest -m chaos tests/chaos -p no:randomly -s
# schemathesis over every HTTP service until the servers answered N generated requests
N ?= 10000
fuzz: install infra
	$(PY) -m tests.fuzz.run --requests $(N)

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

typecheck: install
	$(VENV)/bin/mypy

audit: install
	scripts/audit.sh $(VENV)

migrate: install infra
	$(PY) -m wacommon.migrations --create-db

migrate-legacy: install infra
	$(PY) -m wacommon.ops.legacy $(ARGS)

bench: install infra
	scripts/bench.sh

chat: install
	$(PY) -m walocal.chat

replay: install
	$(PY) -m wacommon.ops.replay $(ARGS)

replay-lab: install
	$(PY) -m waai.replay_lab $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
