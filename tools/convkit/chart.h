// Grouped horizontal bar charts for `convkit bench --plot`, drawn with png.h's Bitmap.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace convkit::tool {

/// Palette indices of the chart.
enum ChartColour : uint8_t { kWhite, kBlack, kGrid, kBlue, kOrange, kRed, kGray };
struct ChartSeries {
  std::string label;
  uint8_t colour;
};
struct ChartPanel {
  std::string title;
  std::vector<std::vector<double>> values;       // [name][series]
  std::vector<std::vector<std::string>> labels;  // [name][series], drawn beside each bar
};

/// One panel per entry of `panels` (e.g. per thread count), stacked vertically: per name, one
/// bar per series, on a log2 axis around 1 (speed-ups: bars grow left or right of the 1.0
/// line) or on a linear axis from 0 with a line at 100 (percentages). A value that is NaN or
/// <= 0 gets no bar, only its label (e.g. "FAILED", drawn in red). Writes a PNG; throws
/// convkit::FileError if the file cannot be written.
void write_plot(const std::string& path, const std::vector<std::string>& names, const std::vector<ChartPanel>& panels,
                const std::vector<ChartSeries>& series, bool log_scale, const std::string& axis_note);

}  // namespace convkit::tool
