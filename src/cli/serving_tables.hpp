#pragma once
// The serving tables of `gmha compare` (and `throughput`): the batch-aware decode step, the
// per-device memory and prefill, and the notes that label the Step-3 large-batch cost table and
// the peak it charged. Each table is its own section, at most 100 columns wide.
#include <string>
#include <vector>

#include "gmha/capacity/cost.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/capacity/serving.hpp"
#include "gmha/report/table.hpp"

namespace gmha::cli {

/// One (model, context) row's serving figures: the model part and one point per card.
struct ServingRow {
  std::string model;
  int64_t context = 0;
  bool beyond_max_context = false;
  ServingModel serving;
  std::vector<ServingPoint> points;
};

/// Per (model, context, card): batch, TP, ms per step, tokens/s per device, $/1M output tokens,
/// bound, the batch from which weight reads are under 10 % of the step.
report::Table serving_step_table(const std::vector<ServingRow>& rows);
/// Per (model, context, card): weights, KV per token and its replication, bytes read per step,
/// all per device; time to first token and $/1M prompt tokens.
report::Table serving_device_table(const std::vector<ServingRow>& rows);
/// Appends the serving figures to the flat CSV table (one set of columns per card of row 0).
void append_serving_columns(report::Table& flat, const std::vector<ServingRow>& rows);

/// Labels the cost table: the Step-3 paper's model, weights amortised over a large batch.
std::string step3_cost_model_note();
/// "peak charged: BF16 dense (a800: bf16)": the requested precision and each card's fallback.
std::string charged_peak_note(ComputeDType requested, const std::vector<std::pair<std::string, ComputeDType>>& cards);
std::string charged_peak_note(const CostFigures& c);

}  // namespace gmha::cli
