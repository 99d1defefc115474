# The two commands of the quick start, and the rest (README "Building and testing").
#   make run    install what is missing, build, start the gateway on loopback with the emulator
#   make test   install what is missing, build, run every test through ctest
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build deps test-deps run test test-sanitize fuzz deb cross-deps build-arm64 deb-arm64 \
        test-arm64 clean format

all: build

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

$(BUILD_DIR)/build.ninja: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Only what the quick start needs: the daemon, the emulator, and dig and curl to try them.
run: $(BUILD_DIR)/build.ninja
	@scripts/install-deps.sh --run
	cmake --build $(BUILD_DIR) -j $(JOBS) --target dynamo-gateway dynamo-emulator
	@scripts/dev-run.sh $(BUILD_DIR)

# The set-up page's browser test drives Chromium through playwright-core (npm, not Debian),
# installed into the build directory whose tests use it.
define playwright
	@test -d $(1)/node_modules/playwright-core || \
	    npm install --prefix $(1) --no-audit --no-fund --no-save playwright-core@1.65.2
endef

# A build first configured by `make run` on a machine without python3 has no end-to-end tests
# (tests/CMakeLists.txt): test-deps has installed python3 since, so configure it again.
test: test-deps build
	@if grep -q '^PYTHON3:FILEPATH=.*NOTFOUND' $(BUILD_DIR)/CMakeCache.txt; then \
	    cmake -S . -B $(BUILD_DIR); fi
	$(call playwright,$(BUILD_DIR))
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The whole suite again under AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize: test-deps
	$(MAKE) BUILD_DIR=build-asan BUILD_TYPE=Debug CMAKE_FLAGS=-DDYNAMO_SANITIZE=ON build
	$(call playwright,build-asan)
	cd build-asan && ctest --output-on-failure -j $(JOBS)

# libFuzzer targets (clang); run one with e.g. build-fuzz/tests/dns_message_fuzzer -max_total_time=60
fuzz: test-deps
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ -DDYNAMO_FUZZ=ON
	cmake --build build-fuzz -j $(JOBS)

# The Debian package (README "Installing on a Raspberry Pi"): $(BUILD_DIR)/dynamo-gateway_<v>_amd64.deb
deb: build
	cd $(BUILD_DIR) && cpack -G DEB

# The same for 64-bit Raspberry Pi OS, cross-built with Debian's aarch64 toolchain into
# build-arm64/; test-arm64 runs its unit tests and fuzz-corpus replays under qemu-aarch64.
ARM64_DIR ?= build-arm64

cross-deps:
	@scripts/install-cross-deps.sh

$(ARM64_DIR)/build.ninja:
	cmake -S . -B $(ARM64_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	    -DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/cmake/aarch64-linux-gnu.cmake $(CMAKE_FLAGS)

build-arm64: deps cross-deps $(ARM64_DIR)/build.ninja
	cmake --build $(ARM64_DIR) -j $(JOBS)

deb-arm64: build-arm64
	cd $(ARM64_DIR) && cpack -G DEB

test-arm64: build-arm64
	cd $(ARM64_DIR) && ctest --output-on-failure -j $(JOBS) -L 'unit|fuzz'

# Benchmark against dnsmasq, unbound and dnsdist under dnsperf (bench/README.md): prints a
# table per run and their medians last, never passes or fails. Installs what it needs,
# builds build-bench/ first. Extra options: make bench BENCH_ARGS="--duration 5".
.PHONY: bench
bench:
	bench/run.sh $(BENCH_ARGS)

# The bounds of the performance guard (tests/perf/bounds.py), measured again on this tree and
# written back (instructions per query under callgrind, + the margin stated there).
.PHONY: perf-bounds
perf-bounds: test-deps build
	python3 tests/perf/perf_guard.py --build-dir $(BUILD_DIR) --build-type $(BUILD_TYPE) --write-bounds

clean:
	rm -rf $(BUILD_DIR) build-asan build-fuzz

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')
