// shapes.csv: the benchmark's layer shapes (parsed here so the tests share the parser), and
// one output of such a layer in double precision (the independent check of big layers).
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

}  // namespace

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

Shape BenchShape::out_spatial() const {
  Shape o;
  for (std::size_t i = 0; i < dim(); ++i)
    o.push_back((spatial[i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) / stride[i] + 1);
  return o;
}

double BenchShape::macs() const {
  double m = static_cast<double>(n) * static_cast<double>(c_out) * static_cast<double>(c_in / groups);
  for (std::size_t i = 0; i < dim(); ++i) m *= static_cast<double>(out_spatial()[i] * kernel[i]);
  return m;
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
