# consentproxy: `make demo` and `make test` set up everything on a fresh Debian machine.
VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
CHROMIUM  := /usr/bin/chromium
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
# The suite's files shared by JOBS worker processes (pytest-xdist), a file's tests together
# (its browser and servers started once); JOBS=0 runs them in one. ALONE's run after them, in
# one process: test_cli forks serve's workers in its own process (an xdist worker has threads,
# which a fork leaves behind), test_records holds a PostgreSQL lock against the store's 10 s
# bound, and the 109 real pages' Chromium takes the machine (beside them, other tests'
# servers' waits ran out).
JOBS      ?= 2
PARALLEL  := -n $(JOBS) --dist loadfile
ALONE     := tests/test_cli.py tests/test_records.py tests/e2e/test_realworld.py \
             tests/e2e/test_realworld_choices.py
# $(call suite,SELECTION): SELECTION's tests, the files over the workers, then ALONE's.
# pytest's exit 5 (it chose no test) passes for one step, not for both: `-k realworld`
# runs in the second step only, a -k that matches nothing fails.
suite = { $(PY) -m pytest -q $(1) $(PARALLEL) $(ALONE:%=--ignore=%) $(PYTEST_ARGS); \
	  first=$$?; [ $$first = 0 ] || [ $$first = 5 ]; } && \
	{ $(PY) -m pytest -q $(1) $(PYTEST_ARGS) $(ALONE); \
	  alone=$$?; [ $$alone = 0 ] || { [ $$alone = 5 ] && [ $$first = 0 ]; }; }

.PHONY: demo test unit e2e bench bench-tools lint install chromium services valgrind screenshots \
        clean fuzz soak memcheck
AXE       := tests/e2e/node_modules/axe-core/axe.min.js

install: $(STAMP)

$(STAMP): pyproject.toml setup.py scripts/find-python src/consentproxy/rewrite/_skip.c
	@PYBIN=$$(scripts/find-python) || exit 1; \
	  echo "using $$PYBIN"; \
	  [ -x $(PY) ] || $$PYBIN -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,mitmproxy,postgres,uvloop]'
	@$(PY) -c 'import consentproxy.rewrite._skip' || { \
	  echo "the C scanner did not build (gcc and the Python headers are needed)"; exit 1; }
	@touch $@

# Debian's chromium, never a browser downloaded by Playwright.
chromium:
	@[ -x $(CHROMIUM) ] || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# axe-core (npm, pinned by tests/e2e/package-lock.json) checks the banner's accessibility.
$(AXE): tests/e2e/package.json tests/e2e/package-lock.json
	npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error
	@touch $@

# Debian's PostgreSQL server binaries and nginx: the tests start their own throw-away
# PostgreSQL cluster and nginx load balancer on loopback ports (never system services).
services:
	@{ ls /usr/lib/postgresql/*/bin/initdb && [ -x /usr/sbin/nginx ]; } >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  $(SUDO) apt-get install -y -qq postgresql nginx-light; }

demo: install
	$(VENV)/bin/consentproxy demo

test: install chromium services valgrind $(AXE)
	$(call suite,)

unit: install services valgrind
	$(call suite,-m "not e2e")

e2e: install chromium $(AXE)
	$(call suite,-m e2e)

# Long runs of the adversarial property tests (rewriter, Set-Cookie parser, consent cookie,
# scanner vs html5lib) and of the soak test; `make test` runs both briefly.
FUZZ_EXAMPLES ?= 100000
fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q --timeout=0 \
	  tests/adversarial/test_fuzz.py tests/adversarial/test_html5lib_differential.py \
	  tests/test_config_fuzz.py

SOAK_SECONDS ?= 600
soak: install
	SOAK_SECONDS=$(SOAK_SECONDS) $(PY) -m pytest -q -s tests/adversarial/test_faults.py -k soak

# Debian's valgrind: its memcheck watches the rewriter's C loop (tests/adversarial/test_memcheck.py
# briefly, `make memcheck` for long: real and cut pages, token soups; any read or write outside
# a buffer fails the run).
valgrind:
	@[ -x /usr/bin/valgrind ] || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq valgrind; }

memcheck: install valgrind
	PYTHONMALLOC=malloc valgrind --tool=memcheck --error-exitcode=1 --errors-for-leak-kinds=none \
	  -q $(PY) scripts/memcheck.py

# wrk (load generator), nginx-light (the reference proxy) and strace (bench/syscalls.py's
# counts) from Debian, like chromium.
bench-tools:
	@[ -x /usr/bin/wrk ] && [ -x /usr/sbin/nginx ] && [ -x /usr/bin/strace ] || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk nginx-light strace; }

bench: install bench-tools
	$(PY) bench/run.py

# Banner screenshots for the README (first and second layer, placeholders, en/fr,
# desktop and mobile), taken through the real proxy in front of the demo site.
screenshots: install chromium
	$(PY) scripts/screenshots.py docs/screenshots

# ruff; mypy, strict on src/ (pyproject's [tool.mypy]); the import contracts of the
# sans-IO core and its adapters (pyproject's [tool.importlinter]).
lint: install
	$(VENV)/bin/ruff check src tests addons bench scripts
	$(VENV)/bin/ruff format --check src tests addons bench scripts
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf $(VENV) tests/e2e/node_modules .pytest_cache build *.egg-info src/*.egg-info
