# Keyship: `make run` serves it on embedded defaults; `make test` runs the whole suite.
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
PORT ?= 8000

.PHONY: install run test lint messages clean bench-admin bench-fulfillment bench-dashboard \
	bench-day bench-portal bench-seats

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/system-packages
	scripts/system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

messages: install
	DEBUG=true $(BIN)/python manage.py compilemessages --ignore=.venv -v 0

# The settings are production's unless told otherwise: `run` asks for development mode (its
# public keys, the demo's public passwords) in the environment of each of its commands.
run: export DEBUG = true
# The demo's webhook endpoint posts to this machine, which production refuses.
run: export WEBHOOK_ALLOW_PRIVATE_URLS = true
# Links in the demo's emails, and its webhook endpoint, point at the port it serves on.
run: export SITE_URL ?= http://127.0.0.1:$(PORT)
run: install messages
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python manage.py seed_demo > var/seed.log
	@echo
	@echo "  Portal:   http://127.0.0.1:$(PORT)/    Admin: http://127.0.0.1:$(PORT)/admin/"
	@echo "  Logins:   admin@keyship.example / keyship-admin"
	@echo "            care@keyship.example / keyship-care (Customer Care), ops@keyship.example / keyship-ops (Operations)"
	@echo "            alice@northwind.example / keyship-demo, bob@blueharbor.example / keyship-demo (portal)"
	@echo "            orders@blueharbor.example (an order address without a login: \"Sign in with a link\")"
	@echo "            alice is customer admin of Northwind: Bob's access request waits for her"
	@echo "            alice sees DEMO-1004, transferred from Lakeside; a rehost request of hers waits for Customer Care"
	@echo "  Emails are written to var/mail/, webhook events received by the demo endpoint to var/webhooks/."
	@echo "  Stop with Ctrl-C."
	@echo
	@# Every process of this machine starts now: the metrics files of the last run's go
	@# (while one of them runs, the folder is left alone; README, Metrics).
	rm -f "$${PROMETHEUS_MULTIPROC_DIR:-var/prometheus}"/*.db
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start --port $(PORT) web worker beat

test: install messages
	scripts/system-packages --browser
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache --no-logo

clean:
	rm -rf var staticfiles

bench-admin: install
	$(BIN)/python benchmarks/admin_changelists.py

bench-fulfillment: install
	$(BIN)/python benchmarks/fulfillment.py

bench-dashboard: install
	$(BIN)/python benchmarks/dashboard.py

# The whole pipeline (the Procfile's worker and beat, Redis, SMTP) at these line counts.
BENCH_DAY_LINES ?= 2000 5000 10000
bench-day: install messages
	$(BIN)/python benchmarks/day.py $(BENCH_DAY_LINES)

bench-portal: install
	$(BIN)/python benchmarks/portal.py

bench-seats: install
	$(BIN)/python benchmarks/seats.py
