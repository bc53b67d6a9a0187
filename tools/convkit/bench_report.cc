#include "tools/convkit/bench_report.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "tools/convkit/chart.h"

namespace convkit::tool {

using internal::str_cat;

namespace {

double gflops(const BenchShape& s, double ms) { return 2 * s.macs() / (ms * 1e-3) / 1e9; }

using NamedMeasurement = std::pair<const char*, const Measurement*>;
std::array<NamedMeasurement, 3> measurements(const Row& r) {
  return {{{"convkit", &r.ck}, {onednn_impl_name(false, r.nhwc), &r.nchw}, {"onednn_best", &r.best}}};
}

const char* layout_name(bool nhwc) { return nhwc ? "nhwc" : "nchw"; }

std::string check_summary(const Row& r) {
  std::string out;
  for (const auto& [name, m] : measurements(r)) {
    if (m->failed()) out += (out.empty() ? "FAILED:" : ",") + std::string(name);
  }
  return out.empty() ? r.ck.check : out;
}

}  // namespace

const char* onednn_impl_name(bool best, bool nhwc) { return best ? "onednn_best" : nhwc ? "onednn_nhwc" : "onednn_nchw"; }

std::string fmt(double v, int precision, const char* suffix) {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%s", precision, v, suffix);
  return buf;
}

// oneDNN time / convkit time (> 1: convkit is faster); NaN if either side cannot count.
double speedup(const Measurement& ck, const Measurement& other) {
  return ck.usable() && other.usable() ? other.ms / ck.ms : kNaN;
}

void print_header() {
  std::printf("%-26s %-11s %-5s %-6s %2s %10s %8s %6s %9s %8s %8s %9s %8s  %s\n", "shape", "direction", "dtype", "layout",
              "t", "ms", "GFLOP/s", "%peak", "first/st", "plain/ck", "best/ck", "extra_MB", "io_MB", "check");
}

void print_row(const BenchShape& s, const Row& r, double peak) {
  const double gf = gflops(s, r.ck.ms);
  std::printf("%-26s %-11s %-5s %-6s %2d %10s %8s %6s %9s %8s %8s %9s %8s  %s\n", s.name.c_str(), direction_name(r.dir),
              bench_dtype_name(r.dtype), layout_name(r.nhwc), r.threads, fmt(r.ck.ms, 3).c_str(),
              fmt(gf, 1).c_str(), fmt(100 * gf / peak, 1, "%").c_str(), fmt(r.ck.first_ms / r.ck.ms, 2).c_str(),
              fmt(speedup(r.ck, r.nchw), 2).c_str(), fmt(speedup(r.ck, r.best), 2).c_str(),
              fmt(r.ck.extra_mb, 2).c_str(), fmt(r.io_mb, 2).c_str(), check_summary(r).c_str());
  std::fflush(stdout);
}

double geomean(const std::vector<double>& v) {
  double sum = 0;
  int n = 0;
  for (double x : v)
    if (std::isfinite(x) && x > 0) sum += std::log(x), ++n;
  return n ? std::exp(sum / n) : kNaN;
}

std::string csv_safe(std::string s) {
  std::replace(s.begin(), s.end(), ',', ';');
  return s;
}

void write_csv(const std::string& path, const std::vector<BenchShape>& shapes, const std::vector<Row>& rows,
               const std::vector<int>& threads, const std::vector<double>& peak) {
  std::ostringstream os;
  os << "name,direction,dtype,layout,threads,impl,ms_median,gflops,pct_peak,ratio_vs_convkit,extra_mb,first_over_steady,"
        "runs,check,detail\n";
  for (std::size_t i = 0; i < threads.size(); ++i)
    os << "peak,,,," << threads[i] << ",peak,," << fmt(peak[i], 2) << ",100.0,,,,,,"
       << "FMA probe\n";
  for (const Row& r : rows) {
    const BenchShape& s = shapes[r.shape];
    const double pk = peak[static_cast<std::size_t>(std::find(threads.begin(), threads.end(), r.threads) -
                                                    threads.begin())];
    for (const auto& [impl, m] : measurements(r)) {
      if (m->check == "-") continue;  // not built with oneDNN
      const double gf = gflops(s, m->ms);
      const double ratio = m == &r.ck ? (std::isfinite(r.ck.ms) ? 1.0 : kNaN) : speedup(r.ck, *m);
      auto cell = [](double v, int p) { return std::isfinite(v) ? fmt(v, p) : std::string(); };
      os << s.name << "," << direction_name(r.dir) << "," << bench_dtype_name(r.dtype) << "," << layout_name(r.nhwc) << ","
         << r.threads << "," << impl << "," << cell(m->ms, 4) << "," << cell(gf, 2) << ","
         << cell(100 * gf / pk, 2) << "," << cell(ratio, 4) << "," << cell(m->extra_mb, 3) << ","
         << cell(m->first_ms / m->ms, 3) << "," << m->runs << "," << m->check << "," << csv_safe(m->detail) << "\n";
    }
  }
  // Temporary file + rename: an interrupted run never leaves a half-written CSV behind.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    CONVKIT_CHECK_FILE(f.good(), "--csv '", path, "': cannot open '", tmp, "' for writing");
    f << os.str();
    f.close();
    CONVKIT_CHECK_FILE(f.good(), "--csv '", path, "': write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  CONVKIT_CHECK_FILE(!ec, "--csv '", path, "': cannot rename '", tmp, "': ", ec.message());
}


void print_geomeans(const std::vector<Row>& rows, const std::vector<DType>& dtypes, const std::vector<BenchDirection>& dirs,
                    const std::vector<bool>& layouts, const std::vector<int>& threads) {
  for (DType dt : dtypes)
    for (bool nhwc : layouts)
      for (BenchDirection d : dirs)
        for (int t : threads) {
          std::vector<double> plain, best;
          for (const Row& r : rows)
            if (r.dtype == dt && r.nhwc == nhwc && r.dir == d && r.threads == t)
              plain.push_back(speedup(r.ck, r.nchw)), best.push_back(speedup(r.ck, r.best));
          if (plain.empty()) continue;
          std::printf("%-26s %-11s %-5s %-6s %2d %10s %8s %6s %9s %8s %8s\n", "geomean", direction_name(d),
                      bench_dtype_name(dt), layout_name(nhwc), t, "", "", "", "", fmt(geomean(plain), 2).c_str(),
                      fmt(geomean(best), 2).c_str());
        }
}

// One group per (shape, direction) in the order run (the direction named unless only fwd runs),
// then with oneDNN the geometric mean of each direction.
void plot(const std::string& path, const std::vector<BenchShape>& shapes, const std::vector<BenchDirection>& dirs,
          const std::vector<Row>& rows, const std::vector<int>& threads, const std::vector<double>& peak,
          bool with_onednn) {
  const bool fwd_only = dirs == std::vector<BenchDirection>{BenchDirection::fwd};
  std::vector<std::string> names;
  for (const Row& r : rows)
    if (r.threads == threads.front())
      names.push_back((fwd_only ? shapes[r.shape].name : shapes[r.shape].name + " " + direction_name(r.dir)) +
                      (r.dtype == kFloat32 ? "" : str_cat(" ", bench_dtype_name(r.dtype))) + (r.nhwc ? " nhwc" : ""));
  if (with_onednn)
    for (BenchDirection d : dirs) names.push_back(fwd_only ? "geomean" : str_cat("geomean ", direction_name(d)));
  std::vector<ChartPanel> panels;
  for (std::size_t ti = 0; ti < threads.size(); ++ti) {
    ChartPanel p;
    p.title = str_cat("convkit bench, ", threads[ti], threads[ti] == 1 ? " thread" : " threads");
    for (const Row& r : rows) {
      if (r.threads != threads[ti]) continue;
      std::vector<double> v;
      std::vector<std::string> l;
      if (with_onednn) {
        for (const Measurement* m : {&r.best, &r.nchw}) {
          v.push_back(speedup(r.ck, *m));
          l.push_back(r.ck.failed() || m->failed() ? "FAILED" : fmt(v.back(), 2, "x"));
        }
      } else {
        v.push_back(r.ck.usable() ? 100 * gflops(shapes[r.shape], r.ck.ms) / peak[ti] : kNaN);
        l.push_back(r.ck.failed() ? "FAILED" : fmt(v.back(), 1, "%"));
      }
      p.values.push_back(v);
      p.labels.push_back(l);
    }
    const std::vector<std::vector<double>> case_values = p.values;
    for (BenchDirection d : dirs) {  // with oneDNN: each series' geometric mean per direction
      if (!with_onednn) break;
      std::vector<double> g;
      std::vector<std::string> l;
      for (std::size_t k = 0; k < 2; ++k) {
        std::vector<double> col;
        std::size_t i = 0;
        for (const Row& r : rows)
          if (r.threads == threads[ti] && i < case_values.size()) {
            if (r.dir == d) col.push_back(case_values[i][k]);
            ++i;
          }
        g.push_back(geomean(col));
        l.push_back(fmt(g.back(), 2, "x"));
      }
      p.values.push_back(g);
      p.labels.push_back(l);
    }
    panels.push_back(p);
  }
  if (with_onednn)
    write_plot(path, names, panels, {{"vs onednn_best", kBlue}, {"vs onednn on the row's layout", kOrange}}, true,
               "speed-up of convkit = oneDNN ms / convkit ms; > 1: convkit is faster");
  else
    write_plot(path, names, panels, {{"convkit", kBlue}}, false, "convkit GFLOP/s as % of the FMA peak");
}

}  // namespace convkit::tool
