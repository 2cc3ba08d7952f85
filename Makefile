# The two commands of the README:
#   make run   install what is missing, build, and serve the credit_risk example
#   make test  install what is missing, build, and run every test
# Also: make fuzz (bounded libFuzzer runs, docs/operations.md "Limits").
BUILD ?= build
JOBS ?= $(shell nproc)
CONFIG ?= examples/credit_risk/hitl.lua
LISTEN ?= 127.0.0.1:8080

.PHONY: deps build run test fuzz bench bench-postgres bench-backlog clean

deps:
	@scripts/dev/install-deps.sh $(if $(filter test,$(MAKECMDGOALS)),test,$(if $(filter bench bench-backlog,$(MAKECMDGOALS)),bench,build))

build: deps
	@test -f $(BUILD)/build.ninja || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

run: build
	@scripts/dev/run-example.sh $(BUILD) $(CONFIG) $(LISTEN)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Fuzzes each target for FUZZ_SECONDS (default 600) in a clang build (build-fuzz/), seeded from
# tests/fuzz/corpus/; prints runs, coverage and any crash, and fails on a crash.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= record_parser ndjson config_loader policy_verdict
fuzz: deps
	scripts/dev/fuzz.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Every figure of the write path beside the Python reference (docs/performance.md); a Release build
# in build-release/. BENCH_QUICK=1 for a run of a few minutes.
bench: deps
	tests/bench/bench.sh build-release

# Batch ingest and 64 reviewers on PostgreSQL with 1 and 3 instances, beside SQLite and the Python
# reference, on the tests' throw-away server (docs/performance.md).
bench-postgres: build
	tests/bench/postgres.sh $(BUILD)

# Intake, claim latency, /metrics and start-up with 0, 100k and 1M tasks pending (docs/performance.md).
bench-backlog: build
	tests/bench/backlog.sh $(BUILD)

clean:
	rm -rf $(BUILD)
