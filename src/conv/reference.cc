// The reference convolution: plain N-d loops over the definition in
// spec/conv-semantics.md. It is the test oracle for every other algorithm and the last
// fallback, so it stays obviously correct: no blocking, no vectorization, no threads.
#include "conv/reference.h"

#include "conv/plan.h"

#include <type_traits>

#include "core/cast.h"

namespace convkit::internal {

namespace {

// Accumulator per stored type: float32 data sums in double (the oracle is more exact than
// any fast path), float16/bfloat16 in float32 (both compute modes: see docs/semantics.md),
// complex64 in complex128.
template <typename T> struct ref_acc { using type = double; };
template <> struct ref_acc<Half> { using type = float; };
template <> struct ref_acc<BFloat16> { using type = float; };
template <> struct ref_acc<complex64> { using type = complex128; };
template <> struct ref_acc<complex128> { using type = complex128; };

template <typename T>
void reference_typed(const ConvParams& p, const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  using Acc = typename ref_acc<T>::type;
  // Lift every rank to 3 spatial dims by prepending size-1 dims: [N, C, *S] -> [N, C, D, H, W].
  const int64_t lift = 3 - p.dim;
  auto dim3 = [&](const Shape& v, int64_t fill) {
    Shape r(3, fill);
    for (int64_t i = 0; i < p.dim; ++i) r[static_cast<std::size_t>(lift + i)] = v[static_cast<std::size_t>(i)];
    return r;
  };
  const Shape S = dim3(p.in_size, 1), K = dim3(p.kernel, 1), O = dim3(p.out_size, 1);
  const Shape st = dim3(p.stride, 1), dl = dim3(p.dilation, 1), lo = dim3(p.pad_lo, 0);
  Shape xs = dim3(Shape(x.strides().begin() + 2, x.strides().end()), 0);
  const int64_t xsn = x.stride(0), xsc = x.stride(1);

  const T* xp = static_cast<const T*>(x.const_data_ptr());
  const T* wp = static_cast<const T*>(w.const_data_ptr());  // [C_out, C_in/g, K0, K1, K2] contiguous
  const T* bp = b.defined() ? static_cast<const T*>(b.const_data_ptr()) : nullptr;
  T* yp = static_cast<T*>(mutable_data_ptr(y));               // [N, C_out, O0, O1, O2] contiguous
  const int64_t cin_g = p.c_in_per_group(), cout_g = p.c_out_per_group();
  const bool flip = p.conv_mode == ConvMode::Convolution;

  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t co = 0; co < p.C_out; ++co) {
      const int64_t g = co / cout_g;
      for (int64_t o0 = 0; o0 < O[0]; ++o0)
        for (int64_t o1 = 0; o1 < O[1]; ++o1)
          for (int64_t o2 = 0; o2 < O[2]; ++o2) {
            Acc acc = bp ? cast_value<Acc>(bp[co]) : Acc(0);
            for (int64_t ci = 0; ci < cin_g; ++ci)
              for (int64_t k0 = 0; k0 < K[0]; ++k0) {
                const int64_t i0 = source_index(o0 * st[0] + k0 * dl[0] - lo[0], S[0], p.padding_mode);
                if (i0 < 0) continue;
                for (int64_t k1 = 0; k1 < K[1]; ++k1) {
                  const int64_t i1 = source_index(o1 * st[1] + k1 * dl[1] - lo[1], S[1], p.padding_mode);
                  if (i1 < 0) continue;
                  for (int64_t k2 = 0; k2 < K[2]; ++k2) {
                    const int64_t i2 = source_index(o2 * st[2] + k2 * dl[2] - lo[2], S[2], p.padding_mode);
                    if (i2 < 0) continue;
                    // conv_mode=convolution reads the kernel back to front in every dim.
                    const int64_t w0 = flip ? K[0] - 1 - k0 : k0;
                    const int64_t w1 = flip ? K[1] - 1 - k1 : k1;
                    const int64_t w2 = flip ? K[2] - 1 - k2 : k2;
                    const T wv = wp[(((co * cin_g + ci) * K[0] + w0) * K[1] + w1) * K[2] + w2];
                    const T xv = xp[n * xsn + (g * cin_g + ci) * xsc + i0 * xs[0] + i1 * xs[1] + i2 * xs[2]];
                    acc += cast_value<Acc>(wv) * cast_value<Acc>(xv);
                  }
                }
              }
            yp[(((n * p.C_out + co) * O[0] + o0) * O[1] + o1) * O[2] + o2] = cast_value<T>(acc);
          }
    }
}

}  // namespace

void reference_conv(const ConvParams& p, const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  visit_dtype(p.dtype, [&](auto tag) { reference_typed<decltype(tag)>(p, x, w.contiguous(), b, y); });
}

}  // namespace convkit::internal
