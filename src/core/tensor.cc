#include "convkit/tensor.h"

#include "convkit/threads.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <numeric>

#include "core/cast.h"
#include "core/storage.h"
#include "cpu/isa.h"
#include "kernels/convert/convert.h"
#include "kernels/transpose/transpose.h"

namespace convkit {

using internal::cast_value;
using internal::str_cat;

bool internal::is_channels_last(const Tensor& t) {
  // PyTorch's test (is_channels_last_strides_2d): strides non-decreasing in the order C, W, H,
  // N, each at least the span of the dims before it; size-1 dims count by their stride, so a
  // one-channel tensor with channels_last's strides is channels-last and a contiguous one is not.
  if (t.dim() != 4 || t.stride(1) == 0) return false;
  int64_t min = 0;
  for (const int64_t d : {1, 3, 2, 0}) {
    if (t.size(d) == 0 || t.stride(d) < min || (d == 0 && min == t.stride(1))) return false;
    min = t.stride(d) * (t.size(d) > 1 ? t.size(d) : 1);
  }
  return true;
}

namespace {

constexpr std::size_t kAlignment = 64;
// Visits every element of a strided layout in row-major order, passing the element offsets
// of two layouts with the same sizes (b may equal a). The odometer keeps this allocation-free
// apart from the index vector.
template <typename F>
void for_each_offset2(const Shape& sizes, const Shape& sa, const Shape& sb, F&& f) {
  const int64_t nd = static_cast<int64_t>(sizes.size());
  for (int64_t s : sizes)
    if (s == 0) return;
  std::vector<int64_t> idx(nd, 0);
  int64_t oa = 0, ob = 0;
  while (true) {
    f(oa, ob);
    int64_t d = nd - 1;
    for (; d >= 0; --d) {
      if (++idx[d] < sizes[d]) {
        oa += sa[d];
        ob += sb[d];
        break;
      }
      oa -= sa[d] * (sizes[d] - 1);
      ob -= sb[d] * (sizes[d] - 1);
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

// Process-wide, never reused: a tensor's stamp can never equal another tensor's or an
// earlier state's, even when memory is freed and handed out again at the same address.
uint64_t next_version() {
  static std::atomic<uint64_t> counter{1};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

void Tensor::bump_version() const {
  if (state_) state_->version.store(next_version(), std::memory_order_relaxed);
}

uint64_t Tensor::version() const { return state_ ? state_->version.load(std::memory_order_relaxed) : 0; }

bool Tensor::writable_outside() const { return state_ && state_->outside.load(std::memory_order_relaxed); }

DType dtype_from_name(const std::string& name) {
  if (name == "float32" || name == "float" || name == "f32") return kFloat32;
  if (name == "float64" || name == "double" || name == "f64") return kFloat64;
  if (name == "float16" || name == "half" || name == "f16") return kFloat16;
  if (name == "bfloat16" || name == "bf16") return kBFloat16;
  if (name == "complex64" || name == "cfloat") return kComplex64;
  if (name == "complex128" || name == "cdouble") return kComplex128;
  throw ArgumentError(str_cat("unknown dtype '", name,
                      "': expected one of float32, float64, float16, bfloat16, complex64, complex128"));
}

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    st[i] = acc;
    // Only an empty tensor (some size 0, so no element is ever addressed) can have sizes
    // whose product overflows; its strides then saturate instead of overflowing.
    if (__builtin_mul_overflow(acc, std::max<int64_t>(shape[i], 1), &acc)) acc = INT64_MAX;
  }
  return st;
}

int64_t checked_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) {
    CONVKIT_CHECK(s >= 0, "Trying to create tensor with negative dimension ", s, ": ", shape_str(shape));
    CONVKIT_CHECK(!__builtin_mul_overflow(n, s, &n), "shape ", shape_str(shape),
                  " has more elements than fit in 64 bits (expected a product of sizes <= ", INT64_MAX, ")");
  }
  return n;
}

// ---- NestedValues ----------------------------------------------------------------------

Shape NestedValues::shape() const {
  if (is_scalar_) return {};
  Shape inner;
  for (std::size_t i = 0; i < items_.size(); ++i) {
    Shape s = items_[i].shape();
    CONVKIT_CHECK(i == 0 || s == inner, "tensor(): ragged nested values: element ", i,
                  " has shape ", shape_str(s), " but element 0 has shape ", shape_str(inner));
    inner = s;
  }
  Shape out{static_cast<int64_t>(items_.size())};
  out.insert(out.end(), inner.begin(), inner.end());
  return out;
}

void NestedValues::flatten(std::vector<std::complex<double>>& out) const {
  if (is_scalar_) {
    out.push_back(scalar_);
    return;
  }
  for (const auto& it : items_) it.flatten(out);
}

bool NestedValues::has_complex() const {
  if (is_scalar_) return scalar_.imag() != 0.0;
  return std::any_of(items_.begin(), items_.end(), [](const NestedValues& v) { return v.has_complex(); });
}

Tensor tensor(const NestedValues& values, DType dtype) {
  std::vector<std::complex<double>> flat;
  const Shape shape = values.shape();
  values.flatten(flat);
  return Tensor::from_values(flat, shape, dtype);
}

Tensor tensor(const NestedValues& values) {
  return tensor(values, values.has_complex() ? kComplex128 : kFloat32);
}

// ---- creation --------------------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  const int64_t n = checked_numel(shape);
  int64_t bytes = 0;
  CONVKIT_CHECK(!__builtin_mul_overflow(n, convkit::element_size(dtype), &bytes) &&
                    bytes <= INT64_MAX - static_cast<int64_t>(kAlignment),
                "tensor of shape ", shape_str(shape), " and dtype ", dtype_name(dtype),
                " needs more bytes than fit in 64 bits");
  // Round up so vector kernels may read whole cache lines; at least one line so the
  // pointer is never null (defined() relies on it).
  const std::size_t alloc = (static_cast<std::size_t>(bytes) + kAlignment - 1) / kAlignment * kAlignment;
  Tensor t;
  try {
    t.storage_ = internal::allocate_storage(alloc);
  } catch (const std::bad_alloc&) {
    throw ArgumentError(str_cat("out of memory allocating ", bytes, " bytes for a tensor of shape ",
                        shape_str(shape), " and dtype ", dtype_name(dtype)));
  }
  t.state_ = std::make_shared<internal::TensorState>(next_version(), false);
  t.sizes_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(internal::mutable_data_ptr(t), 0, static_cast<std::size_t>(t.numel() * t.element_size()));
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(internal::mutable_data_ptr(t));
    std::fill(p, p + t.numel(), cast_value<T>(value));
  });
  return t;
}

Tensor Tensor::arange(int64_t n, DType dtype) {
  CONVKIT_CHECK(n >= 0, "arange(", n, "): the length must be >= 0");
  std::vector<double> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0.0);
  return from_values(v, {n}, dtype);
}

Tensor Tensor::from_values(const std::vector<double>& values, const Shape& shape, DType dtype) {
  const int64_t n = checked_numel(shape);
  CONVKIT_CHECK(static_cast<int64_t>(values.size()) == n, "from_values: ", values.size(),
                " values given for shape ", shape_str(shape), " which has ", n, " elements");
  Tensor t = empty(shape, dtype);
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(internal::mutable_data_ptr(t));
    for (int64_t i = 0; i < n; ++i) p[i] = cast_value<T>(values[static_cast<std::size_t>(i)]);
  });
  return t;
}

Tensor Tensor::from_values(const std::vector<std::complex<double>>& values, const Shape& shape,
                           DType dtype) {
  const int64_t n = checked_numel(shape);
  CONVKIT_CHECK(static_cast<int64_t>(values.size()) == n, "from_values: ", values.size(),
                " values given for shape ", shape_str(shape), " which has ", n, " elements");
  Tensor t = empty(shape, dtype);
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(internal::mutable_data_ptr(t));
    for (int64_t i = 0; i < n; ++i) p[i] = cast_value<T>(values[static_cast<std::size_t>(i)]);
  });
  return t;
}

Tensor Tensor::from_blob(void* data, const Shape& shape, DType dtype, const Shape& strides) {
  return from_blob(data, shape, dtype, strides, [](void*) {});
}

Tensor Tensor::from_blob(void* data, const Shape& shape, DType dtype, const Shape& strides,
                         std::function<void(void*)> deleter) {
  std::shared_ptr<void> storage(data, std::move(deleter));  // released even if a check throws
  CONVKIT_CHECK(data != nullptr, "from_blob: expected a data pointer, but got data=nullptr");
  checked_numel(shape);
  CONVKIT_CHECK(strides.empty() || strides.size() == shape.size(), "from_blob: expected strides to be empty or have ",
                shape.size(), " entries (one per dimension of shape ", shape_str(shape), "), but got strides=",
                shape_str(strides));
  Tensor t;
  t.storage_ = std::move(storage);
  t.state_ = std::make_shared<internal::TensorState>(next_version(), true);
  t.sizes_ = shape;
  t.strides_ = strides.empty() ? contiguous_strides(shape) : strides;
  t.dtype_ = dtype;
  t.owned_ = false;
  return t;
}

// ---- metadata --------------------------------------------------------------------------

int64_t Tensor::wrap_dim(int64_t d, int64_t ndim) const {
  CONVKIT_CHECK(d >= -ndim && d < ndim, "Dimension out of range (expected to be in range of [",
                -ndim, ", ", ndim - 1, "], but got ", d, ")");
  return d < 0 ? d + ndim : d;
}

int64_t Tensor::size(int64_t d) const { return sizes_[static_cast<std::size_t>(wrap_dim(d, dim()))]; }
int64_t Tensor::stride(int64_t d) const { return strides_[static_cast<std::size_t>(wrap_dim(d, dim()))]; }

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t s : sizes_) n *= s;  // checked when the shape was made
  return n;
}

bool Tensor::is_contiguous() const {
  // An empty tensor is contiguous; checking first also keeps the running product below (of
  // sizes whose full product, numel, fits in 64 bits) from overflowing.
  for (int64_t s : sizes_)
    if (s == 0) return true;
  int64_t expected = 1;
  for (std::size_t i = sizes_.size(); i-- > 0;) {
    if (sizes_[i] == 1) continue;
    if (strides_[i] != expected) return false;
    expected *= sizes_[i];
  }
  return true;
}

void* Tensor::data_ptr() const {
  CONVKIT_CHECK(defined(), "data_ptr() called on an undefined tensor");
  state_->outside.store(true, std::memory_order_relaxed);
  return internal::mutable_data_ptr(*this);
}

const void* Tensor::const_data_ptr() const {
  CONVKIT_CHECK(defined(), "const_data_ptr() called on an undefined tensor");
  return internal::mutable_data_ptr(*this);
}

void* internal::mutable_data_ptr(const Tensor& t) {
  return static_cast<char*>(t.storage_.get()) + t.offset_ * t.element_size();
}

// ---- views -----------------------------------------------------------------------------

Tensor Tensor::view(const Shape& shape) const {
  CONVKIT_CHECK(is_contiguous(), "view(", shape_str(shape), "): the tensor of shape ",
                shape_str(sizes_), " is not contiguous; use reshape()");
  Shape s = shape;
  int64_t known = 1, infer = -1;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      CONVKIT_CHECK(infer < 0, "view: only one dimension can be inferred, got ", shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      CONVKIT_CHECK(s[i] >= 0, "view: invalid shape dimension ", s[i], " in ", shape_str(shape));
      CONVKIT_CHECK(!__builtin_mul_overflow(known, s[i], &known), "shape '", shape_str(shape),
                    "' is invalid for input of size ", numel(), ": the product of its sizes overflows 64 bits");
    }
  }
  const int64_t n = numel();
  if (infer >= 0) {
    CONVKIT_CHECK(known != 0 && n % known == 0, "shape '", shape_str(shape),
                  "' is invalid for input of size ", n);
    s[static_cast<std::size_t>(infer)] = n / known;
  } else {
    CONVKIT_CHECK(known == n, "shape '", shape_str(shape), "' is invalid for input of size ", n);
  }
  Tensor t = alias();
  t.sizes_ = s;
  t.strides_ = contiguous_strides(s);
  return t;
}

Tensor Tensor::reshape(const Shape& shape) const { return contiguous().view(shape); }

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  CONVKIT_CHECK(static_cast<int64_t>(dims.size()) == dim(), "permute(", shape_str(dims),
                "): number of dims don't match the tensor's ", dim(), " dims");
  std::vector<bool> seen(dims.size(), false);
  Tensor t = alias();
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], dim());
    CONVKIT_CHECK(!seen[static_cast<std::size_t>(d)], "permute(", shape_str(dims), "): repeated dim");
    seen[static_cast<std::size_t>(d)] = true;
    t.sizes_[i] = sizes_[static_cast<std::size_t>(d)];
    t.strides_[i] = strides_[static_cast<std::size_t>(d)];
  }
  return t;
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  std::vector<int64_t> p(static_cast<std::size_t>(dim()));
  std::iota(p.begin(), p.end(), 0);
  std::swap(p[static_cast<std::size_t>(wrap_dim(d0, dim()))], p[static_cast<std::size_t>(wrap_dim(d1, dim()))]);
  return permute(p);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  d = wrap_dim(d, dim());
  CONVKIT_CHECK(step > 0, "slice step must be positive, got ", step);
  const int64_t n = sizes_[static_cast<std::size_t>(d)];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Tensor t = alias();
  t.offset_ += start * strides_[static_cast<std::size_t>(d)];
  t.sizes_[static_cast<std::size_t>(d)] = (end - start + step - 1) / step;
  t.strides_[static_cast<std::size_t>(d)] *= step;
  return t;
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim());
  const int64_t n = sizes_[static_cast<std::size_t>(d)];
  CONVKIT_CHECK(index >= -n && index < n, "select(): index ", index, " out of range for tensor of size ",
                shape_str(sizes_), " at dimension ", d);
  if (index < 0) index += n;
  Tensor t = alias();
  t.offset_ += index * strides_[static_cast<std::size_t>(d)];
  t.sizes_.erase(t.sizes_.begin() + d);
  t.strides_.erase(t.strides_.begin() + d);
  return t;
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1);
  Tensor t = alias();
  const int64_t st = d < dim() ? strides_[static_cast<std::size_t>(d)] * sizes_[static_cast<std::size_t>(d)] : 1;
  t.sizes_.insert(t.sizes_.begin() + d, 1);
  t.strides_.insert(t.strides_.begin() + d, st);
  return t;
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim());
  if (sizes_[static_cast<std::size_t>(d)] != 1) return alias();
  Tensor t = alias();
  t.sizes_.erase(t.sizes_.begin() + d);
  t.strides_.erase(t.strides_.begin() + d);
  return t;
}

Tensor Tensor::flip(const std::vector<int64_t>& dims) const {
  Tensor src = *this;
  for (int64_t d : dims) {
    d = wrap_dim(d, dim());
    const auto i = static_cast<std::size_t>(d);
    if (src.sizes_[i] > 1) {
      // A negative-stride view, read once by copy_ below and never returned.
      src.offset_ += src.strides_[i] * (src.sizes_[i] - 1);
      src.strides_[i] = -src.strides_[i];
    }
  }
  return src.clone();
}

// ---- copies ----------------------------------------------------------------------------

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  Tensor t = empty(sizes_, dtype_);
  t.copy_(*this);
  return t;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor t = empty(sizes_, dtype);
  t.copy_(*this);
  return t;
}

namespace {
// dst = src converted, both dense: float32 <-> float16 / bfloat16 on the conversion kernels (the
// bits of cast_value: dtype.h's rules), 5-10x faster than its element loop (a 16-bit weight
// widened for a plan). False for the other dtype pairs.
// float32 between contiguous and channels-last [N, C, H, W]: per image a transpose of [C][H W]
// (to channels-last) or [H W][C], 16 rows per kernel call. False for other pairs.
bool dense_channels_last(const Tensor& t) {  // NHWC memory exactly (size-1 dims: any stride)
  const int64_t want[4] = {t.size(1) * t.size(2) * t.size(3), 1, t.size(3) * t.size(1), t.size(1)};
  for (int64_t d = 0; d < 4; ++d)
    if (t.size(d) > 1 && t.stride(d) != want[d]) return false;
  return true;
}

bool transpose_layout(Tensor& dst, const Tensor& src) {
  if (dst.dtype() != kFloat32 || src.dtype() != kFloat32 || dst.dim() != 4) return false;
  const bool to_cl = dense_channels_last(dst) && src.is_contiguous();
  if (!to_cl && !(dst.is_contiguous() && dense_channels_last(src))) return false;
  const int64_t N = dst.size(0), C = dst.size(1), P = dst.size(2) * dst.size(3);
  const int64_t R = to_cl ? C : P, L = to_cl ? P : C;  // rows of the source matrix, their length
  const auto& k = kernels::transpose_kernel(internal::max_isa());
  const auto* sp = static_cast<const float*>(src.const_data_ptr());
  auto* dp = static_cast<float*>(internal::mutable_data_ptr(dst));
  // Blocks of 16 rows over the threads when there is enough to move (a layer's input or output).
  const int64_t blocks = (R + kernels::kTransposeMaxRows - 1) / kernels::kTransposeMaxRows;
  const int threads = N * C * P >= (int64_t{1} << 17) ? static_cast<int>(std::min<int64_t>(get_num_threads(), N * blocks)) : 1;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t t = 0; t < N * blocks; ++t) {
    const int64_t n = t / blocks, r0 = t % blocks * kernels::kTransposeMaxRows;
    const int64_t count = std::min(kernels::kTransposeMaxRows, R - r0);
    const float* rows[kernels::kTransposeMaxRows];
    for (int64_t i = 0; i < count; ++i) rows[i] = sp + n * C * P + (r0 + i) * L;
    k.fn(rows, 1, count, L, dp + n * C * P + r0, R);
  }
  return true;
}

bool convert_dense(Tensor& dst, const Tensor& src) {
  const auto& k = kernels::convert_kernel(internal::max_isa());
  const int64_t n = dst.numel();
  auto* d = internal::mutable_data_ptr(dst);
  const void* s = src.const_data_ptr();
  if (dst.dtype() == kFloat32 && (src.dtype() == kFloat16 || src.dtype() == kBFloat16)) {
    (src.dtype() == kFloat16 ? k.f16_to_f32 : k.bf16_to_f32)(static_cast<const uint16_t*>(s), n, static_cast<float*>(d));
    return true;
  }
  if (src.dtype() == kFloat32 && (dst.dtype() == kFloat16 || dst.dtype() == kBFloat16)) {
    (dst.dtype() == kFloat16 ? k.f32_to_f16 : k.f32_to_bf16)(static_cast<const float*>(s), n, static_cast<uint16_t*>(d));
    return true;
  }
  return false;
}
}  // namespace

Tensor& Tensor::copy_(const Tensor& src) {
  CONVKIT_CHECK(defined() && src.defined(), "copy_: expected defined tensors, but the ",
                defined() ? "source (src)" : "destination", " is undefined");
  CONVKIT_CHECK(sizes_ == src.sizes_, "copy_: shape ", shape_str(src.sizes_),
                " does not match destination shape ", shape_str(sizes_));
  if (dtype_ == src.dtype_ && is_contiguous() && src.is_contiguous()) {
    // One dtype, both dense: the bytes as they are (an element loop made cloning a 4 MB weight
    // most of a plan's preparation). memmove: a tensor may be copied onto itself.
    if (numel() > 0)
      std::memmove(internal::mutable_data_ptr(*this), src.const_data_ptr(),
                   static_cast<std::size_t>(numel() * element_size()));
    bump_version();
    return *this;
  }
  if (numel() > 0 && transpose_layout(*this, src)) {
    bump_version();
    return *this;
  }
  const bool dense = is_contiguous() && src.is_contiguous();
  if (dense && convert_dense(*this, src)) {
    bump_version();
    return *this;
  }
  visit_dtype(dtype_, [&](auto dtag) {
    using D = decltype(dtag);
    visit_dtype(src.dtype_, [&](auto stag) {
      using S = decltype(stag);
      D* d = static_cast<D*>(internal::mutable_data_ptr(*this));
      const S* s = static_cast<const S*>(src.const_data_ptr());
      if (dense) {  // one flat loop (no index walk per element)
        for (int64_t i = 0; i < numel(); ++i) d[i] = cast_value<D>(s[i]);
        return;
      }
      for_each_offset2(sizes_, strides_, src.strides_,
                       [&](int64_t od, int64_t os) { d[od] = cast_value<D>(s[os]); });
    });
  });
  bump_version();
  return *this;
}


// ---- values ----------------------------------------------------------------------------

std::vector<std::complex<double>> Tensor::to_complex_vector() const {
  std::vector<std::complex<double>> out;
  out.reserve(static_cast<std::size_t>(numel()));
  visit_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(const_data_ptr());
    for_each_offset2(sizes_, strides_, strides_,
                     [&](int64_t o, int64_t) { out.push_back(cast_value<std::complex<double>>(p[o])); });
  });
  return out;
}

std::vector<double> Tensor::to_vector() const {
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(numel()));
  for (const auto& v : to_complex_vector()) out.push_back(v.real());
  return out;
}

double Tensor::item() const {
  CONVKIT_CHECK(numel() == 1, "a Tensor with ", numel(), " elements cannot be converted to Scalar");
  return to_vector()[0];
}

const Tensor& Tensor::grad() const {
  static const Tensor kUndefined;
  return grad_ ? *grad_ : kUndefined;
}

Tensor& Tensor::mutable_grad() {
  if (!grad_) grad_ = std::make_shared<Tensor>();
  return *grad_;
}

}  // namespace convkit
