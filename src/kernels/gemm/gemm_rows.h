// Where a gemm microkernel finds B row p: a strided matrix (packed panels, or an input read in
// place) or a list of row pointers (convolution taps over a padded input). Plain C++, shared
// by every ISA's kernel file so one kernel body serves both entry points (the bodies are
// force-inlined into each entry point: a row source passed by value through a call would be
// reloaded from the stack every k step).
#pragma once

#include <cstdint>

namespace convkit::kernels {
namespace {

// The kernels do not prefetch B: asking for the row 8 steps ahead measured no gain for packed
// panels (already in L1 after the first MR panel) nor for rows read in place.
struct StridedRows {
  const float* b;
  int64_t ldb;
  const float* row(int64_t p) const { return b + p * ldb; }
};

struct PointerRows {
  const float* const* rows;
  int64_t off;
  const float* row(int64_t p) const { return rows[p] + off; }
};

// Where a microkernel finds A's MR values of step p: a packed panel (a[p * MR + i]), or MR
// rows read in place (rows[i][off + p]: a weight gradient's input channels, positions along
// each row). One index for all rows, so each broadcast addresses [row + 4 p].
template <int MR>
struct PackedA {
  PackedA(const float* panel) : a(panel) {}  // (implicit: the tiles' packed entry points pass a pointer)
  const float* a;
  float at(int i) const { return a[i]; }
  void next() { a += MR; }
};

template <int MR>
struct RowsA {
  const float* r[MR];
  int64_t p = 0;
  // Rows i >= m are not computed into C: they read row 0 (any readable row).
  RowsA(const float* const* rows, int64_t off, int64_t m) {
    for (int i = 0; i < MR; ++i) r[i] = rows[i < m ? i : 0] + off;
  }
  float at(int i) const { return r[i][p]; }
  void next() { ++p; }
};

// The A-columns tiles' heights (kernels.inc lists each ISA's): X(MR) for each; and the entry
// point prefix<MR>suffix (gemm_f32_<MR>x<NR>_<isa>_acols) of an ISA file's impl<MR>.
#define CONVKIT_ACOLS_HEIGHTS(X) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14)
#define CONVKIT_ACOLS_ENTRY(prefix, suffix, impl, MR)                                                           \
  void prefix##MR##suffix(int64_t k, const float* const* acols, int64_t aoff, const float* b, int64_t ldb,      \
                          float* c, int64_t ldc, int64_t m, int64_t n, bool accumulate, const float* bias) {     \
    impl<MR>(k, acols, aoff, b, ldb, c, ldc, m, n, accumulate, bias);                                           \
  }

// A read in place through one pointer per k step: A[i, p] = cols[p][off + i] (a convolution's
// input row at each (channel, tap), positions along it). kFull: all MR rows are read at fixed
// displacements; else rows i >= m read row m - 1 (no element past the m rows is read).
template <int MR, bool kFull>
struct ColsA {
  const float* const* cols;
  int64_t off;
  int idx[MR];
  ColsA(const float* const* c, int64_t o, int64_t m) : cols(c), off(o) {
    for (int i = 0; i < MR; ++i) idx[i] = i < m ? i : static_cast<int>(m) - 1;
  }
  // Step p's pointer once, then each row at a fixed displacement from it. The empty asm hides
  // the sum from the optimizer: GCC otherwise rewrote cols[p] + off + i as cols[p] + (off + i)
  // with 14 loop-invariant offsets in registers, spilling them (65% of the FMA peak, not 90%).
  const float* row() const {
    const float* r = *cols + off;
    asm("" : "+r"(r));
    return r;
  }
  float at(const float* r, int i) const { return r[kFull ? i : idx[i]]; }
  void next() { ++cols; }
};

}  // namespace
}  // namespace convkit::kernels
