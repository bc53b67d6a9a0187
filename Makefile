# Two entry points (see README): `make demo` and `make test`. Both install what is missing
# with apt-get (as root), configure with CMake + Ninja, build and run.
SHELL      := /bin/bash
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
SHARED_BUILD ?= build-shared
JOBS       ?= 2
DEPS       := cmake ninja-build g++ clang libclang-rt-14-dev libomp-dev ccache libgtest-dev libgmock-dev nlohmann-json3-dev libcli11-dev pkgconf dpkg-dev doxygen libtorch-dev \
              python3-venv python3-pip python3-setuptools python3-wheel python3-numpy python3-pytest \
              python3-pybind11 pybind11-dev libdlpack-dev python3-torch python3-hypothesis

# ccache keys on paths relative to the checkout and not on the build directory, so the build
# directories below and fresh clones share compiled objects.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := npy safetensors cli conv

.PHONY: all deps bench-build build demo docs python python-test test test-fast asan tsan tsan-build shared install-check clean bench-rng fuzz fuzz-run fuzz-build
all: build

deps:
	@missing=""; for p in $(DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# `convkit bench` against oneDNN (Debian's libdnnl-dev, needed by the bench alone): build-bench/convkit.
BENCH_BUILD ?= build-bench
bench-build: deps
	@dpkg -s libdnnl-dev >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libdnnl-dev)
	@[ -f $(BENCH_BUILD)/build.ninja ] || cmake -S . -B $(BENCH_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=g++ \
	  -DCONVKIT_BENCH_ONEDNN=ON -DCONVKIT_BUILD_TESTS=OFF
	cmake --build $(BENCH_BUILD) -j $(JOBS) --target convkit

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_CXX_COMPILER=g++ -DCONVKIT_WERROR=ON -DCONVKIT_TORCH_TESTS=ON

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/seed_examples

# The API reference from the public headers' /// comments: build-docs/html/index.html. Any
# Doxygen warning (an undocumented public name, a broken reference) fails it.
DOCS_DIR ?= build-docs
docs: deps
	@mkdir -p $(DOCS_DIR)
	CONVKIT_VERSION=$$(sed -n 's/^#define CONVKIT_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$$/\2/p' include/convkit/version.h | paste -sd.) \
	  CONVKIT_DOCS_DIR=$(DOCS_DIR) doxygen docs/Doxyfile
	@echo "API reference: $(DOCS_DIR)/html/index.html"

# The Python package, installed as the README says into a venv that sees Debian's packages
# (numpy, torch, pytest; there is no PyPI), then its tests. /usr/bin/python3: a python3 earlier
# on PATH may lack Debian's packages.
PY_VENV ?= build-venv
python: deps
	@[ -x $(PY_VENV)/bin/python ] || /usr/bin/python3 -m venv --system-site-packages $(PY_VENV)
	CMAKE_BUILD_PARALLEL_LEVEL=$(JOBS) $(PY_VENV)/bin/pip install --no-build-isolation --no-index -q .

python-test: python
	cd tests/python && $(abspath $(PY_VENV))/bin/python -m pytest -q -p no:cacheprovider

# Every test: the g++ build, the same tests with vector kernels capped to scalar, a clang
# build under AddressSanitizer + UndefinedBehaviorSanitizer, the threaded tests under
# ThreadSanitizer, each fuzz target from its seeds (the differential conv target 60 s), and
# the installed static and shared libraries used by a separate project (install-check), and
# the API reference (make docs: every public name documented), and the Python package's tests
# (make python-test).
# (Under ASan, all but the Accuracy tests: they measure errors on the bench's real layers, a
# minute of sanitized arithmetic whose paths the other tests already cover.)
test: build asan fuzz-build tsan-build shared
	$(MAKE) --no-print-directory docs
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory python-test
	$(MAKE) --no-print-directory install-check
	cd $(BUILD) && CONVKIT_MAX_ISA=scalar ctest --output-on-failure -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -E '^Accuracy\.'
	$(MAKE) --no-print-directory tsan
	$(MAKE) --no-print-directory fuzz-run FUZZ_TARGETS="npy safetensors cli" FUZZ_SECONDS=20
	$(MAKE) --no-print-directory fuzz-run FUZZ_TARGETS=conv FUZZ_SECONDS=60

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The shared library (-DBUILD_SHARED_LIBS=ON) and the CLI, as a distribution would build them
# (its .deb: cpack -G DEB in this directory).
$(SHARED_BUILD)/build.ninja:
	cmake -S . -B $(SHARED_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=g++ -DCONVKIT_WERROR=ON -DBUILD_SHARED_LIBS=ON \
	  -DCONVKIT_BUILD_TOOLS=ON -DCONVKIT_BUILD_TESTS=OFF -DCONVKIT_BUILD_BENCH=OFF -DCONVKIT_INSTALL=ON

shared: deps $(SHARED_BUILD)/build.ninja
	cmake --build $(SHARED_BUILD) -j $(JOBS)

# Installs both builds into temporary prefixes and builds examples/consumer against them.
install-check: build shared
	tools/install_check.sh $(BUILD) $(SHARED_BUILD)

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCONVKIT_SANITIZE=ON -DCONVKIT_WERROR=ON

asan: deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# ThreadSanitizer on the tests that run threads: several callers on one layer, plans made and
# replaced while forwards run, OpenMP teams inside each call. libomp is not instrumented: LLVM's
# archer tool (Debian's libomp-dev) tells TSan about OpenMP's own synchronization (fork, join,
# barriers), and ignore_noninstrumented_modules=1 skips the accesses inside libomp.so itself,
# so every access of convkit's code is checked against the synchronization it relies on.
TSAN_TESTS := Concurrency.*:Grad.ChannelsLast*:NonFinite.AllFinite*:PlanCache.*:Engine.SameBitsForAnyThreadCount:NonFinite.EveryPath*:Grad.SameBitsForAnyThreadCount:Grad.GemmBlockEdgesMatchTheReference:Grad.SplitReductions*:GradPhases.Kernels*:Grad.BiasGradient*:Grad.DirectWeight*:Grad.FewChannel*:Grad.PointwiseWeight*:Grad.TapWeight*:Engine.OneDimensionalTapMode*:Engine.ShortReductions*:GradPhases.Depthwise*:Engine.EdgeCasesByConstruction:Plan.Concurrent*
# (next to the libomp of the clang++ that builds: <prefix>/lib/clang/<version> -> <prefix>/lib)
ARCHER      = $(wildcard $(dir $(patsubst %/,%,$(dir $(shell clang++ -print-resource-dir 2>/dev/null))))libarcher.so)

$(TSAN_BUILD)/build.ninja:
	cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCONVKIT_TSAN=ON -DCONVKIT_WERROR=ON

tsan-build: deps $(TSAN_BUILD)/build.ninja
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target convkit_tests

tsan: tsan-build
	test -n "$(ARCHER)"
	OMP_TOOL_LIBRARIES=$(ARCHER) ARCHER_OPTIONS=verbose=1 TSAN_OPTIONS="halt_on_error=1 ignore_noninstrumented_modules=1" \
	  ./$(TSAN_BUILD)/tests/convkit_tests --gtest_filter='$(TSAN_TESTS)' --gtest_brief=1

# Random-number throughput against PyTorch in one run (needs Debian's python3-torch).
bench-rng: build
	/usr/bin/python3 bench/rng_vs_torch.py $(BUILD)/rng_bench

# Fuzzing: libFuzzer targets under ASan + UBSan. New inputs go to $(FUZZ_BUILD)/corpus-*;
# the committed seeds in fuzz/corpus/ are only read. A crash leaves $(FUZZ_BUILD)/crash-*.
$(FUZZ_BUILD)/build.ninja:
	cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCONVKIT_FUZZ=ON -DCONVKIT_BUILD_TESTS=OFF -DCONVKIT_WERROR=ON

fuzz-build: deps $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_npy fuzz_safetensors fuzz_cli fuzz_conv

fuzz-run:
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus-$$t; \
	  echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
	  ./$(FUZZ_BUILD)/fuzz_$$t $(FUZZ_BUILD)/corpus-$$t fuzz/corpus/$$t -max_total_time=$(FUZZ_SECONDS) \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/crash-$$t- 2>&1 | grep -E "stat::number_of_executed_units|ERROR|SUMMARY|crash-" ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

fuzz: fuzz-build
	$(MAKE) --no-print-directory fuzz-run FUZZ_SECONDS=$(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) $(SHARED_BUILD)
