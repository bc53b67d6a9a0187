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

// Every rank lifted to 3 spatial dims by prepending size-1 dims: [N, C, *S] -> [N, C, D, H, W].
struct Geometry3 {
  Shape S, K, O, st, dl, lo;
  explicit Geometry3(const ConvParams& p)
      : S(lift(p, p.in_size, 1)), K(lift(p, p.kernel, 1)), O(lift(p, p.out_size, 1)), st(lift(p, p.stride, 1)),
        dl(lift(p, p.dilation, 1)), lo(lift(p, p.pad_lo, 0)) {}
  static Shape lift(const ConvParams& p, const Shape& v, int64_t fill) {
    Shape r(3, fill);
    for (int64_t i = 0; i < p.dim; ++i) r[static_cast<std::size_t>(3 - p.dim + i)] = v[static_cast<std::size_t>(i)];
    return r;
  }
  // Strides of t's spatial dims, lifted (t is [N, C, *S]).
  static Shape spatial_strides(const ConvParams& p, const Tensor& t) {
    return lift(p, Shape(t.strides().begin() + 2, t.strides().end()), 0);
  }
  // The input index tap k of output o reads in dim i, through the padding mode; -1: padding.
  int64_t src(const ConvParams& p, int i, int64_t o, int64_t k) const {
    return source_index(o * st[i] + k * dl[i] - lo[i], S[i], p.padding_mode);
  }
  // The weight's flat index of tap (k0, k1, k2) of (co, ci); conv_mode=convolution reads the
  // kernel back to front in every dim.
  int64_t widx(bool flip, int64_t co_ci, int64_t k0, int64_t k1, int64_t k2) const {
    if (flip) {
      k0 = K[0] - 1 - k0;
      k1 = K[1] - 1 - k1;
      k2 = K[2] - 1 - k2;
    }
    return ((co_ci * K[0] + k0) * K[1] + k1) * K[2] + k2;
  }
};

template <typename T>
void reference_typed(const ConvParams& p, const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  using Acc = typename ref_acc<T>::type;
  const Geometry3 g3(p);
  const Shape &K = g3.K, &O = g3.O;
  const Shape xs = Geometry3::spatial_strides(p, x);
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
                const int64_t i0 = g3.src(p, 0, o0, k0);
                if (i0 < 0) continue;
                for (int64_t k1 = 0; k1 < K[1]; ++k1) {
                  const int64_t i1 = g3.src(p, 1, o1, k1);
                  if (i1 < 0) continue;
                  for (int64_t k2 = 0; k2 < K[2]; ++k2) {
                    const int64_t i2 = g3.src(p, 2, o2, k2);
                    if (i2 < 0) continue;
                    const T wv = wp[g3.widx(flip, co * cin_g + ci, k0, k1, k2)];
                    const T xv = xp[n * xsn + (g * cin_g + ci) * xsc + i0 * xs[0] + i1 * xs[1] + i2 * xs[2]];
                    acc += cast_value<Acc>(wv) * cast_value<Acc>(xv);
                  }
                }
              }
            yp[(((n * p.C_out + co) * O[0] + o0) * O[1] + o1) * O[2] + o2] = cast_value<T>(acc);
          }
    }
}

// x[N, C_in, *S_in] (contiguous) = the transpose of the forward map applied to gy, plus
// b[C_in] when given (a transposed layer's bias): every tap of every output scatters
// w * gy onto the input element it read, so padding of every mode folds back onto the input
// exactly as the pad op's gradient does (reflect and circular positions add into the
// elements they copied, replicate's into the edge). Summed in Acc, then rounded once.
template <typename T>
void reference_backward_data_typed(const ConvParams& p, const Tensor& gy, const Tensor& w, const Tensor& b, Tensor& gx) {
  using Acc = typename ref_acc<T>::type;
  const Geometry3 g3(p);
  const Shape &S = g3.S, &K = g3.K, &O = g3.O;
  const Shape ys = Geometry3::spatial_strides(p, gy);
  const int64_t ysn = gy.stride(0), ysc = gy.stride(1);
  const T* yp = static_cast<const T*>(gy.const_data_ptr());
  const T* wp = static_cast<const T*>(w.const_data_ptr());  // [C_out, C_in/g, K0, K1, K2] contiguous
  const T* bp = b.defined() ? static_cast<const T*>(b.const_data_ptr()) : nullptr;
  const int64_t cin_g = p.c_in_per_group(), cout_g = p.c_out_per_group(), plane = S[0] * S[1] * S[2];
  const bool flip = p.conv_mode == ConvMode::Convolution;

  std::vector<Acc> acc(static_cast<std::size_t>(p.N * p.C_in * plane));  // [N, C_in, S0, S1, S2]
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t c = 0; c < p.C_in; ++c)
      for (int64_t i = 0; i < plane; ++i)
        acc[static_cast<std::size_t>((n * p.C_in + c) * plane + i)] = bp ? cast_value<Acc>(bp[c]) : Acc(0);
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t co = 0; co < p.C_out; ++co) {
      const int64_t g = co / cout_g;
      for (int64_t o0 = 0; o0 < O[0]; ++o0)
        for (int64_t o1 = 0; o1 < O[1]; ++o1)
          for (int64_t o2 = 0; o2 < O[2]; ++o2) {
            const Acc gv = cast_value<Acc>(yp[n * ysn + co * ysc + o0 * ys[0] + o1 * ys[1] + o2 * ys[2]]);
            for (int64_t ci = 0; ci < cin_g; ++ci)
              for (int64_t k0 = 0; k0 < K[0]; ++k0) {
                const int64_t i0 = g3.src(p, 0, o0, k0);
                if (i0 < 0) continue;
                for (int64_t k1 = 0; k1 < K[1]; ++k1) {
                  const int64_t i1 = g3.src(p, 1, o1, k1);
                  if (i1 < 0) continue;
                  for (int64_t k2 = 0; k2 < K[2]; ++k2) {
                    const int64_t i2 = g3.src(p, 2, o2, k2);
                    if (i2 < 0) continue;
                    const Acc wv = cast_value<Acc>(wp[g3.widx(flip, co * cin_g + ci, k0, k1, k2)]);
                    acc[static_cast<std::size_t>(((n * p.C_in + g * cin_g + ci) * S[0] + i0) * S[1] * S[2] + i1 * S[2] + i2)] += wv * gv;
                  }
                }
              }
          }
    }
  T* xp = static_cast<T*>(mutable_data_ptr(gx));
  for (std::size_t i = 0; i < acc.size(); ++i) xp[i] = cast_value<T>(acc[i]);
}

// gw[C_out, C_in/g, *K] = sum over n and outputs of gy * the input element the tap read (the
// same padding-mode index as forward).
template <typename T>
void reference_backward_weights_typed(const ConvParams& p, const Tensor& x, const Tensor& gy, Tensor& gw) {
  using Acc = typename ref_acc<T>::type;
  const Geometry3 g3(p);
  const Shape &K = g3.K, &O = g3.O;
  const Shape xs = Geometry3::spatial_strides(p, x), ys = Geometry3::spatial_strides(p, gy);
  const int64_t xsn = x.stride(0), xsc = x.stride(1), ysn = gy.stride(0), ysc = gy.stride(1);
  const T* xp = static_cast<const T*>(x.const_data_ptr());
  const T* yp = static_cast<const T*>(gy.const_data_ptr());
  T* wp = static_cast<T*>(mutable_data_ptr(gw));  // [C_out, C_in/g, K0, K1, K2] contiguous
  const int64_t cin_g = p.c_in_per_group(), cout_g = p.c_out_per_group();
  const bool flip = p.conv_mode == ConvMode::Convolution;
  auto gy_at = [&](int64_t n, int64_t co, int64_t o0, int64_t o1, int64_t o2) {
    return cast_value<Acc>(yp[n * ysn + co * ysc + o0 * ys[0] + o1 * ys[1] + o2 * ys[2]]);
  };

  for (int64_t co = 0; co < p.C_out; ++co) {
    const int64_t g = co / cout_g;
    for (int64_t ci = 0; ci < cin_g; ++ci)
      for (int64_t k0 = 0; k0 < K[0]; ++k0)
        for (int64_t k1 = 0; k1 < K[1]; ++k1)
          for (int64_t k2 = 0; k2 < K[2]; ++k2) {
            Acc acc(0);
            for (int64_t n = 0; n < p.N; ++n)
              for (int64_t o0 = 0; o0 < O[0]; ++o0) {
                const int64_t i0 = g3.src(p, 0, o0, k0);
                if (i0 < 0) continue;
                for (int64_t o1 = 0; o1 < O[1]; ++o1) {
                  const int64_t i1 = g3.src(p, 1, o1, k1);
                  if (i1 < 0) continue;
                  for (int64_t o2 = 0; o2 < O[2]; ++o2) {
                    const int64_t i2 = g3.src(p, 2, o2, k2);
                    if (i2 < 0) continue;
                    const T xv = xp[n * xsn + (g * cin_g + ci) * xsc + i0 * xs[0] + i1 * xs[1] + i2 * xs[2]];
                    acc += gy_at(n, co, o0, o1, o2) * cast_value<Acc>(xv);
                  }
                }
              }
            wp[g3.widx(flip, co * cin_g + ci, k0, k1, k2)] = cast_value<T>(acc);
          }
  }
}

template <typename T>
void reference_channel_sums_typed(const Tensor& t, Tensor& out) {
  using Acc = typename ref_acc<T>::type;
  const Tensor c = t.contiguous();  // [N, C, plane]
  const int64_t N = c.size(0), C = c.size(1), plane = N * C > 0 ? c.numel() / (N * C) : 0;
  const T* tp = static_cast<const T*>(c.const_data_ptr());
  T* op = static_cast<T*>(mutable_data_ptr(out));
  for (int64_t ch = 0; ch < C; ++ch) {
    Acc acc(0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < plane; ++i) acc += cast_value<Acc>(tp[(n * C + ch) * plane + i]);
    op[ch] = cast_value<T>(acc);
  }
}

}  // namespace

void reference_backward_data(const ConvParams& p, const Tensor& gy, const Tensor& w, const Tensor& b, Tensor& gx) {
  visit_dtype(p.dtype, [&](auto tag) { reference_backward_data_typed<decltype(tag)>(p, gy, w.contiguous(), b, gx); });
}

void reference_backward_weights(const ConvParams& p, const Tensor& x, const Tensor& gy, Tensor& gw) {
  visit_dtype(p.dtype, [&](auto tag) { reference_backward_weights_typed<decltype(tag)>(p, x, gy, gw); });
}

void reference_channel_sums(const Tensor& t, Tensor& out) {
  visit_dtype(t.dtype(), [&](auto tag) { reference_channel_sums_typed<decltype(tag)>(t, out); });
}

void reference_conv(const ConvParams& p, const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  visit_dtype(p.dtype, [&](auto tag) { reference_typed<decltype(tag)>(p, x, w.contiguous(), b, y); });
}

}  // namespace convkit::internal
