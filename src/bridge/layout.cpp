#include "gmha/bridge/layout.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "gmha/attention/design_spec.hpp"
#include "gmha/attention/hf_config.hpp"
#include "gmha/checkpoint/gguf.hpp"
#include "gmha/core/error.hpp"

namespace gmha {

std::string_view layout_kind_name(LayoutKind k) {
  switch (k) {
    case LayoutKind::kGqa: return "gqa";
    case LayoutKind::kMla: return "mla";
    case LayoutKind::kMfa: return "mfa";
    case LayoutKind::kMfaKr: return "mfa-kr";
    case LayoutKind::kLinear: return "linear";
    case LayoutKind::kGta: return "gta";
    case LayoutKind::kGla: return "gla";
    case LayoutKind::kNone: return "none";
  }
  return "?";
}

namespace {

// Where the decoder layers live: "model.layers.N." for most, nested under a language model for
// multimodal releases (Step-3, Llama 4). Vision towers also have "layers.0.self_attn", so the
// text candidates are tried first.
std::string find_layer_prefix(const TensorSource& src) {
  // Nemotron-H keeps its blocks under backbone.layers.
  for (const char* p : {"model.", "model.language_model.", "language_model.model.",
                        "model.language_model.model.", "backbone.", ""}) {
    const std::string probe = std::string(p) + "layers.0.";
    for (const auto& t : src.tensors())
      if (t.name.starts_with(probe)) return p;
  }
  for (const auto& t : src.tensors()) {
    auto pos = t.name.find("layers.0.self_attn.");
    if (pos != std::string::npos) return t.name.substr(0, pos);
  }
  return "model.";
}

const nlohmann::json& text_config(const nlohmann::json& c) {
  if (c.contains("text_config") && c["text_config"].is_object()) return c["text_config"];
  return c;
}

double config_number(const nlohmann::json& c, const char* key, double fallback) {
  const nlohmann::json& t = text_config(c);
  if (t.contains(key) && t[key].is_number()) return t[key].get<double>();
  if (c.contains(key) && c[key].is_number()) return c[key].get<double>();
  return fallback;
}

class LayerChecker {
 public:
  LayerChecker(const TensorSource& src, const std::string& where, const std::string& prefix,
               int layer, std::string_view kind)
      : src_(src), where_(where), layer_(layer), kind_(kind),
        base_(fmt::format("{}layers.{}.", prefix, layer)) {}

  // The full name of a required tensor, checked against its expected shape.
  std::string need(const std::string& suffix, std::vector<int64_t> shape) {
    const std::string name = base_ + suffix;
    const TensorInfo* t = src_.find(name);
    if (!t)
      throw InputError(fmt::format("{}: layer {}: missing tensor '{}' ({} layout)", where_, layer_,
                                   name, kind_));
    check(*t, shape);
    return name;
  }
  // The full name of an optional tensor (checked when present), or "".
  std::string maybe(const std::string& suffix, std::vector<int64_t> shape) {
    const std::string name = base_ + suffix;
    const TensorInfo* t = src_.find(name);
    if (!t) return "";
    check(*t, shape);
    return name;
  }
  bool has(const std::string& suffix) const { return src_.find(base_ + suffix) != nullptr; }
  /// The stored shape of a tensor that must exist (for widths the config does not give).
  const std::vector<int64_t>& shape_of(const std::string& suffix) const {
    const TensorInfo* t = src_.find(base_ + suffix);
    if (!t)
      throw InputError(fmt::format("{}: layer {}: missing tensor '{}{}' ({} layout)", where_, layer_,
                                   base_, suffix, kind_));
    return t->shape;
  }

 private:
  void check(const TensorInfo& t, const std::vector<int64_t>& shape) const {
    if (t.shape != shape)
      throw InputError(fmt::format("{}: layer {}: tensor '{}' has shape [{}], the config implies [{}]",
                                   where_, layer_, t.name, fmt::join(t.shape, ", "),
                                   fmt::join(shape, ", ")));
  }
  const TensorSource& src_;
  const std::string& where_;
  int layer_;
  std::string_view kind_;
  std::string base_;
};

}  // namespace

namespace {

Layout detect_layers(const Checkpoint& ck, ModelDesign model, const std::string& where);

}  // namespace

Layout detect_layout(const Checkpoint& ck) {
  std::string where = ck.path;
  if (ck.format == "safetensors") where = ck.path + " (config.json)";
  if (!ck.config.is_object()) {
    if (auto* g = dynamic_cast<const GgufSource*>(ck.stored.get()))
      hf_config_from_gguf(g->header().metadata, ck.path);  // throws the precise reason
    throw InputError(fmt::format("{}: no config.json beside the weights to detect the layout from",
                                 ck.path));
  }
  return detect_layers(ck, model_from_hf_config(ck.config, where), where);
}

Layout detect_layout(const Checkpoint& ck, const ModelDesign& model) {
  validate_model(model, ck.path + " (model)");
  return detect_layers(ck, model, ck.path + " (model)");
}

int64_t Layout::decoder_layers() const { return layers.empty() ? 0 : layers.back().layer + 1; }

std::vector<size_t> Layout::entries_of(const std::vector<int64_t>& selection, const std::string& flag) const {
  std::vector<size_t> out;
  const int64_t n = decoder_layers();
  for (const int64_t v : selection) {
    if (v < 0 || v >= n)
      throw errors::bad_option(flag, fmt::format("layer {} is out of range (the model has {} layers)", v, n));
  }
  if (selection.empty())
    for (size_t e = 0; e < layers.size(); ++e) out.push_back(e);
  for (const int64_t v : selection) {  // in the order asked, both mixers of a parallel layer
    for (size_t e = 0; e < layers.size(); ++e)
      if (layers[e].layer == v) out.push_back(e);
  }
  return out;
}

namespace {

// GTA in the reference's names (modeling_llama_GTA.py): a Llama config with rope_dim, and
// q_proj, kv_proj, W_rope_k, o_proj in place of q/k/v/o. The shape says GQA (the Llama reader
// knows no GTA); the tensors and rope_dim make it GTA.
AttentionShape gta_shape(const AttentionShape& gqa, const nlohmann::json& config,
                         const std::string& where, int layer) {
  AttentionShape s;
  s.variant = Variant::kGta;
  s.d_model = gqa.d_model, s.heads = gqa.heads, s.kv_heads = gqa.kv_heads, s.head_dim = gqa.head_dim;
  const nlohmann::json& t = text_config(config);
  if (gqa.variant == Variant::kGta) {
    s.qk_rope_dim = gqa.qk_rope_dim;
  } else if (t.contains("rope_dim") && t["rope_dim"].is_number_integer()) {
    s.qk_rope_dim = t["rope_dim"].get<int64_t>();
  } else {
    throw InputError(fmt::format("{}: layer {}: a GTA layer (self_attn.kv_proj) needs the integer "
                                 "field 'rope_dim' (the shared RoPE key's width)", where, layer));
  }
  validate_shape(s, fmt::format("{}: layer {}", where, layer));
  return s;
}

// GLA in the reference's names (modeling_llama_GLA.py): a Llama config with qk_rope_dim; the
// latent heads are counted from kv_norm_1, kv_norm_2, ... and their widths read from the tensors
// (the reference fixes d_c = 2·head_dim, q_lora = 8·head_dim; gmha reads them).
AttentionShape gla_shape(const AttentionShape& gqa, const nlohmann::json& config, LayerChecker& c,
                         const std::string& where, int layer) {
  AttentionShape s;
  s.variant = Variant::kGla;
  s.d_model = gqa.d_model, s.heads = gqa.heads;
  s.qk_nope_dim = s.v_head_dim = gqa.head_dim;  // the reference's head_dim for both
  const nlohmann::json& t = text_config(config);
  if (!t.contains("qk_rope_dim") || !t["qk_rope_dim"].is_number_integer())
    throw InputError(fmt::format("{}: layer {}: a GLA layer (self_attn.W_dKV) needs the integer "
                                 "field 'qk_rope_dim'", where, layer));
  s.qk_rope_dim = t["qk_rope_dim"].get<int64_t>();
  int64_t hc = 0;
  while (c.has(fmt::format("self_attn.kv_norm_{}.weight", hc + 1))) ++hc;
  if (hc == 0)
    throw InputError(fmt::format("{}: layer {}: a GLA layer (self_attn.W_dKV) has no "
                                 "self_attn.kv_norm_1.weight", where, layer));
  s.kv_heads = hc;
  const auto& norm = c.shape_of("self_attn.kv_norm_1.weight");
  s.kv_lora_rank = norm.empty() ? 0 : norm[0];
  const auto& dq = c.shape_of("self_attn.W_dQ.weight");
  s.q_lora_rank = dq.empty() ? 0 : dq[0];
  validate_shape(s, fmt::format("{}: layer {}", where, layer));
  return s;
}

}  // namespace

double qk_norm_offset(std::string_view model_type) {
  return model_type == "gemma2" || model_type == "gemma3" || model_type == "gemma3_text" ? 1.0 : 0.0;
}

namespace {

Layout detect_layers(const Checkpoint& ck, ModelDesign model, const std::string& where) {
  Layout out;
  out.architecture = ck.architecture;
  out.config = ck.config;
  out.model = std::move(model);
  // Falcon-H1's µP multipliers scale a circuit by a constant (its σ, not its rank or subspaces).
  std::vector<std::string> multipliers;
  for (const char* key : {"attention_in_multiplier", "key_multiplier", "attention_out_multiplier",
                          "ssm_in_multiplier", "ssm_multipliers", "ssm_out_multiplier"})
    if (ck.config.is_object() && ck.config.contains(key)) multipliers.push_back(key);
  out.rms_norm_eps = config_number(ck.config, "rms_norm_eps", 1e-6);
  out.rope_theta = config_number(ck.config, "rope_theta", 10000.0);
  bool reshaped = false;  // a layer's shape came from its tensors (GTA, GLA): respell the spec

  const TensorSource& src = *ck.tensors;
  const std::string prefix = find_layer_prefix(src);
  for (size_t i = 0; i < out.model.layers.size(); ++i) {
    LayerLayout l;
    // Entry i is decoder layer decoder_layer_of(i): they differ after a parallel mixer.
    l.layer = out.model.decoder_layer_of(i);
    l.parallel = out.model.layers[i].parallel;
    if (!multipliers.empty())
      l.notes.push_back(fmt::format("sigma is of the stored weights: the config's multipliers ({}) "
                                    "scale the circuits by constants, not their ranks or subspaces",
                                    fmt::join(multipliers, ", ")));
    l.shape = out.model.layers[i].attention;
    const AttentionShape& s = l.shape;
    const int64_t d = s.d_model;
    if (!out.model.layers[i].has_mixer) {  // an MLP or MoE block (Nemotron-H)
      l.kind = LayoutKind::kNone;
      out.layers.push_back(std::move(l));
      continue;
    }
    switch (s.variant) {
      case Variant::kMha: case Variant::kMqa: case Variant::kGqa: l.kind = LayoutKind::kGqa; break;
      case Variant::kMla: l.kind = LayoutKind::kMla; break;
      case Variant::kMfa: case Variant::kMfaKr: l.kind = LayoutKind::kMfa; break;
      case Variant::kLinear: l.kind = LayoutKind::kLinear; break;
      case Variant::kFpba:
        throw InputError(fmt::format("{}: layer {}: FPBA is a bound, not a checkpoint layout",
                                     where, l.layer));
      case Variant::kGta: l.kind = LayoutKind::kGta; break;
      case Variant::kGla: l.kind = LayoutKind::kGla; break;
      case Variant::kTpa: case Variant::kMtla:
        // No checkpoint family stores these yet (docs/designs.md).
        throw InputError(fmt::format("{}: layer {}: no checkpoint layout for {} attention", where, l.layer,
                                     variant_label(s.variant)));
    }
    const std::string base = fmt::format("{}layers.{}.", prefix, l.layer);
    // The reference code of GTA and GLA is a Llama whose attention tensors are renamed: the
    // tensors decide, and the shape is rebuilt from them and the config's extra field.
    if (l.kind == LayoutKind::kGqa && src.find(base + "self_attn.kv_proj.weight") &&
        !src.find(base + "self_attn.k_proj.weight")) {
      l.kind = LayoutKind::kGta;
      l.shape = gta_shape(s, ck.config, ck.path, l.layer);
      reshaped = true;
    } else if (l.kind == LayoutKind::kGqa && src.find(base + "self_attn.W_dKV.weight")) {
      LayerChecker probe(src, ck.path, prefix, l.layer, "gla");
      l.kind = LayoutKind::kGla;
      l.shape = gla_shape(s, ck.config, probe, ck.path, l.layer);
      reshaped = true;
    }
    if (reshaped) out.model.layers[i].attention = l.shape;
    // MFA with the key-reuse pair and no value projection is MFA-KR (gmha's own names).
    if (l.kind == LayoutKind::kMfa && (s.variant == Variant::kMfaKr ||
                                       (src.find(base + "self_attn.kr_n.weight") &&
                                        !src.find(base + "self_attn.v_proj.weight")))) {
      l.kind = LayoutKind::kMfaKr;
      l.shape.variant = Variant::kMfaKr;
    }
    LayerChecker c(src, ck.path, prefix, l.layer, layout_kind_name(l.kind));
    l.input_layernorm = c.maybe("input_layernorm.weight", {d});
    // Nemotron-H names its attention block's module mixer. (as its Mamba2 one).
    const std::string a = c.has("mixer.q_proj.weight") ? "mixer." : "self_attn.";
    switch (l.kind) {
      case LayoutKind::kGqa: {
        if (s.o_lora_rank > 0) {
          // DeepSeek-V4's attention (layout.hpp): the checkpoint's attn. names, or self_attn.
          const std::string v = c.has("attn.wkv.weight") ? "attn." : a;
          const int64_t ql = s.q_lora_rank, hc = s.heads * s.head_dim, gr = s.o_groups * s.o_lora_rank;
          if (s.kv_heads != 1 || ql <= 0)
            throw InputError(fmt::format("{}: layer {}: a grouped output LoRA is read only as DeepSeek-V4's "
                                         "attention (one K = V latent, a compressed query)", where, l.layer));
          l.q_a_proj = c.need(v + "wq_a.weight", {ql, d});
          l.q_a_layernorm = c.need(v + "q_norm.weight", {ql});
          l.q_b_proj = c.need(v + "wq_b.weight", {hc, ql});
          l.k_proj = c.need(v + "wkv.weight", {s.head_dim, d});
          l.k_norm = c.need(v + "kv_norm.weight", {s.head_dim});
          l.wo_a = c.need(v + "wo_a.weight", {gr, hc / s.o_groups});
          l.o_proj = c.need(v + "wo_b.weight", {d, gr});
          l.sinks = s.sinks ? c.need(v + "attn_sink", {s.heads}) : c.maybe(v + "attn_sink", {s.heads});
          if (const AttentionSpan& span = out.model.layers[i].span; span.kind == SpanKind::kCompressed && span.ratio > 0) {
            // The compressor (names as DeepSeek's checkpoint stores them): CSA's ratio 4 overlaps
            // two blocks, so its projections carry two halves of c rows.
            const int64_t halves = span.ratio == 4 ? 2 : 1, w = halves * s.head_dim;
            l.compressor_wkv = c.need(v + "compressor.wkv.weight", {w, d});
            l.compressor_norm = c.need(v + "compressor.norm.weight", {s.head_dim});
            c.need(v + "compressor.wgate.weight", {w, d});
            c.need(v + "compressor.ape", {span.ratio, w});
            l.compressor_halves = halves;
          }
          break;
        }
        const int64_t q = s.heads * s.head_dim, kv = s.kv_heads * s.head_dim;
        const int64_t hv = s.v_head_dim > 0 ? s.v_head_dim : s.head_dim;  // V heads' width
        // An element-wise output gate doubles q_proj: per head h query rows, then h gate rows.
        l.q_proj_gated = s.gate == OutputGate::kElementwise;
        l.q_proj = c.need(a + "q_proj.weight", {l.q_proj_gated ? 2 * q : q, d});
        l.k_proj = c.need(a + "k_proj.weight", {kv, d});
        // K = V tying (Gemma 4 attention_k_eq_v): the value is the key projection; a v_proj is
        // used when the file has one anyway (as transformers does).
        if (s.kv_tied) l.v_proj = c.maybe(a + "v_proj.weight", {s.kv_heads * hv, d});
        else l.v_proj = c.need(a + "v_proj.weight", {s.kv_heads * hv, d});
        l.o_proj = c.need(a + "o_proj.weight", {d, s.heads * hv});
        if (s.gate == OutputGate::kHeadwise) l.g_proj = c.need(a + "g_proj.weight", {s.heads, d});
        l.sinks = s.sinks ? c.need(a + "sinks", {s.heads}) : c.maybe(a + "sinks", {s.heads});
        if (s.qkv_bias) {
          l.q_bias = c.need(a + "q_proj.bias", {q});
          l.k_bias = c.need(a + "k_proj.bias", {kv});
          l.v_bias = c.need(a + "v_proj.bias", {kv});
        } else {
          l.q_bias = c.maybe(a + "q_proj.bias", {q});
          l.k_bias = c.maybe(a + "k_proj.bias", {kv});
          l.v_bias = c.maybe(a + "v_proj.bias", {kv});
        }
        // Per-head norms [h] (Qwen3, Gemma 3/4), or one over all heads (MiniMax-M2, OLMo 2).
        if (ck.format == "safetensors") l.qk_norm_offset = qk_norm_offset(out.architecture);
        if (s.qk_norm_per_layer) {
          l.q_norm = c.need(a + "q_norm.weight", {q});
          l.k_norm = c.need(a + "k_norm.weight", {kv});
        } else {
          l.q_norm = c.maybe(a + "q_norm.weight", {s.head_dim});
          l.k_norm = c.maybe(a + "k_norm.weight", {s.head_dim});
        }
        break;
      }
      case LayoutKind::kGta: {
        const int64_t q = s.heads * s.head_dim;
        l.q_proj = c.need(a + "q_proj.weight", {q, d});
        l.kv_proj = c.need(a + "kv_proj.weight", {s.kv_heads * s.head_dim, d});
        l.k_rope_proj = c.has(a + "k_rope_proj.weight")
                            ? c.need(a + "k_rope_proj.weight", {s.qk_rope_dim, d})
                            : c.need(a + "W_rope_k.weight", {s.qk_rope_dim, d});
        l.o_proj = c.need(a + "o_proj.weight", {d, q});
        break;
      }
      case LayoutKind::kGla: {
        const int64_t qk = s.qk_nope_dim + s.qk_rope_dim, hc = s.kv_heads, dc = s.kv_lora_rank;
        const int64_t per = s.heads / hc, up = s.qk_nope_dim + s.v_head_dim;
        if (c.has(a + "W_dKV.weight")) {
          // The reference's names: W_dQ, q_norm, W_uQ_rope; W_dKV; kv_norm_g, W_ukv_g per latent head.
          if (s.q_lora_rank == 0)
            throw InputError(fmt::format("{}: layer {}: GLA in the reference's names needs W_dQ "
                                         "(q_lora_rank 0 given)", ck.path, l.layer));
          l.q_a_proj = c.need(a + "W_dQ.weight", {s.q_lora_rank, d});
          l.q_a_layernorm = c.need(a + "q_norm.weight", {s.q_lora_rank});
          l.q_b_proj = c.need(a + "W_uQ_rope.weight", {s.heads * qk, s.q_lora_rank});
          l.kv_a_proj_with_mqa = c.need(a + "W_dKV.weight", {hc * dc + s.qk_rope_dim, d});
          for (int64_t g = 1; g <= hc; ++g) {
            l.kv_a_layernorms.push_back(c.need(a + fmt::format("kv_norm_{}.weight", g), {dc}));
            l.kv_b_projs.push_back(c.need(a + fmt::format("W_ukv_{}.weight", g), {per * up, dc}));
          }
        } else {
          // DeepSeek's names with h_c latent heads (docs/designs.md).
          if (s.q_lora_rank > 0) {
            l.q_a_proj = c.need(a + "q_a_proj.weight", {s.q_lora_rank, d});
            l.q_a_layernorm = c.need(a + "q_a_layernorm.weight", {s.q_lora_rank});
            l.q_b_proj = c.need(a + "q_b_proj.weight", {s.heads * qk, s.q_lora_rank});
          } else {
            l.q_proj = c.need(a + "q_proj.weight", {s.heads * qk, d});
          }
          l.kv_a_proj_with_mqa = c.need(a + "kv_a_proj_with_mqa.weight", {hc * dc + s.qk_rope_dim, d});
          l.kv_a_layernorm = c.need(a + "kv_a_layernorm.weight", {hc * dc});
          l.kv_b_proj = c.need(a + "kv_b_proj.weight", {s.heads * up, dc});
        }
        l.o_proj = c.need(a + "o_proj.weight", {d, s.heads * s.v_head_dim});
        break;
      }
      case LayoutKind::kMla: {
        const int64_t qk = s.qk_nope_dim + s.qk_rope_dim;
        if (s.q_lora_rank > 0) {
          l.q_a_proj = c.need(a + "q_a_proj.weight", {s.q_lora_rank, d});
          l.q_a_layernorm = c.need(a + "q_a_layernorm.weight", {s.q_lora_rank});
          l.q_b_proj = c.need(a + "q_b_proj.weight", {s.heads * qk, s.q_lora_rank});
        } else {
          l.q_proj = c.need(a + "q_proj.weight", {s.heads * qk, d});
        }
        l.kv_a_proj_with_mqa =
            c.need(a + "kv_a_proj_with_mqa.weight", {s.kv_lora_rank + s.qk_rope_dim, d});
        l.kv_a_layernorm = c.need(a + "kv_a_layernorm.weight", {s.kv_lora_rank});
        l.kv_b_proj = c.need(a + "kv_b_proj.weight",
                             {s.heads * (s.qk_nope_dim + s.v_head_dim), s.kv_lora_rank});
        l.o_proj = c.need(a + "o_proj.weight", {d, s.heads * s.v_head_dim});
        if (s.index_heads > 0) {
          // DSA's indexer reads the query latent: it needs query compression.
          const int64_t hi = s.index_heads, di = s.index_head_dim;
          if (s.q_lora_rank == 0)
            throw InputError(fmt::format("{}: layer {}: a DSA indexer needs q_lora_rank > 0", ck.path,
                                         l.layer));
          l.indexer_wq_b = c.need(a + "indexer.wq_b.weight", {hi * di, s.q_lora_rank});
          l.indexer_wk = c.need(a + "indexer.wk.weight", {di, d});
          l.indexer_k_norm = c.need(a + "indexer.k_norm.weight", {di});
          l.indexer_k_norm_bias = c.maybe(a + "indexer.k_norm.bias", {di});
          l.indexer_weights_proj = c.need(a + "indexer.weights_proj.weight", {hi, d});
        }
        break;
      }
      case LayoutKind::kMfa: case LayoutKind::kMfaKr: {
        const int64_t C = s.head_dim, cq = s.q_share_dim > 0 ? s.q_share_dim : s.head_dim;
        l.q_proj = c.need(a + "q_proj.weight", {cq, d});
        l.inter_norm = c.need(a + "inter_norm.weight", {cq});
        l.wq = c.need(a + "wq.weight", {s.heads * C, cq});
        l.k_proj = c.need(a + "k_proj.weight", {C, d});
        if (l.kind == LayoutKind::kMfa) {
          l.v_proj = c.need(a + "v_proj.weight", {C, d});
        } else {
          l.kr_n = c.need(a + "kr_n.weight", {C, C});
          l.kr_alpha = c.need(a + "kr_alpha", {C});
        }
        l.o_proj = c.need(a + "o_proj.weight", {d, s.heads * C});
        break;
      }
      case LayoutKind::kNone:
        break;
      case LayoutKind::kLinear:
        // A fixed state, no softmax circuits. Kimi Delta Attention (Kimi-Linear), Gated DeltaNet
        // (Qwen3-Next, Qwen3.5) and Mamba2 (C and B) project a query and a key per key head or
        // group, Mamba-1 (C and B of x_proj) one of each: their factors are audited (rank ≤ d_k
        // or N), as are MiniMax's lightning heads (q and k rows of qkv_proj). LFM2's short
        // convolution has neither and is listed as not audited.
        if (s.recurrent == RecurrentKind::kLightning) {
          // MiniMax-01 / M1 (transformers' MiniMaxLightningAttention, self_attn.): qkv_proj
          // [H·3d_k, d] reshaped to [H, 3d_k] and split, so head i's rows are q, k, v, d_k each.
          const int64_t h = s.heads, dk = s.head_dim;
          if (s.state_value_dim != dk)
            throw InputError(fmt::format("{}: layer {}: a lightning layer's value width ({}) must equal "
                                         "head_dim ({}): qkv_proj splits each head in three",
                                         ck.path, l.layer, s.state_value_dim, dk));
          l.q_proj = l.k_proj = c.need(a + "qkv_proj.weight", {3 * h * dk, d});
          l.recurrent_heads = h;
          l.recurrent_dk = dk;
          l.k_row0 = dk;
          l.row_stride = 3 * dk;
        } else if (s.recurrent == RecurrentKind::kKda) {
          l.q_proj = c.need(a + "q_proj.weight", {s.heads * s.head_dim, d});
          l.k_proj = c.need(a + "k_proj.weight", {s.heads * s.head_dim, d});
          l.recurrent_heads = s.heads;
          l.recurrent_dk = l.row_stride = s.head_dim;
          l.k_row0 = 0;
        } else if (s.recurrent == RecurrentKind::kGatedDeltaNet) {
          // Gated DeltaNet (transformers' Qwen3NextGatedDeltaNet / Qwen3_5GatedDeltaNet) under
          // linear_attn.: the Q and K rows of its fused input projection (layout.hpp).
          const int64_t hk = s.key_heads, dk = s.head_dim, vz = s.heads * s.state_value_dim;
          const std::string g = "linear_attn.";
          l.recurrent_heads = hk;
          l.recurrent_dk = dk;
          if (c.has(g + "in_proj_qkvz.weight")) {
            l.q_proj = l.k_proj = c.need(g + "in_proj_qkvz.weight", {2 * hk * dk + 2 * vz, d});
            l.k_row0 = dk;
            l.row_stride = 2 * dk + 2 * vz / hk;
          } else {
            l.q_proj = l.k_proj = c.need(g + "in_proj_qkv.weight", {2 * hk * dk + vz, d});
            l.k_row0 = hk * dk;
            l.row_stride = dk;
          }
        } else if (s.recurrent == RecurrentKind::kMamba2) {
          // Mamba2 (Granite 4.0-H, Bamba: mamba.; Nemotron-H: mixer.): C and B of each group.
          const int64_t I = s.inner, gn = s.key_heads * s.state_value_dim;
          const std::string m = c.has("mixer.in_proj.weight") ? "mixer." : "mamba.";
          l.q_proj = l.k_proj = c.need(m + "in_proj.weight", {2 * I + 2 * gn + s.heads, d});
          l.recurrent_heads = s.key_heads;
          l.recurrent_dk = l.row_stride = s.state_value_dim;
          l.k_row0 = 2 * I;
          l.q_row0 = 2 * I + gn;
        } else if (s.recurrent == RecurrentKind::kMamba) {
          // Mamba-1 (Jamba's mamba.): x_proj [R + 2N, I] gives dt, B, C from the convolved x,
          // then Jamba's RMSNorms on B and C (their γ scale the factors' rows).
          const int64_t n = s.state_value_dim;
          l.q_proj = l.k_proj = c.need("mamba.x_proj.weight", {s.dt_rank + 2 * n, s.inner});
          l.k_norm = c.maybe("mamba.b_layernorm.weight", {n});
          l.q_norm = c.maybe("mamba.c_layernorm.weight", {n});
          l.recurrent_heads = 1;
          l.recurrent_dk = l.row_stride = n;
          l.k_row0 = s.dt_rank;
          l.q_row0 = s.dt_rank + n;
        }
        break;
    }
    out.layers.push_back(std::move(l));
  }
  if (reshaped) out.model.spec = design_spec_of(out.model);
  return out;
}

}  // namespace

}  // namespace gmha
