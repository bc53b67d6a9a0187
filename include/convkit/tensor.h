// convkit::Tensor — an N-d strided view over 64-byte-aligned owned storage or borrowed memory.
//
// Semantics follow PyTorch: sizes and strides are in elements, views (slice, permute,
// transpose, select, unsqueeze, reshape of contiguous data) share storage, contiguous()
// copies only when needed, and printing matches str(torch_tensor).
#pragma once

#include <complex>
#include <functional>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "convkit/export.h"
#include "convkit/dtype.h"
#include "convkit/error.h"

namespace convkit {

/// Sizes (or strides) of a tensor, one entry per dimension.
using Shape = std::vector<int64_t>;
class Generator;
class Tensor;

namespace internal {
struct TensorState;
/// convkit's own writes into memory it made: no mark (see Tensor::data_ptr()).
void* mutable_data_ptr(const Tensor& t);
}  // namespace internal

/// Values for Tensor creation written as nested braces: tensor({{1, 2}, {3, 4}}).
class CONVKIT_API NestedValues {
 public:
  /// A real scalar.
  NestedValues(double v) : scalar_(v), is_scalar_(true) {}  // NOLINT: brace init
  /// A complex scalar.
  NestedValues(std::complex<double> v) : scalar_(v), is_scalar_(true) {}  // NOLINT
  /// One level of nesting: a row of scalars or of nested rows.
  NestedValues(std::initializer_list<NestedValues> items) : items_(items) {}
  /// Shape implied by the nesting; throws if the nesting is ragged.
  Shape shape() const;
  /// Flat row-major values.
  void flatten(std::vector<std::complex<double>>& out) const;
  /// True when any value has a non-zero imaginary part or was given as complex.
  bool has_complex() const;

 private:
  std::complex<double> scalar_;
  bool is_scalar_ = false;
  std::vector<NestedValues> items_;
};

/// An N-d array of one DType: sizes and strides in elements, views that share memory, and
/// PyTorch's printing. Copying a Tensor copies the handle, not the data (like torch.Tensor).
class CONVKIT_API Tensor {
 public:
  /// An undefined tensor (defined() == false), used for "no bias".
  Tensor() = default;

  // ---- creation -------------------------------------------------------------------
  /// Uninitialized owned storage, 64-byte aligned, contiguous.
  static Tensor empty(const Shape& shape, DType dtype = kFloat32);
  /// Zeros, contiguous (torch.zeros).
  static Tensor zeros(const Shape& shape, DType dtype = kFloat32);
  /// Every element `value`, contiguous (torch.full).
  static Tensor full(const Shape& shape, double value, DType dtype = kFloat32);
  /// 0, 1, ..., n-1 (like torch.arange(n)).
  static Tensor arange(int64_t n, DType dtype = kFloat32);
  /// Copies `values` (row-major) into a new tensor of `shape`, rounding to `dtype`.
  static Tensor from_values(const std::vector<double>& values, const Shape& shape,
                            DType dtype = kFloat32);
  /// As above, for complex values.
  static Tensor from_values(const std::vector<std::complex<double>>& values, const Shape& shape,
                            DType dtype = kComplex128);
  /// Borrows external memory (not owned, not freed); strides default to contiguous.
  static Tensor from_blob(void* data, const Shape& shape, DType dtype, const Shape& strides = {});
  /// Takes over external memory: deleter(data) runs once, when the last tensor or view of it
  /// is gone (libtorch's from_blob with a deleter), or at once if the arguments are refused.
  /// Otherwise as above.
  static Tensor from_blob(void* data, const Shape& shape, DType dtype, const Shape& strides,
                          std::function<void(void*)> deleter);

  // ---- metadata -------------------------------------------------------------------
  /// False for Tensor() (no memory, no shape).
  bool defined() const { return static_cast<bool>(storage_); }
  /// The element type.
  DType dtype() const { return dtype_; }
  /// The number of dimensions.
  int64_t dim() const { return static_cast<int64_t>(sizes_.size()); }
  /// The size of every dimension.
  const Shape& sizes() const { return sizes_; }
  /// The step, in elements, between neighbours along every dimension.
  const Shape& strides() const { return strides_; }
  /// Size of dimension d; negative d counts from the end.
  int64_t size(int64_t d) const;
  /// Stride of dimension d; negative d counts from the end.
  int64_t stride(int64_t d) const;
  /// The number of elements, the product of sizes().
  int64_t numel() const;
  /// The offset of element [0, 0, ...] in its memory, in elements.
  int64_t storage_offset() const { return offset_; }
  /// Bytes per element.
  int64_t element_size() const { return convkit::element_size(dtype_); }
  /// True when the elements lie row-major without gaps (strides of a fresh tensor).
  bool is_contiguous() const;
  /// True when the tensor owns (shares ownership of) its memory; false for from_blob views.
  bool owns_memory() const { return owned_; }
  /// A stamp shared by every view of the same memory, replaced by every convkit write into it
  /// (copy_, uniform_, normal_, bump_version()). Stamps are unique across all tensors of the
  /// process, so equal stamps mean the same memory in the same state as far as convkit wrote it.
  uint64_t version() const;
  /// Gives the memory a new version() stamp: call it after writing through data_ptr() when a
  /// module should notice the change without comparing contents.
  void bump_version() const;
  /// True when code outside convkit may write this memory: it was borrowed (from_blob), or a
  /// writable pointer to it was handed out (data_ptr(), data<T>()). A module whose weight or
  /// bias is such memory compares its contents (a 64-bit fingerprint, one read of the
  /// tensor) with the ones its packed weights were made from on every forward, so writes
  /// through those pointers are always seen; memory only convkit writes is tracked by
  /// version() alone, at no cost.
  bool writable_outside() const;

  /// Address of element [0, 0, ...], for reading and writing (marks writable_outside()).
  void* data_ptr() const;
  /// data_ptr() as T*; T must match dtype() (an ArgumentError otherwise).
  template <typename T>
  T* data() const {
    check_dtype<T>("data");
    return static_cast<T*>(data_ptr());
  }
  /// Address of element [0, 0, ...], for reading only (no mark).
  const void* const_data_ptr() const;
  /// const_data_ptr() as const T*; T must match dtype().
  template <typename T>
  const T* const_data() const {
    check_dtype<T>("const_data");
    return static_cast<const T*>(const_data_ptr());
  }

  // ---- views (share storage) ------------------------------------------------------
  /// The same memory with another shape of the same numel; contiguous tensors only, one
  /// size may be -1 (inferred).
  Tensor view(const Shape& shape) const;
  /// view() when the tensor is contiguous, else a reshaped copy.
  Tensor reshape(const Shape& shape) const;
  /// The dimensions reordered: result dim i is this tensor's dim dims[i].
  Tensor permute(const std::vector<int64_t>& dims) const;
  /// Dimensions d0 and d1 swapped.
  Tensor transpose(int64_t d0, int64_t d1) const;
  /// Elements start, start + step, ... below end along dim (Python's t[..., start:end:step]).
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  /// The sub-tensor at `index` of dim, which is removed.
  Tensor select(int64_t dim, int64_t index) const;
  /// A size-1 dimension inserted at dim.
  Tensor unsqueeze(int64_t dim) const;
  /// Dimension dim removed if its size is 1 (else the tensor itself).
  Tensor squeeze(int64_t dim) const;
  /// A copy with the order of the given dims reversed (torch.flip).
  Tensor flip(const std::vector<int64_t>& dims) const;

  // ---- copies ---------------------------------------------------------------------
  /// *this if already contiguous, else a contiguous copy.
  Tensor contiguous() const;
  /// Always a new contiguous copy.
  Tensor clone() const;
  /// A copy converted to dtype (complex to real keeps the real part).
  Tensor to(DType dtype) const;
  /// Copies src into *this elementwise (shapes must match), converting dtype.
  Tensor& copy_(const Tensor& src);

  // ---- random fills (convkit/random.h; PyTorch-identical for float32/float64) -----
  /// Fills with U[from, to) in iteration order (Tensor.uniform_). gen == nullptr: the default.
  Tensor& uniform_(double from, double to, Generator* gen = nullptr);
  /// Fills with N(mean, std) (Tensor.normal_).
  Tensor& normal_(double mean, double std, Generator* gen = nullptr);

  // ---- gradient slot (filled by the modules' backward(); no autograd) ----------------
  /// The gradient accumulated for this tensor, as libtorch's Tensor::grad(): undefined until
  /// a module's backward() (or the caller, through mutable_grad()) sets it. The slot belongs
  /// to this Tensor object and the copies made of it after the slot exists; views start
  /// without one.
  const Tensor& grad() const;
  /// The slot itself, for setting, accumulating or resetting (= Tensor() clears it).
  Tensor& mutable_grad();

  // ---- values ---------------------------------------------------------------------
  /// Flat row-major values as double (real part for complex dtypes).
  std::vector<double> to_vector() const;
  /// Flat row-major values as complex (imaginary part 0 for real dtypes).
  std::vector<std::complex<double>> to_complex_vector() const;
  /// The single value of a one-element tensor.
  double item() const;

  /// PyTorch's str(tensor): "tensor([[...]])" with 4 decimals, summarization and suffixes.
  std::string to_string() const;

 private:
  std::shared_ptr<void> storage_;
  int64_t offset_ = 0;  // in elements
  Shape sizes_;
  Shape strides_;
  DType dtype_ = kFloat32;
  bool owned_ = true;
  std::shared_ptr<internal::TensorState> state_;  // shared by every view of the storage
  std::shared_ptr<Tensor> grad_;                  // made by mutable_grad(), shared by later copies

  int64_t wrap_dim(int64_t d, int64_t ndim) const;
  // A view's start: the same storage, sizes and strides, without this tensor's grad slot.
  Tensor alias() const {
    Tensor t = *this;
    t.grad_.reset();
    return t;
  }
  template <typename T>
  void check_dtype(const char* what) const {
    CONVKIT_CHECK(dtype_of<T>::value == dtype_, what, "<", dtype_name(dtype_of<T>::value),
                  ">() called on a tensor of dtype ", dtype_name(dtype_));
  }
  friend void* internal::mutable_data_ptr(const Tensor& t);
};

/// Creates a float tensor from nested braces: tensor({{1, 2}, {3, 4}}, kFloat64).
/// Complex values make a complex128 tensor unless dtype says otherwise.
CONVKIT_API Tensor tensor(const NestedValues& values, DType dtype);
/// As above, float32 (complex128 for complex values).
CONVKIT_API Tensor tensor(const NestedValues& values);

/// Writes t.to_string().
CONVKIT_API std::ostream& operator<<(std::ostream& os, const Tensor& t);

/// Contiguous strides of a shape (row-major, in elements).
CONVKIT_API Shape contiguous_strides(const Shape& shape);
/// Product of sizes, throwing convkit::Error if it overflows int64.
CONVKIT_API int64_t checked_numel(const Shape& shape);
/// "[2, 3, 4]" — shape formatting used in every error message.
CONVKIT_API std::string shape_str(const Shape& shape);

/// Buffers of 32 KiB or more that convkit's tensors free are kept (up to 256 MiB in all) and
/// handed to the next tensor of about their size, so a forward that returns a new output each
/// call reuses warm memory instead of faulting in fresh pages. This returns them to the system,
/// and drops the weight-gradient plans kept for the shapes last used (up to 64 plans, 256 MiB of
/// their buffers; a training step's conv_backward would otherwise make them anew each step).
CONVKIT_API void release_cached_memory();
/// Bytes currently kept by that cache.
CONVKIT_API int64_t cached_memory_bytes();

}  // namespace convkit
