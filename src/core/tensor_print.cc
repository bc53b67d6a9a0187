// Tensor printing, reproducing PyTorch 1.13's str(tensor) (torch/_tensor_str.py) with its
// default print options: precision 4, linewidth 80, threshold 1000, edgeitems 3.
// Golden strings recorded from PyTorch are checked in tests/test_tensor.cc.
#include <cmath>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "convkit/tensor.h"

namespace convkit {
namespace {

constexpr int kPrecision = 4;
constexpr int64_t kLinewidth = 80;
constexpr int64_t kThreshold = 1000;
constexpr int64_t kEdgeItems = 3;

// Python's '{:.4f}', '{:.4e}', '{:.0f}' and '{:W.4e}' agree with C's printf: both round the
// exact binary value half to even.
std::string fixed(double v, int precision) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "%.*f", precision, v);
  return buf;
}
std::string sci(double v, int width) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "%*.*e", width, kPrecision, v);
  return buf;
}

// Decides fixed / integer / scientific notation and the column width from the values
// printed (PyTorch's _Formatter for floating dtypes).
class Formatter {
 public:
  explicit Formatter(const std::vector<double>& values) {
    std::vector<double> nz;
    for (double v : values)
      if (std::isfinite(v) && v != 0.0) nz.push_back(v);
    if (nz.empty()) return;
    double mn = INFINITY, mx = 0;
    for (double v : nz) {
      mn = std::min(mn, std::fabs(v));
      mx = std::max(mx, std::fabs(v));
      if (v != std::ceil(v)) int_mode_ = false;
    }
    if (int_mode_) {
      sci_mode_ = mx / mn > 1000.0 || mx > 1e8;
    } else {
      sci_mode_ = mx / mn > 1000.0 || mx > 1e8 || mn < 1e-4;
    }
    for (double v : nz) {
      std::size_t len;
      if (sci_mode_) len = sci(v, 0).size();
      else if (int_mode_) len = fixed(v, 0).size() + 1;  // + 1 for the trailing '.'
      else len = fixed(v, kPrecision).size();
      width_ = std::max<std::size_t>(width_, len);
    }
  }
  std::size_t width() const { return width_; }
  std::string format(double v) const {
    std::string r;
    if (sci_mode_) {
      r = sci(v, static_cast<int>(width_));
    } else if (int_mode_) {
      r = fixed(v, 0);
      if (!std::isinf(v) && !std::isnan(v)) r += '.';
    } else {
      r = fixed(v, kPrecision);
    }
    if (r.size() < width_) r.insert(0, width_ - r.size(), ' ');
    return r;
  }

 private:
  bool int_mode_ = true;
  bool sci_mode_ = false;
  std::size_t width_ = 1;
};

// A row-major view over the printed values; select() walks the first dimension.
struct Nd {
  const std::vector<std::complex<double>>* data;
  int64_t offset;
  Shape sizes;
  Shape strides;
  Nd select(int64_t i) const {
    return {data, offset + i * strides[0], Shape(sizes.begin() + 1, sizes.end()),
            Shape(strides.begin() + 1, strides.end())};
  }
  std::complex<double> at(int64_t i) const { return (*data)[static_cast<std::size_t>(offset + i * strides[0])]; }
};

// The values a summarized print shows (the first and last kEdgeItems of every long dim).
void summarized(const Nd& t, bool summarize, std::vector<std::complex<double>>& out) {
  if (t.sizes.empty()) {
    out.push_back((*t.data)[static_cast<std::size_t>(t.offset)]);
    return;
  }
  const int64_t n = t.sizes[0];
  auto visit = [&](int64_t i) {
    if (t.sizes.size() == 1) out.push_back(t.at(i));
    else summarized(t.select(i), summarize, out);
  };
  if (summarize && n > 2 * kEdgeItems) {
    for (int64_t i = 0; i < kEdgeItems; ++i) visit(i);
    for (int64_t i = n - kEdgeItems; i < n; ++i) visit(i);
  } else {
    for (int64_t i = 0; i < n; ++i) visit(i);
  }
}

struct Printer {
  const Formatter& re;
  const Formatter* im;  // null for real dtypes
  bool summarize;

  std::string value(std::complex<double> v) const {
    if (!im) return re.format(v.real());
    std::string r = re.format(v.real());
    std::string i = im->format(v.imag()) + "j";
    i.erase(0, i.find_first_not_of(' '));
    if (i[0] == '+' || i[0] == '-') return r + i;
    return r + "+" + i;
  }

  std::string vector(const Nd& t, int64_t indent) const {
    int64_t element_length = static_cast<int64_t>(re.width()) + 2;
    if (im) element_length += static_cast<int64_t>(im->width()) + 1;
    const int64_t per_line = std::max<int64_t>(1, (kLinewidth - indent) / element_length);
    std::vector<std::string> data;
    const int64_t n = t.sizes[0];
    if (summarize && n > 2 * kEdgeItems) {
      for (int64_t i = 0; i < kEdgeItems; ++i) data.push_back(value(t.at(i)));
      data.push_back(" ...");
      for (int64_t i = n - kEdgeItems; i < n; ++i) data.push_back(value(t.at(i)));
    } else {
      for (int64_t i = 0; i < n; ++i) data.push_back(value(t.at(i)));
    }
    std::string s = "[";
    for (std::size_t i = 0; i < data.size(); ++i) {
      if (i > 0) {
        if (i % static_cast<std::size_t>(per_line) == 0)
          s += ",\n" + std::string(static_cast<std::size_t>(indent + 1), ' ');
        else
          s += ", ";
      }
      s += data[i];
    }
    return s + "]";
  }

  std::string tensor(const Nd& t, int64_t indent) const {
    const auto dim = t.sizes.size();
    if (dim == 0) return value((*t.data)[static_cast<std::size_t>(t.offset)]);
    if (dim == 1) return vector(t, indent);
    std::vector<std::string> slices;
    const int64_t n = t.sizes[0];
    if (summarize && n > 2 * kEdgeItems) {
      for (int64_t i = 0; i < kEdgeItems; ++i) slices.push_back(tensor(t.select(i), indent + 1));
      slices.push_back("...");
      for (int64_t i = n - kEdgeItems; i < n; ++i) slices.push_back(tensor(t.select(i), indent + 1));
    } else {
      for (int64_t i = 0; i < n; ++i) slices.push_back(tensor(t.select(i), indent + 1));
    }
    const std::string sep = "," + std::string(dim - 1, '\n') + std::string(static_cast<std::size_t>(indent + 1), ' ');
    std::string s = "[";
    for (std::size_t i = 0; i < slices.size(); ++i) s += (i ? sep : "") + slices[i];
    return s + "]";
  }
};

}  // namespace

std::string Tensor::to_string() const {
  if (!defined()) return "[ undefined convkit::Tensor ]";
  const std::string prefix = "tensor(";
  const int64_t indent = static_cast<int64_t>(prefix.size());
  std::vector<std::string> suffixes;
  std::string body;
  const std::string dtype_suffix = std::string("dtype=torch.") + dtype_name(dtype_);
  // PyTorch omits the dtype for its defaults: float32 and, with it, complex64.
  const bool default_dtype = dtype_ == kFloat32 || dtype_ == kComplex64;
  if (numel() == 0) {
    if (dim() != 1) {
      std::string s = "size=(";
      for (int64_t i = 0; i < dim(); ++i) s += (i ? ", " : "") + std::to_string(sizes_[static_cast<std::size_t>(i)]);
      suffixes.push_back(s + ")");
    }
    if (dtype_ != kFloat32) suffixes.push_back(dtype_suffix);  // empty: only float32 is implied
    body = "[]";
  } else {
    if (!default_dtype) suffixes.push_back(dtype_suffix);
    const auto values = to_complex_vector();
    const Nd nd{&values, 0, sizes_, contiguous_strides(sizes_)};
    const bool summarize = numel() > kThreshold;
    std::vector<std::complex<double>> shown;
    summarized(nd, summarize, shown);
    std::vector<double> re, im;
    for (const auto& v : shown) {
      re.push_back(v.real());
      im.push_back(v.imag());
    }
    const Formatter fre(re), fim(im);
    const Printer p{fre, is_complex(dtype_) ? &fim : nullptr, summarize};
    body = p.tensor(nd, indent);
  }
  // Suffixes go on a new line when the last line would pass the line width (_add_suffixes).
  std::string s = prefix + body;
  const auto nl = s.rfind('\n');
  int64_t last_line_len = static_cast<int64_t>(s.size()) - (nl == std::string::npos ? -1 : static_cast<int64_t>(nl)) + 1;
  for (const auto& suf : suffixes) {
    const auto len = static_cast<int64_t>(suf.size());
    if (last_line_len + len + 2 > kLinewidth) {
      s += ",\n" + std::string(static_cast<std::size_t>(indent), ' ') + suf;
      last_line_len = indent + len;
    } else {
      s += ", " + suf;
      last_line_len += len + 2;
    }
  }
  return s + ")";
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

}  // namespace convkit
