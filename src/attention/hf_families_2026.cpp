// Readers of the 2026 Hugging Face families (docs/model_defaults.md): gemma4 / gemma4_text,
// mimo_v2_flash, step3p5, and the multimodal wrappers whose text stack is a classic family
// (mistral3 / ministral3, qwen2_5_vl). Each maps a published config.json onto the layer-level
// model (docs/capacity.md, "Layer kinds"): per-layer-kind geometry (a global layer's head width
// and KV heads differ from a sliding layer's), K = V global layers, sinks on some layers only,
// head-wise output gates. A key these readers do not model fails closed, naming it.
#include "gmha/core/checked.hpp"
#include "hf_fields.hpp"

namespace gmha::hf_detail {

namespace {

// The raw value of `k` when the config writes it, null included (Fields::has treats null as
// absent; Gemma 4 writes hidden_size_per_layer_input null to mean "no per-layer embeddings").
const json* written(const Fields& f, const char* k) {
  return f.raw().contains(k) ? &f.raw().at(k) : nullptr;
}

// partial_rotary_factor of one layer type in transformers' per-type rope_parameters
// ({"full_attention": {...}, "sliding_attention": {...}}), else `fallback`.
double rope_factor(const Fields& f, const char* layer_type, double fallback) {
  if (!f.has("rope_parameters") || !f.raw().at("rope_parameters").is_object()) return fallback;
  const json& rp = f.raw().at("rope_parameters");
  if (!rp.contains(layer_type) || !rp.at(layer_type).is_object()) return fallback;
  const json& t = rp.at(layer_type);
  if (!t.contains("partial_rotary_factor") || t.at("partial_rotary_factor").is_null()) return fallback;
  const json& v = t.at("partial_rotary_factor");
  if (!v.is_number() || v.get<double>() <= 0 || v.get<double>() > 1) {
    throw InputError(fmt::format("{}: field 'rope_parameters.{}.partial_rotary_factor' must be in (0, 1] "
                                 "(got {})", f.where(), layer_type, v.dump()));
  }
  return v.get<double>();
}

int64_t rotary_of(double factor, int64_t head_dim) {
  return static_cast<int64_t>(std::llround(factor * static_cast<double>(head_dim)));
}

AttentionShape gqa_of(int64_t d, int64_t heads, int64_t kv, int64_t head_dim, const Fields& f,
                      const char* what) {
  AttentionShape a;
  a.d_model = d;
  a.heads = heads;
  a.kv_heads = kv;
  a.head_dim = head_dim;
  if (heads <= 0 || kv <= 0 || head_dim <= 0 || heads % kv != 0) {
    throw InputError(fmt::format("{}: {} layers: {} heads, {} KV heads of {} do not form GQA", f.where(),
                                 what, heads, kv, head_dim));
  }
  a.variant = kv == heads ? Variant::kMha : kv == 1 ? Variant::kMqa : Variant::kGqa;
  return a;
}

// Layer types from `layer_types` truncated to the decoder (Step-3.5 lists its MTP layers too),
// checked, or nullopt when the config writes none.
std::optional<std::vector<std::string>> decoder_layer_types(const Fields& f, size_t n, bool allow_longer) {
  auto t = f.opt_string_list("layer_types");
  if (!t) return std::nullopt;
  if (t->size() < n || (!allow_longer && t->size() != n)) {
    throw InputError(fmt::format("{}: layer_types has {} entries for {} layers", f.where(), t->size(), n));
  }
  t->resize(n);
  for (size_t i = 0; i < n; ++i) {
    if ((*t)[i] != "full_attention" && (*t)[i] != "sliding_attention") bad_layer_type(f, i, (*t)[i]);
  }
  return t;
}

// Gemma 4's KV sharing (Gemma4TextAttention, Gemma4TextMLP): with n = num_kv_shared_layers and
// first = L - n > 0, layer i >= first reads the cache of the last layer before `first` of its own
// type (sliding or full) and keeps its own k_proj/v_proj in the checkpoint (kv_projections);
// use_double_wide_mlp doubles those layers' MLP width (the dense MLP; with the MoE block, the
// dense MLP counted as its shared expert).
void share_trailing_caches(const Fields& f, const std::vector<std::string>& types, ModelDesign& m) {
  const auto layers = static_cast<int64_t>(m.layers.size());
  const int64_t shared = f.int_or("num_kv_shared_layers", 0);
  if (shared < 0 || shared > layers) {
    throw InputError(fmt::format("{}: field 'num_kv_shared_layers' is {} for {} layers", f.where(), shared, layers));
  }
  const int64_t first = layers - shared;
  if (shared == 0 || first == 0) return;  // transformers: sharing needs first > 0
  const bool wide = f.bool_or("use_double_wide_mlp", false);
  for (int64_t i = first; i < layers; ++i) {
    const auto ui = static_cast<size_t>(i);
    int64_t src = first - 1;
    while (src >= 0 && types[static_cast<size_t>(src)] != types[ui]) --src;
    if (src < 0) {
      throw InputError(fmt::format("{}: KV-shared layer {} ({}) has no earlier {} layer to read", f.where(), i,
                                   types[ui], types[ui]));
    }
    LayerSpec& l = m.layers[ui];
    l.kv_source = static_cast<int>(src);
    l.kv_projections = true;
    if (!wide) continue;
    if (l.ffn.kind == FfnKind::kDense) l.ffn.intermediate = checked_mul(l.ffn.intermediate, 2, "intermediate_size");
    if (l.ffn.kind == FfnKind::kMoe) {
      l.ffn.shared_intermediate = checked_mul(l.ffn.shared_intermediate, 2, "intermediate_size");
    }
  }
}

// Gemma 4 (Gemma4TextConfig): sliding and full ("global") layers, 5:1 by default. Global layers
// have their own head width (global_head_dim, 512 by default) and, with attention_k_eq_v, their
// own KV heads (num_global_key_value_heads) and no v_proj: V is k_proj's output (normalised
// without RoPE), so the architecture needs K once, while vLLM allocates a V block beside it
// (kv_tied: kv_bytes_per_token counts it, kv_bytes_per_token_minimal does not). Every layer has
// per-head q/k norms and a dense GeGLU FFN; embeddings are tied.
ModelDesign gemma4(const Fields& f) {
  // The E2B / E4B stacks add per-layer embeddings (hidden_size_per_layer_input, 256 when omitted;
  // written 0 or null: none), KV-shared trailing layers (num_kv_shared_layers) and, with
  // use_double_wide_mlp, twice the MLP width on those layers. The 26B-A4B's MoE block
  // (enable_moe_block) runs beside the dense MLP on every layer: read as num_experts routed
  // experts (top_k_experts of moe_intermediate_size) plus the dense MLP as one always-active
  // shared expert of intermediate_size.
  const json* ple = written(f, "hidden_size_per_layer_input");
  const int64_t ple_dim = ple && ple->is_null() ? 0 : f.int_or("hidden_size_per_layer_input", 256);
  if (ple_dim < 0) throw errors::not_positive(f.where(), "field 'hidden_size_per_layer_input'", ple_dim);
  reject_unmodelled(f, "gemma4", {"use_bidirectional_attention"});
  const int64_t d = req_pos(f, "hidden_size");
  const int64_t heads = req_pos(f, "num_attention_heads");
  const int64_t kv = req_pos(f, "num_key_value_heads");
  const int64_t head_dim = req_pos(f, "head_dim");
  const bool k_eq_v = f.bool_or("attention_k_eq_v", false);
  const int64_t global_dim = positive(f, "global_head_dim", f.int_or("global_head_dim", 512));
  // Gemma4TextConfig: the global KV-head override applies only with attention_k_eq_v.
  const int64_t global_kv = k_eq_v && f.has("num_global_key_value_heads")
                                ? req_pos(f, "num_global_key_value_heads") : kv;

  LayerSpec sliding;
  sliding.attention = gqa_of(d, heads, kv, head_dim, f, "sliding");
  sliding.attention.qkv_bias = f.bool_or("attention_bias", false);
  sliding.attention.qk_norm = true;
  sliding.attention.rotary_dim = rotary_of(rope_factor(f, "sliding_attention", 1.0), head_dim);
  sliding.ffn = f.bool_or("enable_moe_block", false)
                    ? moe_ffn(f, "num_experts", "top_k_experts", "moe_intermediate_size", 1,
                              req_pos(f, "intermediate_size"))
                    : dense_ffn(f);
  sliding.span = {SpanKind::kSlidingWindow, req_pos(f, "sliding_window")};

  LayerSpec global = sliding;
  global.attention = gqa_of(d, heads, global_kv, global_dim, f, "full-attention");
  global.attention.qkv_bias = sliding.attention.qkv_bias;
  global.attention.qk_norm = true;
  global.attention.kv_tied = k_eq_v;
  global.attention.rotary_dim = rotary_of(rope_factor(f, "full_attention", 0.25), global_dim);
  global.span = {};

  ModelDesign m = uniform(f, global);
  m.tied_embeddings = f.bool_or("tie_word_embeddings", true);
  // Gemma4TextConfig: without layer_types, layer i slides unless (i + 1) % 6 == 0; the last
  // layer is always full (the class forces it).
  auto types = layer_types_or(f, m.layers.size(), [](size_t i, int64_t) {
    return std::string((i + 1) % 6 ? "sliding_attention" : "full_attention"); }, 0);
  types.back() = "full_attention";
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i] == "sliding_attention") m.layers[i] = sliding;
    else if (types[i] != "full_attention") bad_layer_type(f, i, types[i]);
  }
  m.per_layer_input_dim = ple_dim;
  m.per_layer_input_vocab =
      ple_dim > 0 ? positive(f, "vocab_size_per_layer_input", f.int_or("vocab_size_per_layer_input", 262144)) : 0;
  share_trailing_caches(f, types, m);
  return m;
}

// Gemma 3n (Gemma3nTextConfig; transformers' Gemma3nTextModel): GQA layers with per-head q/k
// norms, sliding and full ("global") of one geometry (without layer_types: full every fifth
// layer), the trailing num_kv_shared_layers reading an earlier cache of their type (as Gemma 4's),
// a GeGLU MLP whose width may differ per layer (intermediate_size: one number or a list), and
// three residual-stream extras counted as weights: per-layer embeddings, AltUp over
// altup_num_inputs streams and a LAuReL block of laurel_rank (docs/capacity.md). The activation
// sparsity of the first layers (activation_sparsity_pattern) holds no weights.
ModelDesign gemma3n(const Fields& f) {
  const int64_t d = req_pos(f, "hidden_size");
  LayerSpec l;
  l.attention = gqa_of(d, req_pos(f, "num_attention_heads"), req_pos(f, "num_key_value_heads"),
                       req_pos(f, "head_dim"), f, "attention");
  l.attention.qkv_bias = f.bool_or("attention_bias", false);
  l.attention.qk_norm = true;
  l.ffn.kind = FfnKind::kDense;
  ModelDesign m = uniform(f, l);
  m.tied_embeddings = f.bool_or("tie_word_embeddings", true);
  const size_t n = m.layers.size();
  const json* inter = written(f, "intermediate_size");
  if (auto widths = inter && inter->is_array() ? f.opt_int_list("intermediate_size") : std::nullopt) {
    if (widths->size() != n && widths->size() != 1) {
      throw InputError(fmt::format("{}: intermediate_size lists {} widths for {} layers", f.where(), widths->size(), n));
    }
    for (size_t i = 0; i < n; ++i) {
      const int64_t w = (*widths)[widths->size() == 1 ? 0 : i];
      if (w <= 0) throw errors::not_positive(f.where(), fmt::format("intermediate_size[{}]", i), w);
      m.layers[i].ffn.intermediate = w;
    }
  } else {
    for (auto& x : m.layers) x.ffn.intermediate = req_pos(f, "intermediate_size");
  }
  const int64_t window = req_pos(f, "sliding_window");
  auto types = layer_types_or(f, n, [](size_t i, int64_t) {
    return std::string((i + 1) % 5 ? "sliding_attention" : "full_attention"); }, 0);
  for (size_t i = 0; i < n; ++i) {
    if (types[i] == "sliding_attention") m.layers[i].span = {SpanKind::kSlidingWindow, window};
    else if (types[i] != "full_attention") bad_layer_type(f, i, types[i]);
  }
  share_trailing_caches(f, types, m);
  const int64_t ple = f.int_or("hidden_size_per_layer_input", 256);
  if (ple < 0) throw errors::not_positive(f.where(), "field 'hidden_size_per_layer_input'", ple);
  m.per_layer_input_dim = ple;
  m.per_layer_input_vocab = ple > 0 ? positive(f, "vocab_size_per_layer_input", f.int_or("vocab_size_per_layer_input", 262144)) : 0;
  m.altup_inputs = positive(f, "altup_num_inputs", f.int_or("altup_num_inputs", 4));
  m.laurel_rank = f.int_or("laurel_rank", 64);
  if (m.laurel_rank < 0) throw errors::not_positive(f.where(), "field 'laurel_rank'", m.laurel_rank);
  return m;
}

// MiMo-V2-Flash (MiMoV2FlashConfig): full-attention and sliding-window GQA layers whose K head
// (head_dim, 192) is wider than the V head (v_head_dim, 128). The hub config writes the sliding
// layers' geometry (swa_num_attention_heads, swa_num_key_value_heads, swa_head_dim,
// swa_v_head_dim); transformers' class, which drops those keys, doubles the KV heads instead.
// Sliding layers carry one learned sink logit per head (add_swa_attention_sink_bias), full
// layers none unless add_full_attention_sink_bias. moe_layer_freq[i] = 1 marks a MoE layer
// (n_routed_experts, top-k, no shared expert).
ModelDesign mimo_v2_flash(const Fields& f) {
  if (f.int_or("n_shared_experts", 0) != 0) {
    throw InputError(fmt::format("{}: field 'n_shared_experts' changes the architecture and is not "
                                 "modelled for model_type 'mimo_v2_flash'", f.where()));
  }
  const int64_t d = req_pos(f, "hidden_size");
  const int64_t heads = req_pos(f, "num_attention_heads");
  const int64_t kv = req_pos(f, "num_key_value_heads");
  const int64_t head_dim = req_pos(f, "head_dim");
  const int64_t v_dim = req_pos(f, "v_head_dim");
  const bool bias = f.bool_or("attention_bias", false);
  const int64_t rotary = rotary_dim(f, head_dim);  // partial_rotary_factor 0.334 of 192 = 64

  LayerSpec full;
  full.attention = gqa_of(d, heads, kv, head_dim, f, "full-attention");
  full.attention.v_head_dim = v_dim;
  full.attention.qkv_bias = bias;
  full.attention.rotary_dim = rotary;
  full.attention.sinks = f.bool_or("add_full_attention_sink_bias", false);
  full.ffn = dense_ffn(f);

  // The window: sliding_window (the class's name) or the hub config's sliding_window_size.
  int64_t window = f.int_or("sliding_window", 0);
  if (const int64_t w2 = f.int_or("sliding_window_size", 0); w2 > 0) {
    if (window > 0 && window != w2) {
      throw InputError(fmt::format("{}: sliding_window {} and sliding_window_size {} disagree", f.where(),
                                   window, w2));
    }
    window = w2;
  }
  if (window <= 0) window = 128;  // MiMoV2FlashConfig default
  const int64_t swa_dim = positive(f, "swa_head_dim", f.int_or("swa_head_dim", head_dim));
  LayerSpec swa = full;
  swa.attention = gqa_of(d, positive(f, "swa_num_attention_heads", f.int_or("swa_num_attention_heads", heads)),
                         positive(f, "swa_num_key_value_heads", f.int_or("swa_num_key_value_heads", 2 * kv)),
                         swa_dim, f, "sliding-window");
  swa.attention.v_head_dim = positive(f, "swa_v_head_dim", f.int_or("swa_v_head_dim", v_dim));
  swa.attention.qkv_bias = bias;
  swa.attention.rotary_dim = rotary_dim(f, swa_dim);
  swa.attention.sinks = f.bool_or("add_swa_attention_sink_bias", true);
  swa.span = {SpanKind::kSlidingWindow, window};

  ModelDesign m = uniform(f, full);
  const size_t n = m.layers.size();
  std::vector<std::string> types;
  if (auto t = decoder_layer_types(f, n, false)) {
    types = *t;
  } else if (auto p = f.opt_int_list("hybrid_layer_pattern")) {
    if (p->size() != n) {
      throw InputError(fmt::format("{}: hybrid_layer_pattern has {} entries for {} layers", f.where(), p->size(), n));
    }
    for (size_t i = 0; i < n; ++i) {
      if ((*p)[i] != 0 && (*p)[i] != 1) {
        throw InputError(fmt::format("{}: hybrid_layer_pattern[{}] = {} (0 full, 1 sliding)", f.where(), i, (*p)[i]));
      }
      types.push_back((*p)[i] == 1 ? "sliding_attention" : "full_attention");
    }
  } else {
    // MiMoV2FlashConfig: full attention on the first layer and every 6th, sliding elsewhere.
    for (size_t i = 0; i < n; ++i) types.push_back(i == 0 || (i + 1) % 6 == 0 ? "full_attention" : "sliding_attention");
  }
  const FfnShape moe = moe_ffn(f, "n_routed_experts", "num_experts_per_tok", "moe_intermediate_size", 0, 0);
  // moe_layer_freq omitted: every layer dense (the class's default).
  std::vector<int64_t> freq = f.opt_int_list("moe_layer_freq").value_or(std::vector<int64_t>(n, 0));
  if (freq.size() != n) {
    throw InputError(fmt::format("{}: moe_layer_freq has {} entries for {} layers", f.where(), freq.size(), n));
  }
  for (size_t i = 0; i < n; ++i) {
    if (types[i] == "sliding_attention") m.layers[i] = swa;
    if (freq[i] != 0 && freq[i] != 1) {
      throw InputError(fmt::format("{}: moe_layer_freq[{}] = {} (0 dense, 1 MoE)", f.where(), i, freq[i]));
    }
    if (freq[i] == 1) m.layers[i].ffn = moe;
  }
  return m;
}

// Step-3.5 (Step3p5Config, vLLM's): GQA with per-head q/k norms and a head-wise output gate
// (g_proj, one gate per query head, use_head_wise_attn_gate). Sliding layers take their own
// geometry from attention_other_setting (Step-3.5 Flash: 96 query heads there, 64 on full
// layers; 8 KV heads on both). layer_types also lists the MTP layers after the decoder's
// (vLLM truncates it to num_hidden_layers, as here); the MTP layers are not counted. MoE on the
// layers of moe_layers_enum (moe_num_experts, moe_top_k, moe_intermediate_size) with one shared
// expert of share_expert_dim (the class's default moe_intermediate_size * moe_top_k); dense
// intermediate_size elsewhere.
ModelDesign step3p5(const Fields& f) {
  if (f.has("att_impl_type") && f.raw().at("att_impl_type") != "GQA") {
    throw InputError(fmt::format("{}: field 'att_impl_type' = {} is not modelled for model_type 'step3p5' "
                                 "(GQA is)", f.where(), f.raw().at("att_impl_type").dump()));
  }
  const int64_t d = req_pos(f, "hidden_size");
  const int64_t heads = req_pos(f, "num_attention_heads");
  const int64_t kv = positive(f, "num_attention_groups", f.int_or("num_attention_groups", 8));
  if (!f.has("head_dim") && d % heads != 0) throw errors::missing_field(f.where(), "head_dim");
  const int64_t head_dim = f.has("head_dim") ? req_pos(f, "head_dim") : d / heads;
  const bool gated = f.bool_or("use_head_wise_attn_gate", false);

  LayerSpec full;
  full.attention = gqa_of(d, heads, kv, head_dim, f, "full-attention");
  full.attention.qk_norm = true;
  full.attention.gate = gated ? OutputGate::kHeadwise : OutputGate::kNone;
  full.ffn = dense_ffn(f);

  LayerSpec swa = full;
  if (f.has("attention_other_setting")) {
    const json& o = f.raw().at("attention_other_setting");
    if (!o.is_object()) throw InputError(f.where() + ": field 'attention_other_setting' must be an object");
    const Fields other(o, f.where() + " (attention_other_setting)");
    if (other.has("attention_type") && o.at("attention_type") != "sliding_attention") {
      throw InputError(fmt::format("{}: attention_type = {} is not modelled (sliding_attention is)",
                                   other.where(), o.at("attention_type").dump()));
    }
    swa.attention = gqa_of(d, positive(other, "num_attention_heads", other.int_or("num_attention_heads", heads)),
                           positive(other, "num_attention_groups", other.int_or("num_attention_groups", kv)),
                           positive(other, "head_dim", other.int_or("head_dim", head_dim)), f, "sliding");
    swa.attention.qk_norm = true;
    swa.attention.gate = full.attention.gate;
  }

  ModelDesign m = uniform(f, full);
  const size_t n = m.layers.size();
  const auto types = decoder_layer_types(f, n, true);
  std::vector<double> rotary(n, 1.0);
  if (f.has("partial_rotary_factors")) {
    const json& r = f.raw().at("partial_rotary_factors");
    if (!r.is_array() || r.size() < n) {
      throw InputError(fmt::format("{}: field 'partial_rotary_factors' must list one factor per layer", f.where()));
    }
    for (size_t i = 0; i < n; ++i) {
      if (!r.at(i).is_number() || r.at(i).get<double>() <= 0 || r.at(i).get<double>() > 1) {
        throw InputError(fmt::format("{}: partial_rotary_factors[{}] must be in (0, 1]", f.where(), i));
      }
      rotary[i] = r.at(i).get<double>();
    }
  }
  std::vector<int64_t> rope(n, 1);
  if (f.has("use_rope_layers")) {
    rope = *f.opt_int_list("use_rope_layers");
    if (rope.size() < n) throw InputError(fmt::format("{}: use_rope_layers has {} entries for {} layers", f.where(), rope.size(), n));
  }
  for (size_t i = 0; i < n; ++i) {
    if (types && (*types)[i] == "sliding_attention") {
      m.layers[i] = swa;
      m.layers[i].span = {SpanKind::kSlidingWindow, req_pos(f, "sliding_window")};
    }
    m.layers[i].attention.rotary_dim = rotary_of(rotary[i], m.layers[i].attention.head_dim);
    m.layers[i].rope = rope[i] != 0;
  }
  if (f.has("moe_layers_enum")) {
    const int64_t top_k = positive(f, "moe_top_k", f.int_or("moe_top_k", 4));
    const int64_t inter = req_pos(f, "moe_intermediate_size");
    const int64_t shared = positive(f, "share_expert_dim", f.int_or("share_expert_dim", inter * top_k));
    FfnShape moe = moe_ffn(f, "moe_num_experts", "moe_top_k", "moe_intermediate_size", 1, shared);
    const std::vector<int64_t> moe_layers = *f.opt_int_list("moe_layers_enum");
    for (int64_t i : moe_layers) {
      if (i < 0 || i >= static_cast<int64_t>(n)) {
        throw InputError(fmt::format("{}: moe_layers_enum lists layer {} of {}", f.where(), i, n));
      }
      m.layers[static_cast<size_t>(i)].ffn = moe;
    }
  } else if (f.bool_or("use_moe", false)) {
    throw errors::missing_field(f.where(), "moe_layers_enum");
  }
  return m;
}

}  // namespace

std::optional<ModelDesign> read_2026_family(const Fields& f, const std::string& type,
                                            std::set<std::string>& handled) {
  if (type == "gemma4" || type == "gemma4_text") {
    handled = {"attention_k_eq_v", "num_kv_shared_layers", "use_double_wide_mlp", "hidden_size_per_layer_input",
               "vocab_size_per_layer_input"};
    return gemma4(f);
  }
  if (type == "mimo_v2_flash") {
    handled = {"partial_rotary_factor"};
    return mimo_v2_flash(f);
  }
  if (type == "step3p5") return step3p5(f);
  if (type == "gemma3n" || type == "gemma3n_text") {
    handled = {"num_kv_shared_layers"};
    return gemma3n(f);
  }
  return std::nullopt;
}

}  // namespace gmha::hf_detail
