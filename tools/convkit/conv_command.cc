#include "tools/convkit/conv_command.h"

#include <charconv>

#include "conv/conv.h"
#include "convkit/io.h"
#include "convkit/threads.h"

namespace convkit::tool {

using internal::str_cat;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto p = s.find(sep, start);
    parts.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) return parts;
    start = p + 1;
  }
}

namespace {

int64_t parse_int(const std::string& s, const std::string& option, const std::string& whole) {
  int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  CONVKIT_CHECK(!s.empty() && ec == std::errc() && ptr == s.data() + s.size(), "--", option, " '", whole,
                "': '", s, "' is not an integer");
  return v;
}

// "2" or "2,1": one value for every spatial dim, or one per dim.
Shape per_dim(const std::string& s, const std::string& option, int64_t dim) {
  const auto parts = split(s, ',');
  CONVKIT_CHECK(parts.size() == 1 || static_cast<int64_t>(parts.size()) == dim, "--", option, " '", s,
                "': expected one integer or ", dim, " comma-separated integers (one per spatial dim)");
  Shape v;
  for (const auto& p : parts) v.push_back(parse_int(p, option, s));
  if (v.size() == 1) v.assign(static_cast<std::size_t>(dim), v[0]);
  return v;
}

}  // namespace

void add_conv_options(CLI::App& sub, ConvCommand& c) {
  sub.add_option("--input", c.input, "input .npy: (N, C_in, *S) or unbatched (C_in, *S)")->required();
  sub.add_option("--weight", c.weight, "weight .npy: (C_out, C_in/groups, *K)");
  sub.add_option("--bias", c.bias, "bias .npy: (C_out)");
  sub.add_option("--weights", c.weights, "safetensors file holding <key>.weight and <key>.bias");
  sub.add_option("--key", c.key, "tensor name prefix inside --weights (e.g. layer1)");
  sub.add_option("--stride", c.stride, "S or S0,S1,...")->capture_default_str();
  sub.add_option("--padding", c.padding, "P, P0,P1,..., same, valid, causal, or lo:hi pairs (1:2,0:1)")->capture_default_str();
  sub.add_option("--dilation", c.dilation, "D or D0,D1,...")->capture_default_str();
  sub.add_option("--groups", c.groups, "number of groups")->capture_default_str();
  sub.add_option("--padding-mode", c.padding_mode, "zeros, reflect, replicate or circular")->capture_default_str();
  sub.add_option("--conv-mode", c.conv_mode, "cross_correlation or convolution")->capture_default_str();
  sub.add_option("--compute-mode", c.compute_mode, "default or float32")->capture_default_str();
  sub.add_option("--weight-layout", c.weight_layout, "torch or megengine (grouped: groups, C_out/g, C_in/g, *K)")->capture_default_str();
  sub.add_option("--threads", c.threads, "threads to use; 0 = OMP_NUM_THREADS or every core")->capture_default_str();
  sub.add_option("--output", c.output, "output .npy (written to a temporary file, then renamed)")->required();
}

internal::ConvArgs conv_args_from(const ConvCommand& c, int64_t dim) {
  CONVKIT_CHECK(dim >= 1 && dim <= 3, "the weight's rank gives ", dim,
                " spatial dims; convkit conv handles 1, 2 or 3 (weight rank 3-5, or 4-6 with --weight-layout megengine)");
  CONVKIT_CHECK(c.threads >= 0, "--threads ", c.threads, ": must be 0 (all cores) or more");
  internal::ConvArgs a;
  a.dim = dim;
  a.stride = per_dim(c.stride, "stride", dim);
  a.dilation = per_dim(c.dilation, "dilation", dim);
  a.groups = c.groups;
  a.padding_mode = padding_mode_from_name(c.padding_mode);
  a.conv_mode = conv_mode_from_name(c.conv_mode);
  a.compute_mode = compute_mode_from_name(c.compute_mode);
  if (c.padding == "same") {
    a.padding_kind = nn::PaddingKind::Same;
  } else if (c.padding == "valid") {
    a.padding_kind = nn::PaddingKind::Valid;
  } else if (c.padding == "causal") {
    a.padding_kind = nn::PaddingKind::Causal;
  } else if (c.padding.find(':') != std::string::npos) {
    a.padding_kind = nn::PaddingKind::Pairs;
    const auto pairs = split(c.padding, ',');
    CONVKIT_CHECK(pairs.size() == 1 || static_cast<int64_t>(pairs.size()) == dim, "--padding '", c.padding,
                  "': expected one lo:hi pair or ", dim, " comma-separated pairs");
    for (const auto& p : pairs) {
      const auto lohi = split(p, ':');
      CONVKIT_CHECK(lohi.size() == 2, "--padding '", c.padding, "': '", p, "' is not a lo:hi pair");
      a.pad_lo.push_back(parse_int(lohi[0], "padding", c.padding));
      a.pad_hi.push_back(parse_int(lohi[1], "padding", c.padding));
    }
    if (a.pad_lo.size() == 1) {
      a.pad_lo.assign(static_cast<std::size_t>(dim), a.pad_lo[0]);
      a.pad_hi.assign(static_cast<std::size_t>(dim), a.pad_hi[0]);
    }
  } else {
    a.pad_lo = per_dim(c.padding, "padding", dim);
    a.pad_hi = a.pad_lo;
  }
  return a;
}

void run_conv(const ConvCommand& c) {
  CONVKIT_CHECK(c.weight.empty() != c.weights.empty(), "give the weight either as --weight FILE.npy or as --weights ",
                "FILE.safetensors --key NAME (exactly one of them)");
  CONVKIT_CHECK(c.weights.empty() || c.bias.empty(), "--bias goes with --weight; with --weights the bias is <key>.bias");
  const WeightLayout layout = weight_layout_from_name(c.weight_layout);
  const Tensor x = io::load_npy(c.input);
  Tensor w, b;
  if (!c.weight.empty()) {
    w = io::load_npy(c.weight);
    if (!c.bias.empty()) b = io::load_npy(c.bias);
  } else {
    const io::Safetensors st = io::load_safetensors(c.weights);
    const std::string wkey = c.key.empty() ? "weight" : c.key + ".weight";
    const std::string bkey = c.key.empty() ? "bias" : c.key + ".bias";
    const auto wi = st.tensors.find(wkey);
    std::string names;
    for (const auto& [k, t] : st.tensors) names += str_cat(names.empty() ? "" : ", ", k);
    CONVKIT_CHECK_FILE(wi != st.tensors.end(), "'", c.weights, "': no tensor '", wkey, "' for --key '", c.key,
                       "' (the file has: ", names.empty() ? "none" : names, ")");
    w = wi->second;
    if (const auto bi = st.tensors.find(bkey); bi != st.tensors.end()) b = bi->second;
  }
  const int64_t dim = w.dim() - (layout == WeightLayout::MegEngine ? 3 : 2);
  if (layout == WeightLayout::MegEngine) {
    CONVKIT_CHECK(w.dim() >= 4, "--weight-layout megengine: the weight of shape ", shape_str(w.sizes()),
                  " is not (groups, C_out/groups, C_in/groups, *K)");
  }
  const internal::ConvArgs args = conv_args_from(c, dim);
  if (c.threads > 0) set_num_threads(c.threads);
  const Tensor y = internal::conv_forward(x, w, b, args);
  io::save_npy(c.output, y);
}

void exercise_conv_arguments(const std::string& bytes, CLI::App& app, ConvCommand& c) {
  std::vector<std::string> args;  // CLI11 takes them last-first
  std::size_t start = 0;
  while (true) {
    const auto p = bytes.find('\0', start);
    args.insert(args.begin(), bytes.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  c = ConvCommand();
  app.clear();
  try {
    app.parse(args);
  } catch (const CLI::Error&) {
    return;
  }
  for (int64_t dim = 1; dim <= 3; ++dim) {
    try {
      const internal::ConvArgs a = conv_args_from(c, dim);
      // Small tensors of the right rank: N=1, C_in=4, spatial 6, C_out=4, kernel 3.
      Shape xs{1, 4}, ws{4, a.groups > 0 && 4 % a.groups == 0 ? 4 / a.groups : 1};
      for (int64_t i = 0; i < dim; ++i) {
        xs.push_back(6);
        ws.push_back(3);
      }
      const Tensor x = Tensor::zeros(xs), w = Tensor::zeros(ws);
      const internal::ConvParams p = internal::make_conv_params(x, w, {}, a);
      if (checked_numel(p.output_shape()) <= 64) (void)internal::conv_forward(x, w, {}, a);
    } catch (const Error&) {
    }
  }
}

}  // namespace convkit::tool
