# Two commands on a fresh machine: `make run` and `make test`. Each does its own set-up and is safe to re-run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
REQ_HASH := $(shell sha1sum requirements.txt | cut -c1-12)
STAMP  := $(VENV)/.installed-$(REQ_HASH)
# Test processes (pytest-xdist); each has its own SQLite files, PostgreSQL schema and Stripe emulators.
PYTEST_WORKERS ?= 2
export FLASK_APP := webapp

.PHONY: run test migrate venv clean

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

migrate: venv
	$(BIN)/flask db upgrade

# HOST, PORT, STRIPE_EMULATOR_PORT: the environment (`make run PORT=8080` puts PORT there), then .env,
# then 127.0.0.1:8000 and 12111 — so no default here, or it would hide .env's. No STRIPE_SECRET_KEY: this
# stack starts its own Stripe emulator (see scripts/run_dev.py) and bootstraps the catalog into it.
run: migrate
	$(BIN)/python scripts/run_dev.py

# Runs every test on SQLite, and the database tests on PostgreSQL too wherever one answers on 127.0.0.1:5432.
test: venv
	@url="$${TEST_DATABASE_URL:-$$($(BIN)/python scripts/detect_test_postgres.py)}"; \
	if [ -n "$$url" ]; then echo "make test: PostgreSQL found, database tests run on SQLite and $$url"; \
	else echo "make test: no PostgreSQL on 127.0.0.1:5432, database tests run on SQLite only"; fi; \
	if [ -x /usr/bin/chromium ]; then echo "make test: Chromium found at /usr/bin/chromium, the browser tests (tests/browser) run"; \
	else echo "make test: NO CHROMIUM at /usr/bin/chromium: the browser tests (tests/browser) are SKIPPED (apt-get install chromium)"; fi; \
	TEST_DATABASE_URL="$$url" $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
