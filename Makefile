# Two entry points (see README): `make demo` and `make test`. Both install what is missing
# with apt-get (as root), configure with CMake + Ninja, build and run.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= 2
DEPS       := cmake ninja-build g++ clang libclang-rt-14-dev ccache libgtest-dev libgmock-dev nlohmann-json3-dev libcli11-dev

.PHONY: all deps build demo test test-fast asan clean bench-rng
all: build

deps:
	@missing=""; for p in $(DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_CXX_COMPILER=g++ -DCONVKIT_WERROR=ON

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/seed_examples

# Every test: the g++ build, the same tests with vector kernels capped to scalar, then a
# clang build under AddressSanitizer + UndefinedBehaviorSanitizer.
test: build asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(BUILD) && CONVKIT_MAX_ISA=scalar ctest --output-on-failure -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCONVKIT_SANITIZE=ON -DCONVKIT_WERROR=ON

asan: deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# Random-number throughput against PyTorch in one run (needs Debian's python3-torch).
bench-rng: build
	/usr/bin/python3 bench/rng_vs_torch.py $(BUILD)/rng_bench

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
