#include "gemm/driver.h"

#include <omp.h>

#include <algorithm>

#include "convkit/threads.h"

namespace convkit::internal::gemm {

namespace {

// Blocks: an A block (MC x KC) and a B block (KC x NC) stay in L2, the KC x NR slice of B a
// microkernel sweeps stays in L1 next to its A panel (as the forward gemm path).
constexpr int64_t kNC = kGemmNC, kMC = 96;
// Packed B rows are kLdb floats apart: 13 cache lines, odd, so KC rows spread over L1's sets.
constexpr int64_t kLdb = kNC + 16;

int64_t round_up(int64_t v, int64_t q) { return (v + q - 1) / q * q; }

}  // namespace

void Driver::run(const Operands& op, const Problem& pr) const {
  const int64_t mr = k_.mr, nr = k_.nr;
  const int64_t quantum = pr.row_quantum > 0 ? pr.row_quantum : mr;
  const int64_t mc = std::max(quantum, kMC / quantum * quantum);  // whole quanta (and panels)
  const int64_t kc_max = kc_for(pr.K);
  const int64_t nI = (pr.M + mc - 1) / mc;
  // Column blocks of kNC, or narrower (whole NR panels) when that leaves threads idle: the
  // blocking of C's columns does not change any element's sum, so the bits stay the same.
  int64_t nc = kNC;
  if (pr.split_columns) {
    const int64_t want = get_num_threads(), have = pr.batch * nI;
    if (have * ceil_div(pr.N, kNC) < want) nc = std::clamp(round_up(ceil_div(pr.N, ceil_div(want, have)), nr), nr, kNC);
  }
  const int64_t nJ = ceil_div(pr.N, nc);
  const int64_t nJ_tasks = pr.split_columns ? nJ : 1;
  const int64_t tasks = pr.batch * nI * nJ_tasks;
  const int threads = threads_for(tasks, pr.flops);
  // Per thread: A block (mc x kc), B block (kc x kLdb), C block (mc x kNC).
  const int64_t a_floats = round_up(mc, mr) * kc_max, b_floats = kc_max * kLdb, c_floats = mc * kNC;
  const auto ws = ws_.lease(threads, a_floats + b_floats + c_floats);

#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t ib = task % nI, jt = task / nI % nJ_tasks, b = task / (nI * nJ_tasks);
    float* abuf = ws.get(omp_get_thread_num());
    float* bbuf = abuf + a_floats;
    float* cbuf = bbuf + b_floats;
    const int64_t i0 = ib * mc, m = std::min(mc, pr.M - i0);
    const int64_t jb_begin = pr.split_columns ? jt : 0, jb_end = pr.split_columns ? jt + 1 : nJ;
    for (int64_t jb = jb_begin; jb < jb_end; ++jb) {
      const int64_t j0 = jb * nc, n = std::min(nc, pr.N - j0);
      int64_t ldc = kNC;
      float* c = op.c(b, i0, j0, ldc);
      const bool direct = c != nullptr;
      if (!direct) c = cbuf, ldc = kNC;
      bool first = true;
      for (int64_t o = 0; o < pr.outer; ++o)
        for (int64_t k0 = 0; k0 < pr.K; k0 += kc_max) {
          const int64_t kc = std::min(kc_max, pr.K - k0);
          int64_t panel_stride = kc * mr, ldb = kLdb;
          const float* a = op.a(b, o, i0, m, k0, kc, abuf, panel_stride);
          const float* bb = op.b(b, o, k0, kc, j0, n, bbuf, ldb);
          for (int64_t jr = 0; jr < n; jr += nr)
            for (int64_t ir = 0; ir < m; ir += mr)
              k_.fn(kc, a + ir / mr * panel_stride, bb + jr, ldb, c + ir * ldc + jr, ldc, std::min(mr, m - ir),
                    std::min(nr, n - jr), !first, nullptr);
          first = false;
        }
      if (first) {  // K = 0: C is zero
        for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
      }
      if (!direct) op.store(b, i0, m, j0, n, c, ldc);
    }
  }
}

}  // namespace convkit::internal::gemm
