// The weight gradient read from a channels-last copy of the input. Per group g and tap t of
// the kernel (geometric position: its offset off_t into the padded input), with M = C_out/g,
// C = C_in/g and P positions per image:
//
//   dW_g,t[M, C] = sum over images n of dY_g[n][M, P] * Xt_t[n][P, C]
//   Xt_t[n][p, c] = xt[n][window start of p + off_t][g * C + c]
//
// xt [images, *S_padded, C_in (+ a gap)] is x with its padding materialized (any mode) and its
// channels innermost. Row p of B is then C contiguous channels of xt, read in place through
// the microkernel's rows form, and A is dY packed in MR-row panels: each is copied once, where
// the im2col form transposes taps x the input for every block of the reduction. The copies
// are made piece by piece (a group of images, or a range of one image's outputs, sized to
// half the L2), the products (g, t) being batch entries of the driver, into [G][M][taps][C]
// then spread into dW's (C, taps) order. Pieces run one after the other on all threads, each
// adding onto the products so far, or (enough pieces, small products) in chunks, a thread
// per chunk, each chunk into its own partial products, added in chunk order at the end.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <numeric>

#include "conv/plan.h"
#include "conv/reference.h"
#include "core/storage.h"
#include "cpu/cache.h"
#include "gemm/driver.h"
#include "kernels/transpose/transpose.h"

namespace convkit::internal {

namespace {

std::atomic<int64_t> g_min_channels{-1}, g_piece_bytes{-1};

// With fewer channels per group the per-tap products are small and mostly edge tiles, and
// the copies' fixed cost shows (the seed Conv1d's 16 channels: 30 us, im2col 25 us).
constexpr int64_t kMinChannels = 32;

// Floats between positions of the channels-last copy: C_in rounded up to 16, an odd number of
// cache lines. Rows of a power-of-two channel count would all fall in a few of L1's sets (512
// channels: every row of a K block in 2 of 64), and the microkernel's B rows evict each other.
int64_t position_stride(int64_t c_in) {
  const int64_t ld = ceil_div(c_in, int64_t{16}) * 16;
  return ld / 16 % 2 == 0 ? ld + 16 : ld;
}

// The extent of lifted dim d of the padded input that `outputs` outputs read.
int64_t padded_extent(const Lifted& g, int d, int64_t outputs) {
  return (outputs - 1) * g.st[d] + (g.K[d] - 1) * g.dl[d] + 1;
}

// One image's copies: x channels-last over the padded extent the windows read, and dY in
// MR-row panels.
int64_t floats_per_image(const ConvParams& p, int64_t mr) {
  const Lifted g = lift3(p);
  int64_t x = position_stride(p.C_in), positions = 1;
  for (int d = 0; d < 3; ++d) x *= padded_extent(g, d, g.O[d]), positions *= g.O[d];
  return x + p.groups * ceil_div(p.c_out_per_group(), mr) * mr * positions;
}

// Of the tiles that pad the product least, with a long reduction the widest: B rows are read
// in place and a 6 x 64 tile loads each once per six broadcasts (wav2vec2 conv1's 512 x 512 per
// tap over 1599 positions, padded alike by 12 x 32 tiles: 5-10% faster; HiFi-GAN's over 200
// too), while over ResNet-50 res5's 49 positions 12 x 32 stayed 10-20% faster.
const kernels::GemmKernel& kernel_for(const ConvParams& p) {
  return kernels::gemm_kernel_for(max_isa(), p.c_out_per_group(), p.c_in_per_group(), kGemmNC, 64,
                                  p.N * p.positions() >= 128);
}

class ChannelsLastWeightsPlan : public BackwardWeightsPlan {
 public:
  explicit ChannelsLastWeightsPlan(const ConvParams& p)
      : g3_(lift3(p)), G_(p.groups), M_(p.c_out_per_group()), C_(p.c_in_per_group()), taps_(g3_.taps()),
        driver_(kernel_for(p)), transpose_(kernels::transpose_kernel(max_isa())) {
    params = p;
    P_ = std::accumulate(p.out_size.begin(), p.out_size.end(), int64_t{1}, std::multiplies<>());
    panels_ = ceil_div(M_, static_cast<int64_t>(driver_.kernel().mr));
    ld_ = position_stride(p.C_in);
    while (split_ < 2 && g3_.O[split_] == 1) ++split_;
    // Pieces whose copies fit half the L2: every tap's product reads a piece's copies, which
    // a pass over all of them at once would fetch from memory again per tap (and two threads
    // would share that bandwidth). Whole images in groups when one fits, else each image in
    // ranges of outputs along its outermost dim, unless the products are larger than the
    // copies: every piece reads and writes all of them.
    const int64_t budget = channels_last_piece_bytes() / 4, per_image = floats_per_image(p, driver_.kernel().mr);
    const int64_t O = g3_.O[split_];
    units_ = O;
    if (per_image <= budget) group_ = std::clamp<int64_t>(budget / per_image, 1, std::max<int64_t>(p.N, 1));
    else if (per_image > G_ * taps_ * M_ * C_) units_ = std::clamp<int64_t>(budget / ceil_div(per_image, units_), 1, units_);
    choose_chunks();
    // One piece (no products summed across calls): rows of dW in blocks whose products fit
    // the piece budget (half the L2), each spread as soon as it is made, while it is still in
    // cache (ResNet-50 res5's 3x3: 9.4 MB of products, read back from memory by one spread
    // at the end).
    const int64_t mr = driver_.kernel().mr, row_bytes = G_ * taps_ * C_ * 4, limit = channels_last_piece_bytes();
    mb_ = M_;
    if (taps_ > 1 && group_ >= p.N && units_ == O && row_bytes * M_ > limit)
      mb_ = std::min(M_, std::max<int64_t>(1, limit / (row_bytes * mr)) * mr);
    const Piece q = piece(0, group_, 0, units_);
    xt_floats_ = group_ * q.image;
    at_floats_ = group_ * G_ * panels_ * q.P * driver_.kernel().mr;
  }

  // gw contiguous, or (2-d, writes_channels_last) channels-last: its rows [taps][C] are the
  // products' own order, copied without the spread's transposes.
  bool writes_channels_last() const override { return params.dim == 2; }

  void run(const Tensor& x, const Tensor& gy, Tensor& gw) const override {
    const ConvParams& p = params;
    const Tensor dy = gy.contiguous();  // [N, C_out, P]
    const bool cl = !gw.is_contiguous();  // (the one other layout callers pass)
    CONVKIT_CHECK(!cl || (p.dim == 2 && gw.stride(1) == 1 && gw.stride(3) == p.c_in_per_group() &&
                          gw.stride(2) == gw.size(3) * gw.stride(3) && gw.stride(0) == gw.size(2) * gw.stride(2)),
                  "internal: the channels-last weight gradient takes a contiguous or channels-last gw");
    if (zero_padding_meets_nonfinite(p, dy)) {  // the reference (which writes a contiguous gw)
      if (!cl) {
        reference_backward_weights(p, x, dy, gw);
        return;
      }
      Tensor planar = Tensor::empty(gw.sizes(), gw.dtype());
      reference_backward_weights(p, x, dy, planar);
      gw.copy_(planar);
      return;
    }
    // Rows of unit stride, or channels of unit stride (a channels-last x, read as it is).
    const Tensor xu = x.stride(1 + p.dim) == 1 || x.stride(1) == 1 ? x : x.contiguous();
    if (chunks_ > 1) {
      run_chunks(xu, dy.const_data<float>(), gw);
      return;
    }
    // With one tap the products are dW's rows themselves.
    const int64_t c_floats = taps_ > 1 ? G_ * taps_ * mb_ * C_ : 0;
    const auto lease = work_.lease(1, xt_floats_ + at_floats_ + c_floats);  // kept for the next call
    float* xt = lease.get(0);
    float* at = xt + xt_floats_;
    float* cb = taps_ > 1 ? at + at_floats_ : internal::mutable_data<float>(gw);
    // Piece by piece, each adding onto the sums of those before (always in this order, so the
    // same bits for any thread count); a single piece may split its reduction into chunks.
    const int64_t O = g3_.O[split_];
    if (mb_ < M_) {  // one piece, in row blocks
      const Piece q = piece(0, p.N, 0, O);
      pack_input(xu, q, xt);
      pack_grad(dy.const_data<float>(), q, at);
      for (int64_t m0 = 0; m0 < M_; m0 += mb_) {
        const int64_t rows = std::min(mb_, M_ - m0);
        gemm::Problem pr = problem(q, false);
        pr.M = rows;
        pr.flops *= static_cast<double>(rows) / static_cast<double>(M_);
        pr.split_reduction = true;
        driver_.run(Bound(*this, q, xt, at, cb, m0, rows), pr);
        spread(cb, m0, rows, internal::mutable_data<float>(gw), cl);
      }
      return;
    }
    for (int64_t n0 = 0; n0 < p.N; n0 += group_)
      for (int64_t a = 0; a < O; a += units_) {
        const Piece q = piece(n0, std::min(group_, p.N - n0), a, std::min(O, a + units_));
        pack_input(xu, q, xt);
        pack_grad(dy.const_data<float>(), q, at);
        gemm::Problem pr = problem(q, n0 > 0 || a > 0);
        pr.split_reduction = group_ >= p.N && units_ == O;
        driver_.run(Bound(*this, q, xt, at, cb), pr);
      }
    if (taps_ > 1) spread(cb, 0, M_, internal::mutable_data<float>(gw), cl);
  }
  int64_t memory_bytes() const override { return driver_.memory_bytes() + work_.bytes() + partial_.bytes(); }

 private:
  // A part of the reduction one driver call sums: images [n0, n0 + images) and of each the
  // outputs [a, b) along lifted dim split_ (all of them when images > 1).
  struct Piece {
    int64_t n0 = 0, images = 1, a = 0;
    int64_t O[3] = {1, 1, 1}, sp[3] = {1, 1, 1};  // its outputs; the padded input they read
    int64_t first[3] = {0, 0, 0};                 // where that input starts, padded coordinates
    int64_t image = 0, P = 0;                     // floats of one image's copy; its positions
  };
  Piece piece(int64_t n0, int64_t images, int64_t a, int64_t b) const {
    Piece q;
    q.n0 = n0, q.images = images, q.a = a;
    for (int d = 0; d < 3; ++d) {
      q.O[d] = d == split_ ? b - a : g3_.O[d];
      q.sp[d] = padded_extent(g3_, d, q.O[d]);
      q.first[d] = d == split_ ? a * g3_.st[d] : 0;
    }
    q.image = q.sp[0] * q.sp[1] * q.sp[2] * ld_;
    q.P = q.O[0] * q.O[1] * q.O[2];
    return q;
  }
  // A piece's products: batch entries (g, t), rows M, columns C, the reduction over its
  // images' positions; `accumulate`: adding onto products summed before.
  gemm::Problem problem(const Piece& q, bool accumulate) const {
    gemm::Problem pr;
    pr.batch = G_ * taps_;
    pr.M = M_;
    pr.N = C_;
    pr.outer = q.images;
    pr.K = q.P;
    pr.accumulate = accumulate;
    pr.flops = 2.0 * static_cast<double>(q.images * params.C_out * C_ * taps_) * static_cast<double>(q.P);
    return pr;
  }

  // Whether pieces run in parallel, each thread copying and multiplying whole pieces on its
  // own (in its own L2, with no barrier per piece) into one of up to kChunks partial sums,
  // added in chunk order at the end: the chunks are a function of the problem alone, so the
  // bits do not depend on the thread count. Taken when the reduction makes at least
  // kMinChunks pieces of kMinPositions positions and the products (every piece adds onto
  // them) fit the piece budget beside the copies; pieces are then re-cut to make kChunks of
  // them where they can (no fewer than kMinPositions positions each). Otherwise one piece at
  // a time runs on every thread, whose copies, made by all, are then read by all: at two
  // threads ResNet-50 res2 3x3 ran 1.1x, res2 with 8 images 1.2x slower that way, while
  // VGG-16 conv3, whose 2.4 MB of products every piece re-reads, ran 1.07x faster.
  static constexpr int64_t kChunks = 8, kMinChunks = 4, kMinPositions = 128;
  void choose_chunks() {
    const ConvParams& p = params;
    const int64_t O = g3_.O[split_], inner = P_ / O;
    int64_t group = group_, units = units_;
    if (p.N >= kChunks) {
      group = std::min(group, p.N / kChunks);
    } else {
      group = 1;
      units = std::min(units, ceil_div(O, ceil_div(kChunks, p.N)));
      units = std::min(O, std::max(units, ceil_div(kMinPositions, inner)));
    }
    const int64_t pieces = ceil_div(p.N, group) * ceil_div(O, units);
    if (pieces < kMinChunks || group * units * inner < kMinPositions ||
        G_ * taps_ * M_ * C_ * 4 > channels_last_piece_bytes())
      return;
    group_ = group, units_ = units, pieces_ = pieces;
    chunks_ = std::min(pieces, kChunks);
  }
  // Piece i of the chunked form: image groups in order, each in ranges of outputs.
  Piece piece_at(int64_t i) const {
    const int64_t O = g3_.O[split_], per_group = ceil_div(O, units_);
    const int64_t n0 = i / per_group * group_, a = i % per_group * units_;
    return piece(n0, std::min(group_, params.N - n0), a, std::min(O, a + units_));
  }
  void run_chunks(const Tensor& x, const float* dy, Tensor& gw) const {
    const int64_t c_floats = G_ * taps_ * M_ * C_;
    const double flops = 2.0 * static_cast<double>(params.N * params.C_out * C_ * taps_) * static_cast<double>(P_);
    const int threads = threads_for(chunks_, flops);
    const auto ws = work_.lease(threads, xt_floats_ + at_floats_);
    const auto partial = partial_.lease(1, chunks_ * c_floats);
    float* parts = partial.get(0);  // [chunk][G][M][taps][C]
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t ch = 0; ch < chunks_; ++ch) {
      float* xt = ws.get(omp_get_thread_num());
      float* at = xt + xt_floats_;
      const int64_t first = ch * pieces_ / chunks_, end = (ch + 1) * pieces_ / chunks_;
      for (int64_t i = first; i < end; ++i) {
        const Piece q = piece_at(i);
        pack_input(x, q, xt, true);
        pack_grad(dy, q, at, true);
        const gemm::Problem pr = problem(q, i > first);
        const Bound op(*this, q, xt, at, parts + ch * c_floats);
        for (int64_t b = 0; b < pr.batch; ++b) driver_.run_serial(op, pr, b, {});
      }
    }
    // The chunks' sums in order: into dW itself with one tap, else into the first partial,
    // then spread.
    float* out = taps_ > 1 ? parts : internal::mutable_data<float>(gw);
    const int64_t rows = G_ * taps_ * M_;
    const int combine_threads = threads_for(rows, static_cast<double>(chunks_ * c_floats) * 4);
#pragma omp parallel for num_threads(combine_threads) schedule(static) if (combine_threads > 1)
    for (int64_t r = 0; r < rows; ++r) {
      float* to = out + r * C_;
      const float* from = parts + r * C_;
      if (to != from) std::copy(from, from + C_, to);
      for (int64_t ch = 1; ch < chunks_; ++ch)
        for (int64_t c = 0; c < C_; ++c) to[c] += from[ch * c_floats + c];
    }
    if (taps_ > 1) spread(parts, 0, M_, internal::mutable_data<float>(gw), !gw.is_contiguous());
  }

  // x[N, C_in, *S] (unit stride along its last dim, or along its channels) -> xt[images][*q.sp]
  // [ld_], the padding of params' mode filled in. Per padded row (n, d, h) and 16 channels:
  // the in-range columns through the transpose kernel (or, channels contiguous, copied position
  // by position), the padding columns channel by channel.
  void pack_input(const Tensor& x, const Piece& q, float* xt, bool serial = false) const {
    const ConvParams& p = params;
    const Lifted& g = g3_;
    const float* xp = x.const_data<float>();
    int64_t xs[3] = {0, 0, 0};
    for (int64_t i = 0; i < p.dim; ++i) xs[3 - p.dim + i] = x.stride(2 + i);
    const int64_t xsn = x.stride(0), xsc = x.stride(1), Ci = p.C_in, ld = ld_, row_len = q.sp[2] * ld;
    // Columns [w0, w1) of a row are inside the input.
    const int64_t lo = g.lo[2] - q.first[2];
    const int64_t w0 = std::clamp<int64_t>(lo, 0, q.sp[2]), w1 = std::clamp<int64_t>(lo + g.S[2], w0, q.sp[2]);
    // Tasks: a padded row's block of 16 channels (a 1-d piece is a single row).
    const int64_t rows = q.images * q.sp[0] * q.sp[1], blocks = ceil_div(Ci, kernels::kTransposeMaxRows);
    const int threads = serial ? 1 : threads_for(rows * blocks, static_cast<double>(rows * row_len) * 8);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t task = 0; task < rows * blocks; ++task) {
      const int64_t r = task / blocks, c0 = task % blocks * kernels::kTransposeMaxRows;
      const int64_t cn = std::min(kernels::kTransposeMaxRows, Ci - c0);
      const int64_t n = q.n0 + r / (q.sp[0] * q.sp[1]), d = r / q.sp[1] % q.sp[0], h = r % q.sp[1];
      float* dst = xt + r * row_len + c0;  // channel c0 of the row's first position
      const int64_t id = source_index(d + q.first[0] - g.lo[0], g.S[0], p.padding_mode);
      const int64_t ih = source_index(h + q.first[1] - g.lo[1], g.S[1], p.padding_mode);
      if (id < 0 || ih < 0) {
        for (int64_t w = 0; w < q.sp[2]; ++w) std::fill(dst + w * ld, dst + w * ld + cn, 0.0f);
        continue;
      }
      const float* src = xp + n * xsn + c0 * xsc + id * xs[0] + ih * xs[1];  // channel c0 of the input row
      // [16 channels, W] -> [W, 16 channels].
      if (w1 > w0 && xsc == 1 && xs[2] != 1) {
        for (int64_t w = w0; w < w1; ++w) std::copy_n(src + (w - lo) * xs[2], cn, dst + w * ld);
      } else if (w1 > w0) {
        const float* srcs[kernels::kTransposeMaxRows];
        for (int64_t c = 0; c < cn; ++c) srcs[c] = src + c * xsc + (w0 - lo) * xs[2];
        transpose_.fn(srcs, 1, cn, w1 - w0, dst + w0 * ld, ld);
      }
      auto border = [&](int64_t w) {
        const int64_t iw = source_index(w - lo, g.S[2], p.padding_mode);
        for (int64_t c = 0; c < cn; ++c) dst[w * ld + c] = iw < 0 ? 0.0f : src[c * xsc + iw * xs[2]];
      };
      for (int64_t w = 0; w < w0; ++w) border(w);
      for (int64_t w = w1; w < q.sp[2]; ++w) border(w);
    }
  }

  // dY [N, C_out, P], the piece's images and positions -> at[images][G][panels][q.P][MR]: rows
  // past M zero. (Its positions are contiguous in dY: it splits the outermost dim.)
  void pack_grad(const float* dy, const Piece& q, float* at, bool serial = false) const {
    const int64_t mr = driver_.kernel().mr, blocks = q.images * G_ * panels_;
    const int64_t first = q.a * (P_ / g3_.O[split_]);  // the piece's first position
    const int threads = serial ? 1 : threads_for(blocks, static_cast<double>(blocks * q.P * mr) * 8);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t ng = blk / panels_, i0 = blk % panels_ * mr, valid = std::min(mr, M_ - i0);
      const float* src = dy + ((q.n0 * G_ + ng) * M_ + i0) * P_ + first;  // ng = n * G + g: rows of dY in order
      float* dst = at + blk * q.P * mr;
      const float* srcs[kernels::kTransposeMaxRows];
      for (int64_t i = 0; i < valid; i += kernels::kTransposeMaxRows) {
        const int64_t rn = std::min(kernels::kTransposeMaxRows, valid - i);
        for (int64_t r = 0; r < rn; ++r) srcs[r] = src + (i + r) * P_;
        transpose_.fn(srcs, 1, rn, q.P, dst + i, mr);
      }
      for (int64_t k = 0; valid < mr && k < q.P; ++k) std::fill(dst + k * mr + valid, dst + (k + 1) * mr, 0.0f);
    }
  }

  // cb[G][mrows][taps][C], dW's rows [m0, m0 + mrows) of each group -> dW[G * M][C][taps],
  // the stored tap of geometric tap t being t, or taps - 1 - t for conv_mode=convolution (the
  // forward reads that kernel back to front): per output row, its [taps][C] block
  // transposed, up to 16 taps at a time (element by element, 9 stores 9 floats apart per
  // channel had cost a fifth of ResNet-50 res4's weight gradient; with the taps' rows M C
  // apart, a third of res5's 3x3).
  // cl: dW channels-last, [G * M][taps][C], each row's block copied tap by tap instead.
  void spread(const float* cb, int64_t m0, int64_t mrows, float* dw, bool cl) const {
    const bool flip = params.conv_mode == ConvMode::Convolution;
    const int64_t rows = G_ * mrows;
    const int threads = threads_for(rows, static_cast<double>(rows * C_ * taps_) * 4);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t r = 0; r < rows; ++r) {
      float* out = dw + (r / mrows * M_ + m0 + r % mrows) * C_ * taps_;
      if (cl) {
        for (int64_t s = 0; s < taps_; ++s)
          std::copy_n(cb + (r * taps_ + (flip ? taps_ - 1 - s : s)) * C_, C_, out + s * C_);
        continue;
      }
      for (int64_t s0 = 0; s0 < taps_; s0 += kernels::kTransposeMaxRows) {  // stored taps [s0, s1)
        const int64_t s1 = std::min(taps_, s0 + kernels::kTransposeMaxRows);
        const float* srcs[kernels::kTransposeMaxRows];
        for (int64_t s = s0; s < s1; ++s) srcs[s - s0] = cb + (r * taps_ + (flip ? taps_ - 1 - s : s)) * C_;
        transpose_.fn(srcs, 1, s1 - s0, C_, out + s0, taps_);
      }
    }
  }

  // Batch entry b = g * taps + t; outer step o = image o of the piece.
  class Bound : public gemm::Operands {
   public:
    // Rows [m0, m0 + mrows) of dW (a multiple of MR, or all of them).
    Bound(const ChannelsLastWeightsPlan& plan, const Piece& q, const float* xt, const float* at, float* cb,
          int64_t m0 = 0, int64_t mrows = -1)
        : plan_(plan), q_(q), xt_(xt), at_(at), cb_(cb), m0_(m0), mrows_(mrows < 0 ? plan.M_ : mrows) {}
    const float* a(int64_t b, int64_t o, int64_t i0, int64_t, int64_t k0, int64_t, float*,
                   int64_t& panel_stride) const override {
      const ChannelsLastWeightsPlan& p = plan_;
      const int64_t mr = p.driver_.kernel().mr;
      panel_stride = q_.P * mr;
      return at_ + (((o * p.G_ + b / p.taps_) * p.panels_ + (m0_ + i0) / mr) * q_.P + k0) * mr;
    }
    // Row k: position k0 + k's window start in image o, shifted by the tap's offset.
    const float* const* b_rows(int64_t b, int64_t o, int64_t k0, int64_t kc, int64_t j0, const float** rows,
                               int64_t& off) const override {
      const ChannelsLastWeightsPlan& p = plan_;
      const Lifted& G = p.g3_;
      const int64_t* sp = q_.sp;
      const int64_t t = b % p.taps_, t0 = t / (G.K[1] * G.K[2]), t1 = t / G.K[2] % G.K[1], t2 = t % G.K[2];
      const float* base = xt_ + o * q_.image + ((t0 * G.dl[0] * sp[1] + t1 * G.dl[1]) * sp[2] + t2 * G.dl[2]) * p.ld_;
      off = b / p.taps_ * p.C_ + j0;
      const int64_t s0 = G.st[0] * sp[1] * sp[2] * p.ld_, s1 = G.st[1] * sp[2] * p.ld_, s2 = G.st[2] * p.ld_;
      const int64_t* O = q_.O;
      int64_t o2 = k0 % O[2], o1 = k0 / O[2] % O[1], o0 = k0 / (O[2] * O[1]);
      for (int64_t k = 0; k < kc; ++k) {
        rows[k] = base + o0 * s0 + o1 * s1 + o2 * s2;
        if (++o2 == O[2]) {
          o2 = 0;
          if (++o1 == O[1]) o1 = 0, ++o0;
        }
      }
      return rows;
    }
    // Products in [G][mrows][taps][C]: entry (g, t), row i at ((g mrows + i) taps + t) C.
    float* c(int64_t b, int64_t i0, int64_t j0, int64_t& ldc) const override {
      const ChannelsLastWeightsPlan& p = plan_;
      ldc = p.taps_ * p.C_;
      return cb_ + ((b / p.taps_ * mrows_ + i0) * p.taps_ + b % p.taps_) * p.C_ + j0;
    }

   private:
    const ChannelsLastWeightsPlan& plan_;
    const Piece& q_;
    const float* xt_;
    const float* at_;
    float* cb_;
    int64_t m0_, mrows_;
  };

  Lifted g3_;
  int64_t G_, M_, C_, taps_, P_ = 0, panels_ = 0, ld_ = 0;
  int split_ = 0;                                    // the lifted dim pieces split: the outermost of > 1 output
  int64_t group_ = 1, units_ = 1;                    // a piece's images, or outputs along split_
  int64_t pieces_ = 1, chunks_ = 1;                  // the chunked form's pieces and partial sums
  int64_t xt_floats_ = 0, at_floats_ = 0;            // the copies of a piece
  int64_t mb_ = 0;                                   // dW's rows per driver call (one piece: M_ or fewer)
  gemm::Driver driver_;
  const kernels::TransposeKernel& transpose_;
  Workspace work_;            // xt, the packed dY and the per-tap products, kept between calls
  Workspace partial_;         // the chunked form's partial sums
};

}  // namespace

int64_t channels_last_weights_min_channels() {
  const int64_t set = g_min_channels.load();
  return set >= 0 ? set : kMinChannels;
}
void set_channels_last_weights_min_channels(int64_t c) { g_min_channels.store(c); }

int64_t channels_last_piece_bytes() {
  const int64_t set = g_piece_bytes.load();
  return set >= 0 ? set : cache_sizes().l2 / 2;
}
void set_channels_last_piece_bytes(int64_t bytes) { g_piece_bytes.store(bytes); }

bool channels_last_serves_weights(const ConvParams& p) {
  // A 1x1 layer's im2col is x itself: transposed once per call either way, and in blocks that
  // stay in cache unless many row blocks of dW pack it again, as with more than 96 outputs
  // (ResNet-50 res2's 1x1 with 64 ran 1.15x faster on im2col, res5's with 2048 1.14x slower).
  // Other layers take this form at any size: images beyond the piece budget are cut.
  if (p.N <= 0 || p.c_in_per_group() < channels_last_weights_min_channels() || !padded_copy_fits(p)) return false;
  if (channels_last_weights_min_channels() == 0) return true;  // forced (tests)
  // One image of a multi-tap layer and a small dW (at most 64K floats): the in-place form reads x's rows where they
  // are (one padded copy) and transposes only dY, where this one copies x channels-last:
  // ResNet-50 res2 3x3 (64 -> 64 on 56 x 56) 0.78 -> 0.81 of oneDNN at 1 thread, WaveNet's
  // dilated layer 0.72-0.76 -> 0.85 at 2. With a larger dW (res4 3x3, 256 x 2304: 0.78 ->
  // 0.59-0.72) or 8 images (0.87 -> 0.83-0.86) this form stays ahead.
  const Lifted g = lift3(p);
  constexpr int64_t kSmallDw = int64_t{1} << 16;
  if (p.N == 1 && g.taps() > 1 && p.C_out * p.c_in_per_group() * g.taps() <= kSmallDw && in_place_weights_serve(p))
    return false;
  return g.taps() > 1 || p.c_out_per_group() > 96;
}

std::unique_ptr<BackwardWeightsPlan> make_channels_last_weights_plan(const ConvParams& p) {
  return std::make_unique<ChannelsLastWeightsPlan>(p);
}

}  // namespace convkit::internal
