# lbaas: `make run` sets up and starts the all-in-one service; `make test` sets up and
# runs every test. Both install what they need (Debian packages, the venv, PostgreSQL).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# prometheus: for promtool, which the tests check /metrics with (Debian ships it there;
# the Prometheus server it brings along is not used). chromium, chromium-driver: the
# dashboard's browser tests (tests/functional/ui), headless, driven by Selenium.
# logrotate: tests/deploy rotates a running server's log with etc/logrotate.d/lbaas.
APT_PACKAGES := haproxy keepalived iputils-arping openvswitch-switch ethtool iproute2 postgresql procps jq curl openssl prometheus \
	logrotate chromium chromium-driver
STAMP := $(VENV)/.setup-stamp

.PHONY: setup run test test-unit test-compat test-keystone lint demo bench sample-config

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt tools/setup.sh Makefile
	bash tools/setup.sh "$(APT_PACKAGES)"
	touch $(STAMP)

run: setup
	$(VENV)/bin/lbaas all-in-one --config-file etc/all-in-one.conf

test: setup
	bash tools/ensure-postgres.sh
	$(VENV)/bin/pytest -p no:cacheprovider -ra tests

test-unit: setup
	$(VENV)/bin/pytest -p no:cacheprovider -ra tests/unit

lint: setup
	$(VENV)/bin/ruff check lbaas tests bench tools
	$(VENV)/bin/mypy lbaas

sample-config: setup
	$(VENV)/bin/oslo-config-generator --namespace lbaas --output-file etc/lbaas.conf.sample
	$(VENV)/bin/oslopolicy-sample-generator --namespace lbaas --output-file etc/policy.yaml.sample

demo: setup
	$(PY) tools/demo.py

bench: setup
	command -v wrk >/dev/null || apt-get install -y -q wrk
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[test,bench]'
	$(PY) bench/run_all.py $(BENCH_ARGS)

# Existing clients (python-neutronclient 9.0.0) against the server; the tests install each
# client into its own throwaway venv under .client-venvs/ (not a dependency).
test-compat: setup
	$(VENV)/bin/pytest -p no:cacheprovider -ra tests/compat

# auth_strategy = keystone and the policy against a real Keystone (30.0.0 from PyPI, in a
# throwaway venv under .client-venvs/; docs/keystone.md).
test-keystone: setup
	$(VENV)/bin/pytest -p no:cacheprovider -ra tests/keystone
