// NumPy .npy reader and writer (format description: numpy/lib/format.py, versions 1.0-3.0).
#include <algorithm>
#include <cstring>

#include "convkit/io.h"

namespace convkit::io {

using internal::str_cat;

namespace {

constexpr char kMagic[] = "\x93NUMPY";

// The header is a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// This reads exactly that subset: string keys; string, bool and int-tuple values.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& file) : s_(text), file_(file) {}

  struct Header {
    std::string descr;
    bool fortran = false;
    Shape shape;
  };

  Header parse() {
    Header h;
    bool have_descr = false, have_fortran = false, have_shape = false;
    expect('{');
    while (true) {
      skip_ws();
      if (peek() == '}') {
        ++i_;
        break;
      }
      const std::string key = string_literal("a key");
      expect(':');
      if (key == "descr") {
        fail_if(have_descr, "'descr' appears twice");
        h.descr = string_literal("the 'descr' value");
        have_descr = true;
      } else if (key == "fortran_order") {
        fail_if(have_fortran, "'fortran_order' appears twice");
        h.fortran = boolean();
        have_fortran = true;
      } else if (key == "shape") {
        fail_if(have_shape, "'shape' appears twice");
        h.shape = tuple();
        have_shape = true;
      } else {
        fail(str_cat("unexpected key '", key, "' (a .npy header has 'descr', 'fortran_order' and 'shape')"));
      }
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect('}');
      break;
    }
    skip_ws();
    fail_if(i_ != s_.size(), "unexpected text after the header dict");
    fail_if(!have_descr || !have_fortran || !have_shape,
            "the header must have 'descr', 'fortran_order' and 'shape'");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw FileError(str_cat("'", file_, "': invalid .npy header at offset ", i_, ": ", what));
  }
  void fail_if(bool c, const std::string& what) const {
    if (c) fail(what);
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    skip_ws();
    fail_if(peek() != c, str_cat("expected '", c, "'"));
    ++i_;
  }
  std::string string_literal(const char* what) {
    skip_ws();
    const char q = peek();
    fail_if(q != '\'' && q != '"', str_cat("expected a quoted string for ", what));
    const auto end = s_.find(q, i_ + 1);
    fail_if(end == std::string::npos, "unterminated string");
    std::string r = s_.substr(i_ + 1, end - i_ - 1);
    i_ = end + 1;
    return r;
  }
  bool boolean() {
    skip_ws();
    if (s_.compare(i_, 4, "True") == 0) {
      i_ += 4;
      return true;
    }
    if (s_.compare(i_, 5, "False") == 0) {
      i_ += 5;
      return false;
    }
    fail("'fortran_order' must be True or False");
  }
  Shape tuple() {
    Shape shape;
    expect('(');
    while (true) {
      skip_ws();
      if (peek() == ')') {
        ++i_;
        return shape;
      }
      fail_if(!std::isdigit(static_cast<unsigned char>(peek())), "shape entries must be non-negative integers");
      int64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        fail_if(__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, peek() - '0', &v),
                "a shape entry does not fit in 64 bits");
        ++i_;
      }
      if (peek() == 'L') ++i_;  // Python 2 long suffix
      shape.push_back(v);
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect(')');
      return shape;
    }
  }

  const std::string& s_;
  const std::string& file_;
  std::size_t i_ = 0;
};

struct Descr {
  DType dtype;
  bool big_endian;
};

Descr parse_descr(const std::string& d, const std::string& file) {
  auto bad = [&]() -> FileError {
    return FileError(str_cat("'", file, "': unsupported .npy dtype descr '", d,
                         "': convkit reads float16 (f2), float32 (f4), float64 (f8), complex64 (c8), "
                         "complex128 (c16) and bfloat16 (V2)"));
  };
  if (d.size() < 2) throw bad();
  const char order = d[0];
  if (order != '<' && order != '>' && order != '|' && order != '=') throw bad();
  const std::string code = d.substr(1);
  Descr r{kFloat32, order == '>'};
  if (code == "f2") r.dtype = kFloat16;
  else if (code == "f4") r.dtype = kFloat32;
  else if (code == "f8") r.dtype = kFloat64;
  else if (code == "c8") r.dtype = kComplex64;
  else if (code == "c16") r.dtype = kComplex128;
  else if (code == "V2") r.dtype = kBFloat16;  // convkit's bfloat16 convention (README)
  else throw bad();
  if (order == '|' && r.dtype != kBFloat16) throw bad();  // '|' is only for byte-order-free types
  return r;
}

// Reverses the bytes of each `width`-byte word in place (complex: each of the two parts).
void byteswap(uint8_t* p, std::size_t bytes, std::size_t width) {
  for (std::size_t i = 0; i + width <= bytes; i += width) std::reverse(p + i, p + i + width);
}

std::size_t swap_width(DType t) { return is_complex(t) ? static_cast<std::size_t>(element_size(t)) / 2 : static_cast<std::size_t>(element_size(t)); }

std::string descr_of(DType t) {
  switch (t) {
    case DType::Float32: return "<f4";
    case DType::Float64: return "<f8";
    case DType::Float16: return "<f2";
    case DType::BFloat16: return "<V2";
    case DType::Complex64: return "<c8";
    case DType::Complex128: return "<c16";
  }
  return "";
}

}  // namespace

Tensor parse_npy(const uint8_t* data, std::size_t size, const std::string& name) {
  CONVKIT_CHECK_FILE(size >= 10 && std::memcmp(data, kMagic, 6) == 0, "'", name,
                     "': not a .npy file (it does not start with the magic string \\x93NUMPY)");
  const int major = data[6], minor = data[7];
  CONVKIT_CHECK_FILE((major == 1 || major == 2 || major == 3) && minor == 0, "'", name, "': unsupported .npy version ",
                     major, ".", minor, " (convkit reads 1.0, 2.0 and 3.0)");
  std::size_t header_len, header_start;
  if (major == 1) {
    header_len = static_cast<std::size_t>(data[8]) | static_cast<std::size_t>(data[9]) << 8;
    header_start = 10;
  } else {
    CONVKIT_CHECK_FILE(size >= 12, "'", name, "': truncated .npy preamble");
    header_len = static_cast<std::size_t>(data[8]) | static_cast<std::size_t>(data[9]) << 8 |
                 static_cast<std::size_t>(data[10]) << 16 | static_cast<std::size_t>(data[11]) << 24;
    header_start = 12;
  }
  CONVKIT_CHECK_FILE(header_len <= size - header_start, "'", name, "': the header length field says ", header_len,
                     " bytes but only ", size - header_start, " bytes follow");
  const std::string header(reinterpret_cast<const char*>(data + header_start), header_len);
  const auto h = HeaderParser(header, name).parse();
  const Descr descr = parse_descr(h.descr, name);

  int64_t numel = 1;
  for (int64_t s : h.shape)
    CONVKIT_CHECK_FILE(!__builtin_mul_overflow(numel, s, &numel), "'", name, "': shape ", shape_str(h.shape),
                       " has more elements than fit in 64 bits");
  int64_t bytes;
  CONVKIT_CHECK_FILE(!__builtin_mul_overflow(numel, element_size(descr.dtype), &bytes), "'", name, "': shape ",
                     shape_str(h.shape), " needs more bytes than fit in 64 bits");
  const std::size_t data_start = header_start + header_len;
  const std::size_t avail = size - data_start;
  CONVKIT_CHECK_FILE(static_cast<uint64_t>(bytes) <= avail, "'", name, "': truncated data: shape ", shape_str(h.shape),
                     " of ", dtype_name(descr.dtype), " needs ", bytes, " bytes but the file has ", avail);
  CONVKIT_CHECK_FILE(static_cast<uint64_t>(bytes) == avail, "'", name, "': ", avail - static_cast<std::size_t>(bytes),
                     " unexpected bytes after the data of shape ", shape_str(h.shape));

  // Fortran order stores the reversed shape in C order: read it so, then transpose back.
  Shape stored = h.shape;
  if (h.fortran) std::reverse(stored.begin(), stored.end());
  Tensor t = Tensor::empty(stored, descr.dtype);
  auto* out = static_cast<uint8_t*>(internal::mutable_data_ptr(t));
  if (bytes > 0) std::memcpy(out, data + data_start, static_cast<std::size_t>(bytes));
  if (descr.big_endian) byteswap(out, static_cast<std::size_t>(bytes), swap_width(descr.dtype));
  if (!h.fortran || t.dim() < 2) return t;
  std::vector<int64_t> rev(static_cast<std::size_t>(t.dim()));
  for (int64_t i = 0; i < t.dim(); ++i) rev[static_cast<std::size_t>(i)] = t.dim() - 1 - i;
  return t.permute(rev).contiguous();
}

Tensor load_npy(const std::string& path) {
  const std::string bytes = read_file(path);
  return parse_npy(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path);
}

std::string npy_bytes(const Tensor& t) {
  CONVKIT_CHECK(t.defined(), "save_npy: expected a defined tensor, but got an undefined one");
  std::string shape = "(";
  for (int64_t i = 0; i < t.dim(); ++i) shape += str_cat(i ? ", " : "", t.size(i));
  shape += t.dim() == 1 ? ",)" : ")";
  std::string header = "{'descr': '" + descr_of(t.dtype()) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces and a final newline so the data starts at a multiple of 64 bytes.
  const bool v2 = header.size() + 1 + 10 > 65535;
  const std::size_t preamble = v2 ? 12 : 10;
  const std::size_t total = (preamble + header.size() + 1 + 63) / 64 * 64;
  header.append(total - preamble - header.size() - 1, ' ');
  header += '\n';
  std::string out(kMagic, 6);
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  const std::size_t n = header.size();
  out += static_cast<char>(n & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  if (v2) {
    out += static_cast<char>((n >> 16) & 0xff);
    out += static_cast<char>((n >> 24) & 0xff);
  }
  out += header;
  const Tensor c = t.contiguous();
  out.append(static_cast<const char*>(c.const_data_ptr()), static_cast<std::size_t>(c.numel() * c.element_size()));
  return out;
}

void save_npy(const std::string& path, const Tensor& t) { write_file_atomic(path, npy_bytes(t)); }

}  // namespace convkit::io
