# copytrade: `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export DJANGO_SETTINGS_MODULE ?= config.settings.local
DB_NAME ?= copytrade

.PHONY: help venv install install-dev services db migrate browser test demo run bench fuzz soak clean

help:
	@echo "make demo   - install, migrate and run the whole story end to end"
	@echo "make test   - install test dependencies and run the whole suite"
	@echo "make run    - web + worker + beat + exchange simulator (honcho, Procfile)"
	@echo "make bench  - fan-out benchmark"
	@echo "make fuzz   - API fuzzing, FUZZ_EXAMPLES (200) examples per operation and role"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip wheel

venv: $(PY)

install: $(PY) requirements.txt
	$(PIP) install --quiet -r requirements.txt

install-dev: $(PY) requirements.txt requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt

# PostgreSQL and Redis on localhost, started if down (the commands of this machine's
# service manager-less setup); skipped when DATABASE_URL/REDIS_URL point elsewhere.
services:
	@bash scripts/ensure_services.sh

db: services install
	@bash scripts/ensure_database.sh

migrate: db
	$(PY) manage.py migrate --noinput
	$(PY) manage.py sync_beat_schedule

# Debian's chromium for the Playwright admin test (Playwright's own browser download is never used).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

test: install-dev services browser
	$(VENV)/bin/lint-imports --no-cache
	DJANGO_SETTINGS_MODULE=config.settings.test $(VENV)/bin/pytest $(PYTEST_ARGS)

# Deeper API fuzzing than `make test` runs: many random examples per (operation, role).
fuzz: install-dev services
	DJANGO_SETTINGS_MODULE=config.settings.test FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} $(VENV)/bin/pytest tests/test_fuzz_api.py $(PYTEST_ARGS)

# Fault soak (issue 7): SOAK_TRADES leader trades x SOAK_FOLLOWERS followers while workers are
# SIGKILLed, a private Redis restarts and PostgreSQL refuses connections (tests/soak/).
soak: install-dev services
	DJANGO_SETTINGS_MODULE=config.settings.test SOAK_TRADES=$${SOAK_TRADES:-20} SOAK_FOLLOWERS=$${SOAK_FOLLOWERS:-500} $(VENV)/bin/pytest tests/soak $(PYTEST_ARGS)

demo: migrate
	$(PY) manage.py demo

run: migrate
	$(VENV)/bin/honcho start -f Procfile -c worker=$${CELERY_WORKER_PROCESSES:-2}

bench: migrate
	@if $(PY) manage.py help bench_fanout >/dev/null 2>&1; then $(PY) manage.py bench_fanout $(BENCH_ARGS); \
	else echo "make bench: the fan-out benchmark is not in this checkout yet (see bench/README.md)"; fi

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
