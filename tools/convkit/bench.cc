#include "tools/convkit/bench.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <memory>
#include <sstream>
#include <thread>
#include <utility>

#include "convkit/convkit.h"
#include "tools/convkit/bench_directions.h"
#include "tools/convkit/bench_report.h"
#include "tools/convkit/conv_command.h"

#if CONVKIT_HAVE_ONEDNN
#include "tools/convkit/bench_onednn.h"
#endif

namespace convkit::tool {

using internal::str_cat;

namespace {

#if CONVKIT_HAVE_ONEDNN
constexpr bool kHaveOnednn = true;
#else
constexpr bool kHaveOnednn = false;
#endif

// ---- convkit modules of any spatial rank behind one interface ------------------------

// The module, type-erased over D so the driver below is written once.
class Layer {
 public:
  virtual ~Layer() = default;
  virtual Tensor forward(const Tensor& x) = 0;
  virtual void set_parameters(const Tensor& w, const Tensor& b) = 0;
  virtual int64_t plan_bytes() const = 0;
  virtual std::string algorithm() const = 0;
};

template <std::size_t D>
class LayerD final : public Layer {
 public:
  LayerD(const BenchShape& s, DType dtype) : m_(module_options<D>(s).dtype(dtype)) {}
  Tensor forward(const Tensor& x) override { return m_(x); }
  void set_parameters(const Tensor& w, const Tensor& b) override {
    m_.set_weight(w);
    m_.set_bias(b);
  }
  int64_t plan_bytes() const override { return m_.plan_memory_bytes(); }
  std::string algorithm() const override { return m_.plan_algorithm(); }

 private:
  nn::ConvNdImpl<D> m_;
};

std::unique_ptr<Layer> make_layer(const BenchShape& s, DType dtype) {
  switch (s.dim()) {
    case 1: return std::make_unique<LayerD<1>>(s, dtype);
    case 2: return std::make_unique<LayerD<2>>(s, dtype);
    default: return std::make_unique<LayerD<3>>(s, dtype);
  }
}

// ---- timing --------------------------------------------------------------------------

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The implementations of one shape and thread count are timed in turns: rounds of each one
// running for its share of min_time, so that a slow spell of the (shared, noisy) machine
// lands on all of them rather than on whichever ran then. After one warm-up call each, every
// implementation runs kRounds rounds of at least one call and min_time / kRounds seconds;
// its time is the median of all its calls (not the mean: a stray page fault or a preempted
// thread would otherwise move it).
constexpr int kRounds = 5;

struct Timed {
  std::function<void()> fn;
  std::vector<double> seconds;
  std::string error;  // what a call threw; that implementation is not timed further

  double median_ms() const {
    if (seconds.empty()) return kNaN;
    std::vector<double> t = seconds;
    std::sort(t.begin(), t.end());
    const std::size_t m = t.size() / 2;
    return 1e3 * (t.size() % 2 ? t[m] : 0.5 * (t[m - 1] + t[m]));
  }
};

void time_in_turns(std::vector<Timed*>& impls, double min_time) {
  auto call = [](Timed* e) {
    try {
      e->fn();
    } catch (const std::exception& x) {
      e->error = x.what();
    }
  };
  for (Timed* e : impls) call(e);
  for (int r = 0; r < kRounds; ++r)
    for (Timed* e : impls) {
      double total = 0;
      while (e->error.empty()) {
        const double t0 = now_s();
        call(e);
        e->seconds.push_back(now_s() - t0);
        total += e->seconds.back();
        if (total >= min_time / kRounds) break;
      }
    }
}

// ---- one shape -----------------------------------------------------------------------

struct Runner {
  const BenchCommand& cmd;
  bool failed = false;

  // What a message names: "resnet50_conv1 bwd_data (onednn_best, threads=2)".
  static std::string what(const BenchShape& s, BenchDirection dir, int t, const char* impl) {
    return str_cat(s.name, " ", direction_name(dir), " (", impl, ", threads=", t, ")");
  }

  void fail(const BenchShape& s, BenchDirection dir, int t, const char* impl, const std::string& why,
            Measurement& m) {
    std::cerr << "convkit bench: FAILED " << what(s, dir, t, impl) << ": " << why << "\n";
    m.check = "FAILED";
    failed = true;
  }

  // convkit's side of one row. A convolution's forward runs through a fresh module per thread
  // count, every other row through a ConvPlan prepared by its first call (as a module's
  // backward keeps its gradient plans), so "first" is plan creation + the first call.
  // The first call is checked; the returned Timed makes the steady-state calls, keeping the
  // last results for the final check. Null on failure.
  struct ConvkitRun {
    std::unique_ptr<Layer> layer;
    std::vector<Tensor> out;
    Timed timed;
  };
  std::unique_ptr<ConvkitRun> prepare_convkit(const BenchShape& s, BenchDirection dir, int t, const BenchData& d,
                                              const Expected& want, double tol, Measurement& m) {
    try {
      auto run = std::make_unique<ConvkitRun>();
      ConvkitRun* r = run.get();
      std::function<std::vector<Tensor>()> call;
      if (!s.transposed && dir == BenchDirection::fwd) {
        run->layer = make_layer(s, d.x.dtype());
        run->layer->set_parameters(d.w, d.b);
        call = [r, &d] { return std::vector<Tensor>{r->layer->forward(d.x)}; };
      } else {
        call = convkit_prepared(s, dir, d);
      }
      const double t0 = now_s();
      run->out = call();
      m.first_ms = 1e3 * (now_s() - t0);
      const std::string why = check_outputs(run->out, want, tol);
      m.check = check_label(want);
      if (!why.empty()) {
        fail(s, dir, t, "convkit", why, m);
        return nullptr;
      }
      run->timed.fn = [r, call] { r->out = call(); };
      return run;
    } catch (const std::exception& e) {
      fail(s, dir, t, "convkit", e.what(), m);
      return nullptr;
    }
  }

  void finish_convkit(const BenchShape& s, BenchDirection dir, int t, ConvkitRun& run, const Expected& want,
                      double tol, Measurement& m) {
    try {
      if (!run.timed.error.empty()) {
        fail(s, dir, t, "convkit", run.timed.error, m);
        return;
      }
      const std::string why = check_outputs(run.out, want, tol);  // the last steady-state results too
      m.ms = run.timed.median_ms(), m.runs = static_cast<int>(run.timed.seconds.size());
      if (run.layer) {
        m.extra_mb = static_cast<double>(run.layer->plan_bytes()) / 1e6;
        m.detail = run.layer->algorithm();
      } else {
        m.detail = "prepared";
      }
      if (!why.empty()) fail(s, dir, t, "convkit", why, m);
    } catch (const std::exception& e) {
      fail(s, dir, t, "convkit", e.what(), m);
    }
  }

#if CONVKIT_HAVE_ONEDNN
  struct OnednnRun {
    std::unique_ptr<OnednnConv> conv;
    Timed timed;
  };
  std::unique_ptr<OnednnRun> prepare_onednn(const BenchShape& s, BenchDirection dir, int t, const BenchData& d,
                                            bool best, bool nhwc, const Expected& want, double tol, Measurement& m) {
    const char* impl = onednn_impl_name(best, nhwc);
    try {
      auto run = std::make_unique<OnednnRun>();
      // oneDNN's "first call": primitive creation (JIT, and for best the reorders) + one run.
      const double t0 = now_s();
      run->conv = std::make_unique<OnednnConv>(s, dir, d, best, nhwc);
      run->conv->run();
      m.first_ms = 1e3 * (now_s() - t0);
      const std::string why = check_outputs(run->conv->outputs(), want, tol);
      m.check = check_label(want);
      m.extra_mb = static_cast<double>(run->conv->extra_bytes()) / 1e6;
      m.detail = run->conv->impl_name();
      if (!why.empty()) {
        fail(s, dir, t, impl, why, m);
        return nullptr;
      }
      OnednnConv* c = run->conv.get();
      run->timed.fn = [c] { c->run(); };
      return run;
    } catch (const std::exception& e) {
      // oneDNN refusing a shape is a limitation of the comparison, not a convkit failure.
      std::cerr << "convkit bench: " << what(s, dir, t, impl) << ": oneDNN error: " << e.what() << "\n";
      m.check = "n/a";
      return nullptr;
    }
  }

  void finish_onednn(const BenchShape& s, BenchDirection dir, int t, OnednnRun& run, bool best, bool nhwc,
                     const Expected& want, double tol, Measurement& m) {
    const char* impl = onednn_impl_name(best, nhwc);
    if (!run.timed.error.empty()) {  // a limitation of the comparison, not a convkit failure
      std::cerr << "convkit bench: " << what(s, dir, t, impl) << ": oneDNN error: " << run.timed.error << "\n";
      m.check = "n/a";
      return;
    }
    const std::string why = check_outputs(run.conv->outputs(), want, tol);
    m.ms = run.timed.median_ms(), m.runs = static_cast<int>(run.timed.seconds.size());
    if (!why.empty()) fail(s, dir, t, impl, why, m);
  }
#endif

  // What one direction's results are checked against: the reference algorithm's results
  // while it is fast enough (reference_mac_limit), else oneDNN's plain-layout results, else
  // (no oneDNN, or it refused the layer) values at sampled positions in double precision.
  Expected expected(const std::string& tag, const BenchShape& s, BenchDirection dir, const BenchData& d,
                    int threads) {
    if (cmd.no_check) return {};
    if (s.macs() <= reference_mac_limit(s, dir)) {
      std::cerr << tag << ": reference results...\n";
      return full_expected("reference", convkit_outputs(s, dir, d, true));
    }
#if CONVKIT_HAVE_ONEDNN
    std::cerr << tag << ": " << s.macs() / 1e9 << " GMAC is too slow for the reference loops; checking against"
              << " oneDNN only\n";
    try {
      set_onednn_threads(threads);
      OnednnConv conv(s, dir, d, false);
      conv.run();
      return full_expected("onednn", conv.outputs());
    } catch (const std::exception& e) {
      std::cerr << tag << ": oneDNN error (" << e.what() << "); checking sampled results instead\n";
    }
#else
    (void)threads;
    std::cerr << tag << ": " << s.macs() / 1e9 << " GMAC is too slow for the reference loops; checking "
              << "sampled results in double precision\n";
#endif
    return sampled_expected(s, dir, d);
  }

  // Every dtype, direction, layout and thread count of one shape, on one set of data (rounded
  // to each dtype; the expected results come from the rounded values in float32). nhwc: the
  // same data channels-last, 2-d shapes only.
  std::vector<Row> run_shape(std::size_t index, std::size_t count, const BenchShape& s, const std::vector<DType>& dtypes,
                             const std::vector<BenchDirection>& dirs, const std::vector<bool>& layouts,
                             const std::vector<int>& threads) {
    const bool grads = std::any_of(dirs.begin(), dirs.end(), [](BenchDirection d) { return d != BenchDirection::fwd; });
    const BenchData d32 = make_bench_data(s, grads);
    int64_t yn = s.n * s.c_out;
    for (int64_t o : s.out_spatial()) yn *= o;
    std::vector<Row> rows;
    for (DType dt : dtypes) {
      const BenchData planar = dt == kFloat32 ? d32 : d32.to(dt), exact = dt == kFloat32 ? d32 : planar.to(kFloat32);
      const double tol = check_tolerance(dt);
      for (BenchDirection dir : dirs) {
        const std::string tag = str_cat("[", index + 1, "/", count, "] ", s.name, " ", direction_name(dir),
                                        dt == kFloat32 ? "" : str_cat(" ", bench_dtype_name(dt)));
        const Expected want = expected(tag, s, dir, exact, threads.front());
        for (bool nhwc : layouts) {
          if (nhwc && s.dim() != 2) continue;
          const BenchData d = nhwc ? planar.channels_last() : planar;
          for (int t : threads) {
            std::cerr << tag << (nhwc ? " nhwc" : "") << ": threads=" << t << "\n";
            Row r;
            r.dir = dir;
            r.dtype = dt;
            r.nhwc = nhwc;
            r.threads = t;
            set_num_threads(t);
#if CONVKIT_HAVE_ONEDNN
            set_onednn_threads(t);  // before convkit too: both may share the one OpenMP runtime
#endif
            std::vector<Timed*> impls;
            auto ck = prepare_convkit(s, dir, t, d, want, tol, r.ck);
            if (ck) impls.push_back(&ck->timed);
#if CONVKIT_HAVE_ONEDNN
            auto plain = prepare_onednn(s, dir, t, d, false, nhwc, want, tol, r.nchw);
            auto best = prepare_onednn(s, dir, t, d, true, nhwc, want, tol, r.best);
            if (plain) impls.push_back(&plain->timed);
            if (best) impls.push_back(&best->timed);
#endif
            time_in_turns(impls, cmd.min_time);
            if (ck) finish_convkit(s, dir, t, *ck, want, tol, r.ck);
#if CONVKIT_HAVE_ONEDNN
            if (plain) finish_onednn(s, dir, t, *plain, false, nhwc, want, tol, r.nchw);
            if (best) finish_onednn(s, dir, t, *best, true, nhwc, want, tol, r.best);
#endif
            r.io_mb = static_cast<double>(d.x.numel() + yn) * static_cast<double>(element_size(dt)) / 1e6;  // input + output
            rows.push_back(r);
          }
        }
      }
    }
    return rows;
  }
};

// The benchmark suite: bench/shapes.csv of the source tree the tool was built from, else the
// copy an installed tool has in <prefix>/share/convkit (found from the executable's path).
std::string resolve_shapes(const std::string& given) {
  if (!given.empty()) return given;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string installed = ec ? std::string(CONVKIT_INSTALLED_SHAPES)
                                   : (exe.parent_path() / CONVKIT_INSTALLED_SHAPES).lexically_normal().string();
  for (const std::string& p : {std::string(CONVKIT_SOURCE_SHAPES), installed})
    if (std::filesystem::exists(p)) return p;
  throw FileError(str_cat("no shapes file: neither ", CONVKIT_SOURCE_SHAPES, " nor ", installed,
                          " exists; give one with --shapes FILE"));
}

std::vector<int> parse_threads(const std::string& s) {
  std::vector<int> out;
  for (const auto& part : split(s, ',')) {
    const std::string p = trim(part);
    int v = 0;
    const auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    CONVKIT_CHECK(!p.empty() && ec == std::errc() && ptr == p.data() + p.size() && v >= 1 && v <= 1024,
                  "--threads '", s, "': '", p, "' is not a thread count (an integer from 1 to 1024)");
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  return out;
}

}  // namespace

// ---- public --------------------------------------------------------------------------

void add_bench_options(CLI::App& sub, BenchCommand& c) {
  sub.add_option("--shapes", c.shapes,
                 "CSV of layer shapes (default: the repository's bench/shapes.csv)");
  sub.add_option("--threads", c.threads, "comma-separated thread counts, each shape runs with each")
      ->capture_default_str();
  sub.add_option("--min-time", c.min_time, "seconds of timed runs per implementation, in 5 interleaved rounds of at least one run")
      ->capture_default_str();
  sub.add_option("--filter", c.filter, "only the shapes whose name contains this");
  sub.add_option("--direction", c.direction,
                 "comma-separated directions to time: fwd (forward), bwd_data (input gradient), bwd_weights (weight "
                 "and bias gradient); default fwd. Given, the built-in ConvTranspose layers (names ending in _deconv) "
                 "join the shapes")
      ->type_name("LIST");
  sub.add_option("--dtype", c.dtype,
                 "comma-separated element types to time: f32, bf16, f16, f64 (data, weights and results of that "
                 "type; oneDNN gets the same where it has it); default f32")
      ->type_name("LIST");
  sub.add_option("--layout", c.layout,
                 "comma-separated memory formats of the data: nchw (planar), nhwc (channels-last input and output "
                 "gradient; the 2-d shapes only, against oneDNN on nhwc and in its best layout); default nchw")
      ->type_name("LIST");
  sub.add_option("--csv", c.csv, "write one row per shape, direction, layout, thread count and implementation");
  sub.add_option("--plot", c.plot, "write a PNG chart of the speed-ups");
  sub.add_flag("--no-check", c.no_check, "skip the correctness checks");
}

int run_bench(const BenchCommand& c) {
  CONVKIT_CHECK(std::isfinite(c.min_time) && c.min_time >= 0, "--min-time ", c.min_time,
                ": must be a number of seconds >= 0");
  const std::vector<int> threads = parse_threads(c.threads);
  // Without --direction: the forward of shapes.csv, as before directions existed. With it: the
  // given directions, and the built-in ConvTranspose layers after the file's shapes.
  const bool with_transposed = !c.direction.empty();
  const std::vector<BenchDirection> dirs =
      with_transposed ? parse_directions(c.direction) : std::vector<BenchDirection>{BenchDirection::fwd};
  const std::vector<DType> dtypes = parse_bench_dtypes(c.dtype);
  const std::vector<bool> layouts = parse_bench_layouts(c.layout);
  const std::string path = resolve_shapes(c.shapes);
  std::ifstream in(path);
  CONVKIT_CHECK_FILE(in.good(), "--shapes '", path, "': cannot open the file");
  std::vector<BenchShape> all = parse_shapes(in, path), shapes;
  if (with_transposed)
    for (auto& s : builtin_transposed_shapes()) all.push_back(std::move(s));
  for (auto& s : all)
    if (s.name.find(c.filter) != std::string::npos) shapes.push_back(std::move(s));
  CONVKIT_CHECK(!shapes.empty(), "no shape in '", path, "'", with_transposed ? " or the built-in ConvTranspose layers" : "",
                " has a name containing '", c.filter, "'");
  const auto transposed = std::count_if(shapes.begin(), shapes.end(), [](const BenchShape& s) { return s.transposed; });

  std::string dir_list;
  for (BenchDirection d : dirs) dir_list += (dir_list.empty() ? "" : ",") + std::string(direction_name(d));
  const std::size_t from_file = shapes.size() - static_cast<std::size_t>(transposed);
  std::printf("convkit bench:");
  if (from_file) std::printf(" %zu shape%s from %s", from_file, from_file == 1 ? "" : "s", path.c_str());
  if (transposed)
    std::printf("%s %zu built-in ConvTranspose layer%s", from_file ? " +" : "", static_cast<std::size_t>(transposed),
                transposed == 1 ? "" : "s");
  std::string dtype_list;
  for (DType t : dtypes) dtype_list += (dtype_list.empty() ? "" : ",") + std::string(bench_dtype_name(t));
  std::printf(", directions %s, dtypes %s, layouts %s, threads %s, min time %.2f s\n", dir_list.c_str(),
              dtype_list.c_str(), c.layout.c_str(), c.threads.c_str(), c.min_time);
#if CONVKIT_HAVE_ONEDNN
  std::printf("%s, same process and data; plain/ck (oneDNN on the row's layout, nchw or nhwc) and best/ck (in its "
              "preferred layout) = oneDNN ms / convkit ms (> 1: convkit faster)\n",
              onednn_version().c_str());
#else
  std::printf("oneDNN: not built in (configure with -DCONVKIT_BENCH_ONEDNN=ON to compare)\n");
#endif

  // Other processes skew everything here, multi-threaded runs most: a thread of an OpenMP team
  // that loses its core stalls the whole region (by milliseconds with libgomp's default
  // spin-then-sleep waiting). Say so rather than let odd numbers pass as results.
  double load = 0;
  if (std::ifstream la("/proc/loadavg"); la >> load) {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    if (load > 1.0)
      std::cerr << "convkit bench: warning: load average " << load << " on " << cores
                << " cores; timings (multi-threaded ones most) will be noisy (OMP_WAIT_POLICY=passive helps"
                << " OpenMP teams that share cores with other processes)\n";
  }

  // The peak first, on an otherwise idle process.
  std::vector<double> peak;
  std::printf("FMA peak (%s, 12 chains):", peak_probe_isa());
  for (int t : threads) {
    peak.push_back(peak_gflops(t));
    std::printf(" threads=%d %.1f GFLOP/s", t, peak.back());
  }
  std::printf("\n");
  // Process start-up is paid once here, not charged to the first shape's "first forward".
  warm_up(threads, dirs.size() > 1 || dirs.front() != BenchDirection::fwd || transposed);
  std::printf("\n");
  print_header();

  Runner runner{c};
  std::vector<Row> rows;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    for (Row& r : runner.run_shape(i, shapes.size(), shapes[i], dtypes, dirs, layouts, threads)) {
      r.shape = i;
      print_row(shapes[i], r, peak[static_cast<std::size_t>(
                                  std::find(threads.begin(), threads.end(), r.threads) - threads.begin())]);
      rows.push_back(r);
    }
  }

  std::printf("\n");
  print_geomeans(rows, dtypes, dirs, layouts, threads);
  if (!c.csv.empty()) write_csv(c.csv, shapes, rows, threads, peak);
  if (!c.plot.empty()) plot(c.plot, shapes, dirs, rows, threads, peak, kHaveOnednn);
  if (runner.failed) std::printf("\nFAILED: at least one output did not match (see the messages above)\n");
  return runner.failed ? 1 : 0;
}

}  // namespace convkit::tool
