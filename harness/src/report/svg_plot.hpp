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
};

std::string line_chart(const Axes& axes, const std::vector<Series>& series);

struct Bars {
  std::string name;
  std::vector<double> values;  // one per category; NaN: no bar
};
std::string bar_chart(const Axes& axes, const std::vector<std::string>& categories, const std::vector<Bars>& groups);

std::string escape(const std::string& text);

}  // namespace rpcbench::svg
