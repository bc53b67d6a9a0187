// shapes.csv: the benchmark's layer shapes (parsed here so the tests share the parser), the
// built-in ConvTranspose layers, the --direction list, and one output or gradient element of
// such a layer in double precision (the independent check of big layers).
#include <algorithm>
#include <charconv>
#include <iterator>
#include <string>
#include <utility>

#include "tools/convkit/bench.h"
#include "tools/convkit/conv_command.h"

namespace convkit::tool {

using internal::str_cat;

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

namespace {

constexpr const char* kFields[] = {"name",   "N",      "C_in",    "C_out",    "spatial",
                                   "kernel", "stride", "padding", "dilation", "groups"};

constexpr int64_t kMaxCount = int64_t{1} << 31;

int64_t parse_count(const std::string& s, const std::string& where, const std::string& field, int64_t min) {
  int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  CONVKIT_CHECK_FILE(!s.empty() && ec == std::errc() && ptr == s.data() + s.size(), where, ", field '", field, "': '", s,
                     "' is not an integer");
  CONVKIT_CHECK_FILE(v >= min, where, ", field '", field, "': ", v, " must be at least ", min);
  // The cap keeps the size arithmetic below (padded extents, MACs) far from int64 overflow.
  CONVKIT_CHECK_FILE(v <= kMaxCount, where, ", field '", field, "': ", v, " must be at most ", kMaxCount);
  return v;
}

// "224x224" -> {224, 224}; "16000" -> {16000}.
Shape parse_dims(const std::string& s, const std::string& where, const std::string& field, int64_t min) {
  Shape v;
  for (const auto& p : split(s, 'x')) v.push_back(parse_count(p, where, field, min));
  return v;
}

// Splits `flat` (row-major over [lead..., *dims]) into the positions along dims (returned)
// and the rest (left in flat).
Shape unravel(int64_t& flat, const Shape& dims) {
  Shape pos(dims.size());
  for (std::size_t i = dims.size(); i-- > 0;) {
    pos[i] = flat % dims[i];
    flat /= dims[i];
  }
  return pos;
}

int64_t volume(const Shape& dims) {
  int64_t v = 1;
  for (int64_t d : dims) v *= d;
  return v;
}

}  // namespace

double point_grad_input(const BenchShape& s, const float* dy, const float* w, int64_t flat) {
  const Shape so = s.out_spatial();
  const Shape pos = unravel(flat, s.spatial);
  const int64_t ci = flat % s.c_in, n = flat / s.c_in;
  const int64_t cig = s.c_in / s.groups, cog = s.c_out / s.groups, g = ci / cig;
  const int64_t kvol = volume(s.kernel), ovol = volume(so);
  double acc = 0;
  for (int64_t kf = 0; kf < kvol; ++kf) {
    // The output position o with o*stride - pad + k*dilation == pos, if it exists.
    int64_t rest = kf, of = 0;
    const Shape k = unravel(rest, s.kernel);
    bool hit = true;
    for (std::size_t i = 0; i < s.dim() && hit; ++i) {
      const int64_t t = pos[i] + s.padding[i] - k[i] * s.dilation[i];
      hit = t >= 0 && t % s.stride[i] == 0 && t / s.stride[i] < so[i];
      of = of * so[i] + t / s.stride[i];
    }
    if (!hit) continue;
    for (int64_t j = 0; j < cog; ++j) {
      const int64_t co = g * cog + j;
      acc += static_cast<double>(dy[(n * s.c_out + co) * ovol + of]) * w[(co * cig + ci % cig) * kvol + kf];
    }
  }
  return acc;
}

double point_grad_weight(const BenchShape& s, const float* x, const float* dy, int64_t flat) {
  const Shape so = s.out_spatial();
  const Shape k = unravel(flat, s.kernel);
  const int64_t cig = s.c_in / s.groups, cog = s.c_out / s.groups;
  const int64_t co = flat / cig, ci = (co / cog) * cig + flat % cig;
  const int64_t ovol = volume(so), xvol = volume(s.spatial);
  double acc = 0;
  for (int64_t n = 0; n < s.n; ++n) {
    for (int64_t of = 0; of < ovol; ++of) {
      int64_t rest = of, xf = 0;
      const Shape o = unravel(rest, so);
      bool inside = true;
      for (std::size_t i = 0; i < s.dim() && inside; ++i) {
        const int64_t p = o[i] * s.stride[i] - s.padding[i] + k[i] * s.dilation[i];
        inside = p >= 0 && p < s.spatial[i];
        xf = xf * s.spatial[i] + p;
      }
      if (inside)
        acc += static_cast<double>(x[(n * s.c_in + ci) * xvol + xf]) * dy[(n * s.c_out + co) * ovol + of];
    }
  }
  return acc;
}

const char* direction_name(BenchDirection d) {
  switch (d) {
    case BenchDirection::fwd: return "fwd";
    case BenchDirection::bwd_data: return "bwd_data";
    default: return "bwd_weights";
  }
}

std::vector<BenchDirection> parse_directions(const std::string& s) {
  std::vector<BenchDirection> out;
  for (const auto& part : split(s, ',')) {
    const std::string p = trim(part);
    BenchDirection d{};
    if (p == "fwd") d = BenchDirection::fwd;
    else if (p == "bwd_data") d = BenchDirection::bwd_data;
    else if (p == "bwd_weights") d = BenchDirection::bwd_weights;
    else
      throw ArgumentError(str_cat("--direction '", s, "': ", p.empty() ? "empty direction" : "unknown direction '" + p + "'",
                                  "; expected a comma-separated list of fwd, bwd_data and bwd_weights"));
    if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  }
  return out;
}

const char* bench_dtype_name(DType t) {
  return t == kBFloat16 ? "bf16" : t == kFloat16 ? "f16" : t == kFloat64 ? "f64" : "f32";
}

std::vector<DType> parse_bench_dtypes(const std::string& s) {
  std::vector<DType> out;
  for (const auto& part : split(s, ',')) {
    const std::string p = trim(part);
    DType t{};
    if (p == "f32" || p == "float32") t = kFloat32;
    else if (p == "bf16" || p == "bfloat16") t = kBFloat16;
    else if (p == "f16" || p == "float16") t = kFloat16;
    else if (p == "f64" || p == "float64") t = kFloat64;
    else if (p == "c64" || p == "complex64" || p == "c128" || p == "complex128")
      throw ArgumentError(str_cat("--dtype '", s, "': ", p, " is not timed by the bench yet; it times f32, bf16, f16 and f64"));
    else
      throw ArgumentError(str_cat("--dtype '", s, "': ", p.empty() ? "empty dtype" : "unknown dtype '" + p + "'",
                                  "; expected a comma-separated list of f32, bf16, f16 and f64"));
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
  }
  return out;
}

std::vector<bool> parse_bench_layouts(const std::string& s) {
  std::vector<bool> out;
  for (const auto& part : split(s, ',')) {
    const std::string p = trim(part);
    if (p != "nchw" && p != "nhwc")
      throw ArgumentError(str_cat("--layout '", s, "': ", p.empty() ? "empty layout" : "unknown layout '" + p + "'",
                                  "; expected a comma-separated list of nchw and nhwc"));
    if (std::find(out.begin(), out.end(), p == "nhwc") == out.end()) out.push_back(p == "nhwc");
  }
  return out;
}

std::vector<BenchShape> builtin_transposed_shapes() {
  auto layer = [](const char* name, int64_t n, int64_t c_in, int64_t c_out, Shape spatial, int64_t k, int64_t stride,
                  int64_t pad) {
    BenchShape s;
    s.name = name;
    s.transposed = true;
    s.n = n, s.c_in = c_in, s.c_out = c_out;
    const std::size_t d = spatial.size();
    s.spatial = std::move(spatial);
    s.kernel = Shape(d, k), s.stride = Shape(d, stride), s.padding = Shape(d, pad);
    s.dilation = Shape(d, 1), s.output_padding = Shape(d, 0);
    return s;
  };
  return {
      // DCGAN generator for 64x64 images (nz -> 512 -> 256 -> 128 -> 64 -> 3), its ConvTranspose2d
      // number 2 from 0: 256 -> 128 channels, 8x8 -> 16x16, batch 16.
      layer("dcgan_g2_deconv", 16, 256, 128, {8, 8}, 4, 2, 1),
      // U-Net decoder up-convolution (ConvTranspose2d 2x2, stride 2): 64x64 -> 128x128.
      layer("unet_up2_deconv", 1, 128, 64, {64, 64}, 2, 2, 0),
      // HiFi-GAN V1 generator, first upsampling ConvTranspose1d (x8): 200 mel frames -> 1600.
      layer("hifigan_up1_deconv", 1, 512, 256, {200}, 16, 8, 4),
  };
}

Shape BenchShape::out_spatial() const {
  Shape o;
  for (std::size_t i = 0; i < dim(); ++i) {
    const int64_t extent = dilation[i] * (kernel[i] - 1) + 1;
    if (transposed)
      o.push_back((spatial[i] - 1) * stride[i] - 2 * padding[i] + extent +
                  (i < output_padding.size() ? output_padding[i] : 0));
    else
      o.push_back((spatial[i] + 2 * padding[i] - extent) / stride[i] + 1);
  }
  return o;
}

BenchShape BenchShape::matching_conv() const {
  if (!transposed) return *this;
  BenchShape c = *this;
  c.transposed = false;
  c.output_padding.clear();
  c.c_in = c_out, c.c_out = c_in;
  c.spatial = out_spatial();
  return c;
}

double BenchShape::macs() const {
  if (transposed) return matching_conv().macs();
  double m = static_cast<double>(n) * static_cast<double>(c_out) * static_cast<double>(c_in / groups);
  for (std::size_t i = 0; i < dim(); ++i) m *= static_cast<double>(out_spatial()[i] * kernel[i]);
  return m;
}

double point_value(const BenchShape& s, const float* x, const float* w, const float* b, int64_t flat) {
  const std::size_t d = s.dim();
  const Shape so = s.out_spatial();
  Shape o(d);
  for (std::size_t i = d; i-- > 0;) {
    o[i] = flat % so[i];
    flat /= so[i];
  }
  const int64_t co = flat % s.c_out, n = flat / s.c_out;
  const int64_t cig = s.c_in / s.groups, g = co / (s.c_out / s.groups);
  int64_t kvol = 1;
  for (int64_t k : s.kernel) kvol *= k;
  double acc = b ? b[co] : 0.0;
  for (int64_t ci = 0; ci < cig; ++ci) {
    for (int64_t kf = 0; kf < kvol; ++kf) {
      // kf -> kernel position; input position = o*stride - pad + k*dilation.
      int64_t rest = kf, xi = n * s.c_in + g * cig + ci;
      bool inside = true;
      Shape kpos(d);
      for (std::size_t i = d; i-- > 0;) {
        kpos[i] = rest % s.kernel[i];
        rest /= s.kernel[i];
      }
      for (std::size_t i = 0; i < d; ++i) {
        const int64_t p = o[i] * s.stride[i] - s.padding[i] + kpos[i] * s.dilation[i];
        inside = inside && p >= 0 && p < s.spatial[i];
        xi = xi * s.spatial[i] + p;
      }
      if (inside) acc += static_cast<double>(x[xi]) * w[(co * cig + ci) * kvol + kf];
    }
  }
  return acc;
}


std::vector<BenchShape> parse_shapes(std::istream& in, const std::string& source) {
  std::vector<BenchShape> shapes;
  std::string text;
  int line_no = 0;
  bool header = false;
  while (std::getline(in, text)) {
    ++line_no;
    const std::string line = trim(text);
    if (line.empty() || line[0] == '#') continue;
    const std::string where = str_cat(source, " line ", line_no);
    auto fields = split(line, ',');
    for (auto& f : fields) f = trim(f);
    if (!header) {  // the first non-blank line must be the header, exactly
      std::string want;
      for (const char* f : kFields) want += (want.empty() ? "" : ",") + std::string(f);
      CONVKIT_CHECK_FILE(fields.size() == std::size(kFields) && std::equal(fields.begin(), fields.end(), kFields), where,
                         ": expected the header '", want, "', got '", line, "'");
      header = true;
      continue;
    }
    CONVKIT_CHECK_FILE(fields.size() == std::size(kFields), where, ": expected ", std::size(kFields),
                       " comma-separated fields (name,N,C_in,C_out,spatial,kernel,stride,padding,dilation,groups), got ",
                       fields.size());
    BenchShape s;
    s.line = line_no;
    s.name = fields[0];
    CONVKIT_CHECK_FILE(!s.name.empty(), where, ", field 'name': empty");
    s.n = parse_count(fields[1], where, "N", 1);
    s.c_in = parse_count(fields[2], where, "C_in", 1);
    s.c_out = parse_count(fields[3], where, "C_out", 1);
    s.spatial = parse_dims(fields[4], where, "spatial", 1);
    s.kernel = parse_dims(fields[5], where, "kernel", 1);
    s.stride = parse_dims(fields[6], where, "stride", 1);
    s.padding = parse_dims(fields[7], where, "padding", 0);
    s.dilation = parse_dims(fields[8], where, "dilation", 1);
    s.groups = parse_count(fields[9], where, "groups", 1);
    CONVKIT_CHECK_FILE(s.dim() <= 3, where, ", field 'spatial': '", fields[4], "' has ", s.dim(),
                       " dims; convkit bench handles 1 (L), 2 (HxW) or 3 (DxHxW)");
    const std::pair<const char*, const Shape*> per_dim[] = {
        {"kernel", &s.kernel}, {"stride", &s.stride}, {"padding", &s.padding}, {"dilation", &s.dilation}};
    for (std::size_t i = 0; i < std::size(per_dim); ++i)
      CONVKIT_CHECK_FILE(per_dim[i].second->size() == s.dim(), where, ", field '", per_dim[i].first, "': '",
                         fields[5 + i], "' has ", per_dim[i].second->size(), " dims but spatial '", fields[4], "' has ",
                         s.dim());
    CONVKIT_CHECK_FILE(s.c_in % s.groups == 0 && s.c_out % s.groups == 0, where, ", field 'groups': ", s.groups,
                       " must divide C_in (", s.c_in, ") and C_out (", s.c_out, ")");
    for (std::size_t i = 0; i < s.dim(); ++i)
      CONVKIT_CHECK_FILE(s.spatial[i] + 2 * s.padding[i] >= s.dilation[i] * (s.kernel[i] - 1) + 1, where,
                         ", field 'kernel': the dilated kernel (", s.dilation[i] * (s.kernel[i] - 1) + 1,
                         ") is larger than the padded input (", s.spatial[i] + 2 * s.padding[i], ") in dim ", i);
    shapes.push_back(std::move(s));
  }
  CONVKIT_CHECK_FILE(header, source, ": empty file (expected the header line and one line per shape)");
  return shapes;
}

}  // namespace convkit::tool
