#pragma once
// Exact JSON of the figures: one object per (model, context) with the keys documented in
// docs/capacity.md (model, variant, layers, d_model, heads, kv_heads, head_dim, frh, slsd, ter,
// context, batch, kv_dtype, kv_bytes_per_token, kv_bytes, decode_kv_bytes_read, attn_flops,
// linear_flops, ffn_flops, arithmetic_intensity, attn_params, total_params, active_params,
// groups; with hardware: cost {card: {...}} and afd_usd_per_mtok).
#include <nlohmann/json.hpp>

#include "gmha/capacity/cost.hpp"
#include "gmha/capacity/figures.hpp"

namespace gmha {

/// `cost` may be null (no --hardware given).
nlohmann::json figures_to_json(const ModelFigures& f, const CostFigures* cost, Convention c);

std::string_view convention_name(Convention c);
/// Parses exact|step3-paper or throws InputError naming --convention.
Convention read_convention(const std::string& name);

}  // namespace gmha
