#include "tools/convkit/conv_command.h"

#include <charconv>

#include "convkit/convkit.h"
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

Shape parse_list(const std::string& s, const std::string& option) {
  Shape v;
  for (const auto& p : split(s, ',')) v.push_back(parse_int(p, option, s));
  return v;
}

}  // namespace

void add_conv_options(CLI::App& sub, ConvCommand& c, bool transposed) {
  c.transposed = transposed;
  sub.add_option("--input", c.input, "input .npy: (N, C_in, *S) or unbatched (C_in, *S)")->required();
  sub.add_option("--weight", c.weight, transposed ? "weight .npy: (C_in, C_out/groups, *K)" : "weight .npy: (C_out, C_in/groups, *K)");
  sub.add_option("--bias", c.bias, "bias .npy: (C_out)");
  sub.add_option("--weights", c.weights, "safetensors file holding <key>.weight and <key>.bias");
  sub.add_option("--key", c.key, "tensor name prefix inside --weights (e.g. layer1)");
  sub.add_option("--stride", c.stride, "S or S0,S1,...")->capture_default_str();
  sub.add_option("--padding", c.padding,
                 transposed ? "P, P0,P1,..., or lo:hi pairs cropped from the start and end of the full output (ONNX pads)"
                            : "P, P0,P1,..., same, valid, causal, or lo:hi pairs (1:2,0:1)")
      ->capture_default_str();
  sub.add_option("--dilation", c.dilation, "D or D0,D1,...")->capture_default_str();
  sub.add_option("--groups", c.groups, "number of groups")->capture_default_str();
  if (transposed) {
    sub.add_option("--output-padding", c.output_padding, "O or O0,O1,...: added to the end of each output dim")
        ->capture_default_str();
    sub.add_option("--output-size", c.output_size, "S0,S1,...: the output's spatial sizes (sets the output padding)");
  } else {
    sub.add_option("--padding-mode", c.padding_mode, "zeros, reflect, replicate or circular")->capture_default_str();
    sub.add_option("--conv-mode", c.conv_mode, "cross_correlation or convolution")->capture_default_str();
    sub.add_option("--compute-mode", c.compute_mode, "default or float32")->capture_default_str();
    sub.add_option("--weight-layout", c.weight_layout, "torch or megengine (grouped: groups, C_out/g, C_in/g, *K)")
        ->capture_default_str();
  }
  sub.add_option("--threads", c.threads, "threads to use; 0 = OMP_NUM_THREADS or every core")->capture_default_str();
  sub.add_option("--output", c.output, "output .npy (written to a temporary file, then renamed)");
  sub.add_option("--grad-output", c.grad_output, "gradient of the output .npy (the output's shape): computes the gradients below");
  sub.add_option("--grad-input", c.grad_input, "writes the input's gradient .npy (needs --grad-output)");
  sub.add_option("--grad-weight", c.grad_weight, "writes the weight's gradient .npy (needs --grad-output)");
  sub.add_option("--grad-bias", c.grad_bias, "writes the bias's gradient .npy, (C_out) (needs --grad-output)");
}

ConvSpec spec_from(const ConvCommand& c, int64_t dim) {
  CONVKIT_CHECK(dim >= 1 && dim <= 3, "the weight's rank gives ", dim,
                " spatial dims; convkit conv handles 1, 2 or 3 (weight rank 3-5, or 4-6 with --weight-layout megengine)");
  CONVKIT_CHECK(c.threads >= 0, "--threads ", c.threads, ": must be 0 (all cores) or more");
  ConvSpec s;
  s.rank = dim;
  s.transposed = c.transposed;
  s.stride = per_dim(c.stride, "stride", dim);
  s.dilation = per_dim(c.dilation, "dilation", dim);
  s.groups = c.groups;
  s.padding_mode = padding_mode_from_name(c.padding_mode);
  s.conv_mode = conv_mode_from_name(c.conv_mode);
  s.compute_mode = compute_mode_from_name(c.compute_mode);
  if (c.padding == "same") {
    s.padding = nn::PaddingKind::Same;
  } else if (c.padding == "valid") {
    s.padding = nn::PaddingKind::Valid;
  } else if (c.padding == "causal") {
    s.padding = nn::PaddingKind::Causal;
  } else if (c.padding.find(':') != std::string::npos) {
    s.padding = nn::PaddingKind::Pairs;
    const auto pairs = split(c.padding, ',');
    CONVKIT_CHECK(pairs.size() == 1 || static_cast<int64_t>(pairs.size()) == dim, "--padding '", c.padding,
                  "': expected one lo:hi pair or ", dim, " comma-separated pairs");
    for (const auto& p : pairs) {
      const auto lohi = split(p, ':');
      CONVKIT_CHECK(lohi.size() == 2, "--padding '", c.padding, "': '", p, "' is not a lo:hi pair");
      s.pad_lo.push_back(parse_int(lohi[0], "padding", c.padding));
      s.pad_hi.push_back(parse_int(lohi[1], "padding", c.padding));
    }
  } else {
    s.pad_lo = per_dim(c.padding, "padding", dim);
  }
  if (c.transposed) {
    s.output_padding = per_dim(c.output_padding, "output-padding", dim);
    if (!c.output_size.empty()) s.output_size = parse_list(c.output_size, "output-size");
  }
  return s;
}

namespace {

// The tensors a run needs, loaded from --input and --weight/--bias or --weights/--key.
struct Loaded {
  Tensor x, w, b;
};

Loaded load_inputs(const ConvCommand& c) {
  CONVKIT_CHECK(c.weight.empty() != c.weights.empty(), "give the weight either as --weight FILE.npy or as --weights ",
                "FILE.safetensors --key NAME (exactly one of them)");
  CONVKIT_CHECK(c.weights.empty() || c.bias.empty(), "--bias goes with --weight; with --weights the bias is <key>.bias");
  Loaded l;
  l.x = io::load_npy(c.input);
  if (!c.weight.empty()) {
    l.w = io::load_npy(c.weight);
    if (!c.bias.empty()) l.b = io::load_npy(c.bias);
    return l;
  }
  const io::Safetensors st = io::load_safetensors(c.weights);
  const std::string wkey = c.key.empty() ? "weight" : c.key + ".weight";
  const std::string bkey = c.key.empty() ? "bias" : c.key + ".bias";
  const auto wi = st.tensors.find(wkey);
  std::string names;
  for (const auto& [k, t] : st.tensors) names += str_cat(names.empty() ? "" : ", ", k);
  CONVKIT_CHECK_FILE(wi != st.tensors.end(), "'", c.weights, "': no tensor '", wkey, "' for --key '", c.key,
                     "' (the file has: ", names.empty() ? "none" : names, ")");
  l.w = wi->second;
  if (const auto bi = st.tensors.find(bkey); bi != st.tensors.end()) l.b = bi->second;
  return l;
}

// What to write: --output and the gradient files given, each named once.
std::vector<std::pair<std::string, std::string>> requested_files(const ConvCommand& c) {
  const std::pair<const char*, const std::string*> all[] = {
      {"--output", &c.output}, {"--grad-input", &c.grad_input}, {"--grad-weight", &c.grad_weight}, {"--grad-bias", &c.grad_bias}};
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& [flag, path] : all) {
    if (path->empty()) continue;
    for (const auto& [other, p] : files)
      CONVKIT_CHECK(p != *path, flag, " '", *path, "' names the same file as ", other);
    files.emplace_back(flag, *path);
  }
  const bool grads = !c.grad_input.empty() || !c.grad_weight.empty() || !c.grad_bias.empty();
  CONVKIT_CHECK(!files.empty(), "nothing to write: give --output, or --grad-output with any of --grad-input, ",
                "--grad-weight, --grad-bias");
  CONVKIT_CHECK(!grads || !c.grad_output.empty(), "--grad-input, --grad-weight and --grad-bias need --grad-output ",
                "(the gradient of the output, an .npy of the output's shape)");
  CONVKIT_CHECK(c.grad_output.empty() || grads, "--grad-output '", c.grad_output, "' is given but no gradient is ",
                "asked for: add any of --grad-input, --grad-weight, --grad-bias");
  return files;
}

}  // namespace

void run_conv(const ConvCommand& c) {
  const auto files = requested_files(c);
  const Loaded in = load_inputs(c);
  const WeightLayout layout = c.transposed ? WeightLayout::Torch : weight_layout_from_name(c.weight_layout);
  const int64_t dim = in.w.dim() - (layout == WeightLayout::MegEngine ? 3 : 2);
  if (layout == WeightLayout::MegEngine) {
    CONVKIT_CHECK(in.w.dim() >= 4, "--weight-layout megengine: the weight of shape ", shape_str(in.w.sizes()),
                  " is not (groups, C_out/groups, C_in/groups, *K)");
  }
  const F::OutputMask mask{!c.grad_input.empty(), !c.grad_weight.empty(), !c.grad_bias.empty()};
  const ConvSpec spec = spec_from(c, dim);
  if (c.threads > 0) set_num_threads(c.threads);
  Tensor y;
  F::ConvGradients g;
  if (!c.output.empty()) y = F::conv(in.x, in.w, in.b, spec);
  if (!c.grad_output.empty()) g = F::conv_backward(io::load_npy(c.grad_output), in.x, in.w, spec, mask);
  // Everything is computed: only now is any file written.
  for (const auto& [flag, path] : files) {
    const Tensor& t = flag == "--output" ? y : flag == "--grad-input" ? g.grad_input
                                             : flag == "--grad-weight" ? g.grad_weight : g.grad_bias;
    io::save_npy(path, t);
  }
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
      const ConvSpec spec = spec_from(c, dim);
      // Small tensors of the right rank: N=1, C_in=4, spatial 6, C_out=4, kernel 3.
      Shape xs{1, 4}, ws{4, spec.groups > 0 && 4 % spec.groups == 0 ? 4 / spec.groups : 1};
      for (int64_t i = 0; i < dim; ++i) {
        xs.push_back(6);
        ws.push_back(3);
      }
      if (checked_numel(output_shape(spec, xs, ws)) <= 64) (void)F::conv(Tensor::zeros(xs), Tensor::zeros(ws), {}, spec);
    } catch (const Error&) {
    }
  }
}

}  // namespace convkit::tool
