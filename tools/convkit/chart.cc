#include "tools/convkit/chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tools/convkit/png.h"

namespace convkit::tool {

void write_plot(const std::string& path, const std::vector<std::string>& names, const std::vector<ChartPanel>& panels,
                const std::vector<ChartSeries>& series, bool log_scale, const std::string& axis_note) {
  const std::vector<Rgb> palette{{255, 255, 255}, {0, 0, 0},     {220, 220, 220}, {52, 101, 164},
                                 {245, 121, 0},   {204, 0, 0},   {110, 110, 110}};
  constexpr int S = 2, kText = 7 * S, kBar = 18, kGap = 12, kMargin = 16, kPlotW = 640, kRightW = 90;
  int name_w = 0;
  for (const auto& n : names) name_w = std::max(name_w, Bitmap::text_width(n, S));
  const int x0 = kMargin + name_w + 12, x1 = x0 + kPlotW;
  const int group_h = static_cast<int>(series.size()) * kBar + kGap;
  const int panel_h = 3 * (kText + 10) + static_cast<int>(names.size()) * group_h + kText + 40;
  Bitmap img(x1 + kRightW, kMargin + static_cast<int>(panels.size()) * panel_h, palette);

  // Axis range: log2 powers around 1 covering every value (at least 1/2..2), or 0..max.
  double lo = log_scale ? 0.5 : 0, hi = log_scale ? 2 : 100;
  for (const auto& p : panels)
    for (const auto& row : p.values)
      for (double v : row)
        if (std::isfinite(v) && v > 0) lo = std::min(lo, log_scale ? v : 0.0), hi = std::max(hi, v);
  if (log_scale) lo = std::exp2(std::floor(std::log2(lo))), hi = std::exp2(std::ceil(std::log2(hi)));
  else hi = std::ceil(hi / 25) * 25;
  auto xpos = [&](double v) {
    const double f = log_scale ? (std::log2(v) - std::log2(lo)) / (std::log2(hi) - std::log2(lo)) : (v - lo) / (hi - lo);
    return x0 + static_cast<int>(std::lround(std::clamp(f, 0.0, 1.0) * kPlotW));
  };
  std::vector<double> ticks;
  if (log_scale) {
    const int n = static_cast<int>(std::lround(std::log2(hi / lo)));
    const int step = std::max(1, (n + 5) / 6);  // at most ~7 labels, so they never touch
    for (int k = 0; k <= n; k += step) ticks.push_back(lo * std::exp2(k));
  } else {
    for (double v = 0; v <= hi + 1e-9; v += hi / 4) ticks.push_back(v);
  }
  const double ref = log_scale ? 1.0 : 100.0;

  for (std::size_t pi = 0; pi < panels.size(); ++pi) {
    const ChartPanel& p = panels[pi];
    int y = kMargin + static_cast<int>(pi) * panel_h;
    img.text(kMargin, y, p.title, kBlack, S);
    y += kText + 10;
    img.text(kMargin, y, axis_note, kGray, S);
    y += kText + 10;
    int lx = x0;
    for (const ChartSeries& se : series) {  // legend
      img.fill(lx, y, lx + kText, y + kText, se.colour);
      img.text(lx + kText + 6, y, se.label, kBlack, S);
      lx += kText + 6 + Bitmap::text_width(se.label, S) + 24;
    }
    y += kText + 10;
    const int top = y, bottom = y + static_cast<int>(names.size()) * group_h;
    for (double tv : ticks) img.fill(xpos(tv), top, xpos(tv) + 1, bottom, kGrid);
    for (std::size_t si = 0; si < names.size(); ++si) {
      const int gy = top + static_cast<int>(si) * group_h;
      img.text(kMargin, gy + (group_h - kGap - kText) / 2, names[si], kBlack, S);
      for (std::size_t k = 0; k < series.size(); ++k) {
        const int by = gy + static_cast<int>(k) * kBar;
        const double v = p.values[si][k];
        const std::string& label = p.labels[si][k];
        const bool bad = label == "FAILED";
        // Log bars grow from the 1.0 line (left: slower, right: faster), linear ones from 0.
        // Labels go right of the bar's end, or right of the 1.0 line for bars to its left.
        const double base = log_scale ? ref : lo;
        int tx = xpos(base) + 4;
        if (std::isfinite(v) && v > 0) {
          const int a = xpos(std::min(v, base)), e = xpos(std::max(v, base));
          img.fill(a, by + 1, std::max(e, a + 1), by + kBar - 1, series[k].colour);
          if (v >= base) tx = e + 4;
        }
        img.text(tx, by + (kBar - kText) / 2, label, bad ? kRed : kBlack, S);
      }
    }
    img.fill(xpos(ref), top - 4, xpos(ref) + 2, bottom + 4, kBlack);  // the 1.0 (or 100%) line
    for (double tv : ticks) {
      char t[32];
      std::snprintf(t, sizeof t, log_scale ? "%gx" : "%g%%", tv);
      img.text(xpos(tv) - Bitmap::text_width(t, S) / 2, bottom + 8, t, kBlack, S);
    }
  }
  img.write_png(path);
}
}  // namespace convkit::tool
