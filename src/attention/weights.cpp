#include "gmha/attention/weights.hpp"

#include <string_view>

#include "gmha/core/checked.hpp"

namespace gmha {

int64_t WeightTensor::elements() const { return checked_mul(rows, cols, "weight elements"); }

std::vector<WeightTensor> attention_weights(const AttentionShape& s) {
  std::vector<WeightTensor> w;
  visit_attention_weights(s, [&](const char* name, int64_t rows, int64_t cols, bool is_matrix) {
    w.push_back({name, rows, cols, is_matrix});
  });
  return w;
}

std::vector<CacheStream> cache_streams(const AttentionShape& s) {
  std::vector<CacheStream> c;
  visit_cache_streams(s, [&](const char* name, int64_t width) { c.push_back({name, width}); });
  return c;
}

AttentionCounts attention_counts(const AttentionShape& s) {
  AttentionCounts n;
  visit_attention_weights(s, [&](const char* name, int64_t rows, int64_t cols, bool is_matrix) {
    const int64_t e = checked_mul(rows, cols, "weight elements");
    n.params = checked_add(n.params, e, "attention parameters");
    if (is_matrix && std::string_view(name) != "kr_n") {
      n.decode_matmul = checked_add(n.decode_matmul, e, "attention matmul");
    }
  });
  visit_cache_streams(s, [&](const char* name, int64_t width) {
    n.cached_elements = checked_add(n.cached_elements, width, "cached elements");
    if (std::string_view(name) != "v_tied") {
      n.cached_elements_minimal = checked_add(n.cached_elements_minimal, width, "cached elements");
    }
  });
  return n;
}

bool writes_cache(std::string_view n) {
  static constexpr std::string_view kNames[] = {
      "k_proj", "v_proj", "k_proj.bias", "v_proj.bias", "wkv", "kv_norm", "kv_a_proj_with_mqa",
      "kv_a_layernorm", "kv_a_layernorm.bias", "kv_proj", "k_rope_proj", "W_A_k", "A_k", "W_B_k",
      "W_A_v", "A_v", "W_B_v"};
  for (std::string_view k : kNames)
    if (n == k) return true;
  return false;
}

AttentionCounts attention_counts(const LayerSpec& l) {
  AttentionCounts n = attention_counts(l.attention);
  n.params = 0;
  n.decode_matmul = 0;
  visit_layer_weights(l, [&](const char* name, int64_t rows, int64_t cols, bool is_matrix) {
    const int64_t e = checked_mul(rows, cols, "weight elements");
    const std::string_view nm(name);
    n.params = checked_add(n.params, e, "attention parameters");
    if (is_matrix && nm != "kr_n" && nm != "nsa.phi_k" && nm != "nsa.phi_v") {
      n.decode_matmul = checked_add(n.decode_matmul, e, "attention matmul");
    }
  });
  return n;
}

std::vector<WeightTensor> layer_weights(const LayerSpec& l) {
  std::vector<WeightTensor> w;
  visit_layer_weights(l, [&](const char* name, int64_t rows, int64_t cols, bool is_matrix) {
    w.push_back({name, rows, cols, is_matrix});
  });
  return w;
}

StreamWidths stream_widths(const AttentionShape& s) {
  StreamWidths w;
  visit_cache_streams(s, [&](const char* name, int64_t width) {
    const std::string_view n(name);
    w.all = checked_add(w.all, width, "cache width");
    if (n != "v" && n != "v_tied" && n != "a_v" && n != "b_v") w.keys = checked_add(w.keys, width, "cache width");
  });
  return w;
}

int64_t linear_state_elements(const AttentionShape& s) {
  if (s.variant != Variant::kLinear || s.recurrent == RecurrentKind::kShortConv) return 0;
  return checked_product({s.heads, s.head_dim, s.state_value_dim}, "linear state");
}

int64_t conv_state_elements(const AttentionShape& s) {
  // A causal conv of K taps keeps the previous K - 1 inputs of each channel.
  const int64_t channels = conv_channels(s);
  return channels == 0 ? 0 : checked_mul(s.conv_kernel - 1, channels, "conv state");
}

int64_t conv_channels(const AttentionShape& s) {
  if (s.variant != Variant::kLinear) return 0;
  int64_t width = 0;
  switch (s.recurrent) {
    case RecurrentKind::kLightning: return 0;
    case RecurrentKind::kGatedDeltaNet:
      width = checked_add(checked_product({2, s.key_heads, s.head_dim}, "conv"),
                          checked_mul(s.heads, s.state_value_dim, "conv"), "conv");
      break;
    case RecurrentKind::kKda:
      width = checked_add(checked_product({2, s.heads, s.head_dim}, "conv"),
                          checked_mul(s.heads, s.state_value_dim, "conv"), "conv");
      break;
    case RecurrentKind::kMamba2:
      width = checked_add(s.inner, checked_product({2, s.key_heads, s.state_value_dim}, "conv"), "conv");
      break;
    case RecurrentKind::kMamba:  // the conv filters x only
    case RecurrentKind::kShortConv:
      width = s.inner;
      break;
  }
  return width;
}

int64_t index_key_bytes(const AttentionShape& s) {
  if (s.index_head_dim <= 0) return 0;
  const int64_t scales = (s.index_head_dim + 127) / 128;
  return checked_add(s.index_head_dim, checked_mul(4, scales, "index key"), "index key");
}

DecodeWidths decode_widths(const AttentionShape& s, Convention c) {
  switch (s.variant) {
    case Variant::kFpba:
      return {s.d_model, s.d_model, s.d_model};
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa:
      return {s.heads, s.head_dim, s.v_head_dim > 0 ? s.v_head_dim : s.head_dim};
    case Variant::kMla: {
      // Absorbed form: scores over the latent and the RoPE key, values over the latent.
      const int64_t qk = s.kv_lora_rank + s.qk_rope_dim;
      return {s.heads, qk, c == Convention::kStep3Paper ? qk : s.kv_lora_rank};
    }
    case Variant::kMfa:
    case Variant::kMfaKr:
      return {s.heads, s.head_dim, s.head_dim};
    case Variant::kLinear:
      return {s.heads, 0, 0};
    case Variant::kGta:
      // K = d_h - d_R tied dims + the d_R RoPE key; V = the whole d_h state.
      return {s.heads, s.head_dim, s.head_dim};
    case Variant::kGla: {
      // Absorbed as MLA, but each head meets only its group's latent d_c (and the RoPE key).
      const int64_t qk = s.kv_lora_rank + s.qk_rope_dim;
      return {s.heads, qk, c == Convention::kStep3Paper ? qk : s.kv_lora_rank};
    }
    case Variant::kMtla: {
      const int64_t qk = s.kv_lora_rank + s.qk_rope_dim;
      return {s.heads, qk, c == Convention::kStep3Paper ? qk : s.kv_lora_rank};
    }
    case Variant::kTpa:
      // Factored decode (docs/designs.md): per cached token and head, R dot products of width
      // d_h with the feature factors b, and (contextual only) R multiplies by the head factor a.
    {
      const int64_t per_rank = s.tpa_noncontextual ? s.head_dim : checked_add(s.head_dim, 1, "tpa width");
      return {s.heads, checked_mul(s.tpa_rank_k, per_rank, "tpa width"),
              checked_mul(s.tpa_rank_v, per_rank, "tpa width")};
    }
  }
  return {};
}

}  // namespace gmha
