// The gradient directions as products on the GEMM driver (float32). Per group g, with
// M = C_out/g, R = C_in/g * taps rows (channel ci, tap t) and P = prod(S_out) positions:
//
//   backward_data:    with stride 1 and zeros padding, the forward convolution of dY with the
//                     channel-swapped weight read back to front (every forward path serves
//                     it). Otherwise col[R, P] = W_g^T[R, M] * dY_g[M, P], then col2im: every
//                     (ci, t, p) adds onto the input element tap t of output p read (through
//                     the padding mode, so reflect/replicate/circular fold back as in the
//                     reference). A = W^T packed once per plan, B = dY rows read in place, C in
//                     a per-thread block scattered by the epilogue. Tasks own whole channels.
//   backward_weights: dW_g[M, R] = sum over images n of dY_g[n][M, P] * im2col(x[n])^T[P, R].
//                     A = dY rows and B = im2col^T, both packed by the transpose kernel (B from
//                     runs of windows stepping by the stride; a padded layer reads a padded
//                     copy of x, so every window is inside). C is dW itself; a small dW with a
//                     long reduction is summed in chunks the driver adds in order.
//
// A transposed convolution's forward is backward_data with its bias added to the result.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <numeric>

#include "conv/plan.h"
#include "conv/reference.h"
#include "convkit/settings.h"
#include "core/storage.h"
#include "cpu/cache.h"
#include "gemm/driver.h"
#include "kernels/blas1/blas1.h"
#include "kernels/transpose/transpose.h"

namespace convkit::internal {

namespace {

// Per row r = (ci, t) of R, t a tap of the stored weight: the input channel and, in each
// lifted dim, the offset (dilation * k - pad_lo) at which the forward applies that tap —
// for conv_mode=convolution the mirrored one, as the forward reads the kernel back to front.
struct TapRows {
  std::vector<int64_t> ci, off[3];
  // Of a whole output row, the outputs [in_lo, in_hi) whose column is inside the input row.
  std::vector<int64_t> in_lo, in_hi;
  TapRows(const ConvParams& p, const Lifted& g) {
    const int64_t taps = g.taps(), R = p.c_in_per_group() * taps;
    const auto uR = static_cast<std::size_t>(R);
    ci.resize(uR);
    for (auto& o : off) o.resize(uR);
    in_lo.resize(uR);
    in_hi.resize(uR);
    for (int64_t r = 0; r < R; ++r) {
      const auto ur = static_cast<std::size_t>(r);
      const int64_t t = p.conv_mode == ConvMode::Convolution ? taps - 1 - r % taps : r % taps;
      const int64_t k[3] = {t / (g.K[1] * g.K[2]), t / g.K[2] % g.K[1], t % g.K[2]};
      ci[ur] = r / taps;
      for (int d = 0; d < 3; ++d) off[d][ur] = k[d] * g.dl[d] - g.lo[d];
      kernels::tap_range(off[2][ur], g.O[2], g.st[2], 0, g.S[2], in_lo[ur], in_hi[ur]);
    }
  }
};

const kernels::GemmKernel& kernel_for(int64_t m, int64_t n) {
  return kernels::gemm_kernel_for(max_isa(), m, n, kGemmNC);
}

class GemmBackwardDataPlan : public BackwardDataPlan {
 public:
  GemmBackwardDataPlan(const ConvParams& p, const Tensor& w, const Tensor& b)
      : g3_(lift3(p)), rows_(p, g3_), M_(p.c_out_per_group()), R_(p.c_in_per_group() * g3_.taps()), P_(p.positions()),
        driver_(kernel_for(R_, P_)), add_(kernels::blas1_kernel(max_isa())) {
    params = p;
    const int64_t mr = driver_.kernel().mr;
    panels_ = (R_ + mr - 1) / mr;
    // A: [G][R/MR panels][M][MR] = W_g^T, rows past R zero.
    a_ = Tensor::zeros({p.groups * panels_ * M_ * mr});
    const Tensor wc = w.contiguous();  // [C_out, C_in/g, *K]
    const float* wp = wc.const_data<float>();
    float* ap = internal::mutable_data<float>(a_);
    // Weight row (g, co) is contiguous over r; its MR-row slices land contiguously in each
    // panel's k step co. Rows over the threads (made per call by the functional gradients).
    const int64_t rows = p.groups * M_, panels = panels_, M = M_, R = R_;
    const int threads = threads_for(rows, static_cast<double>(rows * R) * 8);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t gc = 0; gc < rows; ++gc) {
      const int64_t g = gc / M, co = gc % M;
      const float* src = wp + gc * R;
      for (int64_t pnl = 0; pnl < panels; ++pnl) {
        const int64_t r0 = pnl * mr;
        std::copy(src + r0, src + std::min(R, r0 + mr), ap + ((g * panels + pnl) * M + co) * mr);
      }
    }
    if (b.defined()) bias_ = b.contiguous();
    // Few input channels (wav2vec2's first layer has one: R = 10 rows) make one task per image
    // and group, which col2im's overlapping column blocks keep serial. Then, when the whole
    // col[R, P] of every image fits kWholeColsFloats, the product is computed into it with its
    // columns split over the threads, and col2im runs afterwards, a task per input channel
    // (ResNet-50's first layer, 3 channels: a 7.4 MB col, 1.6x faster on 2 threads than
    // serial). Decided by the shape alone, so the bits do not depend on the thread count.
    const int64_t row_tasks = p.N * p.groups * ceil_div(R_, std::lcm(g3_.taps(), static_cast<int64_t>(mr)));
    whole_cols_ = row_tasks < 4 && p.N * p.groups * R_ * P_ <= kWholeColsFloats;
    // With the whole col in L2 and a long reduction (wav2vec2's first layer: a col of 10 x 3199
    // from 512 rows of dY, 12.8 KB each), the product runs in stripes of kStripeRows rows of dY
    // read in place, each stripe adding onto the col (run_stripes). dY then streams in as that
    // many sequential runs; in one pass, every column block walks all of a K block's rows, a new
    // page per row, and the GEMM waited on memory (0.63 -> 0.36 ms at 1 thread, whether or not
    // the blocks were copied first). Not for a col beyond L2: it is read again per stripe.
    stripes_ = whole_cols_ && M_ > kStripeRows &&
               p.N * p.groups * R_ * P_ * static_cast<int64_t>(sizeof(float)) <= internal::cache_sizes().l2 / 2;
    pack_b_ = R_ <= mr && !stripes_;
    // One output row whose every tap stays inside the input row (zeros padding adds nothing
    // outside; other modes fold back, which the general loop does).
    // (A 1-d layer: with a kernel taller than one row, some taps read padding rows instead.)
    one_row_ = g3_.O[0] * g3_.O[1] == 1 && g3_.S[0] * g3_.S[1] == 1 && g3_.K[0] * g3_.K[1] == 1;
    for (std::size_t r = 0; r < static_cast<std::size_t>(R_) && p.padding_mode != PaddingMode::Zeros; ++r)
      one_row_ = one_row_ && rows_.in_lo[r] == 0 && rows_.in_hi[r] == g3_.O[2];
    // Rows per add_taps call: a divisor of the kernel row's K[2] (its rows share an input row).
    // Other padding modes fold each row's outside terms back right after its inside ones: a row
    // at a time, in the reference's order.
    group_ = 1;
    for (int64_t k = std::min(g3_.K[2], kMaxGroup); k > 1 && p.padding_mode == PaddingMode::Zeros; --k)
      if (g3_.K[2] % k == 0) {
        group_ = k;
        break;
      }
  }

  void run(const Tensor& gy, Tensor& gx) const override {
    const ConvParams& p = params;
    const Tensor dy = gy.contiguous();  // [N, C_out, P]: B rows read in place
    const auto cols = cols_.lease(1, whole_cols_ ? p.N * p.groups * R_ * P_ : 1);
    Call call{dy.const_data<float>(), internal::mutable_data<float>(gx), whole_cols_ ? cols.get(0) : nullptr};
    gemm::Problem pr;
    pr.batch = p.N * p.groups;
    pr.M = R_;
    pr.N = P_;
    pr.K = M_;
    pr.row_quantum = std::lcm(g3_.taps(), static_cast<int64_t>(driver_.kernel().mr));
    // col2im of different column blocks adds onto the same inputs: their blocks run in order,
    // unless the product goes to the whole col first.
    pr.split_columns = whole_cols_;
    pr.flops = 2.0 * static_cast<double>(p.N * p.C_in * g3_.taps()) * static_cast<double>(M_ * P_);
    if (stripes_) run_stripes(call, pr);
    else driver_.run(Bound(*this, call), pr);
    if (!whole_cols_) return;
    // col [N * G][R][P] onto dx, one input channel (its taps' rows) per task.
    const int64_t cin_g = p.c_in_per_group(), taps = g3_.taps();
    const int threads = threads_for(p.N * p.C_in, static_cast<double>(p.N * p.groups * R_ * P_) * 4);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t t = 0; t < p.N * p.C_in; ++t) {
      const int64_t b = t / cin_g, i0 = t % cin_g * taps;
      start_channels(b, i0, taps, call.dx);
      col2im(b, i0, taps, 0, P_, call.cols + (b * R_ + i0) * P_, P_, call.dx);
    }
  }
  int64_t memory_bytes() const override { return a_.numel() * 4 + driver_.memory_bytes() + cols_.bytes(); }

 private:
  struct Call {
    const float* dy;
    float* dx;
    float* cols;  // the whole col [N * G][R][P], or null: C blocks go to col2im as they finish
  };
  // The operands of one run: the plan's packed A and the call's tensors, over the reduction's
  // rows from k_base and the columns from j_base on (a stripe of rows, a thread's columns).
  class Bound : public gemm::Operands {
   public:
    Bound(const GemmBackwardDataPlan& plan, const Call& call, int64_t k_base = 0, int64_t j_base = 0)
        : plan_(plan), call_(call), k_base_(k_base), j_base_(j_base) {}
    const float* a(int64_t b, int64_t, int64_t i0, int64_t, int64_t k0, int64_t, float*, int64_t& stride) const override {
      k0 += k_base_;
      const int64_t mr = plan_.driver_.kernel().mr, g = b % plan_.params.groups;
      stride = plan_.M_ * mr;
      return plan_.a_.const_data<float>() + ((g * plan_.panels_ + i0 / mr) * plan_.M_ + k0) * mr;
    }
    const float* b(int64_t b, int64_t, int64_t k0, int64_t kc, int64_t j0, int64_t cols, float* buf, int64_t& ldb) const override {
      const ConvParams& p = plan_.params;
      const int64_t n = b / p.groups, g = b % p.groups;
      k0 += k_base_, j0 += j_base_;
      const float* src = call_.dy + ((n * p.C_out + g * plan_.M_ + k0) * plan_.P_ + j0);
      if (!plan_.pack_b_) {
        ldb = plan_.P_;
        return src;
      }
      // One row tile reads each dY element once, so the kernel would meet every B row far from
      // the last (a new page per k step, faster than the prefetchers follow): copied row by
      // row first, each a sequential run.
      for (int64_t k = 0; k < kc; ++k)
        std::memcpy(buf + k * ldb, src + k * plan_.P_, static_cast<std::size_t>(cols) * sizeof(float));
      return buf;
    }
    float* c(int64_t b, int64_t i0, int64_t j0, int64_t& ldc) const override {
      if (call_.cols == nullptr) return nullptr;
      j0 += j_base_;
      ldc = plan_.P_;
      return call_.cols + (b * plan_.R_ + i0) * plan_.P_ + j0;
    }
    void store(int64_t b, int64_t i0, int64_t m, int64_t j0, int64_t n, const float* c, int64_t ldc) const override {
      if (j0 == 0) plan_.start_channels(b, i0, m, call_.dx);  // the first of the rows' column blocks
      plan_.col2im(b, i0, m, j0, n, c, ldc, call_.dx);
    }

   private:
    const GemmBackwardDataPlan& plan_;
    const Call& call_;
    int64_t k_base_, j_base_;
  };

  // The product pr into the whole col, stripe after stripe of dY's rows (stripes_), the col's
  // columns split over the threads. Every element sums its stripes in order, each from zero in
  // registers (a stripe is one K block): the same bits for any thread count and column split.
  void run_stripes(const Call& call, gemm::Problem pr) const {
    const int threads = threads_for(ceil_div(P_, kGemmNC), pr.flops);
    const int64_t nr = driver_.kernel().nr;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
      const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t j0 = ceil_div(P_, nr) * t / nt * nr, j1 = std::min(P_, ceil_div(P_, nr) * (t + 1) / nt * nr);
      gemm::Problem ps = pr;
      ps.N = j1 - j0;
      for (int64_t k0 = 0; k0 < M_ && ps.N > 0; k0 += kStripeRows) {
        ps.K = std::min(kStripeRows, M_ - k0);
        ps.accumulate = k0 > 0;
        const Bound bound(*this, call, k0, j0);
        for (int64_t b = 0; b < pr.batch; ++b) driver_.run_serial(bound, ps, b, {});  // A, B and C in place
      }
    }
  }

  // Sets the input channels of C rows [i0, i0 + m) (whole channels) of image and group b to
  // the bias (a transposed layer's) or zero, for col2im to add onto: by the task that adds onto
  // them, so the other thread's cache does not hold them first.
  void start_channels(int64_t b, int64_t i0, int64_t m, float* dx) const {
    const ConvParams& p = params;
    const int64_t plane = g3_.S[0] * g3_.S[1] * g3_.S[2], taps = g3_.taps();
    const int64_t c0 = (b % p.groups) * p.c_in_per_group() + i0 / taps;
    const int64_t c1 = (b % p.groups) * p.c_in_per_group() + ceil_div(std::min(i0 + m, R_), taps);
    const float* bp = bias_.defined() ? bias_.const_data<float>() : nullptr;
    float* base = dx + (b / p.groups) * p.C_in * plane;
    if (bp == nullptr) fill_value(base + c0 * plane, (c1 - c0) * plane, 0.0f);
    else
      for (int64_t ci = c0; ci < c1; ++ci) fill_value(base + ci * plane, plane, bp[ci]);
  }

  // Adds C rows [i0, i0 + m) (whole channels) x positions [j0, j0 + n) onto dx. The K[2] rows of
  // one kernel row (consecutive in R) add onto the same input row: one add_taps call each.
  void col2im(int64_t b, int64_t i0, int64_t m, int64_t j0, int64_t n, const float* c, int64_t ldc, float* dx) const {
    const ConvParams& p = params;
    const Lifted& g = g3_;
    const int64_t img = b / p.groups, grp = b % p.groups, plane = g.S[0] * g.S[1] * g.S[2];
    float* base = dx + (img * p.C_in + grp * p.c_in_per_group()) * plane;
    const int64_t rows = std::min(m, R_ - i0), st = g.st[2], S2 = g.S[2];
    if (one_row_ && n == g.O[2]) {  // one output row (a 1-d layer): each row an axpy onto its input row
      // Tap by tap over the block's channels: the rows of one channel, which add onto the same
      // elements, come a block of channels apart, so each axpy finds the previous one's
      // (masked, unforwardable) stores retired. Each element still takes its taps in order.
      const int64_t taps = g3_.taps();
      for (int64_t t = 0; t < taps; ++t)
        for (int64_t i = t; i < rows; i += taps) {
          const auto r = static_cast<std::size_t>(i0 + i);
          const int64_t lo = rows_.in_lo[r], len = rows_.in_hi[r] - lo;
          if (len > 0) add_.axpy(1.0f, c + i * ldc + lo, len, base + rows_.ci[r] * S2 + rows_.off[2][r] + lo * st, st);
        }
      return;
    }
    int64_t shifted[kMaxGroup];  // a group's offsets from the run's first output
    const int64_t o2_0 = j0 % g.O[2], o1_0 = j0 / g.O[2] % g.O[1], o0_0 = j0 / (g.O[2] * g.O[1]);
    for (int64_t i = 0; i < rows; i += group_) {
      const auto r = static_cast<std::size_t>(i0 + i);
      const int64_t k = std::min(group_, rows - i);
      float* ch = base + rows_.ci[r] * plane;
      int64_t o2 = o2_0, o1 = o1_0, o0 = o0_0;
      for (int64_t q = 0; q < n;) {
        const int64_t run = std::min(g.O[2] - o2, n - q);
        const int64_t i0s = source_index(o0 * g.st[0] + rows_.off[0][r], g.S[0], p.padding_mode);
        const int64_t i1s = source_index(o1 * g.st[1] + rows_.off[1][r], g.S[1], p.padding_mode);
        if (i0s >= 0 && i1s >= 0) {
          float* line = ch + (i0s * g.S[1] + i1s) * S2;
          for (int64_t t = 0; t < k; ++t) shifted[t] = o2 * st + rows_.off[2][r + static_cast<std::size_t>(t)];
          add_.add_taps(c + i * ldc + q, ldc, shifted, k, run, st, line, 0, S2);
          if (p.padding_mode != PaddingMode::Zeros) fold_back(c + i * ldc + q, ldc, shifted, k, run, line);
        }
        q += run;
        o2 = 0;
        if (++o1 == g.O[1]) o1 = 0, ++o0;
      }
    }
  }
  // The terms of a row that fall outside the input row fold back onto it (reflect, replicate,
  // circular), after the row's inside terms.
  void fold_back(const float* c, int64_t ldc, const int64_t* off, int64_t k, int64_t run, float* line) const {
    const int64_t st = g3_.st[2], S2 = g3_.S[2];
    for (int64_t t = 0; t < k; ++t) {
      int64_t j0 = 0, j1 = 0;
      kernels::tap_range(off[t], run, st, 0, S2, j0, j1);
      const float* cq = c + t * ldc;
      for (int64_t j = 0; j < j0; ++j) line[source_index(off[t] + j * st, S2, params.padding_mode)] += cq[j];
      for (int64_t j = j1; j < run; ++j) line[source_index(off[t] + j * st, S2, params.padding_mode)] += cq[j];
    }
  }

  static constexpr int64_t kWholeColsFloats = int64_t{1} << 22;  // 16 MB
  static constexpr int64_t kMaxGroup = 64;                        // rows per add_taps call
  static constexpr int64_t kStripeRows = 32;                      // rows of dY per stripe (16: 0.42 ms, 64: 0.46)

  Lifted g3_;
  TapRows rows_;
  int64_t M_, R_, P_, panels_ = 0;
  Tensor a_, bias_;
  gemm::Driver driver_;
  const kernels::Blas1Kernel& add_;  // its axpy adds a C row onto an input row
  bool whole_cols_ = false;  // the product goes to the whole col, then col2im per channel
  bool stripes_ = false;     // the product in stripes of dY's rows (see the constructor)
  bool pack_b_ = false;      // one row tile: dY blocks copied before the kernel reads them
  bool one_row_ = false;     // col2im's single-row form serves whole blocks (see the constructor)
  int64_t group_ = 1;        // rows per add_taps call (see the constructor)
  Workspace cols_;           // that col, kept between calls
};

class GemmBackwardWeightsPlan : public BackwardWeightsPlan {
 public:
  explicit GemmBackwardWeightsPlan(const ConvParams& p)
      : g3_(lift3(p)), rows_(p, g3_), M_(p.c_out_per_group()), R_(p.c_in_per_group() * g3_.taps()), P_(p.positions()),
        driver_(kernel_for(M_, R_)), transpose_(kernels::transpose_kernel(max_isa())) {
    params = p;
    // Windows that read padding would be packed element by element; on a padded copy of x
    // (every padding mode materialized) every window is inside, so a plan for the valid
    // convolution of that copy does the work.
    const bool reads_padding = windows_read_padding(p);
    ConvParams v = p;
    for (int d = 0; d < 3; ++d) {
      const int64_t extent = g3_.read_extent(d);
      if (d >= 3 - p.dim) {
        const auto i = static_cast<std::size_t>(d - (3 - p.dim));
        v.in_size[i] = extent;
        v.pad_lo[i] = v.pad_hi[i] = 0;
      }
    }
    v.padding_mode = PaddingMode::Zeros;
    // Only while the copy stays within a few times x and dY (huge dilations over padding
    // would make it far larger): otherwise border windows are packed element by element.
    const Lifted vg = lift3(v);
    const double copy = static_cast<double>(p.N * p.C_in) * static_cast<double>(vg.S[0] * vg.S[1]) * static_cast<double>(vg.S[2]);
    const double tensors = static_cast<double>(p.N) * (static_cast<double>(p.C_in) * static_cast<double>(g3_.S[0] * g3_.S[1] * g3_.S[2]) +
                                                      static_cast<double>(p.C_out) * static_cast<double>(P_));
    if (reads_padding && copy <= 2 * tensors + (1 << 20)) {
      inner_ = std::make_unique<GemmBackwardWeightsPlan>(v);
      copy_floats_ = static_cast<int64_t>(copy);
    }
  }

  void run(const Tensor& x, const Tensor& gy, Tensor& gw) const override {
    const ConvParams& p = params;
    const Tensor dy = gy.contiguous();  // [N, C_out, P]
    if (reference_weights_if_nonfinite(p, x, dy, gw)) return;
    if (inner_) {
      const auto lease = padded_.lease(1, copy_floats_);  // kept for the next call
      inner_->run(padded_input(x, lease.get(0)), dy, gw);
      return;
    }
    const Bound bound(*this, x, dy.const_data<float>(), internal::mutable_data<float>(gw));
    gemm::Problem pr;
    pr.batch = p.groups;
    pr.M = M_;
    pr.N = R_;
    pr.outer = p.N;
    pr.K = P_;
    pr.split_reduction = true;
    pr.flops = 2.0 * static_cast<double>(p.N * p.C_out * R_) * static_cast<double>(P_);
    driver_.run(bound, pr);
  }
  int64_t memory_bytes() const override {
    return driver_.memory_bytes() + padded_.bytes() + (inner_ ? inner_->memory_bytes() : 0);
  }

 private:
  // x[N, C_in, *S] (any strides) -> [N, C_in, *S'] contiguous at out, S' the padded extent the
  // outputs read, padding of params' mode filled in (the reference's source_index, row by row).
  Tensor padded_input(const Tensor& x, float* op) const {
    const ConvParams& p = params;
    const Lifted& g = g3_;
    const Lifted& v = inner_->g3_;  // its S is the padded extent
    Shape shape{p.N, p.C_in};
    for (int d = 3 - static_cast<int>(p.dim); d < 3; ++d) shape.push_back(v.S[d]);
    const float* xp = x.const_data<float>();
    int64_t xs[3] = {0, 0, 0};
    for (int64_t i = 0; i < p.dim; ++i) xs[3 - p.dim + i] = x.stride(2 + i);
    const int64_t rows = p.N * p.C_in, row_len = v.S[2];
    const int threads = threads_for(rows, static_cast<double>(copy_floats_) * 40);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t nc = 0; nc < rows; ++nc) {
      const float* xc = xp + nc / p.C_in * x.stride(0) + nc % p.C_in * x.stride(1);
      float* dst = op + nc * v.S[0] * v.S[1] * row_len;
      for (int64_t d = 0; d < v.S[0]; ++d)
        for (int64_t h = 0; h < v.S[1]; ++h, dst += row_len) {
          const int64_t id = source_index(d - g.lo[0], g.S[0], p.padding_mode);
          const int64_t ih = source_index(h - g.lo[1], g.S[1], p.padding_mode);
          if (id < 0 || ih < 0) {
            std::fill(dst, dst + row_len, 0.0f);
            continue;
          }
          const float* row = xc + id * xs[0] + ih * xs[1];
          for (int64_t w = 0; w < row_len; ++w) {
            const int64_t iw = source_index(w - g.lo[2], g.S[2], p.padding_mode);
            dst[w] = iw < 0 ? 0.0f : row[iw * xs[2]];
          }
        }
    }
    return Tensor::from_blob(op, shape, kFloat32);
  }

  class Bound : public gemm::Operands {
   public:
    Bound(const GemmBackwardWeightsPlan& plan, const Tensor& x, const float* dy, float* dw)
        : plan_(plan), x_(x.const_data<float>()), dy_(dy), dw_(dw) {
      for (int d = 0; d < 3; ++d) xs_[d] = 0;
      const int64_t lift = 3 - plan.params.dim;
      for (int64_t i = 0; i < plan.params.dim; ++i) xs_[lift + i] = x.stride(2 + i);
      xsn_ = x.stride(0);
      xsc_ = x.stride(1);
      // Column r's element for a window fully inside the input: x[ci, o * st + off] is at
      // (o * st) . xs + col_off_[r].
      const TapRows& rows = plan.rows_;
      col_off_.resize(rows.ci.size());
      for (std::size_t r = 0; r < rows.ci.size(); ++r)
        col_off_[r] = rows.ci[r] * xsc_ + rows.off[0][r] * xs_[0] + rows.off[1][r] * xs_[1] + rows.off[2][r] * xs_[2];
    }
    // dY rows [i0, i0 + m) of group g, image o, positions [k0, k0 + kc) as MR-row panels.
    const float* a(int64_t g, int64_t o, int64_t i0, int64_t m, int64_t k0, int64_t kc, float* buf,
                   int64_t& stride) const override {
      const ConvParams& p = plan_.params;
      const int64_t mr = plan_.driver_.kernel().mr;
      stride = kc * mr;
      // Panel by panel: its rows of dY (up to 16 at a time) transposed into k-major order;
      // rows past M are zero.
      const float* srcs[kernels::kTransposeMaxRows];
      for (int64_t r = 0; r < m; r += mr) {
        const int64_t valid = std::clamp<int64_t>(std::min(m, plan_.M_ - i0) - r, 0, mr);
        for (int64_t i = 0; i < valid; i += kernels::kTransposeMaxRows) {
          const int64_t rows = std::min(kernels::kTransposeMaxRows, valid - i);
          for (int64_t t = 0; t < rows; ++t)
            srcs[t] = dy_ + (o * p.C_out + g * plan_.M_ + i0 + r + i + t) * plan_.P_ + k0;
          plan_.transpose_.fn(srcs, 1, rows, kc, buf + r * kc + i, mr);
        }
        for (int64_t i = valid; i < mr; ++i)
          for (int64_t k = 0; k < kc; ++k) buf[r * kc + k * mr + i] = 0.0f;
      }
      return buf;
    }
    // im2col^T: row k = position k0 + k, column j = row j0 + j of R (channel, tap).
    const float* b(int64_t g, int64_t o, int64_t k0, int64_t kc, int64_t j0, int64_t n, float* buf,
                   int64_t& ldb) const override {
      const ConvParams& p = plan_.params;
      const Lifted& G = plan_.g3_;
      const float* xg = x_ + o * xsn_ + g * p.c_in_per_group() * xsc_;
      int64_t pos = k0, o2 = pos % G.O[2], o1 = pos / G.O[2] % G.O[1], o0 = pos / (G.O[2] * G.O[1]);
      // A window is inside the input when its first tap (offset -lo) and last tap (offset
      // (K - 1) * dilation - lo) are, in every dim. Per row k: the window's base offset in x
      // when it is inside, else -1 (the row takes the padding-aware path).
      auto inside = [&](int d, int64_t o) {
        const int64_t first = o * G.st[d] - G.lo[d];
        return first >= 0 && first + (G.K[d] - 1) * G.dl[d] < G.S[d];
      };
      int64_t base[kMaxKc];
      for (int64_t k = 0; k < kc; ++k) {
        base[k] = inside(0, o0) && inside(1, o1) && inside(2, o2)
                      ? o0 * G.st[0] * xs_[0] + o1 * G.st[1] * xs_[1] + o2 * G.st[2] * xs_[2]
                      : -1;
        if (base[k] < 0) pack_border_row(xg, o0, o1, o2, j0, n, buf + k * ldb);
        if (++o2 == G.O[2]) {
          o2 = 0;
          if (++o1 == G.O[1]) o1 = 0, ++o0;
        }
      }
      // Inside rows come in runs whose windows step by the same number of elements of x (the
      // stride, along a row): column j of such a run is x read from base + col[j] with that
      // step, so 16 columns at a time are one transposing pack.
      const int64_t* col = col_off_.data() + j0;
      const float* srcs[kernels::kTransposeMaxRows];
      for (int64_t ka = 0; ka < kc;) {
        if (base[ka] < 0) {
          ++ka;
          continue;
        }
        const int64_t step = ka + 1 < kc && base[ka + 1] > base[ka] ? base[ka + 1] - base[ka] : 1;
        int64_t kb = ka + 1;
        while (kb < kc && base[kb] == base[kb - 1] + step) ++kb;
        for (int64_t jt = 0; jt < n; jt += kernels::kTransposeMaxRows) {
          const int64_t jn = std::min(kernels::kTransposeMaxRows, n - jt);
          for (int64_t j = 0; j < jn; ++j) srcs[j] = xg + base[ka] + col[jt + j];
          plan_.transpose_.fn(srcs, step, jn, kb - ka, buf + ka * ldb + jt, ldb);
        }
        ka = kb;
      }
      return buf;
    }
    // Row dst (one position whose window reads padding): every column through source_index.
    void pack_border_row(const float* xg, int64_t o0, int64_t o1, int64_t o2, int64_t j0, int64_t n, float* dst) const {
      const ConvParams& p = plan_.params;
      const Lifted& G = plan_.g3_;
      const TapRows& rows = plan_.rows_;
      for (int64_t j = 0; j < n; ++j) {
        const auto r = static_cast<std::size_t>(j0 + j);
        const int64_t i0 = source_index(o0 * G.st[0] + rows.off[0][r], G.S[0], p.padding_mode);
        const int64_t i1 = source_index(o1 * G.st[1] + rows.off[1][r], G.S[1], p.padding_mode);
        const int64_t i2 = source_index(o2 * G.st[2] + rows.off[2][r], G.S[2], p.padding_mode);
        dst[j] = i0 < 0 || i1 < 0 || i2 < 0 ? 0.0f : xg[rows.ci[r] * xsc_ + i0 * xs_[0] + i1 * xs_[1] + i2 * xs_[2]];
      }
    }
    float* c(int64_t g, int64_t i0, int64_t j0, int64_t& ldc) const override {
      ldc = plan_.R_;
      return dw_ + (g * plan_.M_ + i0) * plan_.R_ + j0;
    }

   private:
    const GemmBackwardWeightsPlan& plan_;
    const float* x_;
    const float* dy_;
    float* dw_;
    int64_t xs_[3], xsn_ = 0, xsc_ = 0;
    std::vector<int64_t> col_off_;
  };

  Lifted g3_;
  TapRows rows_;
  int64_t M_, R_, P_;
  gemm::Driver driver_;
  const kernels::TransposeKernel& transpose_;
  std::unique_ptr<GemmBackwardWeightsPlan> inner_;  // the valid convolution of a padded copy
  int64_t copy_floats_ = 0;                          // that copy's size
  Workspace padded_;                                 // its memory, kept between calls
};

// W'[g][ci][co] = W[g][co][ci] (the forward's weight [C_in, C_out/g, *K]). With one group a
// view of W with its channel dims swapped: every forward path packs through strides
// (weight_view), so no copy is made here. With groups, whole kernels move into a new tensor,
// in blocks of 16 output channels so that 16 source rows advance together.
Tensor swapped_weight(const ConvParams& p, const ConvParams& f, const Tensor& w) {
  if (p.groups == 1) return w.transpose(0, 1);
  const int64_t G = p.groups, M = p.c_out_per_group(), Ci = p.c_in_per_group(), taps = lift3(p).taps();
  const Tensor wc = w.contiguous();
  Tensor wt = Tensor::empty(f.weight_shape(), w.dtype());
  // (Whole kernels move: bytes, so float64 weights swap the same way.)
  const auto es = static_cast<std::size_t>(w.element_size());
  const auto* src = static_cast<const char*>(wc.const_data_ptr());
  auto* dst = static_cast<char*>(internal::mutable_data_ptr(wt));
  const int64_t blocks = G * ceil_div(M, 16), per_group = ceil_div(M, 16);
  const int threads = threads_for(blocks, static_cast<double>(w.numel()) * 8);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t g = blk / per_group, c0 = blk % per_group * 16;
    for (int64_t ci = 0; ci < Ci; ++ci)
      for (int64_t co = c0; co < std::min(M, c0 + 16); ++co) {
        std::memcpy(dst + static_cast<std::size_t>(((g * Ci + ci) * M + co) * taps) * es,
                    src + static_cast<std::size_t>(((g * M + co) * Ci + ci) * taps) * es, static_cast<std::size_t>(taps) * es);
      }
  }
  return wt;
}

}  // namespace

// backward_data as a forward convolution (backward_data_is_forward): dY [N, C_out, S_out] is
// the input, dX [N, C_in, S_in] the output, W'[g][ci][co] = W[g][co][ci] read back to front
// (conv_mode toggled), padding (K - 1) * d - pad on each side. Every forward path serves it.
class ForwardBackwardDataPlan : public BackwardDataPlan {
 public:
  ForwardBackwardDataPlan(const ConvParams& p, const Tensor& w, const Tensor& b, bool winograd) {
    params = p;
    ConvParams f = p;
    f.direction = Direction::Forward;
    f.transposed = false;
    std::swap(f.C_in, f.C_out);
    std::swap(f.in_size, f.out_size);
    f.conv_mode = p.conv_mode == ConvMode::Convolution ? ConvMode::CrossCorrelation : ConvMode::Convolution;
    for (int64_t i = 0; i < p.dim; ++i) {
      const auto d = static_cast<std::size_t>(i);
      const int64_t reach = (p.kernel[d] - 1) * p.dilation[d];
      f.pad_lo[d] = reach - p.pad_lo[d];
      f.pad_hi[d] = f.out_size[d] - 1 + reach - f.pad_lo[d] - (f.in_size[d] - 1);  // the last output's window end
    }
    f.has_bias = b.defined();
    // The weight was checked finite by make_backward_data_plan: the forward's plan is made for
    // the choice alone, without a second scan.
    f_ = f;
    wt_ = swapped_weight(p, f, w);
    b_ = b;
    choice_ = select_algorithm(f, Algorithm::Auto, winograd);
    // The planar forward now, as every plan packs when it is made (a prepared transposed layer
    // is this plan); the channels-last one on its first channels-last dY.
    fwd_ = make_plan_for(f, wt_, b, choice_);
    cl_serves_ = channels_last_serves(f, choice_.algorithm);
    if (!cl_serves_) wt_ = b_ = Tensor();  // (kept only for the channels-last forward)
  }
  void run(const Tensor& gy, Tensor& gx) const override { fwd_->run(gy, gx); }
  int64_t memory_bytes() const override {
    const std::lock_guard<std::mutex> lock(mutex_);
    return fwd_->memory_bytes() + (fwd_cl_ ? fwd_cl_->memory_bytes() : 0);
  }
  // A channels-last dY runs the channels-last forward, writing dX channels-last: no conversion
  // of either.
  bool serves_channels_last() const override { return cl_serves_; }
  void run_channels_last(const Tensor& gy, Tensor& gx) const override {
    const ConvPlan* plan = nullptr;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (!fwd_cl_) fwd_cl_ = make_channels_last_plan_for(f_, wt_, b_, choice_);
      plan = fwd_cl_.get();
    }
    plan->run(gy, gx);
  }

 private:
  std::unique_ptr<ConvPlan> fwd_;
  ConvParams f_;  // the forward it runs, and what the channels-last one is made from
  Tensor wt_, b_;
  AlgorithmChoice choice_{Algorithm::Reference, ""};
  bool cl_serves_ = false;
  mutable std::mutex mutex_;
  mutable std::unique_ptr<ConvPlan> fwd_cl_;
};

std::unique_ptr<BackwardDataPlan> make_gemm_backward_data_plan(const ConvParams& p, const Tensor& w, const Tensor& b,
                                                              bool winograd) {
  // (A padding mode other than zeros: never a transposed layer, which params.cc refuses, so no bias.)
  if (folded_backward_data_serves(p)) {
    CONVKIT_CHECK(!b.defined(), "internal: a folded input gradient takes no bias");
    return make_folded_backward_data_plan(p, w, winograd);
  }
  if (backward_data_is_forward(p)) return std::make_unique<ForwardBackwardDataPlan>(p, w, b, winograd);
  if (phases_serve_backward_data(p)) return make_phases_backward_data_plan(p, w, b, winograd);
  return std::make_unique<GemmBackwardDataPlan>(p, w, b);
}

std::unique_ptr<BackwardWeightsPlan> make_gemm_backward_weights_plan(const ConvParams& p) {
  if (channels_last_serves_weights(p)) return make_channels_last_weights_plan(p);
  if (in_place_weights_serve(p)) return make_in_place_weights_plan(p);
  return std::make_unique<GemmBackwardWeightsPlan>(p);
}

}  // namespace convkit::internal
