// Tensor files: NumPy .npy and safetensors, read and written with full validation.
// Every malformed, unreadable or unwritable file raises convkit::FileError (a convkit::Error)
// naming the file, the field and what was wrong (an undefined tensor given to a save function
// is a convkit::ArgumentError). Writes go to a temporary file that is renamed into place, so a
// failed write never leaves a half-written output nor destroys an existing file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "convkit/export.h"
#include "convkit/nn/modules/conv.h"
#include "convkit/tensor.h"

namespace convkit::io {

/// Reads a .npy file (format versions 1.0, 2.0, 3.0; little- or big-endian; C or Fortran
/// order) of dtype float16, float32, float64, complex64, complex128, or bfloat16 marked by
/// descr '<V2' (NumPy's spelling of ml_dtypes/JAX bfloat16). Returns a contiguous tensor.
CONVKIT_API Tensor load_npy(const std::string& path);
/// The same from bytes in memory; `name` is used in error messages.
CONVKIT_API Tensor parse_npy(const uint8_t* data, std::size_t size, const std::string& name);
/// Writes t (any layout) as a little-endian C-order .npy (version 1.0, or 2.0 for huge headers).
CONVKIT_API void save_npy(const std::string& path, const Tensor& t);
/// The bytes save_npy writes.
CONVKIT_API std::string npy_bytes(const Tensor& t);

/// The contents of a safetensors file.
struct Safetensors {
  std::map<std::string, std::string> metadata;  ///< the header's "__metadata__" strings
  std::map<std::string, Tensor> tensors;        ///< every tensor, by name
  std::map<std::string, std::string> dtypes;    ///< the file's dtype string per tensor ("F32", "I16", ...)
};

/// Reads a safetensors file. F16, BF16, F32, F64, C64 and C128 load as those dtypes; integer
/// and BOOL tensors load as float64 (exact; a 64-bit integer beyond 2^53 is an error).
CONVKIT_API Safetensors load_safetensors(const std::string& path);
/// The same from bytes in memory; `name` is used in error messages.
CONVKIT_API Safetensors parse_safetensors(const uint8_t* data, std::size_t size, const std::string& name);
/// Writes tensors (names sorted, data little-endian, header padded to 8 bytes).
CONVKIT_API void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// Loads `<prefix>.weight` (PyTorch or MegEngine layout) and `<prefix>.bias` into m, the naming
/// of PyTorch state dicts (prefix "" means "weight"/"bias"). A missing bias is an error when
/// the module has one, and an unexpected bias is an error when it has none; a tensor whose
/// shape or dtype does not fit the module is a FileError naming the file and the tensor.
template <std::size_t D>
CONVKIT_API void load_conv(nn::ConvNdImpl<D>& m, const std::string& path, const std::string& prefix);
/// Saves m's weight (in `layout`) and bias as `<prefix>.weight` / `<prefix>.bias`.
template <std::size_t D>
CONVKIT_API void save_conv(const nn::ConvNdImpl<D>& m, const std::string& path, const std::string& prefix,
               WeightLayout layout = WeightLayout::Torch);

/// Reads a whole file; errors name it.
CONVKIT_API std::string read_file(const std::string& path);
/// Writes bytes to path atomically: a temporary file in the same directory, then rename.
CONVKIT_API void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace convkit::io
