#include "gmha/report/svg_plot.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include "gmha/core/error.hpp"

namespace gmha::report {
namespace {

// Text metrics: DejaVu Sans (what rsvg and most browsers fall back to) at 12 px averages about
// 7 px per character; we over-estimate so that estimated extents never undercut real ones.
constexpr double kCharPx = 7.2;
constexpr double kFontPx = 12;
constexpr const char* kFont = "DejaVu Sans, Helvetica, Arial, sans-serif";

// Okabe-Ito palette (colour-blind safe), without its yellow (invisible on white).
constexpr const char* kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                    "#E69F00", "#56B4E9", "#000000"};
// Dash patterns, cycled at a different period from the colours so pairs stay unique longer.
constexpr const char* kDashes[] = {"", "7,3", "2,3", "9,3,2,3", "4,4", "12,3,2,3,2,3"};
constexpr int kMarkerKinds = 7;

double text_width(std::string_view s) { return kCharPx * static_cast<double>(s.size()); }

std::string num(double v) {
  // Two decimals is 1/100 px: plenty, and keeps files small and deterministic.
  std::string s = fmt::format("{:.2f}", v);
  if (s == "-0.00") s = "0.00";
  return s;
}

// FNV-1a: a deterministic id prefix so several plots inlined in one HTML page never share a
// clipPath id.
std::string content_id(const std::string& seed) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : seed) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("g{:016x}", h);
}

std::string trim_number(double v, int sig) {
  std::string s = fmt::format("{:.{}g}", v, sig);
  return s;
}

struct Scaled {
  double lo = 0, hi = 1;  // axis range in data units
  bool log = false;
  double to_t(double v) const {  // 0..1 along the axis
    if (log) return (std::log(v) - std::log(lo)) / (std::log(hi) - std::log(lo));
    return (v - lo) / (hi - lo);
  }
};

bool usable(double v, bool log) { return std::isfinite(v) && (!log || v > 0); }

int log_base_for(TickFormat f) {
  return (f == TickFormat::kBytes || f == TickFormat::kTokens) ? 2 : 10;
}

// Chooses the axis range from the data (or the fixed bounds) and its ticks.
std::pair<Scaled, std::vector<double>> make_axis(const PlotAxis& axis, std::vector<double> values,
                                                 const char* which, int target_ticks) {
  const bool log = axis.scale == AxisScale::kLog;
  if (axis.min && axis.max && !(*axis.min < *axis.max)) {
    throw InputError(
        fmt::format("plot: {} axis range [{}, {}] is empty", which, *axis.min, *axis.max));
  }
  if (log && ((axis.min && !(*axis.min > 0)) || (axis.max && !(*axis.max > 0)))) {
    throw InputError(
        fmt::format("plot: {} axis is logarithmic but its range is not positive", which));
  }
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : values) {
    if (!usable(v, log)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (!(lo <= hi)) {  // no data: a default range
    lo = log ? 1 : 0;
    hi = log ? 10 : 1;
  }
  if (axis.min) lo = *axis.min;
  if (axis.max) hi = *axis.max;
  if (lo >= hi) {  // one value: open a window around it
    if (log) {
      lo = lo / 2;
      hi = hi * 2;
    } else {
      double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
      if (!axis.min) lo -= pad;
      if (!axis.max) hi += pad;
    }
  }
  std::vector<double> ticks;
  if (log) {
    const int base = log_base_for(axis.format);
    // Extend to whole powers of the base unless the user fixed the bound.
    const double lb = std::log(static_cast<double>(base));
    if (!axis.min) lo = std::pow(base, std::floor(std::log(lo) / lb + 1e-9));
    if (!axis.max) hi = std::pow(base, std::ceil(std::log(hi) / lb - 1e-9));
    if (lo >= hi) hi = lo * base;
    ticks = log_ticks(lo, hi, base, target_ticks + 2);
  } else {
    ticks = nice_linear_ticks(lo, hi, target_ticks);
    if (!ticks.empty()) {
      if (!axis.min) lo = std::min(lo, ticks.front());
      if (!axis.max) hi = std::max(hi, ticks.back());
    }
    std::erase_if(ticks,
                  [&](double t) { return t < lo - 1e-9 * (hi - lo) || t > hi + 1e-9 * (hi - lo); });
  }
  Scaled s;
  s.lo = lo;
  s.hi = hi;
  s.log = log;
  return {s, ticks};
}

// Keeps every k-th tick (k minimal) so that labels `min_gap_px` apart fit along `length_px`.
std::vector<double> thin_ticks(const std::vector<double>& ticks, const Scaled& s, double length_px,
                               const std::vector<double>& needed_px) {
  if (ticks.size() < 2) return ticks;
  for (size_t k = 1; k < ticks.size(); ++k) {
    bool ok = true;
    double prev = -1e18;
    size_t prev_i = 0;
    for (size_t i = 0; i < ticks.size(); i += k) {
      double p = s.to_t(ticks[i]) * length_px;
      if (i > 0) {
        double need = (needed_px[i] + needed_px[prev_i]) / 2;
        if (p - prev < need) {
          ok = false;
          break;
        }
      }
      prev = p;
      prev_i = i;
    }
    if (ok) {
      std::vector<double> out;
      for (size_t i = 0; i < ticks.size(); i += k) out.push_back(ticks[i]);
      return out;
    }
  }
  return {ticks.front()};
}

void marker(std::string& o, int kind, double x, double y, const char* colour) {
  const double r = 3.6;
  switch (kind % kMarkerKinds) {
    case 0:
      o += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\"/>", num(x), num(y), num(r),
                       colour);
      break;
    case 1:
      o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>",
                       num(x - r), num(y - r), num(2 * r), num(2 * r), colour);
      break;
    case 2:
      o += fmt::format("<path d=\"M{} {}L{} {}L{} {}Z\" fill=\"{}\"/>", num(x), num(y - r * 1.2),
                       num(x + r * 1.15), num(y + r * 0.9), num(x - r * 1.15), num(y + r * 0.9),
                       colour);
      break;
    case 3:
      o += fmt::format("<path d=\"M{} {}L{} {}L{} {}L{} {}Z\" fill=\"{}\"/>", num(x),
                       num(y - r * 1.3), num(x + r * 1.3), num(y), num(x), num(y + r * 1.3),
                       num(x - r * 1.3), num(y), colour);
      break;
    case 4:  // hollow circle
      o += fmt::format(
          "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"white\" stroke=\"{}\" "
          "stroke-width=\"1.6\"/>",
          num(x), num(y), num(r), colour);
      break;
    case 5:  // cross
      o += fmt::format(
          "<path d=\"M{} {}L{} {}M{} {}L{} {}\" stroke=\"{}\" stroke-width=\"2\" fill=\"none\"/>",
          num(x - r), num(y - r), num(x + r), num(y + r), num(x - r), num(y + r), num(x + r),
          num(y - r), colour);
      break;
    default:  // hollow square
      o += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"white\" stroke=\"{}\" "
          "stroke-width=\"1.6\"/>",
          num(x - r), num(y - r), num(2 * r), num(2 * r), colour);
      break;
  }
}

std::string svg_open(double w, double h) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"{2}\" font-size=\"{3}\">\n"
      "<rect x=\"0\" y=\"0\" width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n",
      num(w), num(h), kFont, num(kFontPx));
}

std::string text(double x, double y, std::string_view s, const char* anchor,
                 const std::string& extra = "") {
  return fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"{}\"{}>{}</text>\n", num(x), num(y),
                     anchor, extra, xml_escape(s));
}

}  // namespace

std::string xml_escape(std::string_view s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      case '\'':
        o += "&apos;";
        break;
      default:
        // Control characters are not allowed in XML 1.0 text; replace them.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          o += ' ';
        } else {
          o += c;
        }
    }
  }
  return o;
}

std::vector<double> nice_linear_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || hi < lo || target < 1) return {};
  if (hi == lo) return {lo};
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw * 0.999) break;
  }
  const double first = std::floor(lo / step + 1e-9) * step;
  std::vector<double> ticks;
  for (int i = 0; i < 1000; ++i) {
    double t = first + i * step;
    if (std::abs(t) < step * 1e-9) t = 0;  // no "-0" or 1e-17 labels
    ticks.push_back(t);
    if (t >= hi - step * 1e-9) break;
  }
  return ticks;
}

std::vector<double> log_ticks(double lo, double hi, int base, int max_ticks) {
  if (!(lo > 0) || !(hi > lo) || !std::isfinite(hi) || (base != 2 && base != 10)) return {};
  max_ticks = std::max(max_ticks, 2);
  const double lb = std::log(static_cast<double>(base));
  const int e0 = static_cast<int>(std::ceil(std::log(lo) / lb - 1e-9));
  const int e1 = static_cast<int>(std::floor(std::log(hi) / lb + 1e-9));
  std::vector<double> ticks;
  if (e1 - e0 + 1 >= 2 || base == 2) {
    for (int stride = 1; stride <= 64; ++stride) {
      ticks.clear();
      for (int e = e0; e <= e1; ++e) {
        if (((e % stride) + stride) % stride == 0) ticks.push_back(std::pow(base, e));
      }
      if (static_cast<int>(ticks.size()) <= max_ticks) break;
    }
  }
  if (base == 10 && ticks.size() < 3) {  // under ~2 decades: 1-2-5 ticks
    std::vector<double> dense;
    for (int e = e0 - 1; e <= e1; ++e) {
      for (double m : {1.0, 2.0, 5.0}) {
        double t = m * std::pow(10.0, e);
        if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) dense.push_back(t);
      }
    }
    if (dense.size() >= 2 && static_cast<int>(dense.size()) <= max_ticks + 2) ticks = dense;
  }
  if (ticks.size() < 2) {  // a narrow range: plain 1-2-5 linear ticks inside it
    ticks = nice_linear_ticks(lo, hi, 4);
    std::erase_if(ticks, [&](double t) { return t < lo * (1 - 1e-9) || t > hi * (1 + 1e-9); });
  }
  return ticks;
}

std::string format_tick(double v, TickFormat f) {
  if (!std::isfinite(v)) return "n/a";
  if (v == 0) return f == TickFormat::kBytes ? "0 B" : f == TickFormat::kUsd ? "$0" : "0";
  const std::string sign = v < 0 ? "-" : "";
  const double a = std::abs(v);
  switch (f) {
    case TickFormat::kBytes: {
      static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
      int u = 0;
      double x = a;
      while (x >= 1024 && u < 6) {
        x /= 1024;
        ++u;
      }
      return sign + trim_number(x, 3) + " " + kUnits[u];
    }
    case TickFormat::kTokens: {
      static const char* kUnits[] = {"", "K", "M", "G", "T"};
      int u = 0;
      double x = a;
      while (x >= 1024 && u < 4) {
        x /= 1024;
        ++u;
      }
      return sign + trim_number(x, 3) + kUnits[u];
    }
    case TickFormat::kUsd:
    case TickFormat::kNumber: {
      static const char* kUnits[] = {"", "K", "M", "G", "T", "P", "E"};
      int u = 0;
      double x = a;
      while (x >= 1000 && u < 6) {
        x /= 1000;
        ++u;
      }
      std::string body = trim_number(x, 3) + kUnits[u];
      return f == TickFormat::kUsd ? sign + "$" + body : sign + body;
    }
  }
  return trim_number(v, 3);
}

std::string sequential_colour(double t) {
  // Viridis anchor colours (van der Walt & Smith, matplotlib's default map), interpolated
  // linearly; luminance rises monotonically from dark purple to yellow.
  static const int kAnchors[][3] = {{68, 1, 84},    {72, 40, 120},  {62, 73, 137},  {49, 104, 142},
                                    {38, 130, 142}, {31, 158, 137}, {53, 183, 121}, {110, 206, 88},
                                    {181, 222, 43}, {253, 231, 37}};
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0);
  const double p = t * 9;
  const int i = std::min(static_cast<int>(p), 8);
  const double f = p - i;
  int rgb[3];
  for (int k = 0; k < 3; ++k) {
    rgb[k] =
        static_cast<int>(std::lround(kAnchors[i][k] + f * (kAnchors[i + 1][k] - kAnchors[i][k])));
  }
  return fmt::format("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]);
}

std::string render_line_plot(const LinePlot& p) {
  std::vector<double> xs, ys;
  for (const auto& s : p.series) {
    if (s.x.size() != s.y.size()) {
      throw InputError(fmt::format("plot '{}': series '{}' has {} x values but {} y values",
                                   p.title, s.name, s.x.size(), s.y.size()));
    }
    // A point enters the range only when both coordinates are usable on their axes.
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (usable(s.x[i], p.x.scale == AxisScale::kLog) &&
          usable(s.y[i], p.y.scale == AxisScale::kLog)) {
        xs.push_back(s.x[i]);
        ys.push_back(s.y[i]);
      }
    }
  }
  for (const auto& r : p.references) ys.push_back(r.y);
  const double pw = std::max(p.plot_width, 120), ph = std::max(p.plot_height, 100);

  auto [sx, xticks] = make_axis(p.x, xs, "x", 7);
  auto [sy, yticks] = make_axis(p.y, ys, "y", 6);

  // Thin ticks so labels never overlap: x labels need their width plus a gap, y labels a line.
  {
    std::vector<double> need;
    for (double t : xticks) need.push_back(text_width(format_tick(t, p.x.format)) + 10);
    xticks = thin_ticks(xticks, sx, pw, need);
    std::vector<double> yneed(yticks.size(), kFontPx + 6);
    yticks = thin_ticks(yticks, sy, ph, yneed);
  }

  double ylab_w = 0;
  for (double t : yticks) ylab_w = std::max(ylab_w, text_width(format_tick(t, p.y.format)));
  const double left = 22 + 8 + ylab_w + 8;
  const double top = p.title.empty() ? 16 : 40;
  const double bottom = 56;

  // Reference lines inside the y range, with labels placed in the right gutter.
  struct RefPos {
    double py, label_y;
    std::string label;
  };
  std::vector<RefPos> refs;
  double ref_w = 0;
  for (const auto& r : p.references) {
    if (!usable(r.y, sy.log)) continue;
    double t = sy.to_t(r.y);
    if (t < -1e-9 || t > 1 + 1e-9) continue;
    double py = top + ph - t * ph;
    refs.push_back({py, py + 4, r.label});
    ref_w = std::max(ref_w, text_width(r.label));
  }
  std::sort(refs.begin(), refs.end(), [](const RefPos& a, const RefPos& b) { return a.py < b.py; });
  // Push labels apart (14 px baseline gap), then back up if they run off the bottom.
  for (size_t i = 1; i < refs.size(); ++i) {
    refs[i].label_y = std::max(refs[i].label_y, refs[i - 1].label_y + 14);
  }
  if (!refs.empty() && refs.back().label_y > top + ph + 30) {
    double shift = refs.back().label_y - (top + ph + 30);
    for (auto& r : refs) r.label_y -= shift;
    for (size_t i = refs.size() - 1; i-- > 0;) {
      refs[i].label_y = std::min(refs[i].label_y, refs[i + 1].label_y - 14);
    }
  }
  const double ref_gutter = refs.empty() ? 12 : 18 + ref_w + 12;

  double legend_text_w = 0;
  for (const auto& s : p.series) legend_text_w = std::max(legend_text_w, text_width(s.name));
  const double legend_w = p.series.empty() ? 0 : 10 + 34 + 6 + legend_text_w + 10;
  const double legend_h = p.series.empty() ? 0 : 8 + 18.0 * p.series.size() + 4;
  const double width = left + pw + ref_gutter + legend_w + 12;
  const double height = std::max(top + ph + bottom, top + legend_h + 10);

  std::string seed = p.title + p.x.label + p.y.label;
  for (const auto& s : p.series) seed += "|" + s.name + std::to_string(s.x.size());
  const std::string id = content_id(seed);

  std::string o = svg_open(width, height);
  o += fmt::format("<title>{}</title>\n", xml_escape(p.title.empty() ? "plot" : p.title));
  o += fmt::format(
      "<defs><clipPath id=\"{}-clip\"><rect x=\"{}\" y=\"{}\" width=\"{}\" "
      "height=\"{}\"/></clipPath></defs>\n",
      id, num(left - 5), num(top - 5), num(pw + 10), num(ph + 10));
  if (!p.title.empty()) {
    o += text(left + pw / 2, 24, p.title, "middle", " font-size=\"14\" font-weight=\"bold\"");
  }
  auto X = [&](double v) { return left + sx.to_t(v) * pw; };
  auto Y = [&](double v) { return top + ph - sy.to_t(v) * ph; };

  // Grid: minor lines at 2..9 x 10^k on decade log axes, then major lines at the ticks.
  o += "<g stroke=\"#e6e6e6\" stroke-width=\"1\">\n";
  auto minor = [&](const Scaled& s, const std::vector<double>& ticks, TickFormat f, bool is_x) {
    if (!s.log || log_base_for(f) != 10 || ticks.size() < 2) return;
    if (ticks[1] / ticks[0] < 9.99 || ticks[1] / ticks[0] > 10.01) return;
    for (double dec = std::pow(10, std::floor(std::log10(s.lo))); dec < s.hi; dec *= 10) {
      for (int m = 2; m <= 9; ++m) {
        double v = m * dec;
        if (v <= s.lo || v >= s.hi) continue;
        if (is_x) {
          o += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>", num(X(v)),
                           num(top), num(top + ph));
        } else {
          o += fmt::format("<line x1=\"{1}\" y1=\"{0}\" x2=\"{2}\" y2=\"{0}\"/>", num(Y(v)),
                           num(left), num(left + pw));
        }
      }
    }
  };
  minor(sx, xticks, p.x.format, true);
  minor(sy, yticks, p.y.format, false);
  o += "\n</g>\n<g stroke=\"#c8c8c8\" stroke-width=\"1\">\n";
  for (double t : xticks) {
    o += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>", num(X(t)), num(top),
                     num(top + ph));
  }
  for (double t : yticks) {
    o += fmt::format("<line x1=\"{1}\" y1=\"{0}\" x2=\"{2}\" y2=\"{0}\"/>", num(Y(t)), num(left),
                     num(left + pw));
  }
  o += "\n</g>\n";
  // Frame and tick labels.
  o += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
      "stroke=\"#333\" stroke-width=\"1\"/>\n",
      num(left), num(top), num(pw), num(ph));
  o += "<g fill=\"#222\">\n";
  for (double t : xticks) o += text(X(t), top + ph + 17, format_tick(t, p.x.format), "middle");
  for (double t : yticks) o += text(left - 6, Y(t) + 4, format_tick(t, p.y.format), "end");
  o += "</g>\n";
  o += text(left + pw / 2, top + ph + 42, p.x.label, "middle");
  o += fmt::format(
      "<text transform=\"translate({},{}) rotate(-90)\" text-anchor=\"middle\">{}"
      "</text>\n",
      num(18), num(top + ph / 2), xml_escape(p.y.label));

  // Reference lines (dark grey, short dashes) with labels in the right gutter.
  for (const auto& r : refs) {
    o += fmt::format(
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#444\" "
        "stroke-width=\"1.2\" stroke-dasharray=\"3,3\"/>\n",
        num(left), num(r.py), num(left + pw), num(r.py));
    if (std::abs(r.label_y - 4 - r.py) > 0.5) {  // displaced label: a leader line
      o += fmt::format(
          "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\" "
          "stroke-width=\"0.8\"/>\n",
          num(left + pw), num(r.py), num(left + pw + 14), num(r.label_y - 4));
    }
    o += text(left + pw + 18, r.label_y, r.label, "start", " fill=\"#333\"");
  }

  // Data.
  o += fmt::format("<g clip-path=\"url(#{}-clip)\">\n", id);
  for (size_t si = 0; si < p.series.size(); ++si) {
    const auto& s = p.series[si];
    const char* colour = kColours[si % std::size(kColours)];
    const char* dash = kDashes[si % std::size(kDashes)];
    const int mk = static_cast<int>(si % kMarkerKinds);
    std::string dash_attr = *dash ? fmt::format(" stroke-dasharray=\"{}\"", dash) : "";
    if (s.line) {
      std::string pts;
      auto flush = [&]() {
        if (pts.find(' ') != std::string::npos) {  // at least two points
          o += fmt::format(
              "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" "
              "stroke-width=\"2\" stroke-linejoin=\"round\"{}/>\n",
              pts, colour, dash_attr);
        }
        pts.clear();
      };
      for (size_t i = 0; i < s.x.size(); ++i) {
        if (!usable(s.x[i], sx.log) || !usable(s.y[i], sy.log)) {
          flush();
          continue;
        }
        if (!pts.empty()) pts += ' ';
        pts += num(X(s.x[i])) + "," + num(Y(s.y[i]));
      }
      flush();
    }
    if (s.markers) {
      for (size_t i = 0; i < s.x.size(); ++i) {
        if (!usable(s.x[i], sx.log) || !usable(s.y[i], sy.log)) continue;
        marker(o, mk, X(s.x[i]), Y(s.y[i]), colour);
      }
      o += "\n";
    }
  }
  o += "</g>\n";

  // Legend outside the plot area, on the right: it never covers data.
  if (!p.series.empty()) {
    const double lx = left + pw + ref_gutter;
    o += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"white\" "
        "stroke=\"#bbb\"/>\n",
        num(lx), num(top), num(legend_w - 4), num(legend_h));
    for (size_t si = 0; si < p.series.size(); ++si) {
      const auto& s = p.series[si];
      const char* colour = kColours[si % std::size(kColours)];
      const char* dash = kDashes[si % std::size(kDashes)];
      const double cy = top + 8 + 18.0 * si + 9;
      if (s.line) {
        o += fmt::format(
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" "
            "stroke-width=\"2\"{}/>",
            num(lx + 8), num(cy), num(lx + 42), num(cy), colour,
            *dash ? fmt::format(" stroke-dasharray=\"{}\"", dash) : "");
      }
      if (s.markers) marker(o, static_cast<int>(si % kMarkerKinds), lx + 25, cy, colour);
      o += text(lx + 48, cy + 4, s.name, "start");
    }
  }
  if (xs.empty()) o += text(left + pw / 2, top + ph / 2, "no data", "middle", " fill=\"#888\"");
  o += "</svg>\n";
  return o;
}

std::string render_heat_map(const HeatMap& m) {
  const size_t rows = m.values.size();
  const size_t cols = rows ? m.values[0].size() : 0;
  if (rows == 0 || cols == 0) {
    throw InputError(fmt::format("heat map '{}': no cells to draw", m.title));
  }
  for (size_t r = 0; r < rows; ++r) {
    if (m.values[r].size() != cols) {
      throw InputError(fmt::format("heat map '{}': row {} has {} cells, row 0 has {}", m.title, r,
                                   m.values[r].size(), cols));
    }
  }
  if (!m.col_labels.empty() && m.col_labels.size() != cols) {
    throw InputError(fmt::format("heat map '{}': {} column labels for {} columns", m.title,
                                 m.col_labels.size(), cols));
  }
  if (!m.row_labels.empty() && m.row_labels.size() != rows) {
    throw InputError(fmt::format("heat map '{}': {} row labels for {} rows", m.title,
                                 m.row_labels.size(), rows));
  }
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& row : m.values) {
    for (double v : row) {
      if (!std::isfinite(v)) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (!(lo <= hi)) {
    lo = 0;
    hi = 1;
  }
  if (m.min) lo = *m.min;
  if (m.max) hi = *m.max;
  if (!(lo < hi)) {
    if (m.min && m.max) {
      throw InputError(
          fmt::format("heat map '{}': colour range [{}, {}] is empty", m.title, lo, hi));
    }
    lo -= 0.5;
    hi += 0.5;
  }
  auto col_label = [&](size_t c) {
    return m.col_labels.empty() ? std::to_string(c) : m.col_labels[c];
  };
  auto row_label = [&](size_t r) {
    return m.row_labels.empty() ? std::to_string(r) : m.row_labels[r];
  };

  const double cw = std::min<double>(m.cell_max_px, std::max(1.0, m.plot_width / double(cols)));
  const double ch = std::min<double>(m.cell_max_px, std::max(1.0, m.plot_height / double(rows)));
  const double gw = cw * cols, gh = ch * rows;
  double row_w = 0;
  for (size_t r = 0; r < rows; ++r) row_w = std::max(row_w, text_width(row_label(r)));
  const double left = 22 + 8 + row_w + 8;
  const double top = m.title.empty() ? 16 : 40;
  const double bar_x = left + gw + 24, bar_w = 16;
  const std::vector<double> bar_ticks = [&] {
    auto t = nice_linear_ticks(lo, hi, 5);
    std::erase_if(t,
                  [&](double v) { return v < lo - 1e-9 * (hi - lo) || v > hi + 1e-9 * (hi - lo); });
    return t;
  }();
  double bar_lab_w = 0;
  for (double t : bar_ticks)
    bar_lab_w = std::max(bar_lab_w, text_width(format_tick(t, TickFormat::kNumber)));
  const double bar_h = std::max(gh, 120.0);
  const double width = bar_x + bar_w + 6 + bar_lab_w + 28 + 10;
  const double height = top + std::max(gh, bar_h) + 56;

  std::string o = svg_open(width, height);
  o += fmt::format("<title>{}</title>\n", xml_escape(m.title.empty() ? "heat map" : m.title));
  if (!m.title.empty()) {
    o += text(left + gw / 2, 24, m.title, "middle", " font-size=\"14\" font-weight=\"bold\"");
  }
  // Cells; tooltips only while the file stays small.
  const bool tooltips = rows * cols <= 4096;
  o += "<g shape-rendering=\"crispEdges\">\n";
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) {
      const double v = m.values[r][c];
      const double x = left + c * cw, y = top + r * ch;
      std::string tip;
      if (tooltips) {
        tip = fmt::format("<title>{} {}, {} {}: {}</title>", xml_escape(m.y_label),
                          xml_escape(row_label(r)), xml_escape(m.x_label), xml_escape(col_label(c)),
                          std::isfinite(v) ? fmt::format("{:.4g}", v) : "no value");
      }
      if (std::isfinite(v)) {
        o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\">{}</rect>",
                         num(x), num(y), num(cw), num(ch), sequential_colour((v - lo) / (hi - lo)),
                         tip);
      } else {  // no value: white with a grey diagonal, distinct from every colour of the scale
        o += fmt::format(
            "<rect x=\"{0}\" y=\"{1}\" width=\"{2}\" height=\"{3}\" fill=\"white\" "
            "stroke=\"#999\" stroke-width=\"0.5\">{6}</rect><line x1=\"{0}\" "
            "y1=\"{5}\" x2=\"{4}\" y2=\"{1}\" stroke=\"#999\"/>",
            num(x), num(y), num(cw), num(ch), num(x + cw), num(y + ch), tip);
      }
    }
    o += "\n";
  }
  o += "</g>\n";
  o += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
      "stroke=\"#333\"/>\n",
      num(left), num(top), num(gw), num(gh));
  // Row and column labels, thinned to every k-th so they never overlap.
  {
    size_t k = 1;
    while (k < rows && ch * k < kFontPx + 2) ++k;
    for (size_t r = 0; r < rows; r += k) {
      o += text(left - 5, top + r * ch + ch / 2 + 4, row_label(r), "end");
    }
    double col_w = 0;
    for (size_t c = 0; c < cols; ++c) col_w = std::max(col_w, text_width(col_label(c)));
    size_t kc = 1;
    while (kc < cols && cw * kc < col_w + 6) ++kc;
    for (size_t c = 0; c < cols; c += kc) {
      o += text(left + c * cw + cw / 2, top + gh + 16, col_label(c), "middle");
    }
  }
  o += text(left + gw / 2, top + gh + 40, m.x_label, "middle");
  o += fmt::format(
      "<text transform=\"translate({},{}) rotate(-90)\" text-anchor=\"middle\">{}"
      "</text>\n",
      num(18), num(top + gh / 2), xml_escape(m.y_label));
  // Colour bar: 64 bands from hi (top) to lo (bottom), ticks on its right.
  const int bands = 64;
  o += "<g shape-rendering=\"crispEdges\">";
  for (int b = 0; b < bands; ++b) {
    const double t = 1 - (b + 0.5) / bands;
    o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>", num(bar_x),
                     num(top + bar_h * b / bands), num(bar_w), num(bar_h / bands + 0.5),
                     sequential_colour(t));
  }
  o += "</g>\n";
  o += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
      "stroke=\"#333\"/>\n",
      num(bar_x), num(top), num(bar_w), num(bar_h));
  for (double t : bar_ticks) {
    const double y = top + bar_h * (1 - (t - lo) / (hi - lo));
    o += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/>",
                     num(bar_x + bar_w), num(y), num(bar_x + bar_w + 4), num(y));
    o += text(bar_x + bar_w + 6, y + 4, format_tick(t, TickFormat::kNumber), "start");
  }
  o += fmt::format(
      "<text transform=\"translate({},{}) rotate(90)\" text-anchor=\"middle\">{}"
      "</text>\n",
      num(bar_x + bar_w + 6 + bar_lab_w + 14), num(top + bar_h / 2), xml_escape(m.value_label));
  o += "</svg>\n";
  return o;
}

}  // namespace gmha::report
