# The two commands: `make run` and `make test`. Everything else is a helper.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
LISTEN ?= 127.0.0.1:8080
DATA ?= ./data

.PHONY: deps build run test unit integration test-sanitize bench fuzz format clean

deps:
	./scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/imgd serve --listen $(LISTEN) --data $(DATA)

# Every test, twice: on the Release build and under ASan + UBSan.
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j 2
	$(MAKE) test-sanitize

# Same suites under AddressSanitizer + UndefinedBehaviorSanitizer, in their own build dir.
test-sanitize: deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DIMGD_SANITIZE=ON -DIMGD_BENCH_TOOLS=OFF
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j 2

# imgd beside sharp, ipx, nginx, libvips and ImageMagick (not part of `make test`).
# Writes bench/results/<UTC>/report.md; QUICK=1 make bench checks the wiring in < 2 min.
bench: deps
	./bench/run.sh

# libFuzzer targets (clang, ASan + UBSan) for the parsers that read client bytes; each runs
# FUZZ_SECONDS (default 60) or FUZZ_RUNS executions. Not part of `make test`.
fuzz:
	./fuzz/run.sh

format:
	find src tests bench/tools fuzz -name '*.cpp' -o -name '*.h' | xargs clang-format -i

clean:
	rm -rf build build-asan
