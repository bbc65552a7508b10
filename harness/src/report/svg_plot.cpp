#include "report/svg_plot.hpp"

#include "util/format.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace rpcbench::svg {
namespace {

constexpr double kWidth = 720, kHeight = 360, kLeft = 64, kRight = 170, kTop = 34, kBottom = 46;
const char* const kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string num(double v) { return format_fixed(v, 1); }

std::string tick(double v) { return format_general(std::abs(v) < 1e-12 ? 0.0 : v, 4); }

struct Frame {
  double x0, x1, y0, y1;
  double px(double x) const { return kLeft + (x - x0) / (x1 - x0) * (kWidth - kLeft - kRight); }
  double py(double y) const {
    const double c = std::clamp(y, y0, y1);
    return kHeight - kBottom - (c - y0) / (y1 - y0) * (kHeight - kTop - kBottom);
  }
};

// The frame widened to the nearest round ticks, so ticks fall on round numbers at the edges too.
Frame rounded(Frame f) {
  const auto ty = nice_ticks(f.y0, f.y1);
  f.y0 = ty.front();
  f.y1 = ty.back();
  return f;
}

void frame_and_axes(std::ostringstream& os, const Axes& axes, const Frame& f, bool numeric_x) {
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"" << kWidth << "\" height=\"" << kHeight
     << "\" viewBox=\"0 0 " << kWidth << ' ' << kHeight << "\" role=\"img\">\n<title>" << escape(axes.title) << "</title>\n";
  os << "<text x=\"" << kLeft << "\" y=\"20\" font-size=\"14\" font-weight=\"bold\">" << escape(axes.title) << "</text>\n";
  os << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << kWidth - kLeft - kRight << "\" height=\""
     << kHeight - kTop - kBottom << "\" fill=\"none\" stroke=\"#444\"/>\n";
  for (double y : nice_ticks(f.y0, f.y1)) {
    if (y < f.y0 - 1e-9 * (f.y1 - f.y0) || y > f.y1 + 1e-9 * (f.y1 - f.y0)) continue;
    os << "<line x1=\"" << kLeft << "\" x2=\"" << kWidth - kRight << "\" y1=\"" << num(f.py(y)) << "\" y2=\"" << num(f.py(y))
       << "\" stroke=\"#ddd\"/><text class=\"ytick\" x=\"" << kLeft - 6 << "\" y=\"" << num(f.py(y) + 4)
       << "\" font-size=\"11\" text-anchor=\"end\">" << tick(y) << "</text>\n";
  }
  if (numeric_x) {
    std::vector<std::pair<double, std::string>> ticks = axes.x_ticks;
    if (ticks.empty())
      for (double x : nice_ticks(f.x0, f.x1))
        if (x >= f.x0 - 1e-9 * (f.x1 - f.x0) && x <= f.x1 + 1e-9 * (f.x1 - f.x0)) ticks.push_back({x, tick(x)});
    for (const auto& [x, label] : ticks)
      os << "<text class=\"xtick\" x=\"" << num(f.px(x)) << "\" y=\"" << kHeight - kBottom + 16
         << "\" font-size=\"11\" text-anchor=\"middle\">" << escape(label) << "</text>\n";
  }
  os << "<text x=\"" << (kLeft + kWidth - kRight) / 2 << "\" y=\"" << kHeight - 8 << "\" font-size=\"12\" text-anchor=\"middle\">"
     << escape(axes.x_label) << "</text>\n";
  os << "<text transform=\"translate(14," << (kTop + kHeight - kBottom) / 2 << ") rotate(-90)\" font-size=\"12\" "
     << "text-anchor=\"middle\">" << escape(axes.y_label) << "</text>\n";
}

void legend(std::ostringstream& os, std::size_t i, const std::string& name, const std::string& colour, bool dashed) {
  const double y = kTop + 8 + 16 * static_cast<double>(i);
  os << "<line x1=\"" << kWidth - kRight + 10 << "\" x2=\"" << kWidth - kRight + 30 << "\" y1=\"" << y << "\" y2=\"" << y
     << "\" stroke=\"" << colour << "\" stroke-width=\"2\"" << (dashed ? " stroke-dasharray=\"5,3\"" : "")
     << "/><text x=\"" << kWidth - kRight + 36 << "\" y=\"" << y + 4 << "\" font-size=\"11\">" << escape(name) << "</text>\n";
}

std::pair<double, double> robust_range(std::vector<double> v, bool robust) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return {0.0, 1.0};
  std::sort(v.begin(), v.end());
  double lo = v.front(), hi = v.back();
  if (robust && v.size() > 100) {
    lo = v[v.size() / 100];
    hi = v[v.size() - 1 - v.size() / 100];
  }
  if (!(hi - lo > 1e-9 * std::max(1.0, std::abs(lo)))) hi = lo + std::max(1.0, std::abs(lo) * 1e-6);
  const double pad = 0.05 * (hi - lo);
  return {lo - pad, hi + pad};
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int count) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0.0, hi = 1.0;
  // A range too narrow for the numbers' own precision (1e17 ± 1) is widened relative to them.
  const double floor_width = std::max(1e-12, 1e-6 * std::max(std::abs(lo), std::abs(hi)));
  if (!(hi - lo >= floor_width)) {
    const double mid = 0.5 * (lo + hi);
    lo = mid - floor_width;
    hi = mid + floor_width;
  }
  const double raw = (hi - lo) / count;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  std::vector<double> ticks;
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  for (double k = first; k <= last + 1e-6 && ticks.size() < 64; k += 1.0) ticks.push_back(k == 0.0 ? 0.0 : k * step);
  if (ticks.size() < 2) ticks = {lo, hi};
  return ticks;
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string line_chart(const Axes& axes, const std::vector<Series>& series, const std::vector<Band>& bands) {
  std::vector<double> xs, ys, refs;
  for (const auto& b : bands) ys.insert(ys.end(), {b.low, b.high});
  for (const auto& s : series) {
    xs.insert(xs.end(), s.x.begin(), s.x.end());
    (s.dashed ? refs : ys).insert((s.dashed ? refs : ys).end(), s.y.begin(), s.y.end());
  }
  auto [y0, y1] = robust_range(ys, axes.robust_y);
  if (axes.robust_y && series.size() > 2) {
    // Typical curves, not the worst one: the median over series of each one's 5th and 95th
    // percentile, widened by a quarter; a single collapsing series is clipped, not followed.
    std::vector<double> lows, highs;
    for (const auto& s : series) {
      if (s.dashed) continue;
      std::vector<double> v;
      for (double y : s.y)
        if (std::isfinite(y)) v.push_back(y);
      if (v.empty()) continue;
      std::sort(v.begin(), v.end());
      lows.push_back(v[v.size() / 20]);
      highs.push_back(v[v.size() - 1 - v.size() / 20]);
    }
    if (!lows.empty()) {
      std::sort(lows.begin(), lows.end());
      std::sort(highs.begin(), highs.end());
      const double lo = lows[lows.size() / 2], hi = std::max(highs[highs.size() / 2], lo + 1e-9);
      y0 = std::max(y0, lo - 0.25 * (hi - lo));
      y1 = std::min(y1, hi + 0.25 * (hi - lo));
      if (y1 <= y0) y1 = y0 + 1.0;
    }
  }
  // With references (true MI, ceilings) the frame is anchored to them: from below 0 to 30 %
  // above the largest, so one collapsing estimator cannot squash the rest; values outside are
  // clipped to the frame edge.
  double ref_lo = INFINITY, ref_hi = -INFINITY;
  for (double r : refs)
    if (std::isfinite(r)) ref_lo = std::min(ref_lo, r), ref_hi = std::max(ref_hi, r);
  if (std::isfinite(ref_hi) && ref_hi > 0) {
    y0 = std::min(0.0, ref_lo) - 0.25 * ref_hi;
    y1 = 1.3 * ref_hi;
  }
  auto [x0, x1] = robust_range(xs, false);
  if (!xs.empty()) {  // no padding along x: steps start where they start
    x0 = *std::min_element(xs.begin(), xs.end());
    x1 = std::max(*std::max_element(xs.begin(), xs.end()), x0 + 1.0);
  }
  if (!axes.x_ticks.empty()) {  // categories on a numeric axis: half a step of room at each end
    const double pad = axes.x_ticks.size() > 1 ? 0.5 * (axes.x_ticks[1].first - axes.x_ticks[0].first) : 0.5;
    x0 = axes.x_ticks.front().first - pad;
    x1 = axes.x_ticks.back().first + pad;
  }
  const Frame f = rounded(Frame{x0, x1, y0, y1});
  std::ostringstream os;
  frame_and_axes(os, axes, f, true);
  for (const auto& b : bands) {
    const double top = f.py(std::max(b.low, b.high)), bottom = f.py(std::min(b.low, b.high));
    os << "<rect class=\"band\" data-name=\"" << escape(b.name) << "\" x=\"" << kLeft << "\" y=\"" << num(top)
       << "\" width=\"" << kWidth - kLeft - kRight << "\" height=\"" << num(std::max(bottom - top, 1.0))
       << "\" fill=\"#999\" fill-opacity=\"0.25\"><title>" << escape(b.name) << ": " << tick(b.low) << " – " << tick(b.high)
       << "</title></rect>\n";
  }
  std::size_t colour = 0;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const auto& s = series[i];
    const std::string c = s.dashed ? "#000" : kPalette[colour++ % 10];
    os << "<path class=\"series\" data-name=\"" << escape(s.name) << "\" fill=\"none\" stroke=\"" << c
       << "\" stroke-width=\"1.5\"" << (s.dashed ? " stroke-dasharray=\"5,3\"" : "") << " d=\"";
    bool pen = false;
    for (std::size_t k = 0; k < s.x.size(); ++k) {
      if (!std::isfinite(s.y[k])) {
        pen = false;
        continue;
      }
      os << (pen ? 'L' : 'M') << num(f.px(s.x[k])) << ',' << num(f.py(s.y[k])) << ' ';
      pen = true;
    }
    os << "\"/>\n";
    for (double mx : s.marker_x) {
      const double y = s.y.empty() ? y0 : f.py(s.y.back());
      os << "<text class=\"divergence\" x=\"" << num(f.px(mx)) << "\" y=\"" << num(y + 4) << "\" fill=\"" << c
         << "\" font-size=\"14\" text-anchor=\"middle\">✕</text>\n";
    }
    legend(os, i, s.name + (s.marker_x.empty() ? "" : " (diverged ✕)"), c, s.dashed);
  }
  for (std::size_t i = 0; i < bands.size(); ++i) legend(os, series.size() + i, bands[i].name + " (band)", "#999", false);
  os << "</svg>\n";
  return os.str();
}

std::string bar_chart(const Axes& axes, const std::vector<std::string>& categories, const std::vector<Bars>& groups) {
  double y0 = 0.0, y1 = 0.0;  // bars start at 0
  for (const auto& g : groups)
    for (double v : g.values)
      if (std::isfinite(v)) y0 = std::min(y0, v), y1 = std::max(y1, v);
  if (y1 <= y0) y1 = y0 + 1.0;
  const Frame f = rounded(Frame{0.0, static_cast<double>(categories.size()), y0, y1});
  std::ostringstream os;
  frame_and_axes(os, axes, f, false);
  const double slot = (kWidth - kLeft - kRight) / std::max<std::size_t>(categories.size(), 1);
  const double bar = slot * 0.8 / std::max<std::size_t>(groups.size(), 1);
  for (std::size_t c = 0; c < categories.size(); ++c) {
    os << "<text x=\"" << num(kLeft + slot * (c + 0.5)) << "\" y=\"" << kHeight - kBottom + 16
       << "\" font-size=\"11\" text-anchor=\"middle\">" << escape(categories[c]) << "</text>\n";
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const double v = c < groups[g].values.size() ? groups[g].values[c] : NAN;
      if (!std::isfinite(v)) continue;
      const double x = kLeft + slot * c + slot * 0.1 + bar * g;
      const double top = std::min(f.py(v), f.py(0.0)), height = std::abs(f.py(v) - f.py(0.0));
      os << "<rect class=\"bar\" x=\"" << num(x) << "\" y=\"" << num(top) << "\" width=\"" << num(bar) << "\" height=\""
         << num(height) << "\" fill=\"" << kPalette[g % 10] << "\"><title>" << escape(groups[g].name + " " + categories[c])
         << ": " << tick(v) << "</title></rect>\n";
    }
  }
  for (std::size_t g = 0; g < groups.size(); ++g) legend(os, g, groups[g].name, kPalette[g % 10], false);
  os << "</svg>\n";
  return os.str();
}

}  // namespace rpcbench::svg
