#include "gmha/bridge/layout.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

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
  }
  return "?";
}

namespace {

// Where the decoder layers live: "model.layers.N." for most, nested under a language model for
// multimodal releases (Step-3, Llama 4). Vision towers also have "layers.0.self_attn", so the
// text candidates are tried first.
std::string find_layer_prefix(const TensorSource& src) {
  for (const char* p : {"model.", "model.language_model.", "language_model.model.",
                        "model.language_model.model.", ""}) {
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

Layout detect_layout(const Checkpoint& ck) {
  Layout out;
  out.architecture = ck.architecture;
  out.config = ck.config;
  std::string where = ck.path;
  if (ck.format == "safetensors") where = ck.path + " (config.json)";
  if (!ck.config.is_object()) {
    if (auto* g = dynamic_cast<const GgufSource*>(ck.stored.get()))
      hf_config_from_gguf(g->header().metadata, ck.path);  // throws the precise reason
    throw InputError(fmt::format("{}: no config.json beside the weights to detect the layout from",
                                 ck.path));
  }
  out.model = model_from_hf_config(ck.config, where);
  out.rms_norm_eps = config_number(ck.config, "rms_norm_eps", 1e-6);
  out.rope_theta = config_number(ck.config, "rope_theta", 10000.0);

  const TensorSource& src = *ck.tensors;
  const std::string prefix = find_layer_prefix(src);
  for (size_t i = 0; i < out.model.layers.size(); ++i) {
    LayerLayout l;
    l.layer = static_cast<int>(i);
    l.shape = out.model.layers[i].attention;
    const AttentionShape& s = l.shape;
    const int64_t d = s.d_model;
    switch (s.variant) {
      case Variant::kMha: case Variant::kMqa: case Variant::kGqa: l.kind = LayoutKind::kGqa; break;
      case Variant::kMla: l.kind = LayoutKind::kMla; break;
      case Variant::kMfa: case Variant::kMfaKr: l.kind = LayoutKind::kMfa; break;
      case Variant::kLinear: l.kind = LayoutKind::kLinear; break;
      case Variant::kFpba:
        throw InputError(fmt::format("{}: layer {}: FPBA is a bound, not a checkpoint layout",
                                     where, i));
      case Variant::kGta: case Variant::kGla: case Variant::kTpa: case Variant::kMtla:
        // No Hugging Face config family describes these yet (docs/designs.md).
        throw InputError(fmt::format("{}: layer {}: no checkpoint layout for {} attention", where, i,
                                     variant_label(s.variant)));
    }
    const std::string base = fmt::format("{}layers.{}.", prefix, i);
    // MFA with the key-reuse pair and no value projection is MFA-KR (gmha's own names).
    if (l.kind == LayoutKind::kMfa && (s.variant == Variant::kMfaKr ||
                                       (src.find(base + "self_attn.kr_n.weight") &&
                                        !src.find(base + "self_attn.v_proj.weight")))) {
      l.kind = LayoutKind::kMfaKr;
      l.shape.variant = Variant::kMfaKr;
    }
    LayerChecker c(src, ck.path, prefix, l.layer, layout_kind_name(l.kind));
    l.input_layernorm = c.maybe("input_layernorm.weight", {d});
    const std::string a = "self_attn.";
    switch (l.kind) {
      case LayoutKind::kGqa: {
        const int64_t q = s.heads * s.head_dim, kv = s.kv_heads * s.head_dim;
        l.q_proj = c.need(a + "q_proj.weight", {q, d});
        l.k_proj = c.need(a + "k_proj.weight", {kv, d});
        l.v_proj = c.need(a + "v_proj.weight", {kv, d});
        l.o_proj = c.need(a + "o_proj.weight", {d, q});
        if (s.qkv_bias) {
          l.q_bias = c.need(a + "q_proj.bias", {q});
          l.k_bias = c.need(a + "k_proj.bias", {kv});
          l.v_bias = c.need(a + "v_proj.bias", {kv});
        } else {
          l.q_bias = c.maybe(a + "q_proj.bias", {q});
          l.k_bias = c.maybe(a + "k_proj.bias", {kv});
          l.v_bias = c.maybe(a + "v_proj.bias", {kv});
        }
        l.q_norm = c.maybe(a + "q_norm.weight", {s.head_dim});
        l.k_norm = c.maybe(a + "k_norm.weight", {s.head_dim});
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
      case LayoutKind::kLinear:
        break;  // a fixed state, no QK/VO factors to audit
    }
    out.layers.push_back(std::move(l));
  }
  return out;
}

}  // namespace gmha
