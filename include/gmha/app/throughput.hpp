#pragma once
// The throughput-latency frontier of `gmha throughput` (issue 15) and its figure in reports:
// for each batch from 1 to the largest that fits in one device's memory (weights + caches +
// states per device at the context), the decode step of capacity/serving.hpp.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gmha/attention/model.hpp"
#include "gmha/capacity/serving.hpp"

namespace gmha::app {

struct ThroughputOptions {
  ServingOptions serving;
  int64_t context = 8192;
  double memory_fraction = 0.9;           // usable share of each device's memory, as `fit`
  std::optional<double> memory_per_device;  // bytes; default the card's
  std::vector<int64_t> batches;           // empty: 1, 2, 4, ... and the largest that fits
};

struct ThroughputPoint {
  ServingPoint step;
  bool fits = false;
  double memory_per_device = 0;  // weights + caches + states, bytes
  double ms_per_token = 0;       // one sequence's latency per output token
};

struct ThroughputCurve {
  std::string model;
  std::string card;
  int64_t context = 0;
  bool beyond_max_context = false;
  double usable_per_device = 0;
  int64_t largest_batch = 0;  // 0: the weights (or one sequence) do not fit
  std::vector<ThroughputPoint> points;
};

/// Throws InputError when the card has no memory size (give --memory) or the options are bad.
ThroughputCurve throughput_curve(const ModelDesign& m, const Hardware& card, const ThroughputOptions& o,
                                 Convention c);

/// A list of points: the serving keys plus model, card, context, fits, memory_per_device,
/// ms_per_token.
nlohmann::json throughput_json(const std::vector<ThroughputCurve>& curves);
/// Tokens/s per device against ms per output token, log-log, one curve per model and card
/// (fitting points only).
std::string throughput_svg(const std::vector<ThroughputCurve>& curves, const std::string& title);

}  // namespace gmha::app
