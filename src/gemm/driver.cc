#include "gemm/driver.h"

#include <omp.h>

#include <algorithm>

#include "convkit/threads.h"
#include "core/storage.h"

namespace convkit::internal::gemm {

namespace {

// Blocks: an A block (MC x KC) and a B block (KC x NC) stay in L2, the KC x NR slice of B a
// microkernel sweeps stays in L1 next to its A panel (as the forward gemm path).
constexpr int64_t kNC = kGemmNC, kMC = 96;
// Packed B rows are kLdb floats apart: 13 cache lines, odd, so KC rows spread over L1's sets.
constexpr int64_t kLdb = kNC + 16;

int64_t round_up(int64_t v, int64_t q) { return (v + q - 1) / q * q; }

}  // namespace

// The reduction's chunks: its steps (outer steps x K blocks) split into pieces of at least
// kChunkSteps when C has fewer than kFewTiles column-and-row blocks — a small C (a weight
// gradient) with a long reduction (every position of every image) would otherwise give too
// few tasks. A function of the problem alone, never of the thread count: each chunk sums into
// its own partial C and the partials are added in chunk order, the same bits for any threads.
int64_t reduction_chunks(const Problem& pr, int64_t tiles, int64_t kc_max) {
  constexpr int64_t kFewTiles = 8, kChunkSteps = 8, kMaxChunks = 8;
  if (!pr.split_reduction || tiles >= kFewTiles) return 1;
  const int64_t steps = pr.outer * ceil_div(pr.K, kc_max);
  return std::clamp<int64_t>(steps / kChunkSteps, 1, kMaxChunks);
}

void Driver::run(const Operands& op, const Problem& pr) const {
  const int64_t mr = k_.mr, nr = k_.nr;
  const int64_t quantum = pr.row_quantum > 0 ? pr.row_quantum : mr;
  // Whole quanta (and panels), but no taller than M: one block of every row is aligned too.
  const int64_t mc = std::min(std::max(quantum, kMC / quantum * quantum), round_up(pr.M, mr));
  if (pr.batch <= 0 || pr.M <= 0 || pr.N <= 0) return;  // no C
  const int64_t kc_max = kc_for(pr.K);
  const int64_t nI = (pr.M + mc - 1) / mc;
  const int64_t chunks = reduction_chunks(pr, pr.batch * nI * ceil_div(pr.N, kNC), kc_max);
  const int64_t steps = pr.outer * ceil_div(pr.K, kc_max), steps_per_chunk = ceil_div(steps, chunks);
  // Column blocks of kNC, or narrower (whole NR panels) so that the tasks divide evenly over
  // the threads or are plenty (eight per thread): three tasks on two threads (ResNet-50 res2's
  // weight gradient) or eleven (res5 1x1 transposed) leave a thread idle at the end. The
  // blocking of C's columns does not change any element's sum, so the bits stay the same.
  int64_t nc = std::min(kNC, round_up(ceil_div(pr.N, ceil_div(pr.N, kNC)), nr));  // blocks of about one size
  if (pr.split_columns) {
    const int64_t want = get_num_threads(), have = pr.batch * (pr.rows_in_task ? 1 : nI) * chunks;
    for (int64_t blocks = ceil_div(pr.N, kNC); want > 1 && blocks <= ceil_div(pr.N, nr); ++blocks) {
      const int64_t width = round_up(ceil_div(pr.N, blocks), nr), tasks = have * ceil_div(pr.N, width);
      if (tasks % want == 0 || tasks >= 8 * want) {
        nc = std::min(width, kNC);
        break;
      }
    }
  }
  const int64_t nJ = ceil_div(pr.N, nc);
  const int64_t nJ_tasks = pr.split_columns ? nJ : 1;
  // Rows: a task per row block; or, with rows_in_task (C in place), row parts that run each of
  // their row blocks over one B block per K step (BLIS's order: B packed once, not once per
  // row block), split only as far as the threads need: until the tasks divide evenly over
  // them or are eight per thread.
  int64_t parts = nI;
  if (pr.rows_in_task) {
    parts = 1;
    const int64_t base = pr.batch * nJ_tasks * chunks;
    const int64_t nth = threads_for(base * nI, pr.flops);
    while (parts < nI && base * parts < 8 * nth && base * parts % nth != 0) ++parts;
  }
  const int64_t per_part = ceil_div(nI, parts);
  const int64_t tasks = pr.batch * parts * nJ_tasks * chunks;
  const int threads = threads_for(tasks, pr.flops);
  // Per thread: A block (mc x kc), B block (kc x kLdb), C block (mc x kNC).
  const int64_t a_floats = round_up(mc, mr) * kc_max, b_floats = kc_max * kLdb, c_floats = mc * kNC;
  const auto ws = ws_.lease(threads, a_floats + b_floats + c_floats);
  // Chunked: partial C per chunk, [chunk][batch][M][N], from the driver's pool (kept between calls).
  const auto partial = partial_.lease(1, chunks > 1 ? chunks * pr.batch * pr.M * pr.N : 1);
  float* pp = chunks > 1 ? partial.get(0) : nullptr;
  const int64_t k_blocks = ceil_div(pr.K, kc_max);

#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t part = task % parts, jt = task / parts % nJ_tasks, ch = task / (parts * nJ_tasks) % chunks;
    const int64_t b = task / (parts * nJ_tasks * chunks);
    const int64_t ib_begin = part * per_part, ib_end = std::min(nI, ib_begin + per_part);
    float* abuf = ws.get(omp_get_thread_num());
    float* bbuf = abuf + a_floats;
    float* cbuf = bbuf + b_floats;
    // C of row block ib: in place, the chunk's partial, or (one row block per task) cbuf.
    auto c_of = [&](int64_t i0, int64_t j0, int64_t& ldc) -> float* {
      if (chunks > 1) {
        ldc = pr.N;
        return pp + ((ch * pr.batch + b) * pr.M + i0) * pr.N + j0;
      }
      float* c = op.c(b, i0, j0, ldc);
      if (c == nullptr) c = cbuf, ldc = kNC;
      return c;
    };
    const int64_t jb_begin = pr.split_columns ? jt : 0, jb_end = pr.split_columns ? jt + 1 : nJ;
    for (int64_t jb = jb_begin; jb < jb_end; ++jb) {
      const int64_t j0 = jb * nc, n = std::min(nc, pr.N - j0);
      bool first = true;
      const int64_t step_end = std::min(steps, (ch + 1) * steps_per_chunk);
      for (int64_t step = ch * steps_per_chunk; step < step_end; ++step) {
        const int64_t o = step / k_blocks, k0 = step % k_blocks * kc_max, kc = std::min(kc_max, pr.K - k0);
        int64_t ldb = kLdb, off = 0;
        const float* rowbuf[kMaxKc];
        const float* const* rows = op.b_rows(b, o, k0, kc, j0, rowbuf, off);
        const float* bb = rows ? nullptr : op.b(b, o, k0, kc, j0, n, bbuf, ldb);
        const int64_t b_panel = op.b_panel_stride(kc);
        for (int64_t ib = ib_begin; ib < ib_end; ++ib) {
          const int64_t i0 = ib * mc, m = std::min(mc, pr.M - i0);
          int64_t ldc = kNC, panel_stride = kc * mr;
          float* c = c_of(i0, j0, ldc);
          const float* a = op.a(b, o, i0, m, k0, kc, abuf, panel_stride);
          const float* bias = first && chunks == 1 ? op.bias(b, i0) : nullptr;
          for (int64_t jr = 0; jr < n; jr += nr)
            for (int64_t ir = 0; ir < m; ir += mr) {
              const float* ap = a + ir / mr * panel_stride;
              float* cp = c + ir * ldc + jr;
              const int64_t mm = std::min(mr, m - ir), nn = std::min(nr, n - jr);
              const float* bi = bias ? bias + ir : nullptr;
              if (rows) k_.rows(kc, ap, rows, off + jr, cp, ldc, mm, nn, !first, bi);
              else k_.fn(kc, ap, bb + (b_panel ? jr / nr * b_panel : jr), ldb, cp, ldc, mm, nn, !first, bi);
            }
        }
        first = false;
      }
      for (int64_t ib = ib_begin; ib < ib_end; ++ib) {
        const int64_t i0 = ib * mc, m = std::min(mc, pr.M - i0);
        int64_t ldc = kNC;
        float* c = c_of(i0, j0, ldc);
        if (first) {  // an empty reduction: C is the bias or zero
          const float* bias = chunks == 1 ? op.bias(b, i0) : nullptr;
          for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, bias ? bias[i] : 0.0f);
        }
        if (c == cbuf) op.store(b, i0, m, j0, n, c, ldc);
      }
    }
  }
  if (chunks > 1) combine(op, pr, chunks, pp, threads);
}

// C = partial[0] + partial[1] + ... in chunk order, rows split over the threads.
void Driver::combine(const Operands& op, const Problem& pr, int64_t chunks, const float* pp, int threads) const {
  const int64_t rows = pr.batch * pr.M, stride = pr.batch * pr.M * pr.N;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t ldc = 0;  // (one row of C: its leading dimension does not matter here)
    float* c = op.c(r / pr.M, r % pr.M, 0, ldc);
    const float* src = pp + r * pr.N;
    std::copy(src, src + pr.N, c);
    for (int64_t ch = 1; ch < chunks; ++ch)
      for (int64_t j = 0; j < pr.N; ++j) c[j] += src[ch * stride + j];
  }
}

}  // namespace convkit::internal::gemm
