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
    case SpanKind::kTopK: return "top_k";
    case SpanKind::kCompressed: return "compressed";
    case SpanKind::kNsa: return "nsa";
    case SpanKind::kMoba: return "moba";
  }
  return "?";
}
// The fill rule's own numbers (docs/designs.md, "Modifiers"); empty for full/window/chunk/top-k.
json fill_params(const AttentionSpan& s) {
  switch (s.kind) {
    case SpanKind::kCompressed:
      return {{"ratio", s.ratio}, {"window", s.window}, {"top_k", s.tokens}};
    case SpanKind::kNsa:
      return {{"block", s.block}, {"stride", s.ratio}, {"selected_blocks", s.blocks},
              {"selection_block", s.select_block}, {"window", s.window}};
    case SpanKind::kMoba:
      return {{"block", s.block}, {"selected_blocks", s.blocks}};
    default:
      return json::object();
  }
}
std::string mixer_name(const LayerSpec& l) {
  switch (mixer_kind(l)) {
    case MixerKind::kNone: return "none";
    case MixerKind::kRecurrent: return std::string(recurrent_name(l.attention.recurrent));
    case MixerKind::kSoftmax: return std::string(variant_name(l.attention.variant));
  }
  return "?";
}
// FRH/SLSD/TER are "n/a" for recurrent layers: JSON null, never 0 (frontier of docs/capacity.md).
json rank_or_null(const std::optional<CapacityRanks>& r, int64_t CapacityRanks::*field) {
  return r ? json((*r).*field) : json(nullptr);
}
// One layer kind's geometry: the fields its mixer uses, by their config names.
json geometry(const LayerSpec& l) {
  const AttentionShape& a = l.attention;
  json g = json::object();
  switch (mixer_kind(l)) {
    case MixerKind::kNone: return g;
    case MixerKind::kRecurrent:
      g = {{"heads", a.heads}, {"key_heads", a.key_heads}, {"d_k", a.head_dim},
           {"d_v", a.state_value_dim}, {"conv_kernel", a.conv_kernel}, {"inner", a.inner}};
      return g;
    case MixerKind::kSoftmax: break;
  }
  g = {{"heads", a.heads}, {"kv_heads", a.kv_heads}, {"head_dim", a.head_dim},
       {"v_head_dim", a.v_head_dim > 0 ? a.v_head_dim : a.head_dim}, {"rotary_dim", a.rotary_dim},
       {"kv_tied", a.kv_tied}, {"sinks", a.sinks}, {"qk_norm", a.qk_norm},
       {"output_gate", a.gate == OutputGate::kNone ? "none"
                       : a.gate == OutputGate::kElementwise ? "elementwise" : "headwise"}};
  if (a.variant == Variant::kMla || a.variant == Variant::kGla || a.variant == Variant::kMtla) {
    g["kv_lora_rank"] = a.kv_lora_rank;
    g["q_lora_rank"] = a.q_lora_rank;
    g["qk_nope_head_dim"] = a.qk_nope_dim;
    g["qk_rope_head_dim"] = a.qk_rope_dim;
  }
  // The 2025 designs (docs/designs.md): GLA's latent heads are kv_heads; GTA's RoPE key width.
  if (a.variant == Variant::kGta) g["qk_rope_head_dim"] = a.qk_rope_dim;
  if (a.variant == Variant::kMtla) g["temporal_stride"] = a.temporal_stride;
  if (a.variant == Variant::kTpa) {
    g["tpa_rank_q"] = a.tpa_rank_q;
    g["tpa_rank_k"] = a.tpa_rank_k;
    g["tpa_rank_v"] = a.tpa_rank_v;
    g["tpa_contextual"] = !a.tpa_noncontextual;
  }
  if (a.kv_latent) g["kv_latent"] = true;
  if (a.q_lora_rank > 0 && a.variant != Variant::kMla && a.variant != Variant::kGla && a.variant != Variant::kMtla) {
    g["q_lora_rank"] = a.q_lora_rank;
  }
  if (a.o_lora_rank > 0) {
    g["o_lora_rank"] = a.o_lora_rank;
    g["o_groups"] = a.o_groups;
    g["vo_group_rank"] = capacity_ranks(a).vo_group_rank;
  }
  if (a.index_head_dim > 0) {
    g["index_n_heads"] = a.index_heads;
    g["index_head_dim"] = a.index_head_dim;
  }
  return g;
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
      {"slsd_head", f.ranks.slsd_head},
      {"ter", f.ranks.ter},
      // False where the bilinear form fails (contextual TPA): the ranks are then bounds.
      {"gmha_bilinear", f.ranks.bilinear},
      {"context", f.context},
      {"batch", f.batch},
      {"kv_dtype", f.kv_dtype},
      {"kv_bytes_per_token", exact(f.kv_bytes_per_token)},
      {"kv_bytes", exact(f.kv_bytes)},
      {"decode_kv_bytes_read", exact(f.decode_kv_bytes_read)},
      // The same bytes under the name the layer-level model gives them (caches, index keys and
      // recurrent states read by one decode step): docs/capacity.md.
      {"decode_bytes_read", exact(f.decode_kv_bytes_read)},
      {"attn_flops", f.attn_flops},
      {"linear_flops", f.linear_flops},
      {"ffn_flops", f.ffn_flops},
      {"arithmetic_intensity", f.arithmetic_intensity},
      {"attn_params", f.attn_params},
      {"ffn_params", f.ffn_known ? json(f.ffn_params) : json(nullptr)},
      {"embedding_params", f.embedding_params},
      {"per_layer_embedding_params", f.per_layer_embedding_params},
      {"total_params", f.ffn_known ? json(f.total_params) : json(nullptr)},
      {"active_params", f.ffn_known ? json(f.active_params) : json(nullptr)},
      {"active_params_excl_input_embedding",
       f.ffn_known ? json(f.active_params_excl_input_embedding) : json(nullptr)},
      {"active_params_excl_embeddings", f.ffn_known ? json(f.active_params_excl_embeddings) : json(nullptr)},
      {"kv_bytes_per_token_minimal", exact(f.kv_bytes_per_token_minimal)},
      {"indexer_bytes_per_token", f.indexer_bytes_per_token},
      {"state_bytes_per_sequence", exact(f.state_bytes_per_sequence)},
      {"cache_owning_layers", f.cache_owning_layers},
      {"max_context", f.max_context > 0 ? json(f.max_context) : json(nullptr)},
      {"vision_params", f.vision_params >= 0 ? json(f.vision_params) : json(nullptr)},
      {"beyond_max_context", f.beyond_max_context},
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
        {"fill_params", fill_params(g.spec.span)},
        {"rope", g.spec.rope},
        {"kv_dtype", std::string(kv_cache_type_name(g.spec.kv_dtype, g.spec.kv_layout))},
        {"heads", a.heads},
        {"kv_heads", a.kv_heads},
        {"mixer", mixer_name(g.spec)},
        {"parallel", g.spec.parallel},
        {"kv_source", g.spec.kv_source >= 0 ? json(g.spec.kv_source) : json(nullptr)},
        {"frh", rank_or_null(g.softmax_ranks, &CapacityRanks::frh)},
        {"slsd", rank_or_null(g.softmax_ranks, &CapacityRanks::slsd)},
        {"slsd_head", rank_or_null(g.softmax_ranks, &CapacityRanks::slsd_head)},
        {"ter", rank_or_null(g.softmax_ranks, &CapacityRanks::ter)},
        {"attn_params_per_layer", g.attn_params_per_layer},
        {"ffn_params_per_layer", g.ffn_params_per_layer},
        {"kv_elements_per_token_per_layer", g.kv_elements_per_token_per_layer},
        {"kv_bytes_per_token_per_layer", exact(g.kv_bytes_per_token_per_layer)},
        {"state_elements_per_layer", g.state_elements_per_layer},
        {"conv_state_elements_per_layer", g.conv_state_elements_per_layer},
        {"state_bytes_per_layer", exact(g.state_bytes_per_layer)},
        {"index_key_bytes_per_layer", g.index_key_bytes_per_layer},
        {"stored_tokens", g.stored_tokens},
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
  json kinds = json::array();
  for (const auto& k : f.kinds) {
    kinds.push_back({
        {"label", k.label},
        {"layers", k.layer_list},
        {"layer_count", k.layer_count},
        {"mixer", mixer_name(k.spec)},
        {"parallel", k.spec.parallel},  // a second mixer of its layers (Falcon-H1's Mamba2)
        {"geometry", geometry(k.spec)},
        {"fill", span_name(k.spec.span.kind)},
        {"fill_tokens", k.spec.span.tokens},
        {"fill_params", fill_params(k.spec.span)},
        {"kv_source", k.spec.kv_source >= 0 ? json(k.spec.kv_source) : json(nullptr)},
        {"kv_dtype", std::string(kv_cache_type_name(k.spec.kv_dtype, k.spec.kv_layout))},
        {"frh", rank_or_null(k.softmax_ranks, &CapacityRanks::frh)},
        {"slsd", rank_or_null(k.softmax_ranks, &CapacityRanks::slsd)},
        {"ter", rank_or_null(k.softmax_ranks, &CapacityRanks::ter)},
        {"state_capacity", k.recurrent.state_capacity > 0 ? json(k.recurrent.state_capacity) : json(nullptr)},
        {"key_rank_bound", k.recurrent.key_rank_bound > 0 ? json(k.recurrent.key_rank_bound) : json(nullptr)},
        {"kv_bytes_per_token_per_layer", exact(k.kv_bytes_per_token_per_layer)},
        {"kv_bytes_per_token_minimal_per_layer", exact(k.kv_bytes_per_token_minimal_per_layer)},
        {"index_key_bytes_per_layer", k.index_key_bytes_per_layer},
        {"state_bytes_per_layer", exact(k.state_bytes_per_layer)},
        {"kv_bytes", exact(k.kv_bytes)},
        {"decode_kv_bytes_read", exact(k.decode_kv_bytes_read)},
    });
  }
  j["layer_kinds"] = kinds;
  if (cost) {
    json cj = json::object();
    for (const auto& cc : cost->cards) {
      cj[cc.card] = {{"attn_usd_per_mtok", cc.attn_usd_per_mtok},
                     {"ffn_usd_per_mtok", cc.ffn_usd_per_mtok},
                     {"total_usd_per_mtok", cc.total_usd_per_mtok},
                     {"bound", cc.bound},
                     {"compute_dtype", std::string(compute_dtype_name(cc.compute_dtype))},
                     {"peak_flops_charged", cc.peak_flops_charged}};
    }
    j["compute_dtype"] = std::string(compute_dtype_name(cost->compute_dtype));
    j["cost_model"] = "step3-large-batch";
    j["cost"] = cj;
    j["afd_usd_per_mtok"] = cost->afd_usd_per_mtok;
    j["afd_attn_card"] = cost->afd_attn_card;
    j["afd_ffn_card"] = cost->afd_ffn_card;
  }
  return j;
}

}  // namespace gmha
