#include "gmha/app/throughput.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "gmha/capacity/serving_json.hpp"
#include "gmha/core/error.hpp"
#include "gmha/report/svg_plot.hpp"

namespace gmha::app {

namespace {
// Default batches: powers of two up to the largest that fits, then that batch itself.
std::vector<int64_t> default_batches(int64_t largest) {
  std::vector<int64_t> b;
  for (int64_t x = 1; x <= std::max<int64_t>(largest, 1); x *= 2) b.push_back(x);
  if (largest > 1 && b.back() != largest) b.push_back(largest);
  return b;
}
}  // namespace

ThroughputCurve throughput_curve(const ModelDesign& m, const Hardware& card, const ThroughputOptions& o,
                                 Convention c) {
  if (!(o.memory_fraction > 0 && o.memory_fraction <= 1)) {
    throw errors::bad_option("memory-fraction", fmt::format("{} is not in (0, 1]", o.memory_fraction));
  }
  const double memory = o.memory_per_device ? *o.memory_per_device : card.memory_bytes;
  if (!(memory > 0) || !std::isfinite(memory)) {
    throw errors::bad_option("memory", fmt::format("card {} has no memory size; give one (bytes per device)",
                                                   card.name));
  }
  const ModelFigures f = compute_figures(m, {o.context, 1, c});
  const ServingModel s = serving_model(m, f, o.serving);
  ThroughputCurve curve;
  curve.model = m.name;
  curve.card = card.name;
  curve.context = o.context;
  curve.beyond_max_context = f.beyond_max_context;
  curve.usable_per_device = memory * o.memory_fraction;
  curve.largest_batch = largest_batch(s, curve.usable_per_device);
  for (int64_t b : o.batches.empty() ? default_batches(curve.largest_batch) : o.batches) {
    if (b <= 0) throw errors::option_not_positive("batch", b);
    ThroughputPoint p;
    p.step = serving_point(s, card, b);
    p.memory_per_device = memory_per_device(s, b);
    p.fits = p.memory_per_device <= curve.usable_per_device;
    p.ms_per_token = p.step.step_seconds * 1e3 / static_cast<double>(s.decode_tokens);
    curve.points.push_back(p);
  }
  return curve;
}

nlohmann::json throughput_json(const std::vector<ThroughputCurve>& curves) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : curves) {
    for (const auto& p : c.points) {
      nlohmann::json j = serving_point_json(p.step);
      j["model"] = c.model;
      j["card"] = c.card;
      j["context"] = c.context;
      j["beyond_max_context"] = c.beyond_max_context;
      j["fits"] = p.fits;
      j["largest_batch"] = c.largest_batch;
      j["memory_per_device"] = p.memory_per_device;
      j["usable_per_device"] = c.usable_per_device;
      j["ms_per_token"] = p.ms_per_token;
      out.push_back(std::move(j));
    }
  }
  return out;
}

std::string throughput_svg(const std::vector<ThroughputCurve>& curves, const std::string& title) {
  report::LinePlot plot;
  plot.title = title;
  plot.x = {"ms per output token (one sequence)", report::AxisScale::kLog, report::TickFormat::kNumber};
  plot.y = {"output tokens/s per device", report::AxisScale::kLog, report::TickFormat::kNumber};
  for (const auto& c : curves) {
    report::PlotSeries s{fmt::format("{} on {}", c.model, c.card)};
    for (const auto& p : c.points) {
      if (!p.fits) continue;  // the curve stops where memory does
      s.x.push_back(p.ms_per_token);
      s.y.push_back(p.step.tokens_per_second_per_device);
    }
    if (!s.x.empty()) plot.series.push_back(s);
  }
  if (plot.series.empty()) {
    throw InputError("throughput: no batch fits in memory on any card; nothing to plot");
  }
  return report::render_line_plot(plot);
}

}  // namespace gmha::app
