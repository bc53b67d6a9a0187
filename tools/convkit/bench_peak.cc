// The FMA peak probe of `convkit bench`: the GFLOP/s the cores reach on pure register FMAs,
// the ceiling against which convkit's GFLOP/s are shown as "% of peak". The wide-vector
// functions carry their ISA as a target attribute, so this file needs no -mavx2 and the
// binary still runs (with the scalar probe) on CPUs without FMA.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <thread>
#include <vector>

#include "tools/convkit/bench.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CONVKIT_BENCH_X86 1
#endif

namespace convkit::tool {

namespace {

// The calling thread's CPU time where the OS has it: the probe measures what a core does while
// it runs, so time slices lost to other processes (a shared 2-core machine) must not count.
double thread_seconds() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0) return static_cast<double>(ts.tv_sec) + 1e-9 * ts.tv_nsec;
#endif
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Twelve independent FMA chains: with a 4-5 cycle latency and two FMA ports, at least ~10
// are needed to keep both ports busy. Written out (not an array) so they stay in registers.
// a*x + c with a < 1 converges to c/(1-a): no overflow, no denormals to slow the loop.
#define CK_FMA_CHAINS(T, FMA, SET, ADD)                                                 \
  T r0 = SET(0.1f), r1 = SET(0.2f), r2 = SET(0.3f), r3 = SET(0.4f), r4 = SET(0.5f),     \
    r5 = SET(0.6f), r6 = SET(0.7f), r7 = SET(0.8f), r8 = SET(0.9f), r9 = SET(1.0f),     \
    r10 = SET(1.1f), r11 = SET(1.2f);                                                   \
  const T a = SET(0.99999f), c = SET(1e-6f);                                            \
  for (int64_t i = 0; i < iters; ++i) {                                                 \
    r0 = FMA(r0, a, c), r1 = FMA(r1, a, c), r2 = FMA(r2, a, c), r3 = FMA(r3, a, c);     \
    r4 = FMA(r4, a, c), r5 = FMA(r5, a, c), r6 = FMA(r6, a, c), r7 = FMA(r7, a, c);     \
    r8 = FMA(r8, a, c), r9 = FMA(r9, a, c), r10 = FMA(r10, a, c), r11 = FMA(r11, a, c); \
  }                                                                                     \
  const T sum = ADD(ADD(ADD(ADD(r0, r1), ADD(r2, r3)), ADD(ADD(r4, r5), ADD(r6, r7))),  \
                    ADD(ADD(r8, r9), ADD(r10, r11)))

volatile float g_probe_sink;  // keeps the chains from being optimized away

#ifdef CONVKIT_BENCH_X86
// Each returns the flops of `iters` iterations: 12 chains x lanes x 2.
__attribute__((target("avx2,fma"))) double probe_avx2(int64_t iters) {
  CK_FMA_CHAINS(__m256, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_add_ps);
  g_probe_sink = _mm_cvtss_f32(_mm256_castps256_ps128(sum));
  return 12.0 * 8 * 2 * static_cast<double>(iters);
}
__attribute__((target("avx512f"))) double probe_avx512(int64_t iters) {
  CK_FMA_CHAINS(__m512, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_add_ps);
  alignas(64) float lanes[16];  // (_mm512_reduce_add_ps trips GCC 12's -Wuninitialized)
  _mm512_store_ps(lanes, sum);
  g_probe_sink = lanes[0];
  return 12.0 * 16 * 2 * static_cast<double>(iters);
}
#endif

// Without FMA hardware: multiply and add (the build uses -ffp-contract=off), 2 flops each.
double probe_scalar(int64_t iters) {
  auto mul_add = [](float x, float y, float z) { return x * y + z; };
  auto set = [](float v) { return v; };
  auto add = [](float x, float y) { return x + y; };
  CK_FMA_CHAINS(float, mul_add, set, add);
  g_probe_sink = sum;
  return 12.0 * 2 * static_cast<double>(iters);
}

}  // namespace

static bool has_avx2_fma() {
#ifdef CONVKIT_BENCH_X86
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

namespace {

// GFLOP/s of `probe` on t threads at once (the sum of each thread's rate), best of 10 runs
// of 2M iterations (a few ms per thread each).
double run_probe(double (*probe)(int64_t), int t) {
  constexpr int64_t kIters = 1 << 21;
  double best = 0;
  for (int rep = 0; rep < 10; ++rep) {
    std::vector<double> rate(static_cast<std::size_t>(t));
    std::vector<std::thread> pool;
    for (int i = 0; i < t; ++i)
      pool.emplace_back([&rate, i, probe] {
        const double t0 = thread_seconds();
        const double flops = probe(kIters);
        rate[static_cast<std::size_t>(i)] = flops / (thread_seconds() - t0) / 1e9;
      });
    for (auto& th : pool) th.join();
    double total = 0;
    for (double r : rate) total += r;
    best = std::max(best, total);
  }
  return best;
}

}  // namespace

static bool has_avx512() {
#ifdef CONVKIT_BENCH_X86
  return __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

// The widest FMA the CPU has: convkit's kernels use AVX-512 where it exists, so that is the
// ceiling its % of peak is measured against.
const char* peak_probe_isa() { return has_avx512() ? "AVX-512 FMA" : has_avx2_fma() ? "AVX2 FMA" : "scalar mul+add"; }

double peak_gflops(int threads) {
#ifdef CONVKIT_BENCH_X86
  if (has_avx512()) return run_probe(probe_avx512, threads);
  if (has_avx2_fma()) return run_probe(probe_avx2, threads);
#endif
  return run_probe(probe_scalar, threads);
}

}  // namespace convkit::tool
