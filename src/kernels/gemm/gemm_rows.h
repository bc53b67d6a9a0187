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

}  // namespace
}  // namespace convkit::kernels
