// The report of `convkit bench`: its measurements, the table it prints, the CSV and the chart.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tools/convkit/bench_directions.h"

namespace convkit::tool {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// One implementation's result on one (shape, direction, thread count).
struct Measurement {
  double ms = kNaN, first_ms = kNaN;
  int runs = 0;
  double extra_mb = kNaN;
  std::string detail;        // convkit's plan algorithm or oneDNN's implementation name
  std::string check = "-";   // ok, FAILED, skipped, n/a
  bool failed() const { return check == "FAILED"; }
  bool usable() const { return !failed() && std::isfinite(ms); }
};

/// One (shape, direction, dtype, layout, thread count): convkit and oneDNN's two layouts — the
/// row's own (nchw: planar, or nhwc: channels-last) and its preferred one.
struct Row {
  std::size_t shape = 0;
  BenchDirection dir = BenchDirection::fwd;
  DType dtype = kFloat32;
  bool nhwc = false;
  int threads = 1;
  double io_mb = 0;
  Measurement ck, nchw, best;  // nchw: oneDNN on the row's layout (nhwc for nhwc rows)
};

/// "onednn_nchw" / "onednn_nhwc" (the row's layout) or "onednn_best".
const char* onednn_impl_name(bool best, bool nhwc);

/// oneDNN time / convkit time (> 1: convkit is faster); NaN if either side cannot count.
double speedup(const Measurement& ck, const Measurement& other);
/// v with `precision` decimals and suffix, or "-" when it is not finite.
std::string fmt(double v, int precision, const char* suffix = "");
/// The geometric mean of the finite positive values (NaN if none).
double geomean(const std::vector<double>& v);

/// The table's header and one row of it (peak: the FMA probe's GFLOP/s at the row's threads).
void print_header();
void print_row(const BenchShape& s, const Row& r, double peak);
/// The geometric means of plain/ck and best/ck per dtype, layout, direction and thread count.
void print_geomeans(const std::vector<Row>& rows, const std::vector<DType>& dtypes, const std::vector<BenchDirection>& dirs,
                    const std::vector<bool>& layouts, const std::vector<int>& threads);
/// One CSV row per measurement (and the probe's peaks), written atomically to path.
void write_csv(const std::string& path, const std::vector<BenchShape>& shapes, const std::vector<Row>& rows,
               const std::vector<int>& threads, const std::vector<double>& peak);
/// The PNG chart: speed-ups over oneDNN (with_onednn) or % of the FMA peak.
void plot(const std::string& path, const std::vector<BenchShape>& shapes, const std::vector<BenchDirection>& dirs,
          const std::vector<Row>& rows, const std::vector<int>& threads, const std::vector<double>& peak,
          bool with_onednn);

}  // namespace convkit::tool
