#include "cli/serving_tables.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "gmha/report/units.hpp"

namespace gmha::cli {

using report::Align;
using report::Table;

namespace {
std::string context_cell(const ServingRow& r) {
  std::string t = r.context % 1024 == 0 ? fmt::format("{}K", r.context / 1024) : std::to_string(r.context);
  return r.beyond_max_context ? t + "*" : t;  // * : past max_position_embeddings (a note says so)
}
std::string ms(double seconds) { return report::format_number(seconds * 1e3, 4); }
std::string full(double v) { return fmt::format("{:.17g}", v); }
// The card group's parallelism: "8", or "8, EP 8" when the experts form groups.
std::string parallel_cell(int64_t tp, int64_t ep) {
  return ep > 1 ? fmt::format("{}, EP {}", tp, ep) : std::to_string(tp);
}
bool any_ep(const std::vector<ServingRow>& rows) {
  for (const auto& r : rows) {
    if (r.serving.ep > 1) return true;
  }
  return false;
}
bool any_beyond(const std::vector<ServingRow>& rows) {
  for (const auto& r : rows) {
    if (r.beyond_max_context) return true;
  }
  return false;
}
std::string dtype_upper(ComputeDType d) {
  std::string s(compute_dtype_name(d));
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

std::string step3_cost_model_note() {
  return "Step-3 large-batch model: weight reads amortised away; the serving tables charge them";
}

std::string charged_peak_note(ComputeDType requested,
                              const std::vector<std::pair<std::string, ComputeDType>>& cards) {
  std::string note = fmt::format("peak charged: {} dense", dtype_upper(requested));
  std::string fallbacks;
  for (const auto& [card, charged] : cards) {
    if (charged == requested) continue;
    fallbacks += fmt::format("{}{}: {}", fallbacks.empty() ? "" : ", ", card, compute_dtype_name(charged));
  }
  if (!fallbacks.empty()) note += " (no " + std::string(compute_dtype_name(requested)) + " on " + fallbacks + ")";
  return note;
}

std::string charged_peak_note(const CostFigures& c) {
  std::vector<std::pair<std::string, ComputeDType>> cards;
  for (const auto& cc : c.cards) cards.emplace_back(cc.card, cc.compute_dtype);
  return charged_peak_note(c.compute_dtype, cards);
}

Table serving_step_table(const std::vector<ServingRow>& rows) {
  Table t;
  t.title = "Serving: one decode step at the batch (weights read once + every sequence's KV)";
  t.columns = {{"model", Align::kLeft}, {"context"}, {"card", Align::kLeft}, {"batch"}, {"TP"},
               {"ms/step"}, {"tok/s/device"}, {"per 1M out"}, {"bound", Align::kLeft},
               {"B: weights<10%"}};
  t.key_columns = 3;  // model, context, card
  std::vector<double> usd;
  for (const auto& r : rows) {
    for (const auto& p : r.points) {
      t.add_row({r.model, context_cell(r), p.card, std::to_string(p.batch), parallel_cell(p.tp, p.ep),
                 ms(p.step_seconds), report::format_number(p.tokens_per_second_per_device, 4), "",
                 p.bound,
                 p.batch_weights_amortised ? std::to_string(*p.batch_weights_amortised) : "never"});
      usd.push_back(p.usd_per_mtok);
    }
  }
  t.set_unit_column(7, usd, report::Quantity::kUsd);
  if (!rows.empty()) {
    const ServingModel& s = rows.front().serving;
    std::vector<std::pair<std::string, ComputeDType>> cards;
    for (const auto& p : rows.front().points) cards.emplace_back(p.card, p.compute_dtype);
    // Weight formats differ per model (each config's quantization_config): name every one.
    std::string weights;
    std::vector<std::string> seen;
    for (const auto& r : rows) {
      const std::string w = r.model + " " + r.serving.weight_label;
      if (std::find(seen.begin(), seen.end(), r.model) != seen.end()) continue;
      seen.push_back(r.model);
      weights += (weights.empty() ? "" : ", ") + w;
    }
    t.notes.push_back(charged_peak_note(s.compute_dtype, cards) +
                      fmt::format("; {} query token(s) per sequence and step", s.decode_tokens));
    t.notes.push_back("weights: " + weights);
    t.notes.push_back("step = max(FLOPs / (TP x peak), bytes read per device / bandwidth)");
    t.notes.push_back("per 1M out: the TP cards' price per output token");
    if (any_ep(rows)) {
      t.notes.push_back("EP M: routed experts in M groups of E/M; the step waits for the device "
                        "whose experts the batch picked most (uniform routing; all-to-all not timed)");
    }
  }
  if (any_beyond(rows)) t.notes.push_back("*: context beyond the model's max_position_embeddings");
  return t;
}

Table serving_device_table(const std::vector<ServingRow>& rows) {
  Table t;
  t.title = "Serving: per device at the batch, and prefill of one prompt of the context";
  t.columns = {{"model", Align::kLeft}, {"context"}, {"card", Align::kLeft}, {"TP"},
               {"weights"}, {"KV/token"}, {"KV repl."}, {"read/step"}, {"TTFT ms"},
               {"per 1M prompt"}};
  t.key_columns = 3;  // model, context, card
  std::vector<double> weights, kv, read, usd;
  for (const auto& r : rows) {
    for (const auto& p : r.points) {
      t.add_row({r.model, context_cell(r), p.card, parallel_cell(p.tp, p.ep), "", "",
                 std::to_string(r.serving.kv_replication), "", ms(p.ttft_seconds), ""});
      weights.push_back(p.weight_bytes_per_device);
      kv.push_back(r.serving.kv_bytes_per_token_per_device);
      read.push_back(p.bytes_read_per_step_per_device);
      usd.push_back(p.prefill_usd_per_mtok);
    }
  }
  t.set_unit_column(4, weights, report::Quantity::kBytes);
  t.set_unit_column(5, kv, report::Quantity::kBytes);
  t.set_unit_column(7, read, report::Quantity::kBytes);
  t.set_unit_column(9, usd, report::Quantity::kUsd);
  t.notes.push_back("per device, binary units (KiB, GiB); KV repl.: devices caching each stream");
  t.notes.push_back("  (GQA max(1, TP / KV heads); MLA latent and MFA K/V: TP)");
  t.notes.push_back("TTFT: causal prefill FLOPs (half the score matrix) / (TP x peak) + weight read");
  if (any_beyond(rows)) t.notes.push_back("*: context beyond the model's max_position_embeddings");
  return t;
}

void append_serving_columns(Table& flat, const std::vector<ServingRow>& rows) {
  if (rows.empty()) return;
  for (const char* k : {"tp", "ep", "decode_tokens", "weight_dtype", "kv_replication",
                        "kv_bytes_per_token_per_device", "weight_bytes_per_device", "prefill_flops"}) {
    flat.columns.push_back({k});
  }
  for (const auto& p : rows.front().points) {
    for (const char* k : {"step_seconds", "tokens_per_second_per_device", "serving_usd_per_mtok",
                          "serving_bound", "bytes_read_per_step_per_device",
                          "batch_weights_amortised", "ttft_seconds", "prefill_usd_per_mtok"}) {
      flat.columns.push_back({p.card + "_" + k});
    }
  }
  for (size_t i = 0; i < rows.size() && i < flat.rows.size(); ++i) {
    const ServingRow& r = rows[i];
    auto& cells = flat.rows[i];
    cells.insert(cells.end(), {std::to_string(r.serving.tp), std::to_string(r.serving.ep),
                               std::to_string(r.serving.decode_tokens),
                               r.serving.weight_format, std::to_string(r.serving.kv_replication),
                               full(r.serving.kv_bytes_per_token_per_device),
                               full(r.serving.weight_bytes_per_device), full(r.serving.prefill_flops)});
    for (const auto& p : r.points) {
      cells.insert(cells.end(),
                   {full(p.step_seconds), full(p.tokens_per_second_per_device), full(p.usd_per_mtok),
                    p.bound, full(p.bytes_read_per_step_per_device),
                    p.batch_weights_amortised ? std::to_string(*p.batch_weights_amortised) : "",
                    full(p.ttft_seconds), full(p.prefill_usd_per_mtok)});
    }
  }
}

}  // namespace gmha::cli
