# Hangar's front door. `make run` builds everything and serves the example
# agents; `make test` runs everything CI runs. Both install what is missing.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

VENV   := .venv
PY     := $(VENV)/bin/python
HANGAR := target/release/hangar
LISTEN ?= 0.0.0.0:8000

.PHONY: help build host plugins run test lint test-rust test-python venv bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

build: host plugins ## Host (release) and every example plugin into ./plugins

host: ## The hangar binary (release), its dev tools and hangar-bench
	cargo build --release -p hangar -p hangar-bench --bins --examples

plugins: ## Every guest (Rust, Python, JS, Go) from source: examples into ./plugins, fixtures into target/test-plugins
	bash build/guests.sh

run: build ## Build, then serve ./plugins on $(LISTEN)
	$(HANGAR) serve --plugins ./plugins --listen $(LISTEN)

test: build venv lint test-rust test-python ## Everything CI runs

lint: ## rustfmt and clippy, warnings are errors
	cargo fmt --all -- --check
	cargo clippy --release -p hangar -p hangar-proto -p hangar-bench --all-targets -- -D warnings

test-rust: ## Unit tests of the host and the benchmark harness
	cargo test --release -p hangar -p hangar-proto -p hangar-bench

test-python: venv ## Integration tests through the official flyteidl client
	$(PY) -m pytest tests/python -q

venv: $(VENV)/.installed ## Python test dependencies (flyteidl, flytekit, pytest)

$(VENV)/.installed: tests/python/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r tests/python/requirements.txt
	touch $@

bench: build venv ## Every benchmark (issue 6), side by side with flytekit and a native floor: writes BENCHMARKS.md (~25 min on 2 CPUs)
	target/release/hangar-bench all --duration 5s --out BENCHMARKS.md

clean: ## Remove build outputs (keeps the compile cache in ~/.cache/hangar)
	cargo clean
	rm -rf plugins/*.wasm $(VENV)
