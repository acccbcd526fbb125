# Quick start:  make ask Q="How many Luban Workshops has Kazakhstan hosted?"   and   make test
PYTHON ?= python3
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install ask index test lint clean browser screenshot

# torch is installed first and pinned: this machine has the 2.13.0 CPU wheel, and an
# unpinned torch (pulled in by sentence-transformers) would fetch a multi-GB CUDA build.
# (pip's notes about this machine's unused local package folders are filtered out.)
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	$(BIN)/pip install --quiet -e '.[dev]' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	touch $@

install: $(STAMP)

ask: $(STAMP)
	@if [ -z "$(strip $(Q))" ]; then echo 'usage: make ask Q="your question"' >&2; exit 2; fi
	$(BIN)/kzqa ask "$(Q)"

index: $(STAMP)
	$(BIN)/kzqa index

# The browser tests drive Debian's Chromium (Playwright cannot download its own here). As
# root (CI, these machines) a missing one is installed; elsewhere install it yourself.
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "make: chromium is missing: apt-get install chromium (browser tests skip)" >&2; fi; }

# pytest exits 5 when it collects no tests; that is a broken suite here, so say so.
test: $(STAMP) browser
	@$(BIN)/pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The README's picture of the page, taken by the browser test itself.
screenshot: $(STAMP) browser
	KZQA_SCREENSHOT=$(CURDIR)/docs/page.png $(BIN)/pytest -q tests/test_browser.py -k follow_the_citation

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
