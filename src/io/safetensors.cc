// safetensors reader and writer. The format: an 8-byte little-endian header length N, N bytes
// of JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {"k": "v"}}, then the data buffer, which the tensors tile exactly.
#include <algorithm>
#include "core/storage.h"
#include <cstring>
#include <type_traits>
#include <nlohmann/json.hpp>

#include "convkit/io.h"

namespace convkit::io {

using internal::str_cat;
using nlohmann::json;

namespace {

constexpr uint64_t kMaxHeader = 100'000'000;  // the format's own limit

struct FileDtype {
  const char* name;
  int64_t size;
};

constexpr FileDtype kFileDtypes[] = {{"F32", 4}, {"F64", 8}, {"F16", 2}, {"BF16", 2}, {"C64", 8}, {"C128", 16},
                                     {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"U16", 2}, {"I16", 2}, {"U32", 4},
                                     {"I32", 4}, {"U64", 8}, {"I64", 8}};

const char* file_dtype_of(DType t) {
  switch (t) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Float16: return "F16";
    case DType::BFloat16: return "BF16";
    case DType::Complex64: return "C64";
    case DType::Complex128: return "C128";
  }
  return "";
}

template <typename I>
Tensor integers_to_f64(const uint8_t* p, int64_t n, const Shape& shape, const std::string& what) {
  Tensor t = Tensor::empty(shape, kFloat64);
  double* out = internal::mutable_data<double>(t);
  for (int64_t i = 0; i < n; ++i) {
    I v;
    std::memcpy(&v, p + i * static_cast<int64_t>(sizeof(I)), sizeof(I));
    if constexpr (sizeof(I) == 8) {  // float64 holds every integer up to 2^53 exactly
      constexpr I kLimit = I{1} << 53;
      CONVKIT_CHECK_FILE(v <= kLimit && (std::is_unsigned_v<I> || v >= -kLimit), what, ": integer value ", v,
                         " at index ", i, " is beyond 2^53 and cannot be loaded exactly as float64");
    }
    out[i] = static_cast<double>(v);
  }
  return t;
}

Tensor decode(const std::string& dtype, const uint8_t* p, int64_t n, const Shape& shape, const std::string& what) {
  if (dtype == "BOOL") {
    Tensor t = Tensor::empty(shape, kFloat64);
    for (int64_t i = 0; i < n; ++i) {
      CONVKIT_CHECK_FILE(p[i] <= 1, what, ": BOOL byte ", static_cast<int>(p[i]), " at index ", i, " is not 0 or 1");
      internal::mutable_data<double>(t)[i] = p[i];
    }
    return t;
  }
  if (dtype == "U8") return integers_to_f64<uint8_t>(p, n, shape, what);
  if (dtype == "I8") return integers_to_f64<int8_t>(p, n, shape, what);
  if (dtype == "U16") return integers_to_f64<uint16_t>(p, n, shape, what);
  if (dtype == "I16") return integers_to_f64<int16_t>(p, n, shape, what);
  if (dtype == "U32") return integers_to_f64<uint32_t>(p, n, shape, what);
  if (dtype == "I32") return integers_to_f64<int32_t>(p, n, shape, what);
  if (dtype == "U64") return integers_to_f64<uint64_t>(p, n, shape, what);
  if (dtype == "I64") return integers_to_f64<int64_t>(p, n, shape, what);
  DType t = kFloat32;
  if (dtype == "F64") t = kFloat64;
  else if (dtype == "F16") t = kFloat16;
  else if (dtype == "BF16") t = kBFloat16;
  else if (dtype == "C64") t = kComplex64;
  else if (dtype == "C128") t = kComplex128;
  Tensor out = Tensor::empty(shape, t);
  if (n > 0) std::memcpy(internal::mutable_data_ptr(out), p, static_cast<std::size_t>(n * element_size(t)));
  return out;
}

struct Entry {
  std::string name, dtype;
  Shape shape;
  uint64_t begin, end;
};

}  // namespace

Safetensors parse_safetensors(const uint8_t* data, std::size_t size, const std::string& file) {
  CONVKIT_CHECK_FILE(size >= 8, "'", file, "': not a safetensors file (", size,
                     " bytes, shorter than the 8-byte header size)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  CONVKIT_CHECK_FILE(n <= size - 8, "'", file, "': header size field says ", n, " bytes but only ", size - 8,
                     " bytes follow");
  CONVKIT_CHECK_FILE(n <= kMaxHeader, "'", file, "': header of ", n, " bytes is larger than the format's 100 MB limit");
  const json h = json::parse(data + 8, data + 8 + n, nullptr, /*allow_exceptions=*/false);
  CONVKIT_CHECK_FILE(!h.is_discarded(), "'", file, "': the header is not valid JSON");
  CONVKIT_CHECK_FILE(h.is_object(), "'", file, "': the header must be a JSON object, got ", h.type_name());

  Safetensors out;
  std::vector<Entry> entries;
  const uint64_t data_size = size - 8 - n;
  for (const auto& [key, v] : h.items()) {
    const std::string what = str_cat("'", file, "': tensor '", key, "'");
    if (key == "__metadata__") {
      CONVKIT_CHECK_FILE(v.is_object(), "'", file, "': __metadata__ must be an object of strings");
      for (const auto& [mk, mv] : v.items()) {
        CONVKIT_CHECK_FILE(mv.is_string(), "'", file, "': __metadata__ value for '", mk, "' must be a string");
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    CONVKIT_CHECK_FILE(v.is_object(), what, ": expected an object with dtype, shape and data_offsets");
    CONVKIT_CHECK_FILE(v.contains("dtype") && v["dtype"].is_string(), what, ": missing or non-string 'dtype'");
    CONVKIT_CHECK_FILE(v.contains("shape") && v["shape"].is_array(), what, ": missing or non-array 'shape'");
    CONVKIT_CHECK_FILE(v.contains("data_offsets") && v["data_offsets"].is_array() && v["data_offsets"].size() == 2 &&
                           v["data_offsets"][0].is_number_unsigned() && v["data_offsets"][1].is_number_unsigned(),
                       what, ": 'data_offsets' must be two non-negative integers");
    Entry e{key, v["dtype"].get<std::string>(), {}, v["data_offsets"][0].get<uint64_t>(),
            v["data_offsets"][1].get<uint64_t>()};
    const FileDtype* fd = nullptr;
    for (const auto& d : kFileDtypes)
      if (e.dtype == d.name) fd = &d;
    CONVKIT_CHECK_FILE(fd != nullptr, what, ": unsupported dtype '", e.dtype,
                       "' (convkit reads F16, BF16, F32, F64, C64, C128, BOOL, U8-U64, I8-I64)");
    for (const auto& s : v["shape"]) {
      CONVKIT_CHECK_FILE(s.is_number_unsigned() && s.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX), what,
                         ": shape entries must be non-negative integers");
      e.shape.push_back(s.get<int64_t>());
    }
    int64_t numel = 1, bytes = 0;
    for (int64_t s : e.shape)
      CONVKIT_CHECK_FILE(!__builtin_mul_overflow(numel, s, &numel), what, ": shape ", shape_str(e.shape),
                         " has more elements than fit in 64 bits");
    CONVKIT_CHECK_FILE(!__builtin_mul_overflow(numel, fd->size, &bytes), what, ": shape ", shape_str(e.shape),
                       " needs more bytes than fit in 64 bits");
    CONVKIT_CHECK_FILE(e.begin <= e.end && e.end <= data_size, what, ": data_offsets [", e.begin, ", ", e.end,
                       "] are outside the data buffer of ", data_size, " bytes");
    CONVKIT_CHECK_FILE(e.end - e.begin == static_cast<uint64_t>(bytes), what, ": data_offsets [", e.begin, ", ", e.end,
                       "] hold ", e.end - e.begin, " bytes but shape ", shape_str(e.shape), " of ", e.dtype, " needs ",
                       bytes);
    entries.push_back(e);
  }
  // The tensors must tile the buffer: no overlap, no hole, nothing after the last one.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  for (const auto& e : entries) {
    CONVKIT_CHECK_FILE(e.begin == pos, "'", file, "': tensor '", e.name, "' starts at byte ", e.begin,
                       " of the data but ",
                       e.begin < pos ? "it overlaps the previous tensor, which ends at "
                                     : "the previous tensor ends at ",
                       pos);
    pos = e.end;
  }
  CONVKIT_CHECK_FILE(pos == data_size, "'", file, "': the data buffer has ", data_size - pos,
                     " bytes after the last tensor");
  const uint8_t* buffer = data + 8 + n;
  for (const auto& e : entries) {
    int64_t numel = 1;
    for (int64_t s : e.shape) numel *= s;
    out.tensors[e.name] = decode(e.dtype, buffer + e.begin, numel, e.shape, str_cat("'", file, "': tensor '", e.name, "'"));
    out.dtypes[e.name] = e.dtype;
  }
  return out;
}

Safetensors load_safetensors(const std::string& path) {
  const std::string bytes = read_file(path);
  return parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path);
}

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json h = json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  std::string body;
  for (const auto& [name, t] : tensors) {
    CONVKIT_CHECK(name != "__metadata__", "save_safetensors: '__metadata__' is reserved, not a tensor name");
    CONVKIT_CHECK(t.defined(), "save_safetensors: expected tensor '", name, "' to be defined, but it is undefined");
    const Tensor c = t.contiguous();
    const std::size_t begin = body.size();
    body.append(static_cast<const char*>(c.const_data_ptr()), static_cast<std::size_t>(c.numel() * c.element_size()));
    h[name] = {{"dtype", file_dtype_of(t.dtype())}, {"shape", t.sizes()}, {"data_offsets", {begin, body.size()}}};
  }
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  write_file_atomic(path, out + header + body);
}

template <std::size_t D>
void load_conv(nn::ConvNdImpl<D>& m, const std::string& path, const std::string& prefix) {
  const Safetensors st = load_safetensors(path);
  const std::string wkey = prefix.empty() ? "weight" : prefix + ".weight";
  const std::string bkey = prefix.empty() ? "bias" : prefix + ".bias";
  auto names = [&] {
    std::string s;
    for (const auto& [k, v] : st.tensors) s += str_cat(s.empty() ? "" : ", ", k);
    return s.empty() ? std::string("none") : s;
  };
  const auto w = st.tensors.find(wkey);
  CONVKIT_CHECK_FILE(w != st.tensors.end(), "'", path, "': no tensor '", wkey, "' (the file has: ", names(), ")");
  const auto b = st.tensors.find(bkey);
  CONVKIT_CHECK_FILE(b != st.tensors.end() || !m.bias.defined(), "'", path, "': no tensor '", bkey,
                     "' but the module has a bias (the file has: ", names(), ")");
  CONVKIT_CHECK_FILE(b == st.tensors.end() || m.bias.defined(), "'", path, "': tensor '", bkey,
                     "' given but the module was made with bias=false");
  // Set both only after both validate, so a bad file leaves the module unchanged. A tensor
  // that does not fit the module is the file's fault: a FileError naming file and tensor.
  nn::ConvNdImpl<D> staged = m;
  const std::string* key = &wkey;
  try {
    staged.set_weight(w->second);
    key = &bkey;
    if (b != st.tensors.end()) staged.set_bias(b->second);
  } catch (const ArgumentError& e) {
    throw FileError(str_cat("'", path, "': tensor '", *key, "' does not fit the module: ", e.what()));
  }
  m = staged;
}

template <std::size_t D>
void save_conv(const nn::ConvNdImpl<D>& m, const std::string& path, const std::string& prefix, WeightLayout layout) {
  std::map<std::string, Tensor> t;
  t[prefix.empty() ? "weight" : prefix + ".weight"] = m.weight_as(layout);
  if (m.bias.defined()) t[prefix.empty() ? "bias" : prefix + ".bias"] = m.bias;
  save_safetensors(path, t, {{"format", "pt"}});
}

template void load_conv<1>(nn::ConvNdImpl<1>&, const std::string&, const std::string&);
template void load_conv<2>(nn::ConvNdImpl<2>&, const std::string&, const std::string&);
template void load_conv<3>(nn::ConvNdImpl<3>&, const std::string&, const std::string&);
template void save_conv<1>(const nn::ConvNdImpl<1>&, const std::string&, const std::string&, WeightLayout);
template void save_conv<2>(const nn::ConvNdImpl<2>&, const std::string&, const std::string&, WeightLayout);
template void save_conv<3>(const nn::ConvNdImpl<3>&, const std::string&, const std::string&, WeightLayout);

}  // namespace convkit::io
