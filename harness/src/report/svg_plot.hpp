// Minimal SVG charts for the HTML report: lines (with dashed references and markers) and bars.
#pragma once

#include <string>
#include <vector>

namespace rpcbench::svg {

struct Series {
  std::string name;
  std::vector<double> x, y;
  bool dashed = false;   // references (true MI, ceilings) are dashed and black
  std::vector<double> marker_x;  // ✕ markers (divergence) at these x on the series' last y
};

struct Axes {
  std::string title, x_label, y_label;
  // The y range is robust: the 1st–99th percentile of all finite values (plus references), so a
  // diverging estimator does not flatten the others; values outside are clipped to the frame.
  bool robust_y = true;
  // Ticks on x at these positions with these labels (a log2 axis labelled 32, 64, …); empty:
  // round numbers.
  std::vector<std::pair<double, std::string>> x_ticks;
};

// A horizontal band across the whole plot (a control's range), drawn under the lines.
struct Band {
  std::string name;
  double low, high;
};

std::string line_chart(const Axes& axes, const std::vector<Series>& series, const std::vector<Band>& bands = {});

// Round tick positions covering [lo, hi]: about `count` steps of 1, 2 or 5 × 10^k.
std::vector<double> nice_ticks(double lo, double hi, int count = 5);

struct Bars {
  std::string name;
  std::vector<double> values;  // one per category; NaN: no bar
};
std::string bar_chart(const Axes& axes, const std::vector<std::string>& categories, const std::vector<Bars>& groups);

std::string escape(const std::string& text);

}  // namespace rpcbench::svg
