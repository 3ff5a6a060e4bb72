#include "gmha/capacity/figures_json.hpp"

#include <cmath>

#include <fmt/format.h>

#include "gmha/core/error.hpp"

namespace gmha {

using nlohmann::json;

namespace {
// Byte counts are exact integers except int4 halves; keep integers as integers in JSON.
json exact(double v) {
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) return static_cast<int64_t>(v);
  return v;
}
std::string span_name(SpanKind k) {
  switch (k) {
    case SpanKind::kFull: return "full";
    case SpanKind::kSlidingWindow: return "sliding_window";
    case SpanKind::kChunked: return "chunked";
  }
  return "?";
}
}  // namespace

std::string_view convention_name(Convention c) {
  return c == Convention::kExact ? "exact" : "step3-paper";
}

Convention read_convention(const std::string& name) {
  if (name == "exact") return Convention::kExact;
  if (name == "step3-paper" || name == "step3") return Convention::kStep3Paper;
  throw errors::bad_option("convention", fmt::format("unknown convention '{}' (known: exact, step3-paper)", name));
}

json figures_to_json(const ModelFigures& f, const CostFigures* cost, Convention c) {
  json j = {
      {"model", f.model},
      {"design", f.spec},
      {"variant", f.variant},
      {"convention", std::string(convention_name(c))},
      {"layers", f.layers},
      {"d_model", f.d_model},
      {"heads", f.heads},
      {"kv_heads", f.kv_heads},
      {"head_dim", f.head_dim},
      {"frh", f.ranks.frh},
      {"frh_bound", f.ranks.frh_bound},
      {"slsd", f.ranks.slsd},
      {"ter", f.ranks.ter},
      {"context", f.context},
      {"batch", f.batch},
      {"kv_dtype", f.kv_dtype},
      {"kv_bytes_per_token", exact(f.kv_bytes_per_token)},
      {"kv_bytes", exact(f.kv_bytes)},
      {"decode_kv_bytes_read", exact(f.decode_kv_bytes_read)},
      {"attn_flops", f.attn_flops},
      {"linear_flops", f.linear_flops},
      {"ffn_flops", f.ffn_flops},
      {"arithmetic_intensity", f.arithmetic_intensity},
      {"attn_params", f.attn_params},
      {"ffn_params", f.ffn_known ? json(f.ffn_params) : json(nullptr)},
      {"embedding_params", f.embedding_params},
      {"total_params", f.ffn_known ? json(f.total_params) : json(nullptr)},
      {"active_params", f.ffn_known ? json(f.active_params) : json(nullptr)},
  };
  json groups = json::array();
  for (const auto& g : f.groups) {
    const AttentionShape& a = g.spec.attention;
    json gj = {
        {"label", g.label},
        {"layers", g.layer_list},
        {"layer_count", g.layer_count},
        {"variant", std::string(variant_name(a.variant))},
        {"span", span_name(g.spec.span.kind)},
        {"span_tokens", g.spec.span.tokens},
        {"rope", g.spec.rope},
        {"kv_dtype", std::string(dtype_name(g.spec.kv_dtype))},
        {"heads", a.heads},
        {"kv_heads", a.kv_heads},
        {"frh", g.ranks.frh},
        {"slsd", g.ranks.slsd},
        {"ter", g.ranks.ter},
        {"attn_params_per_layer", g.attn_params_per_layer},
        {"ffn_params_per_layer", g.ffn_params_per_layer},
        {"kv_elements_per_token_per_layer", g.kv_elements_per_token_per_layer},
        {"kv_bytes_per_token_per_layer", exact(g.kv_bytes_per_token_per_layer)},
        {"state_elements_per_layer", g.state_elements_per_layer},
        {"effective_tokens", g.effective_tokens},
        {"kv_bytes", exact(g.kv_bytes)},
        {"decode_kv_bytes_read", exact(g.decode_kv_bytes_read)},
        {"attn_flops", g.attn_flops},
        {"linear_flops", g.linear_flops},
        {"ffn_flops", g.ffn_flops},
    };
    groups.push_back(gj);
  }
  j["groups"] = groups;
  if (cost) {
    json cj = json::object();
    for (const auto& cc : cost->cards) {
      cj[cc.card] = {{"attn_usd_per_mtok", cc.attn_usd_per_mtok},
                     {"ffn_usd_per_mtok", cc.ffn_usd_per_mtok},
                     {"total_usd_per_mtok", cc.total_usd_per_mtok},
                     {"bound", cc.bound}};
    }
    j["cost"] = cj;
    j["afd_usd_per_mtok"] = cost->afd_usd_per_mtok;
    j["afd_attn_card"] = cost->afd_attn_card;
    j["afd_ffn_card"] = cost->afd_ffn_card;
  }
  return j;
}

}  // namespace gmha
