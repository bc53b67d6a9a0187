// .npy and safetensors: files written by NumPy and by the safetensors project, round trips,
// module state, every error path, atomic writes, the fuzz corpora, and the `convkit` tool.
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>

#include "convkit/io.h"
#include "test_util.h"
#include "tools/convkit/cli_errors.h"
#include "tools/convkit/conv_command.h"

namespace convkit::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kFixtures = std::string(CONVKIT_GOLDEN_DIR) + "/../fixtures";

// One scratch directory per test process, removed at exit.
struct ScratchDir {
  std::string path;
  ScratchDir() : path((fs::temp_directory_path() / "convkit-io-XXXXXX").string()) {
    if (!::mkdtemp(path.data())) throw std::runtime_error("mkdtemp failed");
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string temp_dir() {
  static const ScratchDir dir;
  return dir.path;
}

// Bad, unreadable or unwritable files are convkit::FileError (checked to be a convkit::Error
// and a std::exception too); bad arguments to the I/O functions are convkit::ArgumentError.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  expect_error_of<FileError>(f, parts);
}

Tensor parse(const std::string& bytes) {
  return io::parse_npy(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem.npy");
}

io::Safetensors parse_st(const std::string& bytes) {
  return io::parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem.safetensors");
}

// ---- .npy ------------------------------------------------------------------------------

TEST(Npy, ReadsEveryFileNumPyWrote) {
  std::ifstream f(kFixtures + "/npy/manifest.json");
  const json m = json::parse(f);
  ASSERT_GE(m.at("files").size(), 30u);
  for (const auto& e : m.at("files")) {
    SCOPED_TRACE(e.at("file").get<std::string>());
    const Tensor t = io::load_npy(kFixtures + "/npy/" + e.at("file").get<std::string>());
    const DType dt = dtype_from_name(e.at("dtype"));
    EXPECT_EQ(t.dtype(), dt);
    EXPECT_EQ(t.sizes(), e.at("shape").get<Shape>());
    const Tensor expect = tensor_from_json({{"shape", e.at("shape")}, {"data", e.at("values")}}, dt);
    EXPECT_TRUE(bitwise_equal(t, expect));
  }
}

TEST(Npy, RoundTripsEveryDtypeAndLayout) {
  for (DType dt : {kFloat32, kFloat64, kFloat16, kBFloat16, kComplex64, kComplex128}) {
    for (const Shape& s : {Shape{}, Shape{0}, Shape{7}, Shape{3, 4, 5}, Shape{2, 0, 3}}) {
      manual_seed(1);
      const Tensor t = randn(s, dt);
      const Tensor back = parse(io::npy_bytes(t));
      EXPECT_TRUE(bitwise_equal(back, t)) << dtype_name(dt) << shape_str(s);
    }
    const Tensor nc = randn({4, 6}, dt).transpose(0, 1).slice(0, 1, 6, 2);  // non-contiguous
    EXPECT_TRUE(bitwise_equal(parse(io::npy_bytes(nc)), nc));
  }
  const std::string b = io::npy_bytes(Tensor::zeros({2, 3}));
  EXPECT_EQ(b.substr(0, 6), "\x93NUMPY");
  EXPECT_EQ((10 + (static_cast<unsigned char>(b[8]) | static_cast<unsigned char>(b[9]) << 8)) % 64, 0);
  EXPECT_NE(b.find("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), std::string::npos);
}

// A well-formed header around `dict` with `data` after it.
std::string npy_with(const std::string& dict, const std::string& data, int version = 1) {
  std::string h = dict + "\n";
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(version) + '\0';
  out += static_cast<char>(h.size() & 0xff);
  out += static_cast<char>(h.size() >> 8);
  if (version > 1) out += std::string(2, '\0');
  return out + h + data;
}

TEST(Npy, BadFilesAreClearErrors) {
  const std::string d4(16, '\0');
  expect_error([] { parse("hello world!"); }, {"mem.npy", "not a .npy file"});
  expect_error([&] { parse(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", d4, 4)); },
               {"unsupported .npy version 4.0"});
  expect_error([&] { parse(npy_with("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", d4)); },
               {"mem.npy", "descr '<i4'"});
  expect_error([&] { parse(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", d4)); },
               {"truncated data", "[2, 3]", "needs 24 bytes", "has 16"});
  expect_error([&] { parse(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", d4)); },
               {"4 unexpected bytes"});
  expect_error([&] { parse(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 2), }", d4)); },
               {"more elements than fit in 64 bits"});
  expect_error([&] { parse(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", d4)); },
               {"does not fit in 64 bits"});
  expect_error([&] { parse(npy_with("{'descr': '<f4', 'shape': (4,), }", d4)); }, {"'fortran_order'"});
  expect_error([&] { parse(npy_with("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", d4)); },
               {"appears twice"});
  expect_error([&] { parse(npy_with("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (4,), }", d4)); },
               {"True or False"});
  expect_error([&] { parse(npy_with("{'descr': '<f4, 'fortran_order': False, 'shape': (4,), }", d4)); }, {"header"});
  expect_error([&] { parse(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", d4)); },
               {"non-negative integers"});
  std::string lying = npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", d4);
  lying[8] = '\xff';
  lying[9] = '\x7f';
  expect_error([&] { parse(lying); }, {"header length field says 32767"});
  expect_error([] { io::load_npy("/nonexistent/x.npy"); }, {"/nonexistent/x.npy", "No such file"});
  expect_error_of<ArgumentError>([] { io::save_npy(temp_dir() + "/u.npy", Tensor()); },
                                 {"save_npy", "expected a defined tensor"});
  expect_error_of<ArgumentError>([] { io::save_safetensors(temp_dir() + "/u.safetensors", {{"w", Tensor()}}); },
                                 {"save_safetensors", "'w'", "undefined"});
}

// ---- safetensors -----------------------------------------------------------------------

TEST(Safetensors, ReadsTheSharedSamplesWithValues) {
  std::ifstream f(kFixtures + "/safetensors_samples.json");
  const json samples = json::parse(f);
  ASSERT_EQ(samples.size(), 10u);
  for (const auto& [file, content] : samples.items()) {
    SCOPED_TRACE(file);
    const io::Safetensors st = io::load_safetensors(kFixtures + "/safetensors/" + file);
    EXPECT_EQ(st.metadata, (content.at("metadata").get<std::map<std::string, std::string>>()));
    ASSERT_EQ(st.tensors.size(), content.at("tensors").size());
    for (const auto& [name, t] : content.at("tensors").items()) {
      EXPECT_EQ(st.dtypes.at(name), t.at("dtype").get<std::string>());
      EXPECT_EQ(st.tensors.at(name).sizes(), t.at("shape").get<Shape>());
      EXPECT_EQ(st.tensors.at(name).to_vector(), t.at("values").get<std::vector<double>>()) << name;
    }
  }
}

TEST(Safetensors, RoundTripsEveryDtypeWithMetadata) {
  const std::string path = temp_dir() + "/rt.safetensors";
  std::map<std::string, Tensor> in;
  for (DType dt : {kFloat32, kFloat64, kFloat16, kBFloat16, kComplex64, kComplex128})
    in[std::string("t_") + dtype_name(dt)] = randn({2, 3}, dt);
  in["empty"] = Tensor::zeros({0, 4});
  in["scalar"] = tensor(3.5);
  io::save_safetensors(path, in, {{"format", "pt"}, {"note", "x"}});
  const io::Safetensors out = io::load_safetensors(path);
  EXPECT_EQ(out.metadata.at("note"), "x");
  ASSERT_EQ(out.tensors.size(), in.size());
  for (const auto& [k, t] : in) EXPECT_TRUE(bitwise_equal(out.tensors.at(k), t)) << k;
  EXPECT_EQ(io::read_file(path).substr(8).find('{'), 0u);
}

std::string st_with(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

TEST(Safetensors, BadFilesAreClearErrors) {
  const std::string d8(8, '\0');
  expect_error([] { parse_st("abc"); }, {"mem.safetensors", "shorter than the 8-byte header size"});
  expect_error([&] { parse_st(std::string("\xff\xff\0\0\0\0\0\0", 8) + "{}"); }, {"header size field says 65535"});
  expect_error([&] { parse_st(st_with("{not json", "")); }, {"not valid JSON"});
  expect_error([&] { parse_st(st_with("[1, 2]", "")); }, {"must be a JSON object"});
  expect_error([&] { parse_st(st_with(R"({"a": {"shape": [2], "data_offsets": [0, 8]}})", d8)); }, {"'a'", "'dtype'"});
  expect_error([&] { parse_st(st_with(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}})", d8)); },
               {"'a'", "outside the data buffer of 8 bytes"});
  expect_error([&] { parse_st(st_with(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", d8)); },
               {"hold 8 bytes", "needs 12"});
  expect_error([&] { parse_st(st_with(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                       "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", d8)); },
               {"overlaps"});
  expect_error([&] { parse_st(st_with(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", d8)); },
               {"starts at byte 4"});
  expect_error([&] { parse_st(st_with(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", d8)); },
               {"4 bytes after the last tensor"});
  expect_error([&] { parse_st(st_with(R"({"a": {"dtype": "F8_E4M3", "shape": [8], "data_offsets": [0, 8]}})", d8)); },
               {"unsupported dtype 'F8_E4M3'"});
  expect_error([&] { parse_st(st_with(R"({"a": {"dtype": "F32", "shape": [9223372036854775807, 4], "data_offsets": [0, 8]}})", d8)); },
               {"64 bits"});
  expect_error([&] { parse_st(st_with(R"({"a": {"dtype": "U64", "shape": [1], "data_offsets": [0, 8]}})",
                                      std::string(8, '\xff'))); },
               {"beyond 2^53"});
  expect_error([&] { parse_st(st_with(R"({"__metadata__": {"k": 1}})", "")); }, {"__metadata__", "string"});
}

TEST(Safetensors, ModuleStateSavesAndLoadsInBothLayouts) {
  const std::string path = temp_dir() + "/m.safetensors";
  nn::Conv2d a(nn::Conv2dOptions(4, 6, 3).groups(2)), b(nn::Conv2dOptions(4, 6, 3).groups(2));
  io::save_conv(a, path, "layer1");
  io::load_conv(b, path, "layer1");
  EXPECT_TRUE(bitwise_equal(a.weight, b.weight));
  EXPECT_TRUE(bitwise_equal(a.bias, b.bias));
  nn::Conv2d c(nn::Conv2dOptions(4, 6, 3).groups(2));
  io::save_conv(a, path, "", WeightLayout::MegEngine);
  EXPECT_EQ(io::load_safetensors(path).tensors.at("weight").sizes(), (Shape{2, 3, 2, 3, 3}));
  io::load_conv(c, path, "");
  EXPECT_TRUE(bitwise_equal(a.weight, c.weight));
  expect_error([&] { io::load_conv(c, path, "layer9"); }, {"no tensor 'layer9.weight'", "the file has: bias, weight"});
  nn::Conv2d nobias(nn::Conv2dOptions(4, 6, 3).groups(2).bias(false));
  expect_error([&] { io::load_conv(nobias, path, ""); }, {"bias=false"});
  nn::Conv2d wrong(nn::Conv2dOptions(4, 6, 5).groups(2));
  const Tensor before = wrong.weight.clone();
  expect_error([&] { io::load_conv(wrong, path, ""); },
               {path, "tensor 'weight' does not fit the module", "expected weight of size [6, 2, 5, 5]"});
  EXPECT_TRUE(bitwise_equal(wrong.weight, before));  // a failed load changes nothing
  nn::Conv1d tut(nn::Conv1dOptions(2, 2, 3).bias(false));
  io::load_conv(tut, kFixtures + "/tutorial/tutorial.safetensors", "conv");
  EXPECT_TRUE(bitwise_equal(tut.weight, io::load_npy(kFixtures + "/tutorial/w.npy")));
}

TEST(AtomicWrite, FailureLeavesNothingHalfWrittenAndKeepsTheOldFile) {
  expect_error([] { io::save_npy("/nonexistent-dir/y.npy", Tensor::zeros({2})); }, {"/nonexistent-dir/y.npy"});
  EXPECT_FALSE(fs::exists("/nonexistent-dir/y.npy"));
  const std::string dir = temp_dir() + "/a-directory";
  fs::create_directories(dir);
  fs::create_directories(dir + "/keep");
  expect_error([&] { io::save_npy(dir, Tensor::zeros({2})); }, {dir});
  EXPECT_TRUE(fs::is_directory(dir + "/keep"));
  for (const auto& e : fs::directory_iterator(temp_dir()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

// Every seed input of the fuzzers parses or fails with convkit::Error, never anything else.
TEST(FuzzCorpus, SeedsAndRegressionsNeverCrash) {
  const std::string root = std::string(CONVKIT_GOLDEN_DIR) + "/../../fuzz";
  int n = 0;
  for (const char* dir : {"corpus/npy", "corpus/safetensors", "corpus/cli", "regressions"}) {
    if (!fs::exists(root + "/" + dir)) continue;
    for (const auto& e : fs::directory_iterator(root + "/" + dir)) {
      const std::string bytes = io::read_file(e.path().string());
      const std::string name = e.path().filename().string();
      if (name.rfind("conv", 0) == 0) continue;  // the differential target's (test_nonfinite.cc)
      try {
        if (std::string(dir).find("cli") != std::string::npos || name.rfind("cli", 0) == 0) {
          tool::ConvCommand c;
          CLI::App app;
          tool::add_conv_options(app, c);
          tool::exercise_conv_arguments(bytes, app, c);
        } else if (std::string(dir).find("safetensors") != std::string::npos || name.find(".safetensors") != std::string::npos) {
          parse_st(bytes);
        } else {
          parse(bytes);
        }
      } catch (const Error&) {
      }
      ++n;
    }
  }
  EXPECT_GE(n, 40);
}

// ---- the convkit tool ------------------------------------------------------------------

struct ToolRun {
  int status;
  std::string out;
};

// Runs the tool; `out` is stdout and stderr together, or stderr alone.
ToolRun run_tool(const std::string& args, bool stderr_only = false) {
  const std::string cmd = std::string(CONVKIT_CLI) + " " + args + (stderr_only ? " 2>&1 >/dev/null" : " 2>&1");
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

TEST(Cli, TutorialDataReproducesTheTutorialOutput) {
  const std::string t = kFixtures + "/tutorial/", y = temp_dir() + "/y.npy";
  const ToolRun r = run_tool("conv --input " + t + "x.npy --weight " + t + "w.npy --output " + y);
  ASSERT_EQ(r.status, 0) << r.out;
  const Tensor out = io::load_npy(y);
  EXPECT_TRUE(all_close(out, io::load_npy(t + "y.npy"), 1e-6));
  std::string printed = io::read_file(t + "y.txt");
  while (!printed.empty() && printed.back() == '\n') printed.pop_back();
  EXPECT_EQ(out.to_string(), printed);
  const std::string y2 = temp_dir() + "/y2.npy";
  ASSERT_EQ(run_tool("conv --input " + t + "x.npy --weights " + t + "tutorial.safetensors --key conv --output " + y2).status, 0);
  EXPECT_TRUE(bitwise_equal(io::load_npy(y2), out));
}

TEST(Cli, EveryOptionReachesTheConvolution) {
  const std::string d = temp_dir() + "/";
  manual_seed(5);
  const Tensor x = randn({2, 4, 9, 8}), w = randn({6, 2, 3, 2}), b = randn({6});
  io::save_npy(d + "x.npy", x);
  io::save_npy(d + "w.npy", w);
  io::save_npy(d + "b.npy", b);
  io::save_npy(d + "wme.npy", w.reshape({2, 3, 2, 3, 2}));
  const ToolRun r = run_tool("conv --input " + d + "x.npy --weight " + d + "wme.npy --weight-layout megengine --bias " + d +
                         "b.npy --stride 2,1 --padding 1:2,0:1 --dilation 1,2 --groups 2 --padding-mode reflect "
                         "--conv-mode convolution --threads 2 --output " + d + "y.npy");
  ASSERT_EQ(r.status, 0) << r.out;
  const Tensor expect = F::conv2d(x, w, b, F::Conv2dFuncOptions().stride({2, 1}).padding({{1, 2}, {0, 1}}).dilation({1, 2})
                                               .groups(2).padding_mode("reflect").conv_mode("convolution"));
  EXPECT_TRUE(bitwise_equal(io::load_npy(d + "y.npy"), expect));
  // Unbatched input: rank one less than the weight's.
  ASSERT_EQ(run_tool("conv --input " + d + "x.npy --weight " + d + "w.npy --output " + d + "u.npy").status, 2);
  io::save_npy(d + "xu.npy", x.select(0, 0));
  ASSERT_EQ(run_tool("conv --input " + d + "xu.npy --weight " + d + "w.npy --groups 2 --padding same --output " + d +
                     "u.npy").status, 0);
  EXPECT_TRUE(bitwise_equal(io::load_npy(d + "u.npy"),
                            F::conv2d(x.select(0, 0), w, {}, F::Conv2dFuncOptions().groups(2).padding("same"))));
}

TEST(Cli, BadArgumentsAndFilesExitWith2AndSayWhat) {
  const std::string d = temp_dir() + "/", t = kFixtures + "/tutorial/";
  io::save_npy(d + "x64.npy", io::load_npy(t + "x.npy").to(kFloat64));
  std::ofstream(d + "trunc.npy") << io::read_file(t + "x.npy").substr(0, 150);
  std::ofstream(d + "keep.npy") << "precious";
  struct Case {
    std::string args;
    std::vector<std::string> says;
  };
  const std::vector<Case> cases = {
      {"conv --input " + t + "x.npy --weight " + t + "w.npy --stride -1 --output " + d + "keep.npy", {"non-positive stride"}},
      {"conv --input " + t + "x.npy --weight " + t + "w.npy --stride 1,2,3 --output " + d + "keep.npy", {"--stride '1,2,3'"}},
      {"conv --input " + t + "x.npy --weight " + t + "w.npy --padding 1: --output " + d + "keep.npy", {"--padding '1:'"}},
      {"conv --input " + t + "x.npy --weight " + t + "w.npy --groups abc --output " + d + "keep.npy", {"--groups"}},
      {"conv --input " + t + "x.npy --weight " + t + "w.npy --padding-mode mirror --output " + d + "keep.npy", {"mirror"}},
      {"conv --input " + d + "trunc.npy --weight " + t + "w.npy --output " + d + "keep.npy", {"trunc.npy", "truncated data"}},
      {"conv --input " + d + "x64.npy --weight " + t + "w.npy --output " + d + "keep.npy", {"float64", "float32"}},
      {"conv --input " + t + "x.npy --weights " + t + "tutorial.safetensors --key nope --output " + d + "keep.npy",
       {"no tensor 'nope.weight'"}},
      {"conv --input " + t + "x.npy --output " + d + "keep.npy", {"--weight"}},
      {"conv --input " + t + "x.npy --weight " + t + "w.npy --bogus 1 --output " + d + "keep.npy", {"--bogus"}},
      {"conv --input " + t + "x.npy --weight " + t + "w.npy --output /nonexistent-dir/y.npy", {"/nonexistent-dir/y.npy"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args);
    const ToolRun r = run_tool(c.args, true);
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_EQ(r.out.rfind("convkit: error: ", 0), 0u) << r.out;
    for (const auto& s : c.says) EXPECT_NE(r.out.find(s), std::string::npos) << r.out;
  }
  EXPECT_EQ(io::read_file(d + "keep.npy"), "precious");  // failed runs never touch the output
  const ToolRun help = run_tool("conv --help");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("Examples"), std::string::npos);
  EXPECT_NE(help.out.find("--padding-mode"), std::string::npos);
  EXPECT_EQ(run_tool("--help").status, 0);
  EXPECT_EQ(run_tool("").status, 2);
}

TEST(Cli, GradientsAndTransposedConvolutionsMatchTheLibrary) {
  const std::string d = temp_dir() + "/";
  manual_seed(8);
  const Tensor x = randn({2, 4, 7, 6}), w = randn({6, 2, 3, 2}), b = randn({6}), tw = randn({4, 3, 4, 3});
  const auto o = F::Conv2dFuncOptions().stride({2, 1}).padding({{1, 0}, {0, 1}}).groups(2).padding_mode("circular");
  const Tensor gy = randn(F::conv2d(x, w, b, o).sizes());
  for (const auto& [name, t] : {std::pair{"x", x}, {"w", w}, {"b", b}, {"gy", gy}, {"tw", tw}}) io::save_npy(d + name + ".npy", t);

  // conv: gradients only (no --output needed), equal to F::conv_backward.
  ToolRun r = run_tool("conv --input " + d + "x.npy --weight " + d + "w.npy --stride 2,1 --padding 1:0,0:1 --groups 2 "
                       "--padding-mode circular --grad-output " + d + "gy.npy --grad-input " + d + "gx.npy --grad-weight " +
                       d + "gw.npy --grad-bias " + d + "gb.npy");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto g = F::conv_backward(gy, x, w, o);
  EXPECT_TRUE(bitwise_equal(io::load_npy(d + "gx.npy"), g.grad_input));
  EXPECT_TRUE(bitwise_equal(io::load_npy(d + "gw.npy"), g.grad_weight));
  EXPECT_TRUE(bitwise_equal(io::load_npy(d + "gb.npy"), g.grad_bias));

  // conv-transpose: ONNX-style pairs, output padding, groups, dilation; then --output-size,
  // which replaces --output-padding (not checked then, as PyTorch ignores it).
  const auto to = F::ConvTranspose2dFuncOptions().stride(2).padding({{0, 1}, {1, 1}}).output_padding({1, 0}).groups(2).dilation({1, 2});
  r = run_tool("conv-transpose --input " + d + "x.npy --weight " + d + "tw.npy --bias " + d + "b.npy --stride 2 --padding "
               "0:1,1:1 --output-padding 1,0 --groups 2 --dilation 1,2 --output " + d + "ty.npy");
  ASSERT_EQ(r.status, 0) << r.out;
  const Tensor ty = F::conv_transpose2d(x, tw, b, to);
  EXPECT_TRUE(bitwise_equal(io::load_npy(d + "ty.npy"), ty));
  nn::ConvTranspose2d m(nn::ConvTranspose2dOptions(4, 6, {4, 3}).stride(2).padding(1).groups(2));
  m.set_weight(tw);
  m.set_bias(b);
  const Tensor my = m(x, {14, 12});
  io::save_npy(d + "tgy.npy", my);
  r = run_tool("conv-transpose --input " + d + "x.npy --weight " + d + "tw.npy --bias " + d + "b.npy --stride 2 --padding 1 "
               "--groups 2 --output-padding 5,5 --output-size 14,12 --output " + d + "my.npy --grad-output " + d + "tgy.npy --grad-weight " + d +
               "tgw.npy");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(bitwise_equal(io::load_npy(d + "my.npy"), my));
  m.backward(x, my);
  EXPECT_TRUE(bitwise_equal(io::load_npy(d + "tgw.npy"), m.weight.grad()));

  // Bad requests write nothing: a wrong grad_output shape leaves --output unwritten too.
  std::ofstream(d + "keep.npy") << "precious";
  const std::string base = "conv --input " + d + "x.npy --weight " + d + "w.npy --groups 2 ";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {base + "--grad-input " + d + "keep.npy", "need --grad-output"},
      {base + "--grad-output " + d + "gy.npy --output " + d + "keep.npy", "no gradient is asked for"},
      {base + "--grad-output " + d + "x.npy --output " + d + "keep.npy --grad-input " + d + "keep2.npy",
       "expected grad_output of size"},
      {base + "--output " + d + "keep.npy --grad-output " + d + "gy.npy --grad-bias " + d + "keep.npy", "names the same file"},
      {base, "nothing to write"},
      {"conv-transpose --input " + d + "x.npy --weight " + d + "tw.npy --padding same --output " + d + "keep.npy",
       "'valid', 'same' and 'causal' are not supported"},
      {"conv-transpose --input " + d + "x.npy --weight " + d + "tw.npy --stride 2 --output-size 99,12 --output " + d +
       "keep.npy", "valid sizes range from"},
  };
  for (const auto& [args, says] : bad) {
    SCOPED_TRACE(args);
    r = run_tool(args, true);
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.out.find(says), std::string::npos) << r.out;
  }
  EXPECT_EQ(io::read_file(d + "keep.npy"), "precious");
  EXPECT_FALSE(fs::exists(d + "keep2.npy"));
}

TEST(Cli, ParseErrorsSayConvkitErrorAndSuggestTheClosestOption) {
  const std::string t = kFixtures + "/tutorial/", d = temp_dir() + "/";
  const std::string io = "--input " + t + "x.npy --weight " + t + "w.npy --output " + d + "typo.npy";
  struct Case {
    std::string args, stderr_text;
  };
  const std::vector<Case> cases = {
      // Was CLI11's "The following arguments were not expected: reflect --padding_mode".
      {"conv " + io + " --padding_mode reflect",
       "convkit: error: unknown option '--padding_mode' for 'convkit conv'; did you mean '--padding-mode'?\n"},
      {"conv " + io + " --padding_mode=reflect",
       "convkit: error: unknown option '--padding_mode' for 'convkit conv'; did you mean '--padding-mode'?\n"},
      {"conv --inptu " + t + "x.npy --weight " + t + "w.npy --output " + d + "typo.npy",
       "convkit: error: unknown option '--inptu' for 'convkit conv'; did you mean '--input'?\n"},
      {"conv " + io + " --bogus 1",
       "convkit: error: unknown option '--bogus' for 'convkit conv'; run 'convkit conv --help' for every option\n"},
      {"bench --fliter resnet", "convkit: error: unknown option '--fliter' for 'convkit bench'; did you mean '--filter'?\n"},
      {"cnov " + io, "convkit: error: unknown command 'cnov'; did you mean 'conv'?\n"},
      {"conv " + io + " stray", "convkit: error: unexpected argument 'stray' for 'convkit conv'"},
      {"conv " + io + " --groups abc", "convkit: error: Could not convert: --groups = abc; expected INT\n"},
      {"conv --weight " + t + "w.npy --output " + d + "typo.npy", "convkit: error: --input is required\n"},
      {"", "convkit: error: a command is required: 'conv', 'conv-transpose' or 'bench'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args);
    const ToolRun r = run_tool(c.args, true);
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(r.out.substr(0, c.stderr_text.size()), c.stderr_text);
  }
  EXPECT_FALSE(fs::exists(d + "typo.npy"));
  EXPECT_EQ(run_tool("conv --help", true).out, "");  // help goes to stdout, status 0
  EXPECT_EQ(run_tool("conv --help").status, 0);
}

// Every bench dtype in every direction and layout: its rows checked against the float32 results
// of the same values, and named in the table and the CSV (nhwc rows for the 2-d shape only).
TEST(Cli, BenchTimesEachDtype) {
  const std::string d = temp_dir() + "/";
  {
    std::ofstream f(d + "tiny.csv");
    f << "name,N,C_in,C_out,spatial,kernel,stride,padding,dilation,groups\n"
      << "tiny_3x3,2,8,16,9x7,3x3,1x1,1x1,1x1,1\ntiny_dw,1,8,8,12,5,2,2,1,8\n";
  }
  const ToolRun r = run_tool("bench --shapes " + d + "tiny.csv --filter tiny --threads 1 --min-time 0 --dtype f32,bf16,f16,f64 "
                             "--direction fwd,bwd_data,bwd_weights --layout nchw,nhwc --csv " + d + "tiny_out.csv");
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string csv = io::read_file(d + "tiny_out.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "name,direction,dtype,layout,threads,impl,ms_median,gflops,pct_peak,ratio_vs_convkit,extra_mb,"
            "first_over_steady,runs,check,detail");
  for (const char* dt : {"f32", "bf16", "f16", "f64"})
    for (const char* dir : {"fwd", "bwd_data", "bwd_weights"})
      for (const char* shape : {"tiny_3x3", "tiny_dw"})
        for (const char* layout : {"nchw", "nhwc"}) {
          if (std::string(dt) == "f64" && std::string(dir) != "fwd") continue;  // (forward only)
          const std::string row = std::string(shape) + "," + dir + "," + dt + "," + layout + ",1,convkit,";
          const auto at = csv.find(row);
          if (std::string(shape) == "tiny_dw" && std::string(layout) == "nhwc") {  // 1-d: no nhwc rows
            EXPECT_EQ(at, std::string::npos) << row;
            continue;
          }
          ASSERT_NE(at, std::string::npos) << row << "\n" << csv;
          EXPECT_NE(csv.substr(at, csv.find('\n', at) - at).find(",ok,"), std::string::npos) << row;
        }
  EXPECT_NE(r.out.find("geomean                    bwd_weights f16   nhwc"), std::string::npos) << r.out;
}

TEST(Cli, ClosestOptionIsATypoOrNothing) {
  const std::vector<std::string> names = {"input", "weight", "padding", "padding-mode", "dilation", "groups", "help"};
  EXPECT_EQ(tool::closest("padding_mode", names), "padding-mode");
  EXPECT_EQ(tool::closest("PADDING-MODE", names), "padding-mode");
  EXPECT_EQ(tool::closest("inptu", names), "input");  // a transposition is one edit
  EXPECT_EQ(tool::closest("dilatoin", names), "dilation");
  EXPECT_EQ(tool::closest("paddin", names), "padding");
  EXPECT_EQ(tool::closest("bogus", names), "");
  EXPECT_EQ(tool::closest("x", names), "");
  EXPECT_EQ(tool::edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(tool::edit_distance("", "abc"), 3u);
  EXPECT_EQ(tool::edit_distance("ab", "ba"), 1u);
}

}  // namespace
}  // namespace convkit::test
