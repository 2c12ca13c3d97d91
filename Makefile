# rostersync: `make demo` and `make test` each do everything on a fresh Debian bookworm machine
# (as root): install what is missing, build, then run.
SHELL := /bin/bash
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CTEST_JOBS ?= 2

# Every Debian package the build, the tests and the demo need.
PACKAGES := build-essential cmake pkg-config git ca-certificates tzdata procps iproute2 \
	libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
	libabsl-dev libssh2-1-dev libssl-dev prometheus-cpp-dev libhiredis-dev \
	libgtest-dev libgmock-dev libbenchmark-dev libpqxx-dev libspdlog-dev libfmt-dev \
	nlohmann-json3-dev redis-server postgresql-15 postgresql-client-15 \
	openssh-server openssh-client util-linux curl \
	clang libclang-rt-14-dev

.PHONY: all deps build test unit integration e2e fuzz demo bench clean format

all: build

deps:
	@missing=$$(for p in $(PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing:" $$missing; \
	  if [ "$$(id -u)" != 0 ]; then echo "deps: run as root to install packages" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else echo "deps: all packages present"; fi

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j$(JOBS)

# The CSV fuzzer (clang, ASan/UBSan) for a bounded time on its seeds, then every ctest test
# (ctest's summary stays the last lines of the output).
FUZZ_SECONDS ?= 60
test: build
	./scripts/fuzz.sh $(FUZZ_SECONDS)
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(CTEST_JOBS) --timeout 900

unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(CTEST_JOBS) -L unit

integration: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(CTEST_JOBS) -L integration

e2e: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L e2e

# Builds the libFuzzer target (clang) without running it; `./scripts/fuzz.sh SECONDS` runs it.
fuzz: deps
	./scripts/fuzz.sh 0

demo: build
	./scripts/demo.sh $(BUILD_DIR)

bench: build
	./scripts/bench.sh $(BUILD_DIR)

format:
	git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) build-fuzz .demo
