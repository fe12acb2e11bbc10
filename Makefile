# Every target creates its own virtual environment: nothing else needs installing by hand.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DB ?= demo/lifecycle.db

CHROMIUM := /usr/bin/chromium

.PHONY: demo test bench lint mutate clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

demo: $(STAMP)
	@mkdir -p demo
	@rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	$(BIN)/lifecycle simulate --seed 2025 --duos 400 --out demo/pilot.jsonl
	$(BIN)/lifecycle --db $(DEMO_DB) import demo/pilot.jsonl
	$(BIN)/lifecycle --db $(DEMO_DB) duos --programme DK-2025 --as-of 2025-09-30 --limit 8
	$(BIN)/lifecycle --db $(DEMO_DB) history $$($(BIN)/lifecycle --db $(DEMO_DB) duos --state closed --ids --limit 1)
	$(BIN)/lifecycle --db $(DEMO_DB) audit verify
	$(BIN)/lifecycle --db $(DEMO_DB) report --as-of 2025-09-30 --by country
	$(BIN)/lifecycle --db $(DEMO_DB) report --as-of 2025-09-30
	$(BIN)/lifecycle --db $(DEMO_DB) attention --as-of 2025-09-30
	$(BIN)/lifecycle --db $(DEMO_DB) mentors --programme GR-2025 --as-of 2025-09-30
	$(BIN)/lifecycle --db $(DEMO_DB) suggest --as-of 2025-03-14 $$($(BIN)/lifecycle --db $(DEMO_DB) duos --state selected --as-of 2025-03-14 --ids --limit 1)
	$(BIN)/lifecycle --db $(DEMO_DB) report --as-of 2025-09-30 --html demo/report.html
	@echo "open $(abspath demo/report.html)"

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

# The browser tests use Debian's Chromium and its chromedriver (ADR 22): installed
# here when missing, never downloaded by the tests.
browser:
	@test -x $(CHROMIUM) -a -x /usr/bin/chromedriver || { \
	  SUDO=$$(test "$$(id -u)" -eq 0 || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; }

bench: $(STAMP)
	$(BIN)/python bench/run.py

# Mutation testing of the duo and mentor rules and the report maths against the unit tests
# (not part of CI; about 10 minutes on 2 cores). Figures and survivors: docs/mutation.md.
mutate: $(STAMP)
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) demo .pytest_cache .hypothesis mutants
