#pragma once
// JSON of the serving figures (docs/capacity.md, JSON keys): merged into a compare row as
// tp, decode_tokens, weight_dtype, compute_dtype, kv_replication, kv_bytes_per_token_per_device,
// weight_bytes_per_device, arithmetic_intensity_per_device, prefill_flops and, with cards,
// serving {card: {batch, tp, step_seconds, tokens_per_second_per_device, usd_per_mtok, bound,
// weight_bytes_per_device, bytes_read_per_step_per_device, batch_weights_amortised,
// ttft_seconds, prefill_usd_per_mtok, ...}}.
#include <vector>

#include <nlohmann/json.hpp>

#include "gmha/capacity/serving.hpp"

namespace gmha {

/// The keys above, added to `row` (a figures_to_json object).
void add_serving_json(nlohmann::json& row, const ServingModel& s, const std::vector<ServingPoint>& points);
/// One point's keys (also a `throughput` point).
nlohmann::json serving_point_json(const ServingPoint& p);

}  // namespace gmha
