#pragma once
// Private to the attention area: typed access to a Hugging Face config's fields (every error
// names the file and the field) and the readers shared by hf_config.cpp (the classic families)
// and hf_families.cpp (the 2025-2026 families, docs/model_defaults.md).
#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gmha/attention/model.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parse.hpp"

namespace gmha::hf_detail {

using nlohmann::json;

// Typed field access that names the file and the field in every error.
class Fields {
 public:
  Fields(const json& j, std::string where) : j_(j), where_(std::move(where)) {}
  const std::string& where() const { return where_; }
  const json& raw() const { return j_; }

  bool has(const char* k) const { return j_.contains(k) && !j_.at(k).is_null(); }

  std::optional<int64_t> opt_int(const char* k) const {
    if (!has(k)) return std::nullopt;
    const json& v = j_.at(k);
    if (v.is_number_integer() || v.is_number_unsigned()) {
      if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
        throw errors::overflow(where_, std::string("field '") + k + "'");
      }
      return v.get<int64_t>();
    }
    // Some configs write integers as 4096.0.
    if (v.is_number_float()) {
      double d = v.get<double>();
      // Range first: casting an out-of-range double to int64_t is undefined behaviour.
      if (d > -9.2e18 && d < 9.2e18 && d == std::trunc(d)) {
        return static_cast<int64_t>(d);
      }
    }
    throw InputError(fmt::format("{}: field '{}' must be an integer (got {})", where_, k, v.dump()));
  }
  int64_t req_int(const char* k) const {
    auto v = opt_int(k);
    if (!v) throw errors::missing_field(where_, k);
    return *v;
  }
  int64_t int_or(const char* k, int64_t fallback) const { return opt_int(k).value_or(fallback); }
  bool bool_or(const char* k, bool fallback) const {
    if (!has(k)) return fallback;
    const json& v = j_.at(k);
    if (!v.is_boolean()) {
      throw InputError(fmt::format("{}: field '{}' must be true or false (got {})", where_, k, v.dump()));
    }
    return v.get<bool>();
  }
  std::optional<std::vector<int64_t>> opt_int_list(const char* k) const {
    if (!has(k)) return std::nullopt;
    const json& v = j_.at(k);
    std::vector<int64_t> out;
    if (v.is_string()) {
      // Step's moe_layers_enum is a comma-separated string.
      const std::string s = v.get<std::string>();
      const std::string what = fmt::format("{}: field '{}'", where_, k);
      for (std::string_view item : split_list(s, what)) {
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        out.push_back(parse_integer(item, what));
      }
      return out;
    }
    if (!v.is_array()) {
      throw InputError(fmt::format("{}: field '{}' must be a list of integers", where_, k));
    }
    for (const json& x : v) {
      if (x.is_boolean()) { out.push_back(x.get<bool>() ? 1 : 0); continue; }
      if (!x.is_number_integer() && !x.is_number_unsigned()) {
        throw InputError(fmt::format("{}: field '{}' must be a list of integers", where_, k));
      }
      out.push_back(x.get<int64_t>());
    }
    return out;
  }
  std::optional<std::vector<std::string>> opt_string_list(const char* k) const {
    if (!has(k)) return std::nullopt;
    const json& v = j_.at(k);
    if (!v.is_array()) throw InputError(fmt::format("{}: field '{}' must be a list of strings", where_, k));
    std::vector<std::string> out;
    for (const json& x : v) {
      if (!x.is_string()) throw InputError(fmt::format("{}: field '{}' must be a list of strings", where_, k));
      out.push_back(x.get<std::string>());
    }
    return out;
  }

 private:
  const json& j_;
  std::string where_;
};

inline int64_t positive(const Fields& f, const char* k, int64_t v) {
  if (v <= 0) throw errors::not_positive(f.where(), std::string("field '") + k + "'", v);
  return v;
}
inline int64_t req_pos(const Fields& f, const char* k) { return positive(f, k, f.req_int(k)); }

// The GQA-family attention shape from the common Hugging Face fields.
inline AttentionShape gqa_shape(const Fields& f, bool bias) {
  AttentionShape a;
  a.d_model = req_pos(f, "hidden_size");
  a.heads = req_pos(f, "num_attention_heads");
  a.kv_heads = positive(f, "num_key_value_heads", f.int_or("num_key_value_heads", a.heads));
  if (f.has("head_dim")) {
    a.head_dim = req_pos(f, "head_dim");
  } else {
    if (a.d_model % a.heads != 0) {
      throw InputError(fmt::format("{}: hidden_size {} is not divisible by num_attention_heads {} "
                                   "and there is no head_dim", f.where(), a.d_model, a.heads));
    }
    a.head_dim = a.d_model / a.heads;
  }
  if (a.heads % a.kv_heads != 0) {
    throw InputError(fmt::format("{}: num_attention_heads {} is not divisible by num_key_value_heads {}",
                                 f.where(), a.heads, a.kv_heads));
  }
  a.variant = a.kv_heads == a.heads ? Variant::kMha : a.kv_heads == 1 ? Variant::kMqa : Variant::kGqa;
  a.qkv_bias = bias;
  return a;
}

// The MLA attention shape from DeepSeek-V2/V3's fields (also Kimi K2, Kimi Linear, GLM-5):
// q_lora_rank 0 or null means a plain q_proj.
inline AttentionShape mla_shape(const Fields& f) {
  AttentionShape a;
  a.variant = Variant::kMla;
  a.d_model = req_pos(f, "hidden_size");
  a.heads = req_pos(f, "num_attention_heads");
  a.kv_heads = 1;  // MLA caches one shared latent stream, whatever num_key_value_heads says
  a.q_lora_rank = f.int_or("q_lora_rank", 0);
  if (a.q_lora_rank < 0) throw errors::not_positive(f.where(), "field 'q_lora_rank'", a.q_lora_rank);
  a.kv_lora_rank = req_pos(f, "kv_lora_rank");
  a.qk_nope_dim = req_pos(f, "qk_nope_head_dim");
  a.qk_rope_dim = f.req_int("qk_rope_head_dim");
  if (a.qk_rope_dim < 0) throw errors::not_positive(f.where(), "field 'qk_rope_head_dim'", a.qk_rope_dim);
  a.v_head_dim = req_pos(f, "v_head_dim");
  return a;
}

inline FfnShape dense_ffn(const Fields& f, const char* key = "intermediate_size") {
  FfnShape ffn;
  ffn.kind = FfnKind::kDense;
  ffn.intermediate = req_pos(f, key);
  return ffn;
}

inline FfnShape moe_ffn(const Fields& f, const char* experts, const char* top_k, const char* inter,
                 int64_t shared, int64_t shared_inter) {
  FfnShape ffn;
  ffn.kind = FfnKind::kMoe;
  ffn.routed_experts = req_pos(f, experts);
  ffn.top_k = req_pos(f, top_k);
  // ERNIE-4.5-VL writes moe_intermediate_size as [text, vision]; the text value comes first.
  if (f.has(inter) && f.raw().at(inter).is_array()) {
    auto list = f.opt_int_list(inter);
    if (list->empty()) throw errors::missing_field(f.where(), inter);
    ffn.expert_intermediate = positive(f, inter, list->front());
  } else {
    ffn.expert_intermediate = req_pos(f, inter);
  }
  ffn.shared_experts = shared;
  ffn.shared_intermediate = shared > 0 ? shared_inter : 0;
  return ffn;
}

inline ModelDesign uniform(const Fields& f, const LayerSpec& base) {
  ModelDesign m;
  m.d_model = base.attention.d_model;
  const int64_t layers = req_pos(f, "num_hidden_layers");
  if (layers > 100000) {
    throw InputError(fmt::format("{}: num_hidden_layers {} is implausible", f.where(), layers));
  }
  m.layers.assign(static_cast<size_t>(layers), base);
  m.vocab_size = f.int_or("vocab_size", 0);
  // Present but 0 is nonsense (no embeddings); absent stays 0 = unknown (embeddings not counted).
  if (m.vocab_size < 0 || (f.has("vocab_size") && m.vocab_size == 0)) {
    throw errors::not_positive(f.where(), "field 'vocab_size'", m.vocab_size);
  }
  m.tied_embeddings = f.bool_or("tie_word_embeddings", false);
  return m;
}

// Applies `layer_types` ("full_attention", "sliding_attention", "chunked_attention",
// "linear_attention") when the config has it: newer transformers write it for many models.
inline bool apply_layer_types(const Fields& f, ModelDesign& m, int64_t window) {
  auto types = f.opt_string_list("layer_types");
  if (!types) return false;
  if (types->size() != m.layers.size()) {
    throw InputError(fmt::format("{}: layer_types has {} entries for {} layers", f.where(),
                                 types->size(), m.layers.size()));
  }
  for (size_t i = 0; i < types->size(); ++i) {
    const std::string& t = (*types)[i];
    if (t == "full_attention") {
      m.layers[i].span = {};
    } else if (t == "sliding_attention") {
      if (window <= 0) throw errors::missing_field(f.where(), "sliding_window");
      m.layers[i].span = {SpanKind::kSlidingWindow, window};
    } else if (t == "chunked_attention") {
      m.layers[i].span = {SpanKind::kChunked, req_pos(f, "attention_chunk_size")};
    } else {
      throw InputError(fmt::format("{}: layer_types[{}] = '{}' is not supported", f.where(), i, t));
    }
  }
  return true;
}

/// Fails closed on a key that changes the architecture in a way the family reader does not
/// model: one line naming the file, the key and the model_type. `keys` are checked when present
/// and not null, false, 0 or an empty list.
void reject_unmodelled(const Fields& f, const std::string& type, std::initializer_list<const char*> keys);

// Shared by the family readers (hf_families.cpp, hf_families_more.cpp).
/// The model dtype from torch_dtype / dtype (bf16 when absent): what vLLM keeps conv states in.
DType model_dtype(const Fields& f);
/// The recurrent-state dtype: mamba_ssm_dtype / mamba_ssm_cache_dtype, else the model dtype.
DType state_dtype(const Fields& f);
/// Dims of each head that RoPE rotates: partial_rotary_factor (top level or in rope_parameters).
int64_t rotary_dim(const Fields& f, int64_t head_dim);
/// One entry per layer: layer_types when written (its length checked), else `fallback(i, arg)`.
std::vector<std::string> layer_types_or(const Fields& f, size_t n, std::string (*fallback)(size_t, int64_t),
                                        int64_t arg);
[[noreturn]] void bad_layer_type(const Fields& f, size_t i, const std::string& t);

// The 2025-2026 families (hf_families.cpp). Each returns nullopt when `type` is not its own.
std::optional<ModelDesign> read_frontier_family(const Fields& f, const std::string& type);
/// Parameters of the config's vision tower (hf_vision.cpp): 0 without a vision_config, the count
/// for the kinds gmha models, ModelDesign::kVisionNotCounted for any other.
int64_t vision_tower_params(const json& config, const std::string& where);
/// Further families (hf_families_more.cpp): smollm3, exaone4, kimi_linear, ... nullopt otherwise.
std::optional<ModelDesign> read_more_family(const Fields& f, const std::string& type);
/// The 2026 families (hf_families_2026.cpp): gemma4 / gemma4_text, mimo_v2_flash, step3p5;
/// `handled` is set to the architecture keys (hf_config.cpp's kArchKeys) the reader models.
std::optional<ModelDesign> read_2026_family(const Fields& f, const std::string& type,
                                            std::set<std::string>& handled);
/// The geometry of a Mamba2 (SSD) mixer: heads x head_dim channels, a d_state-wide state per
/// head, B and C shared by the heads of each of `groups` groups, a causal conv of conv_kernel taps.
struct Mamba2Geometry {
  int64_t heads = 0;
  int64_t head_dim = 0;
  int64_t state = 0;
  int64_t groups = 0;
  int64_t conv_kernel = 0;
};
/// A Mamba2 layer of that geometry (hf_families_hybrid.cpp; Nemotron-H, Granite 4.0-H), its state
/// in state_dtype(f) and its conv state in model_dtype(f); the FFN is left to the caller.
LayerSpec mamba2_layer(const Fields& f, int64_t d_model, const Mamba2Geometry& g);
/// Fails closed (one line naming the key and model_type) unless the boolean `key` (`fallback`
/// when absent) has the value gmha's weights assume (`modelled`).
void require_bool(const Fields& f, const std::string& type, const char* key, bool fallback, bool modelled);
/// Granite 4.0-H (hf_granite.cpp): model_type granitemoehybrid.
ModelDesign granite_moe_hybrid(const Fields& f);
/// Falcon-H1 (hf_falcon_h1.cpp): model_type falcon_h1, attention and Mamba2 side by side.
ModelDesign falcon_h1(const Fields& f);
/// Hybrid families (hf_families_hybrid.cpp): nemotron_h, lfm2 / lfm2_vl, jamba, hunyuan,
/// nemotron-nas, granitemoehybrid, falcon_h1. nullopt for any other type.
std::optional<ModelDesign> read_hybrid_family(const Fields& f, const std::string& type);
/// DeepSeek-V4 (hf_deepseek_v4.cpp): deepseek_v4; nullopt otherwise.
std::optional<ModelDesign> read_deepseek_v4(const Fields& f, const std::string& type);

}  // namespace gmha::hf_detail
