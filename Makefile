# herald — the commands a user and CI need. Everything else is CMake (CMakePresets.json).
SHELL := /bin/bash
JOBS ?= $(shell nproc)
CONFIG ?= examples/herald.toml

.PHONY: all bootstrap build build-asan run test test-unit bench fuzz format clean

all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

build-asan: bootstrap
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)

# Starts heraldd in the foreground on loopback with the example configuration.
run: build
	@scripts/run-dev $(CONFIG)

# Unit and integration tests, on the release build and again under ASan+UBSan.
test: build build-asan
	@ctest --test-dir build --output-on-failure -j 1
	@ctest --test-dir build-asan --output-on-failure -j 1 -LE release-only

# Side-by-side with Postfix (bench/README.md): SMTP accept to a Maildir, relay to smtp-sink,
# relay with two tarpit destinations present, restart with 1,000,000 queued, memory with
# 100 x 10 MiB of DATA in flight; then MQTT against Mosquitto (throughput, persistent session,
# latency, fan-out, idle connections); then the micro-benchmarks (DKIM sign and verify).
bench: bootstrap
	@cmake --preset bench >/dev/null
	@cmake --build --preset bench -j $(JOBS)
	@bench/smtp-accept/run
	@bench/smtp-relay/run
	@bench/relay-tarpit/run
	@bench/queue-restart/run
	@bench/data-in-flight/run
	@bench/mqtt/run
	@build/bin/herald_dkim_bench

fuzz: bootstrap
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)
	@fuzz/run build-fuzz/bin $(FUZZ_SECONDS)

format:
	@clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf build build-asan build-debug build-fuzz
