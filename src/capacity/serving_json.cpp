#include "gmha/capacity/serving_json.hpp"

namespace gmha {

using nlohmann::json;

json serving_point_json(const ServingPoint& p) {
  return {{"batch", p.batch},
          {"tp", p.tp},
          {"ep", p.ep},
          {"compute_dtype", std::string(compute_dtype_name(p.compute_dtype))},
          {"peak_flops_charged", p.peak_flops_charged},
          {"step_seconds", p.step_seconds},
          {"compute_seconds", p.compute_seconds},
          {"memory_seconds", p.memory_seconds},
          {"tokens_per_second_per_device", p.tokens_per_second_per_device},
          {"usd_per_mtok", p.usd_per_mtok},
          {"bound", p.bound},
          {"flops_per_step_per_device", p.flops_per_step_per_device},
          {"weight_bytes_per_device", p.weight_bytes_per_device},
          {"weight_bytes_read_per_step_per_device", p.weight_bytes_read_per_step_per_device},
          {"kv_bytes_read_per_step_per_device", p.kv_bytes_read_per_step_per_device},
          {"bytes_read_per_step_per_device", p.bytes_read_per_step_per_device},
          {"batch_weights_amortised",
           p.batch_weights_amortised ? json(*p.batch_weights_amortised) : json(nullptr)},
          {"ttft_seconds", p.ttft_seconds},
          {"prefill_usd_per_mtok", p.prefill_usd_per_mtok}};
}

void add_serving_json(json& row, const ServingModel& s, const std::vector<ServingPoint>& points) {
  row["tp"] = s.tp;
  row["ep"] = s.ep;
  row["decode_tokens"] = s.decode_tokens;
  row["weight_dtype"] = s.weight_format;
  row["weight_format"] = s.weight_label;
  row["compute_dtype"] = std::string(compute_dtype_name(s.compute_dtype));
  row["kv_replication"] = s.kv_replication;
  row["kv_bytes_per_token_per_device"] = s.kv_bytes_per_token_per_device;
  row["kv_read_bytes_per_sequence_per_device"] = s.kv_read_bytes_per_sequence_per_device;
  row["weight_bytes_per_device"] = s.weight_bytes_per_device;
  row["arithmetic_intensity_per_device"] = s.arithmetic_intensity_per_device;
  row["head_flops_per_token"] = s.head_flops_per_token;
  row["prefill_flops"] = s.prefill_flops;
  if (points.empty()) return;
  json cards = json::object();
  for (const ServingPoint& p : points) cards[p.card] = serving_point_json(p);
  row["serving"] = cards;
}

}  // namespace gmha
