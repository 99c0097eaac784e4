# consentproxy: `make demo` and `make test` set up everything on a fresh Debian machine.
VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
CHROMIUM  := /usr/bin/chromium
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: demo test unit e2e bench lint install chromium clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/find-python
	@PYBIN=$$(scripts/find-python) || exit 1; \
	  echo "using $$PYBIN"; \
	  [ -x $(PY) ] || $$PYBIN -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,mitmproxy]'
	@touch $@

# Debian's chromium, never a browser downloaded by Playwright.
chromium:
	@[ -x $(CHROMIUM) ] || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

demo: install
	$(VENV)/bin/consentproxy demo

test: install chromium
	$(PY) -m pytest -q $(PYTEST_ARGS)

unit: install
	$(PY) -m pytest -q -m "not e2e" $(PYTEST_ARGS)

e2e: install chromium
	$(PY) -m pytest -q -m e2e $(PYTEST_ARGS)

bench: install
	$(PY) bench/run.py

lint: install
	$(VENV)/bin/ruff check src tests addons bench

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
