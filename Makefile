# refrate: the one place that says how to build, test, lint, bench and run the demo.

CARGO ?= cargo
# The demo's pseudonymisation key. Real data needs a real secret: see README "Privacy".
DEMO_KEY ?= refrate-demo-key-not-for-real-data
DEMO_DIR := target/demo
# The generator writes about 0.88 rows per requested event: this gives about 10 million rows.
BENCH_EVENTS ?= 11400000

.PHONY: help build test lint demo screenshots bench backtest sample-data clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

build: ## Build the release binary (target/release/refrate)
	$(CARGO) build --release --locked

test: ## Run every test (unit tests and the end-to-end tests of the real binary)
	$(CARGO) test --locked

lint: ## cargo fmt --check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# The demo runs on the build `make test` uses (the dev profile): the sample takes seconds either
# way, and a second, optimised build of DataFusion would cost a fresh machine half an hour.
DEMO_BIN := $(CARGO) run --locked --quiet --bin refrate --

demo: ## Run the whole pipeline on sample_data/ and say where the reports are
	$(CARGO) build --locked --bin refrate
	rm -rf $(DEMO_DIR)
	@echo "Using the DEMO pseudonymisation key (REFRATE_PSEUDONYM_KEY=$(DEMO_KEY)); never use it for real data."
	@REFRATE_PSEUDONYM_KEY=$(DEMO_KEY) REFRATE_DEMO=1 $(DEMO_BIN) run --config sample_data/refrate.yaml; \
	  code=$$?; \
	  echo; \
	  echo "Exit code $$code (0 all pass, 1 some hospital fails or sits on a threshold, 2 could not run)."; \
	  echo "Reports: $(CURDIR)/$(DEMO_DIR)/reports/index.html"; \
	  echo "Rates:   $(DEMO_BIN) rates --config sample_data/refrate.yaml --period fiscal-year"; \
	  test $$code -le 1

screenshots: demo ## Screenshots of the demo reports into docs/ (needs Debian's chromium)
	./docs/screenshots.sh $(DEMO_DIR)/reports docs

bench: ## Generate ~10 million events; time `refrate run` and DuckDB's bare copy on them (docs/BENCHMARKS.md)
	$(CARGO) build --locked --release
	./benches/run.sh $(BENCH_EVENTS)

backtest: ## Check the year-end forecast on generated multi-year data (figures in docs/FORECAST.md)
	$(CARGO) run --locked --quiet --bin refrate -- forecast-backtest

sample-data: ## Regenerate sample_data/events from the generator (then re-add the bad rows)
	./target/release/refrate sample --out target/sample-gen --events 30000 --hospitals 5 --months 15 --start 2024-04 --seed 7

clean: ## Remove build output and demo results
	$(CARGO) clean
