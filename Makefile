# linktrack: `make run` serves the app with demo data; `make test` runs the whole suite.
# Both set everything up on a fresh machine (virtual environment, requirements, database).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := FLASK_DEBUG=1 $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint format migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet pip==26.3

# Reinstall only when a requirements file changes. Both files lock every package with its hashes
# (generated from requirements*.in: see their headers), so pip installs exactly what was reviewed.
$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.txt
	touch $(VENV)/.runtime-installed $@

## run: migrate the SQLite database in instance/, load demo data if it is empty, serve on :5000
run: $(VENV)/.runtime-installed
	$(FLASK) db upgrade
	$(FLASK) demo
	@echo "linktrack on http://$(HOST):$(PORT)  (log in as demo@example.com / demo-password)"
	$(FLASK) run --host $(HOST) --port $(PORT)

# The CampaignTracker is tested in Debian's Chromium (Playwright cannot download a browser here).
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "install Chromium at $(CHROMIUM) to run the browser tests" >&2; exit 1; }
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

# The connection-pooling tests (tests/database) run Debian's PgBouncer in front of a cluster of their own.
PGBOUNCER ?= /usr/sbin/pgbouncer
$(PGBOUNCER):
	@command -v apt-get >/dev/null || { echo "install PgBouncer at $(PGBOUNCER) to run the pooling tests" >&2; exit 1; }
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null

## test: install what the tests need and run the whole suite (TEST_DATABASE_URL picks PostgreSQL)
test: $(VENV)/.dev-installed $(CHROMIUM) $(PGBOUNCER)
	$(BIN)/ruff check linktrack tests bench
	$(BIN)/pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check linktrack tests bench
	$(BIN)/ruff format --check linktrack tests bench

format: $(VENV)/.dev-installed
	$(BIN)/ruff format linktrack tests bench
	$(BIN)/ruff check --fix linktrack tests bench

## migrate: write a new migration after changing models (make migrate m="what changed")
migrate: $(VENV)/.runtime-installed
	$(FLASK) db migrate -m "$(m)"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
