# Micromoments: `make run` serves the demo, `make test` passes the suite. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
export DEBUG ?= 1
# links in e-mails and the demo's stream follow the port actually served
export SITE_URL ?= http://$(HOST):$(PORT)

.PHONY: run serve first-page test lint bench browser nginx migrate demo worker clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

migrate: $(VENV)/.installed
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py seed_demo
	$(PY) manage.py seed_sampling_demo

## run: install, migrate, load demo data, serve on $(HOST):$(PORT) with the django-q2 worker beside it
run: demo serve

## serve: the web server and the django-q2 worker side by side, no setup; Ctrl-C (or TERM) stops both once
# Not `trap 'kill 0' …`: kill 0 signals the whole process group, this shell included, whose trap
# then runs again (a recursion that ends in a segfault) and floods the worker with signals.
# Here the web server starts with SIGINT ignored, and the trap clears itself, sends TERM once, and waits.
# Each child gets exactly one signal: a second one reaches django-q2's handler while the cluster is
# already stopping (a traceback from its atexit). So on Ctrl-C, which the terminal sends to the whole
# group, the worker stops on its own SIGINT and only the web server gets TERM; on TERM, or when one of
# the two exits by itself, both get TERM.
serve:
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl-C stops the web server and the worker)"
	@trap '' INT; \
	  $(PY) manage.py qcluster & worker=$$!; \
	  $(PY) manage.py runserver $(HOST):$(PORT) --noreload & web=$$!; \
	  stop() { trap - INT TERM EXIT; kill -TERM $$web "$$@" 2>/dev/null; wait $$web $$worker 2>/dev/null; }; \
	  trap 'stop; exit 130' INT; trap 'stop $$worker; exit 143' TERM; trap 'stop $$worker' EXIT; \
	  wait -n $$web $$worker; stop $$worker

## browser: Debian's Chromium for the end-to-end tests (best effort; e2e tests skip with a reason without it)
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "chromium not installed: end-to-end tests will be skipped"; }

## nginx: Debian's nginx for the deployment test (config/deploy/nginx.conf in front of gunicorn; skips with a reason without it)
nginx:
	@test -x /usr/sbin/nginx || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null 2>&1 || \
	   (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null)) || \
	  echo "nginx not installed: the deployment test will be skipped"; }

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

## test: lint + the whole suite (SQLite by default; set DATABASE_URL for PostgreSQL)
test: $(VENV)/.installed browser nginx lint
	DEBUG=0 TESTING=1 $(VENV)/bin/pytest $(PYTEST_ARGS)

## bench: benchmarks under tests/perf (need PostgreSQL: BENCH_DATABASE_URL); wrk drives the HTTP load where it can be installed
bench: $(VENV)/.installed
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)) || \
	  echo "wrk not installed: the drop-spike bench uses the Python load generator"; }
	@command -v ffmpeg >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null 2>&1 || \
	   (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null)) || \
	  echo "ffmpeg not installed: the assets bench has no cut reference (ffmpeg is the reference only)"; }
	@test -x /usr/sbin/nginx || $(MAKE) --no-print-directory nginx
	TESTING=1 BENCH=$(BENCH) $(PY) -m tests.perf.run

## first-page: seconds from a fresh `make run` (empty var/, dependencies installed) to its first page
first-page: $(VENV)/.installed
	$(PY) -m tests.perf.first_page

clean:
	rm -rf $(VENV) var staticfiles
