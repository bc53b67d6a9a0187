// The GEMM driver: BLIS's loops around one microkernel, for every product a convolution
// path computes. Per batch entry b (an image, a group, or both):
//
//   C_b[M, N] = sum over outer steps o of A_b,o[M, K] * B_b,o[K, N]
//
// The Operands say where A and B come from (packed per block, or pre-packed / read in place)
// and where C goes (straight into the destination, or a per-thread C block handed to an
// epilogue such as col2im's scatter-add). The loops, visible in run():
//
//   task (b, row blocks, [column block jc], [reduction chunk])     parallel, disjoint C
//     jc: column blocks of nc (inside the task when columns are not split)
//       o, pc: the reduction (or its chunk), outer steps then K blocks of kc, in this order
//         B block (pc, jc)
//         ic: the task's row blocks of mc; A block (ic, pc)
//           jr: NR-column micro-panels; ir: MR-row micro-panels -> microkernel
//     epilogue of the finished C block
//
//   chunked reductions: partial Cs added in chunk order
//
// Every C element is summed over (o, pc, k) in one fixed order whatever the task split (the
// chunks depend on the problem alone), so the result is the same bits for any thread count.
#pragma once

#include <cstdint>

#include "conv/plan.h"
#include "kernels/gemm/gemm.h"

namespace convkit::internal::gemm {

/// The sizes of one batched product and how its work may be split.
struct Problem {
  int64_t batch = 1, M = 0, N = 0, outer = 1, K = 0;
  /// Row blocks start at multiples of this (a multiple of the kernel's MR): an epilogue that
  /// owns whole channels of rows (col2im) needs blocks aligned to them.
  int64_t row_quantum = 0;
  /// The row block, when given: operands whose rows are positions of an output in rows of that
  /// length (columns mode, A from a_cols, never packed) get blocks of whole rows. Any height;
  /// packed A needs a multiple of row_quantum.
  int64_t mc = 0;
  /// Whether column blocks are separate tasks (their C is disjoint); false when the epilogue
  /// of different column blocks writes the same memory (col2im), which then runs them in order.
  bool split_columns = true;
  /// Whether the reduction may be split into chunks summed into partial Cs (Operands::c must
  /// give C in place): for a small C with a long reduction, see reduction_chunks.
  bool split_reduction = false;
  /// Whether a task runs several row blocks over each B block: for B packed per block, so that
  /// it is packed once per K step, not per row block. C in place, or (c_blocks) a C block per
  /// row block of the task.
  bool rows_in_task = false;
  /// Whether Operands::c gives no C in place with rows_in_task (sizes the task's C blocks).
  bool c_blocks = false;
  /// With c_blocks: the most floats a task's C blocks may take (0: no limit); more rows make
  /// more tasks, each streaming the B blocks again, so that the C blocks a task sweeps per K
  /// step stay in cache.
  int64_t c_block_floats = 0;
  /// Whether C already holds a partial sum the product adds onto (Operands::c must give C in
  /// place; the reduction is not split): a reduction run in several calls, in call order.
  bool accumulate = false;
  /// The K block (at most kMaxKc), or 0 for gemm_k_block(K). A kernel whose k must be a
  /// multiple of some step (the bfloat16 pair kernels) gets K and kc as multiples of it from its
  /// caller.
  int64_t kc = 0;
  /// Whether C holds doubles, two float slots each (the float64 kernels): a chunked
  /// reduction's partial Cs are then added as doubles.
  bool doubles = false;
  /// Whether C is large and each element takes few products (a short reduction), so that
  /// writing C costs more than computing it: tasks then take row blocks of at most 48 rows
  /// across all the column blocks in turn, and C is written as a few sequential streams, not as
  /// every row's piece of one column block after another. Not with rows_in_task.
  bool stream_c = false;
  double flops = 0;  // total, for the thread count
};

class Operands {
 public:
  virtual ~Operands() = default;
  /// The A block of rows [i0, i0 + m) (i0 a multiple of MR; m rounded up to whole panels, rows
  /// past M zero) over k in [k0, k0 + kc) of outer step o, as MR-row panels: panel r at
  /// result + r * panel_stride, k step k at + k * MR. Packs into buf (whole panels of kc) or
  /// returns pre-packed memory.
  virtual const float* a(int64_t b, int64_t o, int64_t i0, int64_t m, int64_t k0, int64_t kc, float* buf,
                         int64_t& panel_stride) const = 0;
  /// Or A read in place through row pointers (the microkernel's A-rows form): the pointers of
  /// rows i0, i0 + 1, ... of outer step o (row i0 + i at result[i] + off, its k step k0 + k at
  /// + k), kept by the operands; or nullptr when A comes from a().
  virtual const float* const* a_rows(int64_t /*b*/, int64_t /*o*/, int64_t /*i0*/, int64_t /*k0*/,
                                     int64_t& /*off*/) const {
    return nullptr;
  }
  /// Or A read in place through one pointer per k step (the microkernel's A-columns form): the
  /// pointers of k steps k0, k0 + 1, ... of outer step o (row i0 + i of step k0 + k at
  /// result[k] + off + i), kept by the operands; or nullptr.
  virtual const float* const* a_cols(int64_t /*b*/, int64_t /*o*/, int64_t /*i0*/, int64_t /*k0*/,
                                     int64_t& /*off*/) const {
    return nullptr;
  }
  /// The B block of rows [k0, k0 + kc) and columns [j0, j0 + n): row k at result + k * ldb.
  /// Packs into buf (kc rows of `ldb` as given) or returns memory read in place (and sets ldb).
  virtual const float* b(int64_t /*b*/, int64_t /*o*/, int64_t /*k0*/, int64_t /*kc*/, int64_t /*j0*/,
                         int64_t /*n*/, float* /*buf*/, int64_t& /*ldb*/) const {
    return nullptr;
  }
  /// Or B read in place through row pointers (the microkernel's rows form): row k of the block
  /// at rows[k] + off, column j0 + j at + j. Fills rows (kc <= kMaxKc entries) and returns it,
  /// or returns nullptr when B comes from b().
  virtual const float* const* b_rows(int64_t /*b*/, int64_t /*o*/, int64_t /*k0*/, int64_t /*kc*/, int64_t /*j0*/,
                                     const float** /*rows*/, int64_t& /*off*/) const {
    return nullptr;
  }
  /// 0 when b()'s columns are contiguous (column j at result + j); else B comes pre-packed in
  /// NR-wide panels and this is the distance between them (columns j0 + [r NR, (r+1) NR) at
  /// result + r * stride). Column blocks then start at multiples of NR.
  virtual int64_t b_panel_stride(int64_t /*kc*/) const { return 0; }
  /// Where C rows [i0, ...) and columns [j0, ...) live, with leading dimension ldc, when the
  /// microkernel writes them in place; nullptr: a C block is made and given to store().
  virtual float* c(int64_t /*b*/, int64_t /*i0*/, int64_t /*j0*/, int64_t& /*ldc*/) const { return nullptr; }
  /// The bias of rows [i0, ...), added to C once (the microkernel's init), or nullptr; with A
  /// from a_cols, of columns [i0 = j0, ...) (that kernel form's bias is per column).
  virtual const float* bias(int64_t /*b*/, int64_t /*i0*/) const { return nullptr; }
  /// The finished C block of rows [i0, i0 + m) and columns [j0, j0 + n) at c (leading dim ldc).
  virtual void store(int64_t /*b*/, int64_t /*i0*/, int64_t /*m*/, int64_t /*j0*/, int64_t /*n*/,
                     const float* /*c*/, int64_t /*ldc*/) const {}
};

/// The operands of products whose A is packed once (a plan's weights) and whose B and C sit
/// row-major in the caller's buffers, entry b of the batch at:
///   A: a + b * a_stride, MR-row panels of all K: panel r at + r * K * MR, k at + k * MR
///   B: b + b * K * ld, row k at + k * ld;  C: c + b * M * ld, row i at + i * ld
/// (Winograd's positions: U [36][panels][C_in][MR] times V [36][C_in][tiles] into M [36][C_out][tiles]).
class PackedAOperands : public Operands {
 public:
  PackedAOperands(const float* a, int64_t a_stride, int64_t mr, const float* b, float* c, int64_t M, int64_t K,
                  int64_t ld)
      : a_(a), a_stride_(a_stride), mr_(mr), b_(b), c_(c), M_(M), K_(K), ld_(ld) {}
  const float* a(int64_t b, int64_t, int64_t i0, int64_t, int64_t k0, int64_t, float*,
                 int64_t& panel_stride) const override {
    panel_stride = K_ * mr_;
    return a_ + b * a_stride_ + (i0 / mr_ * K_ + k0) * mr_;
  }
  const float* b(int64_t b, int64_t, int64_t k0, int64_t, int64_t j0, int64_t, float*, int64_t& ldb) const override {
    ldb = ld_;
    return b_ + (b * K_ + k0) * ld_ + j0;
  }
  float* c(int64_t b, int64_t i0, int64_t j0, int64_t& ldc) const override {
    ldc = ld_;
    return c_ + (b * M_ + i0) * ld_ + j0;
  }

 private:
  const float* a_;
  int64_t a_stride_, mr_;
  const float* b_;
  float* c_;
  int64_t M_, K_, ld_;
};

/// A driver bound to one microkernel, with its blocking and per-thread scratch.
class Driver {
 public:
  explicit Driver(const kernels::GemmKernel& k) : k_(k) {}
  const kernels::GemmKernel& kernel() const { return k_; }
  /// The K block of a reduction of length K (gemm_k_block).
  static int64_t kc_for(int64_t K) { return gemm_k_block(K); }
  void run(const Operands& op, const Problem& pr) const;

  /// Per-thread scratch of a serial run: A block, B block, C block. Any may be null when the
  /// operands never use it (a() pre-packed, b() in place, c() in place).
  struct Scratch {
    float *a = nullptr, *b = nullptr, *c = nullptr;
  };
  /// Batch entry b of pr, computed by the calling thread alone (for a path that runs its own
  /// parallel tasks, each with several small products: Winograd's positions). The same loops
  /// and so the same sums as run(); the reduction is never split.
  void run_serial(const Operands& op, const Problem& pr, int64_t b, Scratch s) const;
  /// The floats a Scratch of pr needs when every part of it is used.
  int64_t serial_scratch_floats(const Problem& pr) const;

  int64_t memory_bytes() const { return ws_.bytes() + partial_.bytes(); }

 private:
  struct Layout;
  Layout layout(const Problem& pr, int64_t want) const;
  void run_task(const Operands& op, const Problem& pr, const Layout& L, int64_t task, Scratch s, float* pp) const;
  void combine(const Operands& op, const Problem& pr, int64_t chunks, const float* partial, int threads) const;

  const kernels::GemmKernel& k_;
  Workspace ws_;       // per thread: A block, B block, C block
  Workspace partial_;  // a chunked reduction's partial Cs
};

/// How many chunks the reduction of pr is split into (1: none); kc_max its K block and tiles
/// the number of C blocks. Depends on the problem only, never on the thread count.
int64_t reduction_chunks(const Problem& pr, int64_t tiles, int64_t kc_max);

}  // namespace convkit::internal::gemm
