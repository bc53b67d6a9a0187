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
// Row blocks of a streamed C (Problem::stream_c): wav2vec2's first layer (512 x 3199 outputs
// from 10 products each) took 0.42 ms with blocks of 32-64 rows, 0.80 ms with 96.
constexpr int64_t kStreamMC = 48;
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
  if (!pr.split_reduction || pr.accumulate || tiles >= kFewTiles) return 1;
  const int64_t steps = pr.outer * ceil_div(pr.K, kc_max);
  const int64_t chunks = std::clamp<int64_t>(steps / kChunkSteps, 1, kMaxChunks);
  // An even count: the chunks divide over two threads as they are, where an odd one made the
  // driver split rows too, each row part packing the chunk's B blocks again (ResNet-50 res2's
  // 1x1 weight gradient, 3 chunks: 0.50-0.62 ms on two threads; 4: 0.44-0.56).
  return chunks > 1 && chunks % 2 != 0 ? chunks + 1 : chunks;
}

// Whether OpenMP's static schedule gives `threads` threads shares within 10% of even, for
// `tasks` tasks ordered (row part, column block, ...) with `parts` row parts (or, columns_first,
// (column block, row part, ...)), over columns in blocks of `width` (the last one narrower),
// each costing its width in whole NR panels.
bool even_shares(int64_t N, int64_t width, int64_t nr, int64_t parts, int64_t tasks, int64_t threads,
                 bool columns_first) {
  const int64_t blocks = ceil_div(N, width), last = round_up(N - (blocks - 1) * width, nr);
  auto cost = [&](int64_t t) { return (columns_first ? t : t / parts) % blocks == blocks - 1 ? last : width; };
  int64_t total = 0, worst = 0;
  for (int64_t th = 0, t = 0; th < threads; ++th) {  // thread th runs a contiguous range
    int64_t share = 0;
    for (const int64_t end = t + tasks / threads + (th < tasks % threads); t < end; ++t) share += cost(t);
    total += share, worst = std::max(worst, share);
  }
  return static_cast<double>(worst) * static_cast<double>(threads) <= 1.1 * static_cast<double>(total);
}

// How a problem's C and reduction are cut into tasks (Driver::run's first half).
struct Driver::Layout {
  int64_t mc = 0, nc = 0, kc_max = 0, k_blocks = 0, nI = 0, nJ = 0, nJ_tasks = 1;
  int64_t chunks = 1, steps = 0, steps_per_chunk = 0, parts = 1, per_part = 1, tasks = 0;
  int64_t a_floats = 0, b_floats = 0, c_floats = 0;  // per thread: A block, B block, C block
};

// want: the threads the tasks should divide over (1: one caller runs them all).
Driver::Layout Driver::layout(const Problem& pr, int64_t want) const {
  Layout L;
  const int64_t mr = k_.mr, nr = k_.nr;
  const int64_t quantum = pr.row_quantum > 0 ? pr.row_quantum : mr;
  // Whole quanta (and panels), but no taller than M: one block of every row is aligned too.
  // Blocks of about one height: M = 128 in blocks of at most 96 is 64 + 64, not 96 + 32,
  // whose tasks of a third the work left one of two threads idle for a sixth of ResNet-50
  // res3's time. (Row blocking never changes an element's sum.)
  const int64_t mc_max = std::max(quantum, (pr.stream_c ? kStreamMC : kMC) / quantum * quantum);
  L.mc = std::min(mc_max, round_up(ceil_div(pr.M, ceil_div(pr.M, mc_max)), quantum));
  L.mc = std::min(L.mc, round_up(pr.M, mr));
  if (pr.mc > 0) L.mc = pr.mc;
  // (A given K block stays within kMaxKc: the rows form's pointer list holds that many.)
  CONVKIT_CHECK(!(pr.stream_c && pr.rows_in_task), "internal: a streamed C with rows in task");
  CONVKIT_CHECK(pr.kc <= kMaxKc, "internal: a K block of ", pr.kc, " steps; at most ", kMaxKc);
  L.kc_max = pr.kc > 0 ? pr.kc : kc_for(pr.K);
  L.k_blocks = ceil_div(pr.K, L.kc_max);
  L.nI = (pr.M + L.mc - 1) / L.mc;
  L.chunks = reduction_chunks(pr, pr.batch * L.nI * ceil_div(pr.N, kNC), L.kc_max);
  L.steps = pr.outer * L.k_blocks;
  L.steps_per_chunk = ceil_div(L.steps, L.chunks);
  // Column blocks of kNC, or narrower (whole NR panels) so that the threads get even shares of
  // the work or the tasks are plenty (eight per thread): three tasks on two threads (ResNet-50
  // res2's weight gradient) or eleven (res5 1x1 transposed) leave a thread idle at the end, and
  // so do ten whose last two are narrow (res3 3x3/2: columns 4 x 192 + 43). The blocking of
  // C's columns does not change any element's sum, so the bits stay the same.
  L.nc = std::min(kNC, round_up(ceil_div(pr.N, ceil_div(pr.N, kNC)), nr));  // blocks of about one size
  // Plenty of tasks divide evenly only when they cost about the same: ResNet-50 res5's weight
  // gradient (2048 x 512, 22 row blocks) in column blocks of 192, 192 and 128 gave one of two
  // threads 57% of the work; in four of 128, half. So up to twice the first block count, the
  // first even split wins, else the first with plenty of tasks.
  if (pr.split_columns && want > 1) {
    const int64_t parts = pr.rows_in_task ? 1 : L.nI, have = pr.batch * parts * L.chunks;
    const int64_t first = ceil_div(pr.N, kNC), most = ceil_div(pr.N, nr);
    int64_t chosen = 0;  // the even split's width, else the first one with plenty of tasks
    for (int64_t blocks = first; blocks <= most; ++blocks) {
      const int64_t width = round_up(ceil_div(pr.N, blocks), nr), tasks = have * ceil_div(pr.N, width);
      if (tasks % want == 0 && even_shares(pr.N, width, nr, parts, tasks, want, pr.stream_c)) {
        chosen = width;
        break;
      }
      if (tasks >= 8 * want && chosen == 0) chosen = width;
      if (chosen != 0 && blocks >= 2 * first) break;
    }
    if (chosen != 0) L.nc = std::min(chosen, kNC);
  }
  L.nJ = ceil_div(pr.N, L.nc);
  L.nJ_tasks = pr.split_columns ? L.nJ : 1;
  // Rows too, when the tasks still divide unevenly over the threads and are few: nine of them
  // (the taps of a weight gradient over 64 channels, one column block) leave one of two
  // threads idle for a ninth of the time; in row blocks of fewer whole quanta they are 18.
  // (Chunks were fixed above from the problem alone: the sums do not change.)
  if (!pr.rows_in_task && want > 1 && pr.mc == 0) {
    const int64_t per_row_block = pr.batch * L.nJ_tasks * L.chunks;
    for (int64_t nI = L.nI + 1; nI <= ceil_div(pr.M, quantum); ++nI) {
      if (per_row_block * L.nI % want == 0 || per_row_block * L.nI >= 8 * want) break;
      L.mc = round_up(ceil_div(pr.M, nI), quantum);
      L.nI = ceil_div(pr.M, L.mc);
    }
  }
  // Rows: a task per row block; or, with rows_in_task (C in place), row parts that run each of
  // their row blocks over one B block per K step (BLIS's order: B packed once, not once per
  // row block), split only as far as the threads need: until the tasks divide evenly over
  // them or are eight per thread.
  L.parts = L.nI;
  if (pr.rows_in_task) {
    L.parts = 1;
    const int64_t base = pr.batch * L.nJ_tasks * L.chunks;
    const int64_t nth = want > 1 ? threads_for(base * L.nI, pr.flops) : 1;
    while (L.parts < L.nI && base * L.parts < 8 * nth && base * L.parts % nth != 0) ++L.parts;
    if (pr.c_blocks && pr.c_block_floats > 0)
      L.parts = std::clamp(ceil_div(L.nI * L.mc * L.nc, pr.c_block_floats), L.parts, L.nI);
    L.parts = ceil_div(L.nI, ceil_div(L.nI, L.parts));  // (no part left without row blocks)
  }
  L.per_part = ceil_div(L.nI, L.parts);
  L.tasks = pr.batch * L.parts * L.nJ_tasks * L.chunks;
  // C blocks (when C is not in place): one per row block of a task.
  L.a_floats = round_up(L.mc, mr) * L.kc_max, L.b_floats = L.kc_max * kLdb;
  L.c_floats = (pr.rows_in_task && pr.c_blocks ? L.per_part : 1) * L.mc * L.nc;
  return L;
}

void Driver::run(const Operands& op, const Problem& pr) const {
  if (pr.batch <= 0 || pr.M <= 0 || pr.N <= 0) return;  // no C
  const Layout L = layout(pr, get_num_threads());
  const int threads = threads_for(L.tasks, pr.flops);
  const auto ws = ws_.lease(threads, L.a_floats + L.b_floats + L.c_floats);
  // Chunked: partial C per chunk, [chunk][batch][M][N], from the driver's pool (kept between calls).
  const auto partial = partial_.lease(1, L.chunks > 1 ? L.chunks * pr.batch * pr.M * pr.N : 1);
  float* pp = L.chunks > 1 ? partial.get(0) : nullptr;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t task = 0; task < L.tasks; ++task) {
    float* abuf = ws.get(omp_get_thread_num());
    run_task(op, pr, L, task, {abuf, abuf + L.a_floats, abuf + L.a_floats + L.b_floats}, pp);
  }
  if (L.chunks > 1) combine(op, pr, L.chunks, pp, threads);
}

void Driver::run_serial(const Operands& op, const Problem& pr, int64_t b, Scratch s) const {
  if (pr.batch <= 0 || pr.M <= 0 || pr.N <= 0) return;
  const Layout L = layout(pr, 1);
  CONVKIT_CHECK(L.chunks == 1, "internal: a serial gemm cannot split its reduction");
  const int64_t per_batch = L.tasks / pr.batch;
  for (int64_t task = b * per_batch; task < (b + 1) * per_batch; ++task) run_task(op, pr, L, task, s, nullptr);
}

int64_t Driver::serial_scratch_floats(const Problem& pr) const {
  const Layout L = layout(pr, 1);
  return L.a_floats + L.b_floats + L.c_floats;
}

// One task: its batch entry, row part, column block(s) and reduction chunk; pp the partial Cs.
void Driver::run_task(const Operands& op, const Problem& pr, const Layout& L, int64_t task, Scratch s,
                      float* pp) const {
  const int64_t mr = k_.mr, nr = k_.nr;
  // Tasks in order (batch, chunk, column block, row part); streamed: (batch, chunk, row part,
  // column block), so that consecutive tasks write the same rows.
  const int64_t part = pr.stream_c ? task / L.nJ_tasks % L.parts : task % L.parts;
  const int64_t jt = pr.stream_c ? task % L.nJ_tasks : task / L.parts % L.nJ_tasks;
  const int64_t ch = task / (L.parts * L.nJ_tasks) % L.chunks, b = task / (L.parts * L.nJ_tasks * L.chunks);
  const int64_t ib_begin = part * L.per_part, ib_end = std::min(L.nI, ib_begin + L.per_part);
  if (k_.begin) k_.begin();
  // C of row block i0: in place, the chunk's partial, or the task's C block for it in s.c.
  auto c_of = [&](int64_t i0, int64_t j0, int64_t& ldc, bool& block) -> float* {
    block = false;
    if (L.chunks > 1) {
      ldc = pr.N;
      return pp + ((ch * pr.batch + b) * pr.M + i0) * pr.N + j0;
    }
    float* c = op.c(b, i0, j0, ldc);
    CONVKIT_CHECK(c != nullptr || !pr.accumulate, "internal: an accumulating gemm needs C in place");
    CONVKIT_CHECK(c != nullptr || !pr.rows_in_task || pr.c_blocks || ib_end - ib_begin == 1,
                  "internal: C blocks of several row blocks need Problem::c_blocks");
    if (c == nullptr) c = s.c + (i0 - ib_begin * L.mc) * L.nc, ldc = L.nc, block = true;
    return c;
  };
  const int64_t jb_begin = pr.split_columns ? jt : 0, jb_end = pr.split_columns ? jt + 1 : L.nJ;
  for (int64_t jb = jb_begin; jb < jb_end; ++jb) {
    const int64_t j0 = jb * L.nc, n = std::min(L.nc, pr.N - j0);
    bool first = !pr.accumulate;
    const int64_t step_end = std::min(L.steps, (ch + 1) * L.steps_per_chunk);
    for (int64_t step = ch * L.steps_per_chunk; step < step_end; ++step) {
      const int64_t o = step / L.k_blocks, k0 = step % L.k_blocks * L.kc_max, kc = std::min(L.kc_max, pr.K - k0);
      int64_t ldb = kLdb, off = 0;
      const float* rowbuf[kMaxKc];
      const float* const* rows = op.b_rows(b, o, k0, kc, j0, rowbuf, off);
      const float* bb = rows ? nullptr : op.b(b, o, k0, kc, j0, n, s.b, ldb);
      const int64_t b_panel = op.b_panel_stride(kc);
      for (int64_t ib = ib_begin; ib < ib_end; ++ib) {
        const int64_t i0 = ib * L.mc, m = std::min(L.mc, pr.M - i0);
        int64_t ldc = kNC, panel_stride = kc * mr;
        bool block = false;
        float* c = c_of(i0, j0, ldc, block);
        int64_t aoff = 0;
        const float* const* arows = op.a_rows(b, o, i0, k0, aoff);
        const float* const* acols = arows ? nullptr : op.a_cols(b, o, i0, k0, aoff);
        CONVKIT_CHECK(arows == nullptr || k_.arows != nullptr, "internal: A rows for ", k_.name, ", which reads packed A");
        CONVKIT_CHECK((acols != nullptr) == (k_.acols != nullptr), "internal: A columns and kernel ", k_.name, " disagree");
        const float* a = arows || acols ? nullptr : op.a(b, o, i0, m, k0, kc, s.a, panel_stride);
        const float* bias = first && L.chunks == 1 ? op.bias(b, acols ? j0 : i0) : nullptr;
        for (int64_t jr = 0; jr < n; jr += nr)
          for (int64_t ir = 0; ir < m; ir += mr) {
            const float* ap = a ? a + ir / mr * panel_stride : nullptr;
            float* cp = c + ir * ldc + jr;
            const int64_t mm = std::min(mr, m - ir), nn = std::min(nr, n - jr);
            const float* bi = bias ? bias + ir : nullptr;
            if (rows) k_.rows(kc, ap, rows, off + jr, cp, ldc, mm, nn, !first, bi);
            else if (arows) k_.arows(kc, arows + ir, aoff, bb + (b_panel ? jr / nr * b_panel : jr), ldb, cp, ldc, mm, nn, !first, bi);
            else if (acols) k_.acols(kc, acols, aoff + ir, bb + (b_panel ? jr / nr * b_panel : jr), ldb, cp, ldc, mm, nn, !first, bias ? bias + jr : nullptr);
            else k_.fn(kc, ap, bb + (b_panel ? jr / nr * b_panel : jr), ldb, cp, ldc, mm, nn, !first, bi);
          }
      }
      first = false;
    }
    for (int64_t ib = ib_begin; ib < ib_end; ++ib) {
      const int64_t i0 = ib * L.mc, m = std::min(L.mc, pr.M - i0);
      int64_t ldc = kNC;
      bool block = false;
      float* c = c_of(i0, j0, ldc, block);
      if (first) {  // an empty reduction: C is the bias (of rows; with A columns, of columns) or zero
        const float* bias = L.chunks == 1 ? op.bias(b, k_.acols ? j0 : i0) : nullptr;
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = bias ? bias[k_.acols ? j : i] : 0.0f;
      }
      if (block) op.store(b, i0, m, j0, n, c, ldc);
    }
  }
  if (k_.end) k_.end();
}

// C = partial[0] + partial[1] + ... in chunk order, rows split over the threads.
void Driver::combine(const Operands& op, const Problem& pr, int64_t chunks, const float* pp, int threads) const {
  const int64_t rows = pr.batch * pr.M, stride = pr.batch * pr.M * pr.N;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t ldc = 0;  // (one row of C: its leading dimension does not matter here)
    float* c = op.c(r / pr.M, r % pr.M, 0, ldc);
    const float* src = pp + r * pr.N;
    if (pr.doubles) {  // (pairs of slots, read and written as doubles; N and the strides are even)
      auto* cd = reinterpret_cast<double*>(c);
      const auto* sd = reinterpret_cast<const double*>(src);
      std::copy(sd, sd + pr.N / 2, cd);
      for (int64_t ch = 1; ch < chunks; ++ch)
        for (int64_t j = 0; j < pr.N / 2; ++j) cd[j] += sd[ch * stride / 2 + j];
      continue;
    }
    std::copy(src, src + pr.N, c);
    for (int64_t ch = 1; ch < chunks; ++ch)
      for (int64_t j = 0; j < pr.N; ++j) c[j] += src[ch * stride + j];
  }
}

}  // namespace convkit::internal::gemm
