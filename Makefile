# The README's two commands: `make demo` runs the hub's main job, `make test` passes the tests.
# Both bootstrap a fresh machine: .venv, dependencies, generated gRPC code.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HUB := $(VENV)/bin/hub
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
SYSTEM := $(VENV)/.system-$(shell sha1sum deploy/debian-packages.txt | cut -c1-12)
PROTOS := $(shell find protos -name '*.proto')

.PHONY: bootstrap demo test test-unit lint soak bench up clean

bootstrap: $(STAMP) $(SYSTEM) protos/.generated

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

# Debian packages (deploy/debian-packages.txt), installed where missing
$(SYSTEM): deploy/debian-packages.txt scripts/system_packages.sh $(STAMP)
	bash scripts/system_packages.sh
	rm -f $(VENV)/.system-* && touch $@

protos/.generated: $(STAMP) $(PROTOS) scripts/gen_protos.py
	$(PY) scripts/gen_protos.py
	touch $@

demo: bootstrap
	$(HUB) demo

up: bootstrap
	$(HUB) up

test: bootstrap
	$(PY) -m pytest -q

test-unit: bootstrap
	$(PY) -m pytest -q tests/unit

# ruff (style, imports, likely bugs), mypy (types) and the import layering (import-linter)
lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

# full-size proofs that `make test` runs scaled down
soak: bootstrap
	HUB_SOAK_VOUCHERS=2000 $(PY) -m pytest -q tests/e2e/test_ledgers.py -k every_voucher
	HUB_SOAK_ORDERS=5000 $(PY) -m pytest -q tests/e2e/test_channels.py -k exactly_once

bench: bootstrap
	$(PY) -m bench.journey --rates 5,10 --seconds 30
	$(PY) -m bench.reserve_throughput
	$(PY) -m bench.channel_throughput --orders 400
	$(PY) -m bench.reservations --orders 1000

clean:
	rm -rf $(VENV) var protos/.generated
	find protos -name '*_pb2*.py*' -delete
