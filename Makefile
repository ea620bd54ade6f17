# Latchkey's two commands: `make run` and `make test`. Both start from a fresh clone.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint test-sqlite test-postgres bench clean schemathesis

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

# Seam's fake server, which the Seam driver's tests run against, and axe-core, which the
# browser tests inject to check accessibility.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The browser tests drive Debian's chromium (Playwright's own browser download is not used).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

install: $(VENV)/.installed node_modules/.installed $(CHROMIUM)

# The API load test drives gunicorn with Debian's wrk, from a second process.
WRK := /usr/bin/wrk
$(WRK):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk

# Every benchmark on SQLite and on PostgreSQL (a database of their own: they drop its schema),
# the worker scaling one on Redis database 14; writes bench/RESULTS.md.
PG_BENCH_URL ?= postgres://postgres@127.0.0.1:5432/latchkey_bench
bench: $(VENV)/.installed $(WRK)
	$(PY) bench/run.py --postgres $(PG_BENCH_URL)

# Install, migrate, seed the demo workspace, then run the web server and the django-q2 worker
# on the embedded defaults (SQLite in var/, ORM broker). Ctrl-C stops both.
# Local development may send webhooks to receivers on this machine.
run: export WEBHOOK_ALLOW_PRIVATE_URLS ?= 1
run: $(VENV)/.installed
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py setup_schedules
	DEBUG=1 $(PY) manage.py setup_roles
	DEBUG=1 $(PY) manage.py collectstatic --noinput --verbosity 0
	DEBUG=1 $(PY) manage.py seed_demo
	@echo "Latchkey is starting: log in at http://$(HOST):$(PORT)/admin/ with the login above."
	@# Both run in the background of this shell, which stops them when it is interrupted, when
	@# the web server ends, or when make itself is gone (a signal that reached only make).
	@DEBUG=1 $(PY) manage.py run_workers & worker=$$!; \
	DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT) & server=$$!; \
	make_pid=$$PPID; \
	trap 'kill $$server $$worker 2>/dev/null; wait' EXIT; trap 'exit 130' INT TERM HUP; \
	while kill -0 $$make_pid 2>/dev/null && kill -0 $$server 2>/dev/null; do sleep 0.5; done

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	DEBUG=1 $(PY) manage.py check
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

test-sqlite: install
	env -u DATABASE_URL $(VENV)/bin/pytest -q

test-postgres: install
	DATABASE_URL=$(PG_TEST_URL) $(VENV)/bin/pytest -q

# Schemathesis against a live server, from Seam's OpenAPI document (@seamapi/types) cut to the
# operations Latchkey claims: no 5xx, every answer valid against Seam's schema. FUZZ_EXAMPLES
# examples per operation; 5 take about 7 minutes on two busy cores (mostly per-operation setup).
FUZZ_EXAMPLES ?= 5
schemathesis: install
	env -u DATABASE_URL FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VENV)/bin/pytest -q tests/api/fuzz_seam_schemathesis.py

# Everything CI runs: lint and checks, the whole suite on SQLite and on PostgreSQL, then a short
# schemathesis run (3 examples per operation, about 3 minutes) against Seam's document.
CI_FUZZ_EXAMPLES ?= 3
test: lint test-sqlite test-postgres
	$(MAKE) schemathesis FUZZ_EXAMPLES=$(CI_FUZZ_EXAMPLES)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
