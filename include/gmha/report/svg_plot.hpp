#pragma once
// A small SVG plotting module for reports: line/scatter plots on linear or log axes, horizontal
// reference lines (roofline ridges), and heat maps (per-head entropy rank). Pure functions that
// return SVG text; no I/O. Everything is drawn so that it stays readable in grey print: series
// differ by dash pattern and marker shape as well as colour, the legend and reference-line labels
// sit outside the plot area (they can never cover data), and tick labels are thinned until they
// do not overlap. All text is XML-escaped.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gmha::report {

enum class AxisScale { kLinear, kLog };

/// How tick labels are written. kNumber: SI-style 1K = 1e3, 1M, 1G, 1T (log ticks at powers of
/// ten). kTokens: binary 1K = 1024, 1M = 2^20 (log ticks at powers of two). kBytes: IEC units
/// "1 KiB", "1 GiB" (log ticks at powers of two). kUsd: "$0.01", "$1.5K".
enum class TickFormat { kNumber, kTokens, kBytes, kUsd };

struct PlotAxis {
  std::string label;  // with the unit, e.g. "KV cache (bytes)"
  AxisScale scale = AxisScale::kLinear;
  TickFormat format = TickFormat::kNumber;
  std::optional<double> min;  // default: from the data (and reference lines)
  std::optional<double> max;
};

/// One data series. Points that are not finite (or not positive on a log axis) are skipped and
/// break the line there.
struct PlotSeries {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;
  bool line = true;     // connect points in x order as given
  bool markers = true;  // draw a marker at every point
};

/// A horizontal line across the plot at y, labelled in the right margin (e.g. a card's ridge).
struct ReferenceLine {
  double y = 0;
  std::string label;
};

struct LinePlot {
  std::string title;
  PlotAxis x;
  PlotAxis y;
  std::vector<PlotSeries> series;
  std::vector<ReferenceLine> references;
  int plot_width = 560;  // px of the plot area; margins are added around it
  int plot_height = 340;
};

/// Renders a line/scatter plot. Throws InputError when a series' x and y differ in length or a
/// fixed axis range is empty or not positive on a log axis.
std::string render_line_plot(const LinePlot& plot);

/// A heat map of values[row][col] (rows top to bottom), e.g. layers x heads. NaN cells are drawn
/// hatched grey ("no value"). The colour scale is monotone in luminance (viridis-like), so it
/// reads correctly in grey print; a colour bar with ticks is drawn on the right.
struct HeatMap {
  std::string title;
  std::string x_label;      // e.g. "head"
  std::string y_label;      // e.g. "layer"
  std::string value_label;  // e.g. "entropy effective rank"
  std::vector<std::vector<double>> values;
  std::vector<std::string> col_labels;  // optional; default 0, 1, 2, ...
  std::vector<std::string> row_labels;  // optional; default 0, 1, 2, ...
  std::optional<double> min;            // colour scale range; default from the data
  std::optional<double> max;
  int cell_max_px = 28;  // cells shrink to fit plot_width x plot_height
  int plot_width = 640;
  int plot_height = 420;
};

/// Renders a heat map. Throws InputError when rows differ in length or there are no cells.
std::string render_heat_map(const HeatMap& map);

// --- building blocks, exposed for tests -------------------------------------------------------

/// "Nice" linear ticks (steps of 1, 2 or 5 x 10^k) covering [lo, hi], about `target` of them.
std::vector<double> nice_linear_ticks(double lo, double hi, int target);
/// Log ticks within [lo, hi] (lo > 0): powers of `base` (10 or 2) with a stride that keeps at
/// most `max_ticks`; for spans under one decade (base 10), 1-2-5 ticks.
std::vector<double> log_ticks(double lo, double hi, int base, int max_ticks);
/// A compact tick label: 1K, 2.5M, 1 GiB, $0.01 (see TickFormat).
std::string format_tick(double value, TickFormat format);
/// Escapes &, <, >, " and ' for XML text and attributes.
std::string xml_escape(std::string_view text);
/// Viridis-like colour for t in [0, 1] as "#rrggbb" (t clamped).
std::string sequential_colour(double t);

}  // namespace gmha::report
