# DashStream Operator — the one entry point.  `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CACHE   ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/dashstream
PYTHON  ?= python3
# One virtualenv per checkout (the editable install points at this checkout's sources),
# keyed by Python version and the checkout's path.
PYVER   := $(shell $(PYTHON) -c 'import sys;print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
VENV    ?= $(CACHE)/venv-py$(PYVER)-$(shell printf %s "$(CURDIR)" | sha1sum | cut -c1-8)
PY      := $(VENV)/bin/python
DEVENV  := $(PYTHON) scripts/env/devenv.py
ENV_SH  := .dev/env.sh
# Run a command inside the local environment (KUBECONFIG, KAFKA_BOOTSTRAP_SERVERS, tools on PATH).
IN_ENV  := source $(ENV_SH) && PATH="$(VENV)/bin:$$PATH"
PYTEST_ARGS ?=
# Optional parts of the environment (scripts/env/parts.py) `make env-up` starts; the test
# targets add the ones their tests use, `make demo` none.
ENV_PARTS ?=
TEST_PARTS := prometheus-operator alertmanager grafana-operator
test-integration test-e2e explore: ENV_PARTS += $(TEST_PARTS)

.PHONY: help venv env-up env-down env-status env-clean images check test test-unit test-integration \
        test-e2e lint generate check-generated demo bench explore clean

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# The virtualenv lives in the cache, keyed by Python version; reinstalled when pyproject changes.
$(VENV)/.installed: pyproject.toml
	@echo "[venv] creating $(VENV) and installing the project (editable, with dev tools)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed ## create/refresh the virtualenv

env-up: venv ## build (first time) and start etcd, kube-apiserver, controller-manager, Kafka, the node (+ ENV_PARTS)
	@PATH="$(VENV)/bin:$$PATH" $(PY) scripts/env/devenv.py up $(ENV_PARTS)

images: env-up ## build the operator and workloads images (no Docker) into the node's containerd
	@PATH="$(VENV)/bin:$$PATH" $(PY) scripts/env/devenv.py images

env-down: ## stop every process env-up started (by pid)
	@$(DEVENV) down

env-status: ## what runs, where, tool versions
	@$(DEVENV) status

env-clean: ## env-down, then delete the cluster and broker data in .dev/
	@$(DEVENV) clean

generate: venv ## regenerate every generated copy (CRDs, protobuf code, dashboards, chart, manifests)
	@$(PY) scripts/generate.py

check-generated: venv ## fail when a committed generated copy differs from its source
	@$(PY) scripts/generate.py --check

# tests/ is no package: its modules import as support.*, integration.*, unit.* (pytest's
# pythonpath = ["tests"]), so mypy takes tests/ as their base too.
lint: venv ## ruff + mypy
	@$(VENV)/bin/ruff check operator workloads tests scripts benchmarks
	@$(VENV)/bin/mypy
	@$(VENV)/bin/mypy scripts benchmarks
	@MYPYPATH=tests $(VENV)/bin/mypy --explicit-package-bases tests

check: venv ## lint and unit tests: no environment, nothing built (fails in seconds)
	@$(MAKE) --no-print-directory lint
	@PATH="$(VENV)/bin:$$PATH" scripts/run-pytest.sh tests/unit $(PYTEST_ARGS)

# `check` first, so a lint error or a failing unit test stops the run before anything is
# built; PYTEST_ARGS apply to the integration and e2e run only.
test: ## check beside images, generated copies, then the integration and e2e suites
	@# check (lint, unit tests) needs no environment: it runs while the images build,
	@# their lines interleaved (a cold build's progress shows as it goes); either one
	@# failing stops the run before pytest.
	@$(MAKE) --no-print-directory -j2 --output-sync=line check images \
		PYTEST_ARGS= ENV_PARTS="$(TEST_PARTS)"
	@$(MAKE) --no-print-directory check-generated
	@$(IN_ENV) && scripts/run-pytest.sh --durations=15 tests/integration tests/e2e $(PYTEST_ARGS)

test-unit: venv ## unit tests only (no environment needed)
	@PATH="$(VENV)/bin:$$PATH" scripts/run-pytest.sh tests/unit $(PYTEST_ARGS)

test-integration: env-up ## integration tests against the real API server and broker
	@$(IN_ENV) && scripts/run-pytest.sh tests/integration $(PYTEST_ARGS)

test-e2e: images ## the end-to-end suite (KUBECONFIG may point at any cluster)
	@$(IN_ENV) && scripts/run-pytest.sh tests/e2e $(PYTEST_ARGS)

demo: images ## bring everything up and show it working end to end (servers as pods)
	@$(IN_ENV) && $(PY) scripts/demo.py

# Random seeds, N transitions (about 15 in 100 are faults); what a failure leaves behind
# and how to keep it as a regression test: docs/testing.md.
N ?= 1000
explore: env-up ## explore N random transitions with faults; prints transitions, faults, violations
	@$(IN_ENV) && EXPLORE_TRANSITIONS=$(N) EXPLORE_RANDOM=1 scripts/run-pytest.sh -s --timeout=0 \
		tests/e2e/test_explore.py -k test_exploration $(PYTEST_ARGS)

bench: env-up ## benchmarks: print figures and ratios measured side by side
	@$(IN_ENV) && $(PY) -m benchmarks --record $(BENCH_ARGS)

clean: ## remove local build leftovers (not the cache, not .dev)
	@rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache test-artifacts
