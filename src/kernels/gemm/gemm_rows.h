// Where a gemm microkernel finds B row p: a strided matrix (packed panels, or an input read in
// place) or a list of row pointers (convolution taps over a padded input). Plain C++, shared
// by every ISA's kernel file so one kernel body serves both entry points (the bodies are
// force-inlined into each entry point: a row source passed by value through a call would be
// reloaded from the stack every k step).
#pragma once

#include <cstdint>

namespace convkit::kernels {
namespace {

// kPrefetch: the kernels prefetch the row 8 steps ahead. Packed panels gain from it; rows read
// in place through pointers did not (measured), so PointerRows has no ahead().
struct StridedRows {
  static constexpr bool kPrefetch = true;
  const float* b;
  int64_t ldb;
  const float* row(int64_t p) const { return b + p * ldb; }
  // The row `ahead` steps on, for a prefetch (an address only, never read).
  const float* ahead(int64_t p, int64_t ahead) const { return b + (p + ahead) * ldb; }
};

struct PointerRows {
  static constexpr bool kPrefetch = false;
  const float* const* rows;
  int64_t off;
  const float* row(int64_t p) const { return rows[p] + off; }
};

}  // namespace
}  // namespace convkit::kernels
