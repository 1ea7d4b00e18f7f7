# The two commands a newcomer needs: `make run` and `make test`.
JOBS ?= $(shell nproc)
BUILD := build/release

.PHONY: run test build deps asan fuzz bench clean

deps:
	@scripts/install-deps

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

# Runs the embedded default: everything autoseal has on one machine, state under ./var.
# Builds only the binary it needs.
run: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS) --target autoseal
	@$(BUILD)/src/cli/autoseal up --dir var

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	@cd build/asan && ctest --output-on-failure -j $(JOBS) -LE interop

fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)

bench: build
	@for b in $(BUILD)/bench/bench_*; do echo "== $$b"; $$b; done

clean:
	rm -rf build
