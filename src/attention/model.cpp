#include "gmha/attention/model.hpp"

#include <fmt/format.h>

#include "gmha/core/error.hpp"

namespace gmha {

namespace {
bool same_shape(const AttentionShape& a, const AttentionShape& b) {
  return a.variant == b.variant && a.d_model == b.d_model && a.heads == b.heads &&
         a.kv_heads == b.kv_heads && a.head_dim == b.head_dim && a.q_lora_rank == b.q_lora_rank &&
         a.kv_lora_rank == b.kv_lora_rank && a.qk_nope_dim == b.qk_nope_dim &&
         a.qk_rope_dim == b.qk_rope_dim && a.v_head_dim == b.v_head_dim &&
         a.q_share_dim == b.q_share_dim && a.state_value_dim == b.state_value_dim &&
         a.qkv_bias == b.qkv_bias && a.output_gate == b.output_gate;
}
}  // namespace

bool same_layer(const LayerSpec& a, const LayerSpec& b) {
  return same_shape(a.attention, b.attention) && a.span == b.span && a.kv_dtype == b.kv_dtype &&
         a.ffn == b.ffn && a.rope == b.rope;
}

std::string LayerGroup::label() const {
  std::string s(variant_label(spec.attention.variant));
  if (spec.span.kind == SpanKind::kSlidingWindow) s += fmt::format(" sliding {}", spec.span.tokens);
  if (spec.span.kind == SpanKind::kChunked) s += fmt::format(" chunked {}", spec.span.tokens);
  if (!spec.rope) s += " NoPE";
  if (spec.ffn.kind == FfnKind::kMoe) s += ", MoE";
  if (spec.ffn.kind == FfnKind::kDense) s += ", dense FFN";
  return s;
}

std::string LayerGroup::layer_list() const {
  std::string out;
  for (size_t i = 0; i < layers.size();) {
    size_t j = i;
    while (j + 1 < layers.size() && layers[j + 1] == layers[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += j == i ? fmt::format("{}", layers[i]) : fmt::format("{}-{}", layers[i], layers[j]);
    i = j + 1;
  }
  return out;
}

std::vector<LayerGroup> ModelDesign::groups() const {
  std::vector<LayerGroup> g;
  for (size_t i = 0; i < layers.size(); ++i) {
    bool placed = false;
    for (auto& grp : g) {
      if (same_layer(grp.spec, layers[i])) {
        grp.layers.push_back(static_cast<int>(i));
        placed = true;
        break;
      }
    }
    if (!placed) g.push_back({layers[i], {static_cast<int>(i)}});
  }
  return g;
}

bool ModelDesign::is_hybrid() const {
  for (const auto& l : layers) {
    const auto& f = layers.front();
    if (l.attention.variant != f.attention.variant || !(l.span == f.span)) return true;
  }
  return false;
}

void ModelDesign::set_kv_dtype(DType t) {
  for (auto& l : layers) {
    if (l.attention.variant != Variant::kLinear) l.kv_dtype = t;
  }
}

void validate_model(const ModelDesign& m, const std::string& where) {
  if (m.layers.empty()) throw InputError(fmt::format("{}: the model has no layers", where));
  if (m.d_model <= 0) throw errors::not_positive(where, "d (hidden_size)", m.d_model);
  if (m.vocab_size < 0) throw errors::not_positive(where, "vocab_size", m.vocab_size);
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const LayerSpec& l = m.layers[i];
    std::string w = m.layers.size() == 1 ? where : fmt::format("{} layer {}", where, i);
    validate_shape(l.attention, w);
    if (l.span.kind != SpanKind::kFull && l.span.tokens <= 0) {
      throw errors::not_positive(w, l.span.kind == SpanKind::kChunked ? "chunk" : "window",
                                 l.span.tokens);
    }
    const FfnShape& f = l.ffn;
    if (f.kind == FfnKind::kDense && f.intermediate <= 0) {
      throw errors::not_positive(w, "intermediate_size", f.intermediate);
    }
    if (f.kind == FfnKind::kMoe) {
      if (f.routed_experts <= 0) throw errors::not_positive(w, "routed experts", f.routed_experts);
      if (f.top_k <= 0) throw errors::not_positive(w, "experts per token (top-k)", f.top_k);
      if (f.top_k > f.routed_experts) {
        throw InputError(fmt::format("{}: top-k ({}) exceeds the routed experts ({})", w, f.top_k,
                                     f.routed_experts));
      }
      if (f.expert_intermediate <= 0) {
        throw errors::not_positive(w, "moe_intermediate_size", f.expert_intermediate);
      }
      if (f.shared_experts < 0) throw errors::not_positive(w, "shared experts", f.shared_experts);
      if (f.shared_experts > 0 && f.shared_intermediate <= 0) {
        throw errors::not_positive(w, "shared expert intermediate size", f.shared_intermediate);
      }
    }
  }
}

}  // namespace gmha
