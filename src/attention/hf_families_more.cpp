// Readers of further Hugging Face families (docs/model_defaults.md): smollm3, exaone4, phi3,
// kimi_linear and cohere2. Each maps the published config.json onto the layer-level model
// (docs/capacity.md, "Layer kinds"); a field a family needs and the config omits takes the default
// of that model_type's transformers config class, and a key that would change the architecture in a
// way the reader does not model fails closed, naming it.
#include "hf_fields.hpp"

namespace gmha::hf_detail {

namespace {

// The raw value of `k` when the config writes it, null included (Fields::has treats null as
// absent; EXAONE 4 uses an explicit null sliding_window to mean "no sliding layers").
const json* written(const Fields& f, const char* k) {
  return f.raw().contains(k) ? &f.raw().at(k) : nullptr;
}

// SmolLM3: Llama-style GQA and SwiGLU. no_rope_layers[i] = 0 marks a NoPE layer: its keys are not
// rotated, but it caches K and V like every other layer (the cache is unchanged by NoPE).
ModelDesign smollm3(const Fields& f) {
  LayerSpec l;
  l.attention = gqa_shape(f, f.bool_or("attention_bias", false));
  l.ffn = dense_ffn(f);
  ModelDesign m = uniform(f, l);
  m.tied_embeddings = f.bool_or("tie_word_embeddings", true);  // SmolLM3Config default
  const size_t n = m.layers.size();
  std::vector<int64_t> rope;
  if (auto v = f.opt_int_list("no_rope_layers")) {
    if (v->size() != n) {
      throw InputError(
          fmt::format("{}: no_rope_layers has {} entries for {} layers", f.where(), v->size(), n));
    }
    rope = *v;
  } else {
    // SmolLM3Config: layer i uses RoPE unless (i + 1) % no_rope_layer_interval == 0 (default 4).
    const int64_t every =
        positive(f, "no_rope_layer_interval", f.int_or("no_rope_layer_interval", 4));
    for (size_t i = 0; i < n; ++i) rope.push_back((static_cast<int64_t>(i) + 1) % every != 0);
  }
  for (size_t i = 0; i < n; ++i) m.layers[i].rope = rope[i] != 0;
  if (apply_layer_types(f, m, f.int_or("sliding_window", 0))) return m;
  // Without layer_types, use_sliding_window would derive sliding layers from rules gmha does not
  // reproduce: refuse rather than guess.
  reject_unmodelled(f, "smollm3", {"use_sliding_window"});
  return m;
}

// EXAONE 4.0: GQA with per-head q/k RMSNorms and post-norms (two per layer, as counted). Hybrid
// sizes slide on 3 of 4 layers (sliding_window_pattern "LLLG" or 4) and their global layers use
// no RoPE; sliding_window null (1.2B) means every layer is global with RoPE.
ModelDesign exaone4(const Fields& f) {
  LayerSpec l;
  l.attention = gqa_shape(f, false);
  l.attention.qk_norm = true;
  l.ffn = dense_ffn(f);
  ModelDesign m = uniform(f, l);
  const json* sw = written(f, "sliding_window");
  // Exaone4Config: sliding_window 4096 and sliding_window_pattern 4 when omitted.
  const int64_t window = sw && sw->is_null() ? 0 : f.int_or("sliding_window", 4096);
  if (window < 0) throw errors::not_positive(f.where(), "field 'sliding_window'", window);
  if (!apply_layer_types(f, m, window) && window > 0) {
    const json* pattern = written(f, "sliding_window_pattern");
    for (size_t i = 0; i < m.layers.size(); ++i) {
      bool sliding = false;
      if (pattern && pattern->is_string()) {
        // One letter per layer, repeating: L = local (sliding), G = global.
        const std::string p = pattern->get<std::string>();
        const char c = p.empty() ? '?' : p[i % p.size()];
        if (c != 'L' && c != 'G') {
          throw InputError(fmt::format(
              "{}: field 'sliding_window_pattern' = '{}' must be letters L and G", f.where(), p));
        }
        sliding = c == 'L';
      } else {
        const int64_t every =
            positive(f, "sliding_window_pattern", f.int_or("sliding_window_pattern", 4));
        sliding = (static_cast<int64_t>(i) + 1) % every != 0;
      }
      if (sliding) m.layers[i].span = {SpanKind::kSlidingWindow, window};
    }
  }
  const bool hybrid = std::any_of(m.layers.begin(), m.layers.end(), [](const LayerSpec& x) {
    return x.span.kind == SpanKind::kSlidingWindow;
  });
  for (auto& x : m.layers) {
    if (hybrid && x.span.kind == SpanKind::kFull) x.rope = false;  // global layers are NoPE
  }
  return m;
}

// Cohere2 (Command R7B, Command A, Tiny Aya; transformers' Cohere2Config / Cohere2DecoderLayer):
// GQA with RoPE on sliding-window layers and NoPE full layers ("a fourth layer uses global
// attention without positional embeddings"), 3 : 1 by default (layer i slides unless (i + 1) %
// sliding_window_pattern == 0), attention and SwiGLU MLP in parallel from one LayerNorm, tied
// embeddings. The parallel block and logit_scale hold no weights of their own. Keys of the
// original Cohere code that transformers' class ignores (use_parallel_block, rotary_pct,
// position_embedding_type, use_parallel_embedding, layer_switch, order_of_interleaved_layers)
// change nothing gmha counts; a non-gated MLP or q/k norms would: refused.
ModelDesign cohere2(const Fields& f) {
  if (!f.bool_or("use_gated_activation", true)) {
    throw InputError(fmt::format("{}: field 'use_gated_activation' is false; Cohere2's MLP is gated in "
                                 "gmha's model", f.where()));
  }
  if (f.bool_or("use_qk_norm", false)) {
    throw InputError(fmt::format("{}: field 'use_qk_norm' is true; Cohere2 has no q/k norms in "
                                 "gmha's model", f.where()));
  }
  LayerSpec l;
  l.attention = gqa_shape(f, f.bool_or("attention_bias", false));
  l.ffn = dense_ffn(f);
  ModelDesign m = uniform(f, l);
  m.tied_embeddings = f.bool_or("tie_word_embeddings", f.bool_or("use_embedding_sharing", true));
  const int64_t window = positive(f, "sliding_window", f.int_or("sliding_window", 4096));
  if (!apply_layer_types(f, m, window)) {
    // Cohere2Config keeps the pattern as sliding_window_pattern (transformers 4.x) or
    // _sliding_window_pattern (5.x); 4 when neither is written.
    const char* key = f.has("_sliding_window_pattern") ? "_sliding_window_pattern" : "sliding_window_pattern";
    const int64_t every = positive(f, key, f.int_or(key, 4));
    for (size_t i = 0; i < m.layers.size(); ++i) {
      if ((static_cast<int64_t>(i) + 1) % every != 0) m.layers[i].span = {SpanKind::kSlidingWindow, window};
    }
  }
  for (auto& x : m.layers) {
    if (x.span.kind == SpanKind::kFull) x.rope = false;  // Cohere2Attention: RoPE on sliding layers only
  }
  return m;
}

// Phi-3 / Phi-4 (phi3): GQA from a fused qkv_proj and SwiGLU from a fused gate_up_proj (the
// same weights as separate projections); sliding_window, when written, applies to every layer
// (Phi3Attention passes it to each layer); partial_rotary_factor only narrows RoPE.
ModelDesign phi3(const Fields& f) {
  LayerSpec l;
  l.attention = gqa_shape(f, f.bool_or("attention_bias", false));
  l.attention.rotary_dim = rotary_dim(f, l.attention.head_dim);
  l.ffn = dense_ffn(f);
  ModelDesign m = uniform(f, l);  // Phi3Config: tie_word_embeddings false
  const int64_t window = f.int_or("sliding_window", 0);
  if (window < 0) throw errors::not_positive(f.where(), "field 'sliding_window'", window);
  if (window > 0) {
    for (auto& x : m.layers) x.span = {SpanKind::kSlidingWindow, window};
  }
  return m;
}

// Kimi Linear: Kimi Delta Attention layers and MLA layers (DeepSeek-V3's, without query
// compression when q_lora_rank is null), listed 1-based in linear_attn_config; dense FFN on the
// first first_k_dense_replace layers, MoE with shared experts after. KDA keeps its state in fp32
// (vLLM's KimiLinear state dtype) and its q/k/v conv states in the model dtype.
ModelDesign kimi_linear(const Fields& f) {
  const AttentionShape a = mla_shape(f);
  LayerSpec mla;
  mla.attention = a;
  mla.rope = !f.bool_or("mla_use_nope", false);  // NoPE MLA: the RoPE slice is cached all the same

  if (!f.has("linear_attn_config") || !f.raw().at("linear_attn_config").is_object()) {
    throw errors::missing_field(f.where(), "linear_attn_config");
  }
  const Fields lin(f.raw().at("linear_attn_config"), f.where() + " (linear_attn_config)");
  LayerSpec kda;
  AttentionShape& k = kda.attention;
  k.variant = Variant::kLinear;
  k.recurrent = RecurrentKind::kKda;
  k.d_model = a.d_model;
  k.heads = req_pos(lin, "num_heads");
  k.kv_heads = k.heads;
  k.head_dim = req_pos(lin, "head_dim");
  k.state_value_dim = k.head_dim;  // KimiDeltaAttention: head_v_dim = head_dim
  k.conv_kernel = req_pos(lin, "short_conv_kernel_size");
  kda.kv_dtype = DType::kF32;
  kda.conv_dtype = model_dtype(f);
  // Kimi K3's extensions of the same config class change the layer: not modelled here.
  reject_unmodelled(f, "kimi_linear", {"mla_use_output_gate", "attn_res_block_size"});
  reject_unmodelled(lin, "kimi_linear", {"use_full_rank_gate"});

  mla.ffn = dense_ffn(f);
  ModelDesign m = uniform(f, mla);
  const size_t n = m.layers.size();
  std::vector<int> kind(n, 0);  // 1 = KDA, 2 = MLA
  auto mark = [&](const char* key, int what) {
    auto list = lin.opt_int_list(key);
    if (!list) throw errors::missing_field(lin.where(), key);
    for (int64_t one_based : *list) {
      if (one_based < 1 || one_based > static_cast<int64_t>(n) ||
          kind[static_cast<size_t>(one_based - 1)] != 0) {
        throw InputError(fmt::format("{}: {} lists layer {} (1-based, {} layers, each listed once)",
                                     lin.where(), key, one_based, n));
      }
      kind[static_cast<size_t>(one_based - 1)] = what;
    }
  };
  mark("kda_layers", 1);
  mark("full_attn_layers", 2);
  const int64_t shared = f.int_or("num_shared_experts", 0);
  const FfnShape moe = moe_ffn(f, "num_experts", "num_experts_per_token", "moe_intermediate_size",
                               shared, f.int_or("moe_intermediate_size", 0));
  const int64_t first_dense = f.int_or("first_k_dense_replace", 0);
  const int64_t freq = positive(f, "moe_layer_freq", f.int_or("moe_layer_freq", 1));
  for (size_t i = 0; i < n; ++i) {
    if (kind[i] == 0) {
      throw InputError(
          fmt::format("{}: layer {} (1-based) is in neither kda_layers nor full_attn_layers",
                      lin.where(), i + 1));
    }
    const FfnShape ffn = m.layers[i].ffn;
    if (kind[i] == 1) m.layers[i] = kda;
    m.layers[i].ffn = ffn;
    const int64_t li = static_cast<int64_t>(i);
    if (li >= first_dense && li % freq == 0) m.layers[i].ffn = moe;
  }
  return m;
}

}  // namespace

std::optional<ModelDesign> read_more_family(const Fields& f, const std::string& type) {
  if (type == "smollm3") return smollm3(f);
  if (type == "exaone4") return exaone4(f);
  if (type == "phi3") return phi3(f);
  if (type == "kimi_linear") return kimi_linear(f);
  if (type == "cohere2") return cohere2(f);
  return std::nullopt;
}

}  // namespace gmha::hf_detail
