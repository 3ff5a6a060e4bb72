// Readers of the 2025-2026 Hugging Face families (docs/model_defaults.md): gpt_oss, qwen3_next,
// qwen3_5 / qwen3_5_moe, glm4_moe, minimax_m2, olmo2, olmo3. Each maps the published config.json
// onto the layer-level model (docs/capacity.md, "Layer kinds"); a key that changes the
// architecture in a way these readers do not model fails closed (reject_unmodelled, called by
// the dispatcher).
#include "hf_fields.hpp"

namespace gmha::hf_detail {

// The model dtype: what vLLM stores states and conv states in unless the config says otherwise.
DType model_dtype(const Fields& f) {
  for (const char* k : {"torch_dtype", "dtype"}) {
    if (!f.has(k)) continue;
    const json& v = f.raw().at(k);
    if (!v.is_string()) throw InputError(fmt::format("{}: field '{}' must be a string", f.where(), k));
    const std::string s = v.get<std::string>();
    if (s == "bfloat16") return DType::kBF16;
    if (s == "float16") return DType::kF16;
    if (s == "float32") return DType::kF32;
    throw InputError(fmt::format("{}: field '{}' = '{}' is not a model dtype (bfloat16, float16, float32)",
                                 f.where(), k, s));
  }
  return DType::kBF16;  // transformers loads these families in bf16 when no dtype is written
}

// Recurrent-state dtype: mamba_ssm_dtype / mamba_ssm_cache_dtype when present, else the model
// dtype (vLLM's MambaStateDtypeCalculator; frontier choice documented in docs/capacity.md).
DType state_dtype(const Fields& f) {
  for (const char* k : {"mamba_ssm_dtype", "mamba_ssm_cache_dtype"}) {
    if (!f.has(k)) continue;
    const json& v = f.raw().at(k);
    const std::string s = v.is_string() ? v.get<std::string>() : "";
    if (s == "float32") return DType::kF32;
    if (s == "bfloat16") return DType::kBF16;
    if (s == "float16") return DType::kF16;
    throw InputError(fmt::format("{}: field '{}' = {} is not a state dtype", f.where(), k, v.dump()));
  }
  return model_dtype(f);
}

// Fraction of each head that RoPE rotates: top-level partial_rotary_factor, or inside
// rope_parameters (transformers >= 4.57 moves it there). 1 when absent.
int64_t rotary_dim(const Fields& f, int64_t head_dim) {
  const json* holder = nullptr;
  if (f.has("partial_rotary_factor")) holder = &f.raw();
  else if (f.has("rope_parameters") && f.raw().at("rope_parameters").is_object() &&
           f.raw().at("rope_parameters").contains("partial_rotary_factor")) {
    holder = &f.raw().at("rope_parameters");
  }
  if (!holder) return head_dim;
  const json& v = holder->at("partial_rotary_factor");
  if (!v.is_number() || v.get<double>() <= 0 || v.get<double>() > 1) {
    throw InputError(fmt::format("{}: field 'partial_rotary_factor' must be in (0, 1] (got {})", f.where(), v.dump()));
  }
  return static_cast<int64_t>(std::llround(v.get<double>() * static_cast<double>(head_dim)));
}

// One entry per layer: layer_types when written, else `fallback(i)`.
std::vector<std::string> layer_types_or(const Fields& f, size_t n, std::string (*fallback)(size_t, int64_t),
                                        int64_t arg) {
  std::vector<std::string> types;
  if (auto t = f.opt_string_list("layer_types")) {
    if (t->size() != n) {
      throw InputError(fmt::format("{}: layer_types has {} entries for {} layers", f.where(), t->size(), n));
    }
    return *t;
  }
  for (size_t i = 0; i < n; ++i) types.push_back(fallback(i, arg));
  return types;
}

[[noreturn]] void bad_layer_type(const Fields& f, size_t i, const std::string& t) {
  throw InputError(fmt::format("{}: layer_types[{}] = '{}' is not supported", f.where(), i, t));
}

namespace {

// gpt-oss: GQA with biases on q/k/v/o and one learned sink logit per head; sliding (window 128)
// and full layers alternate; every layer is MoE with num_local_experts experts, top-k.
ModelDesign gpt_oss(const Fields& f) {
  LayerSpec l;
  l.attention = gqa_shape(f, f.bool_or("attention_bias", true));
  l.attention.o_bias = l.attention.qkv_bias;
  l.attention.sinks = true;
  const char* top_k = f.has("num_experts_per_tok") ? "num_experts_per_tok" : "experts_per_token";
  l.ffn = moe_ffn(f, "num_local_experts", top_k, "intermediate_size", 0, 0);
  ModelDesign m = uniform(f, l);
  // GptOssConfig default: layer i slides when (i + 1) % 2 != 0 (even layers), else full.
  const auto types = layer_types_or(f, m.layers.size(), [](size_t i, int64_t) {
    return std::string((i + 1) % 2 ? "sliding_attention" : "full_attention"); }, 0);
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i] == "sliding_attention") m.layers[i].span = {SpanKind::kSlidingWindow, req_pos(f, "sliding_window")};
    else if (types[i] != "full_attention") bad_layer_type(f, i, types[i]);
  }
  return m;
}

// Qwen3-Next and Qwen3.5: Gated DeltaNet layers and gated softmax layers (q_proj also emits an
// element-wise output gate; q/k norms; partial RoPE). Layer i is full attention when
// (i + 1) % full_attention_interval == 0 (default 4) unless layer_types says otherwise.
ModelDesign qwen3_next(const Fields& f, const std::string& type) {
  LayerSpec full;
  full.attention = gqa_shape(f, f.bool_or("attention_bias", false));
  full.attention.qk_norm = true;
  // Qwen3NextConfig has no switch: its attention is always gated; Qwen3.5 writes attn_output_gate.
  const bool gated = type == "qwen3_next" || f.bool_or("attn_output_gate", true);
  full.attention.gate = gated ? OutputGate::kElementwise : OutputGate::kNone;
  full.attention.rotary_dim = rotary_dim(f, full.attention.head_dim);

  LayerSpec linear;
  AttentionShape& g = linear.attention;
  g.variant = Variant::kLinear;
  g.recurrent = RecurrentKind::kGatedDeltaNet;
  g.d_model = full.attention.d_model;
  g.heads = req_pos(f, "linear_num_value_heads");
  g.kv_heads = g.heads;
  g.key_heads = req_pos(f, "linear_num_key_heads");
  g.head_dim = req_pos(f, "linear_key_head_dim");
  g.state_value_dim = req_pos(f, "linear_value_head_dim");
  g.conv_kernel = req_pos(f, "linear_conv_kernel_dim");
  linear.kv_dtype = state_dtype(f);
  linear.conv_dtype = model_dtype(f);

  const bool moe = type != "qwen3_5" && f.int_or("num_experts", 0) > 0;
  FfnShape ffn;
  if (moe) {
    const int64_t shared_inter = f.int_or("shared_expert_intermediate_size", 0);
    ffn = moe_ffn(f, "num_experts", "num_experts_per_tok", "moe_intermediate_size",
                  shared_inter > 0 ? 1 : 0, shared_inter);
  } else {
    ffn = dense_ffn(f);
  }
  full.ffn = linear.ffn = ffn;
  ModelDesign m = uniform(f, full);
  const int64_t interval = positive(f, "full_attention_interval", f.int_or("full_attention_interval", 4));
  const auto types = layer_types_or(f, m.layers.size(), [](size_t i, int64_t every) {
    return std::string((static_cast<int64_t>(i) + 1) % every == 0 ? "full_attention" : "linear_attention"); },
    interval);
  std::set<int64_t> mlp_only;
  if (auto v = f.opt_int_list("mlp_only_layers")) mlp_only.insert(v->begin(), v->end());
  const int64_t step = positive(f, "decoder_sparse_step", f.int_or("decoder_sparse_step", 1));
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i] == "linear_attention") m.layers[i] = linear;
    else if (types[i] != "full_attention") bad_layer_type(f, i, types[i]);
    const int64_t li = static_cast<int64_t>(i);
    if (moe && (mlp_only.count(li) || (li + 1) % step != 0)) m.layers[i].ffn = dense_ffn(f);
  }
  return m;
}

// GLM-4.5 / 4.6 / 4.7 (glm4_moe): GQA with q/k/v biases, optional q/k norms, partial RoPE; the
// first first_k_dense_replace layers dense, the rest MoE with shared experts. The MTP layers
// (num_nextn_predict_layers) are outside num_hidden_layers and not counted, as for DeepSeek.
ModelDesign glm4_moe(const Fields& f) {
  LayerSpec l;
  l.attention = gqa_shape(f, f.bool_or("attention_bias", false));
  l.attention.qk_norm = f.bool_or("use_qk_norm", false);
  // Glm4MoeConfig: partial_rotary_factor 0.5, n_shared_experts 1, first_k_dense_replace 1 when
  // omitted (docs/model_defaults.md).
  l.attention.rotary_dim = f.has("partial_rotary_factor") ? rotary_dim(f, l.attention.head_dim)
                                                          : l.attention.head_dim / 2;
  l.ffn = dense_ffn(f);
  ModelDesign m = uniform(f, l);
  const int64_t shared = f.int_or("n_shared_experts", 1);
  const FfnShape moe = moe_ffn(f, "n_routed_experts", "num_experts_per_tok", "moe_intermediate_size",
                               shared, f.int_or("moe_intermediate_size", 0));
  const int64_t first_dense = f.int_or("first_k_dense_replace", 1);
  for (size_t i = static_cast<size_t>(std::max<int64_t>(first_dense, 0)); i < m.layers.size(); ++i) {
    m.layers[i].ffn = moe;
  }
  return m;
}

// OLMo 2: GQA (MHA in the released sizes) with q/k RMSNorms over whole projections and norms
// after attention and FFN (two per layer, as counted); dense FFN.
ModelDesign olmo2(const Fields& f) {
  LayerSpec l;
  l.attention = gqa_shape(f, f.bool_or("attention_bias", false));
  l.attention.qk_norm = true;
  l.attention.qk_norm_per_layer = true;
  l.ffn = dense_ffn(f);
  return uniform(f, l);
}

// OLMo 3: OLMo 2's layer with three sliding layers to one full layer. Olmo3Config:
// sliding_window 4096 and, without layer_types, layer i slides unless (i + 1) % 4 == 0.
ModelDesign olmo3(const Fields& f) {
  ModelDesign m = olmo2(f);
  const int64_t window = positive(f, "sliding_window", f.int_or("sliding_window", 4096));
  const auto types = layer_types_or(f, m.layers.size(), [](size_t i, int64_t) {
    return std::string((i + 1) % 4 != 0 ? "sliding_attention" : "full_attention"); }, 0);
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i] == "sliding_attention") m.layers[i].span = {SpanKind::kSlidingWindow, window};
    else if (types[i] != "full_attention") bad_layer_type(f, i, types[i]);
  }
  return m;
}

// MiniMax-M2: GQA with q/k norms over whole projections (qk_norm_type "per_layer"), RoPE on
// rotary_dim of each head, every layer MoE (sigmoid router, no shared expert). attn_type_list
// must say softmax (1) everywhere: lightning layers are MiniMax-M1's, not M2's.
ModelDesign minimax_m2(const Fields& f) {
  LayerSpec l;
  l.attention = gqa_shape(f, f.bool_or("attention_bias", false));
  l.attention.qk_norm = f.bool_or("use_qk_norm", true);
  if (f.has("qk_norm_type")) {
    const json& t = f.raw().at("qk_norm_type");
    if (!t.is_string() || (t.get<std::string>() != "per_layer" && t.get<std::string>() != "per_head")) {
      throw InputError(fmt::format("{}: field 'qk_norm_type' = {} is not per_layer or per_head", f.where(), t.dump()));
    }
    l.attention.qk_norm_per_layer = t.get<std::string>() == "per_layer";
  } else {
    l.attention.qk_norm_per_layer = true;  // MiniMaxM2Config default
  }
  l.attention.rotary_dim = f.int_or("rotary_dim", l.attention.head_dim);
  const int64_t shared = f.int_or("shared_intermediate_size", 0);
  l.ffn = moe_ffn(f, "num_local_experts", "num_experts_per_tok", "intermediate_size",
                  shared > 0 ? 1 : 0, shared);
  ModelDesign m = uniform(f, l);
  if (auto types = f.opt_int_list("attn_type_list")) {
    if (types->size() != m.layers.size()) {
      throw InputError(fmt::format("{}: attn_type_list has {} entries for {} layers", f.where(),
                                   types->size(), m.layers.size()));
    }
    for (size_t i = 0; i < types->size(); ++i) {
      if ((*types)[i] != 1) {
        throw InputError(fmt::format("{}: attn_type_list[{}] = {}: minimax_m2 layers are softmax (1)",
                                     f.where(), i, (*types)[i]));
      }
    }
  }
  return m;
}

}  // namespace

void reject_unmodelled(const Fields& f, const std::string& type, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    if (!f.has(k)) continue;
    const json& v = f.raw().at(k);
    const bool off = (v.is_boolean() && !v.get<bool>()) || (v.is_number() && v.get<double>() == 0) ||
                     (v.is_array() && v.empty()) || (v.is_string() && v.get<std::string>().empty());
    if (off) continue;
    throw InputError(fmt::format("{}: field '{}' changes the architecture and is not modelled for "
                                 "model_type '{}'", f.where(), k, type));
  }
}

std::optional<ModelDesign> read_frontier_family(const Fields& f, const std::string& type) {
  if (type == "gpt_oss") return gpt_oss(f);
  if (type == "qwen3_next" || type == "qwen3_5" || type == "qwen3_5_text" || type == "qwen3_5_moe" ||
      type == "qwen3_5_moe_text") {
    const std::string base = type.rfind("qwen3_5_moe", 0) == 0 ? "qwen3_5_moe"
                             : type.rfind("qwen3_5", 0) == 0    ? "qwen3_5" : "qwen3_next";
    return qwen3_next(f, base);
  }
  if (type == "glm4_moe") return glm4_moe(f);
  if (type == "minimax_m2") return minimax_m2(f);
  if (type == "olmo2") return olmo2(f);
  if (type == "olmo3") return olmo3(f);
  return std::nullopt;
}

}  // namespace gmha::hf_detail
