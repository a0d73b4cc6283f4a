# copytrade: `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export DJANGO_SETTINGS_MODULE ?= config.settings.local
DB_NAME ?= copytrade
ENV_FILE ?= .env

.PHONY: help venv assets install install-dev services db migrate env browser check test demo run bench bench-pair bench-delay bench-auth fuzz soak multihost clean

# Every target carries a `## what it does` note on its line; `make help` lists them all.
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/\1\t\2/' | awk -F'\t' '{printf "make %-12s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip wheel

venv: $(PY) ## create the virtualenv (.venv)

# The pages' front-end files (htmx) from the npm registry, exactly as package-lock.json pins
# them; Django serves them as static files (STATICFILES_DIRS), nothing loads from a CDN.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

assets: node_modules/.package-lock.json ## install the pages' front-end files (npm ci)

install: $(PY) requirements.txt assets ## install the runtime requirements into .venv
	$(PIP) install --quiet -r requirements.txt

install-dev: $(PY) requirements.txt requirements-dev.txt assets ## install the test requirements too
	$(PIP) install --quiet -r requirements-dev.txt

# PostgreSQL and Redis on localhost, started if down (the commands of this machine's
# service manager-less setup); skipped when DATABASE_URL/REDIS_URL point elsewhere.
services: ## start PostgreSQL and Redis on localhost if they are down
	@bash scripts/ensure_services.sh

db: services install ## create the database (DB_NAME, default copytrade) if missing
	@bash scripts/ensure_database.sh

migrate: db ## apply migrations and sync the beat schedule
	$(PY) manage.py migrate --noinput
	$(PY) manage.py sync_beat_schedule

# Debian's chromium for the Playwright tests, admin and pages (Playwright's own browser download is never used).
browser: ## install Debian's chromium for the browser tests
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

# The fast lane while changing code: the same contracts and lint as `make test`, and every test
# but those marked slow, worker or browser (pytest.ini; tests/conftest.py marks the ones using a
# worker or the browser). `make test` is what CI runs.
FAST_LANE := not slow and not worker and not browser

check: services ## import contracts, ruff, the suite without slow/worker/browser tests (PYTEST_ARGS; after make install-dev)
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_SETTINGS_MODULE=config.settings.test $(VENV)/bin/pytest -m "$(FAST_LANE)" $(PYTEST_ARGS)

# RabbitMQ too where it is installed: the broker tests fail without it (TESTS_WITHOUT_RABBITMQ=1 skips them).
test: install-dev browser ## import contracts, ruff, then the whole suite (PYTEST_ARGS)
	@ENSURE_RABBITMQ=1 bash scripts/ensure_services.sh
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_SETTINGS_MODULE=config.settings.test $(VENV)/bin/pytest -m "not deep" $(PYTEST_ARGS)

# Deeper API fuzzing than `make test` runs: many random examples per (operation, role), and
# as many random hostile bodies per operation (tests/security/test_hostile_input.py).
fuzz: install-dev services ## deeper API fuzzing, FUZZ_EXAMPLES (200) examples per operation and role, hostile bodies too
	DJANGO_SETTINGS_MODULE=config.settings.test FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} $(VENV)/bin/pytest tests/test_fuzz_api.py tests/security/test_hostile_input.py $(PYTEST_ARGS)

# Fault soak (issue 7): SOAK_TRADES leader trades x SOAK_FOLLOWERS followers while workers are
# SIGKILLed, a private Redis restarts and PostgreSQL refuses connections (tests/soak/); then the
# other long runs `make test` leaves out (marked deep: several hosts, cross-exchange under
# faults, the demo twice, at their own sizes; the shipped data migrations back and forth).
soak: install-dev services ## fault soak on Redis and RabbitMQ: workers killed, Redis restarted (SOAK_TRADES, SOAK_FOLLOWERS, SOAK_BROKERS)
	@ENSURE_RABBITMQ=1 bash scripts/ensure_services.sh
	DJANGO_SETTINGS_MODULE=config.settings.test SOAK_TRADES=$${SOAK_TRADES:-20} SOAK_FOLLOWERS=$${SOAK_FOLLOWERS:-500} SOAK_BROKERS=$${SOAK_BROKERS:-redis,rabbitmq} $(VENV)/bin/pytest -m deep $(PYTEST_ARGS)

# Several hosts (issue 17): db, simulator, web and two worker hosts in network namespaces
# (10.213.0.0/24, root), a fan-out of MULTIHOST_FOLLOWERS while one worker host is SIGKILLed;
# exactly one order per follower (devtools/multihost.py; tests/test_multihost.py runs it small).
multihost: migrate ## fan-out across network namespaces, one worker host killed mid-run (root; MULTIHOST_FOLLOWERS, MULTIHOST_ARGS)
	$(PY) manage.py multihost --followers $${MULTIHOST_FOLLOWERS:-300} $(MULTIHOST_ARGS)

# The .env docker compose reads; an existing one holds the only key to stored credentials,
# so it is replaced only with FORCE=1.
env: install ## write .env for docker compose: fresh SECRET_KEY and FIELD_ENCRYPTION_KEY (FORCE=1 replaces one)
	$(PY) manage.py make_env --path $(ENV_FILE) $(if $(FORCE),--force)

demo: migrate ## install, migrate and run the whole story end to end
	$(PY) manage.py demo

# Each process's metrics files start empty (PROMETHEUS_MULTIPROC_DIR, config/metrics.py).
run: migrate ## web, workers, fan-out worker, beat and exchange simulator (honcho, Procfile)
	rm -rf run/metrics
	$(VENV)/bin/honcho start -f Procfile -c worker=$${CELERY_WORKER_PROCESSES:-2}

bench: migrate ## fan-out benchmark (BENCH_ARGS; bench/RESULTS.md)
	$(PY) manage.py bench_fanout $(BENCH_ARGS)

# Issue 31's pair: the product against the bare floor, 3,000 followers, 0 and 50 ms, 3 runs each:
# orders/s medians (min–max), product/bare of the medians and run by run, CPU ms per order. Without
# the webhook probe (its signals' CPU is not the orders'; `--probe` puts it back). Tables are
# vacuumed before every run (this machine's PostgreSQL has autovacuum off).
# BENCH_ARGS come last and win (e.g. BENCH_ARGS="--repeat 5").
bench-pair: migrate ## product vs bare floor, 3,000 followers, 0 and 50 ms, 3 runs; the table RESULTS.md takes (BENCH_ARGS)
	$(PY) manage.py bench_fanout --followers 3000 --latencies 0 50 --repeat 3 --paths product bare --timeout 600 --no-probe --output bench/results/pair.json $(BENCH_ARGS)

# A follower's delay from the leader trade's recording to the exchange's acknowledgement, with peak
# RSS per process and PostgreSQL connections: 1,000, 3,000 and 10,000 followers at 0 and 50 ms, then
# 10 leaders x 1,000 followers each, their trades sent at once (per-leader delays and fairness).
bench-delay: migrate ## follower delay p50/p95/p99/max at 1k/3k/10k x 0/50 ms, then 10 leaders x 1k at once (BENCH_ARGS)
	$(PY) manage.py bench_fanout --followers 1000 3000 10000 --latencies 0 50 --repeat 1 --paths product --timeout 900 --output bench/results/delay.json $(BENCH_ARGS)
	$(PY) manage.py bench_fanout --followers 1000 --leaders 10 --latencies 0 50 --repeat 1 --paths product --timeout 900 --output bench/results/delay-10x1000.json $(BENCH_ARGS)

# Sign-up, web sign-in and API login timed for addresses with and without an account (issue 32):
# fails when the medians differ by more than the tolerance (BENCH_AUTH_ARGS: --pairs, --tolerance).
bench-auth: migrate ## sign-up and sign-in timing, existing vs new addresses (BENCH_AUTH_ARGS)
	$(PY) manage.py bench_auth_timing $(BENCH_AUTH_ARGS)

clean: ## remove .venv, test caches, node_modules and screenshots
	rm -rf $(VENV) .pytest_cache .hypothesis node_modules screenshots
