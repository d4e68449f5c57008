# The two commands a newcomer needs: `make demo` and `make test`.
# Both create .venv, install the project into it and make sure a Chromium exists.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Four workers on two cores: the end-to-end tests mostly wait (on Chromium, the storefront, child processes).
# A worker that runs a test on PostgreSQL starts a server of its own for them on first use.
PYTEST_ARGS ?= -n 4

.PHONY: demo fleet-demo test lint install browser postgres bench faults mutation clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[storefront,harness,fleet,serve,test]'
	touch $(STAMP)

install: $(STAMP)

# PostgreSQL's server binaries (Debian's package) for the PostgreSQL store's tests and the fleet: the
# tests start a cluster of their own (fixtures/postgres.py), never the system's.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	  { echo "Installing Debian's postgresql ..."; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; }

browser: install
	$(VENV)/bin/ordermon browser ensure

demo: browser
	$(VENV)/bin/ordermon demo

# The fleet on this machine: PostgreSQL of its own, a storefront with 200 buyers, three workers.
fleet-demo: browser postgres
	$(VENV)/bin/ordermon fleet-demo $(FLEET_DEMO_ARGS)

# Python's default, bytecode kept in __pycache__, even where the environment turns it off
# (PYTHONDONTWRITEBYTECODE): the suite starts some 300 interpreters, and each would compile ordermon
# and the tests anew (3 s of CPU for a worker's collection alone).
test: browser postgres
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest $(PYTEST_ARGS)

# ruff (lint and format) and mypy over the code; CI runs it before the tests.
lint: install
	$(VENV)/bin/ruff check flows monitor fixtures bench tests
	$(VENV)/bin/ruff format --check flows monitor fixtures bench tests
	$(VENV)/bin/mypy

bench: browser
	$(PY) -m bench $(BENCH_ARGS)

faults: browser
	$(PY) -m bench.faults $(FAULTS_ARGS)

# Mutation score of the money-critical modules (fast tests only, in ./mutants/), e.g. MUTATION_ARGS="--only rules".
mutation: browser
	$(PY) -m bench.mutation $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache test-results
