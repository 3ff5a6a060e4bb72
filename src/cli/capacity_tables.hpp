#pragma once
// The capacity, decode, layer-group and cost tables of `gmha compare` (and of reports), built
// from computed figures. Terminal tables use readable units; CSV uses exact values.
#include <vector>

#include "gmha/capacity/cost.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/report/table.hpp"

namespace gmha::cli {

struct CompareRow {
  ModelFigures figures;
  CostFigures cost;  // empty when no hardware
};

/// Per model (first context): variant, heads, FRH, SLSD, TER, KV per token, parameters.
report::Table capacity_table(const std::vector<CompareRow>& rows);
/// Per (model, context): KV cache at T x B, bytes read, FLOPs, arithmetic intensity.
report::Table decode_table(const std::vector<CompareRow>& rows);
/// Layer groups of hybrid models (empty table when there are none).
report::Table groups_table(const std::vector<CompareRow>& rows);
/// A layer kind's geometry ("64/8 x 64, sinks", "32h x 128x128 (16 key)") and fill rule.
std::string kind_geometry(const LayerSpec& l);
std::string kind_fill(const LayerSpec& l);
/// Per (model, context, card): attention / FFN / total cost and bound, then the AFD total.
report::Table cost_table(const std::vector<CompareRow>& rows);
/// One flat row per (model, context) with exact values (CSV).
report::Table flat_table(const std::vector<CompareRow>& rows);

}  // namespace gmha::cli
