#include "gmha/bridge/checkpoint_layer.hpp"

#include <cmath>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "gmha/checkpoint/element_decode.hpp"
#include "gmha/checkpoint/safetensors.hpp"
#include "gmha/checkpoint/safetensors_writer.hpp"
#include "gmha/core/error.hpp"

namespace gmha {

namespace {

const nlohmann::json& text_config(const nlohmann::json& c) {
  if (c.contains("text_config") && c["text_config"].is_object()) return c["text_config"];
  return c;
}

// Why gmha does not reproduce a model_type's attention, or "" when it does. Only families whose
// HF (Step-3: vLLM) attention module was checked against the reference are accepted.
std::string unsupported_reason(const std::string& arch) {
  static const std::set<std::string> kSupported = {
      "llama",       "mistral",     "mixtral", "qwen2", "qwen2_moe", "qwen3",      "qwen3_moe",
      "deepseek_v2", "deepseek_v3", "kimi_k2", "step3", "step3_vl",  "step3_text", "step3v"};
  if (kSupported.count(arch)) return "";
  if (arch.starts_with("gemma"))
    return "Gemma scales by query_pre_attn_scalar, soft-caps logits and uses (1 + w) norms";
  if (arch.starts_with("llama4"))
    return "Llama 4 adds an L2 q/k norm, chunked attention and NoPE temperature tuning";
  if (arch.starts_with("minimax")) return "MiniMax mixes lightning attention and partial rotary";
  return "its attention conventions are not verified";
}

// HF's softmax scale: 1/sqrt(qk width); DeepSeek (DeepseekV3Attention) multiplies it by
// yarn_get_mscale(factor, mscale_all_dim)^2 whenever rope_scaling sets mscale_all_dim. Computed
// here from the config so --no-rope drops the rotation only, not the scale.
double hf_softmax_scale(const AttentionShape& s, const RopeConfig& r) {
  switch (s.variant) {
    case Variant::kMla: {
      double scale = 1.0 / std::sqrt(static_cast<double>(s.qk_nope_dim + s.qk_rope_dim));
      if (r.scaling != RopeScalingKind::kNone && r.mscale_all_dim > 0) {
        const double m = yarn_get_mscale(r.factor, r.mscale_all_dim);
        scale *= m * m;
      }
      return scale;
    }
    default:
      return 1.0 / std::sqrt(static_cast<double>(s.head_dim));  // h (GQA family), C (MFA)
  }
}

// Reads the layout's tensors into LayerWeights names and records which full names were used.
class WeightReader {
 public:
  WeightReader(const TensorSource& src, LayerWeights& w) : src_(src), w_(w) {}
  void read(const std::string& as, const std::string& full) {
    w_.tensors[as] = src_.read_matrix_d(full);
    used_.insert(full);
  }
  void use(const std::string& full) { used_.insert(full); }
  const std::set<std::string>& used() const { return used_; }

 private:
  const TensorSource& src_;
  LayerWeights& w_;
  std::set<std::string> used_;
};

// Every tensor under the layer's self_attn must have been read: an unread one (an MLA bias, a norm
// the family does not have) means HF computes something the reference would silently skip.
void check_nothing_unused(const TensorSource& src, const std::string& attn_prefix,
                          const std::set<std::string>& used, const std::string& where,
                          const std::string& arch) {
  for (const TensorInfo& t : src.tensors()) {
    if (!t.name.starts_with(attn_prefix) || used.count(t.name)) continue;
    // Buffers and FP8 block scales (applied by the reader) are not parameters of their own.
    if (t.name.ends_with("rotary_emb.inv_freq") || t.name.ends_with("_scale_inv")) continue;
    throw InputError(fmt::format(
        "{}: tensor '{}' is not part of {}'s attention as gmha reproduces it (config.json); "
        "refusing rather than computing a different layer",
        where, t.name, arch));
  }
}

void read_gqa(const LayerLayout& l, const std::string& arch, WeightReader& r,
              const std::string& where) {
  r.read("q_proj", l.q_proj);
  r.read("k_proj", l.k_proj);
  r.read("v_proj", l.v_proj);
  r.read("o_proj", l.o_proj);
  if (l.shape.qkv_bias) {
    if (l.q_bias.empty() || l.k_bias.empty() || l.v_bias.empty())
      throw InputError(
          fmt::format("{}: the config has q/k/v biases but the file lacks one", where));
    r.read("q_proj.bias", l.q_bias);
    r.read("k_proj.bias", l.k_bias);
    r.read("v_proj.bias", l.v_bias);
  }
  // Qwen3 (and its MoE) normalise each head's q and k; HF's other families have no such norm.
  if (arch == "qwen3" || arch == "qwen3_moe") {
    if (l.q_norm.empty() || l.k_norm.empty())
      throw InputError(
          fmt::format("{}: {} needs self_attn.q_norm and k_norm, missing", where, arch));
    r.read("q_norm", l.q_norm);
    r.read("k_norm", l.k_norm);
  }
}

void read_mla(const LayerLayout& l, WeightReader& r) {
  if (l.shape.q_lora_rank > 0) {
    r.read("q_a_proj", l.q_a_proj);
    r.read("q_a_layernorm", l.q_a_layernorm);
    r.read("q_b_proj", l.q_b_proj);
  } else {
    r.read("q_proj", l.q_proj);
  }
  r.read("kv_a_proj_with_mqa", l.kv_a_proj_with_mqa);
  r.read("kv_a_layernorm", l.kv_a_layernorm);
  r.read("kv_b_proj", l.kv_b_proj);
  r.read("o_proj", l.o_proj);
}

void read_mfa(const LayerLayout& l, WeightReader& r) {
  r.read("q_proj", l.q_proj);
  r.read("inter_norm", l.inter_norm);
  r.read("wq", l.wq);
  r.read("k_proj", l.k_proj);
  if (l.kind == LayoutKind::kMfa) {
    r.read("v_proj", l.v_proj);
  } else {
    r.read("kr_n", l.kr_n);
    r.read("kr_alpha", l.kr_alpha);
  }
  r.read("o_proj", l.o_proj);
}

// RMSNorm of each row (HF: x / sqrt(mean(x^2) + eps) * gamma).
MatrixRM rms_rows(const MatrixRM& x, const MatrixRM& gamma, double eps) {
  MatrixRM y(x.rows(), x.cols());
  const Eigen::Map<const Eigen::RowVectorXd> g(gamma.data(), gamma.size());
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    const double f = 1.0 / std::sqrt(x.row(t).squaredNorm() / static_cast<double>(x.cols()) + eps);
    y.row(t) = x.row(t).cwiseProduct(g) * f;
  }
  return y;
}

}  // namespace

CheckpointLayer load_checkpoint_layer(const Checkpoint& ck, const Layout& layout, int64_t layer) {
  const int64_t n = layout.decoder_layers();
  if (layer < 0 || layer >= n) {
    throw InputError(
        fmt::format("{}: layer {} is out of range (num_hidden_layers {}: layers 0..{})", ck.path,
                    layer, n, n - 1));
  }
  // The layer's first mixer (its attention; a parallel Mamba2 beside it has no softmax form).
  const size_t entry = layout.entries_of({layer}, "layer").front();
  const LayerLayout& l = layout.layers[entry];
  const LayerSpec& spec = layout.model.layers[entry];
  CheckpointLayer out;
  out.layer = layer;
  out.architecture = layout.architecture;
  out.kind = l.kind;
  out.where = fmt::format("{}: layer {}", ck.path, layer);
  const std::string& where = out.where;
  if (const std::string why = unsupported_reason(layout.architecture); !why.empty()) {
    throw InputError(fmt::format("{}: model_type '{}' is not supported by gmha attention ({})",
                                 where, layout.architecture, why));
  }
  if (l.kind == LayoutKind::kLinear)
    throw InputError(fmt::format("{}: linear attention has no softmax reference", where));
  if (l.kind == LayoutKind::kNone)
    throw InputError(fmt::format("{}: the layer has no token mixer", where));
  if (l.kind == LayoutKind::kGta || l.kind == LayoutKind::kGla)
    throw InputError(fmt::format("{}: a {} checkpoint layer has no forward pass in gmha yet (the "
                                 "audit reads it)", where, layout_kind_name(l.kind)));
  if (l.v_proj.empty() && l.kind == LayoutKind::kGqa)
    throw InputError(fmt::format("{}: K = V tied layers (no v_proj) have no forward pass in gmha "
                                 "yet", where));
  if (spec.span.kind == SpanKind::kChunked)
    throw InputError(
        fmt::format("{}: chunked attention ({} tokens) is not supported", where, spec.span.tokens));
  const nlohmann::json& cfg = text_config(layout.config);
  if (cfg.contains("partial_rotary_factor") && cfg["partial_rotary_factor"].is_number() &&
      cfg["partial_rotary_factor"].get<double>() != 1.0)
    throw InputError(fmt::format("{}: partial_rotary_factor {} (partial RoPE) is not supported",
                                 where, cfg["partial_rotary_factor"].dump()));

  // Options: RoPE from the config; the NoPE flag of the layer; norms; scale; window.
  LayerOptions& o = out.options;
  o.rope = rope_from_hf_config(layout.config, ck.path + " (config)");
  o.rope.enabled = spec.rope;
  // DeepSeek's q_a/kv_a norms are built with RMSNorm's default eps 1e-6 (HF DeepseekV3Attention);
  // Step-3's inter_norm and Qwen3's q/k norms take the config's rms_norm_eps.
  o.norm_eps = l.kind == LayoutKind::kMla ? 1e-6 : layout.rms_norm_eps;
  o.scale = hf_softmax_scale(l.shape, o.rope);
  o.window = spec.span.kind == SpanKind::kSlidingWindow ? spec.span.tokens : 0;
  out.input_norm_eps = layout.rms_norm_eps;

  LayerWeights& w = out.weights;
  w.shape = l.shape;
  const TensorSource& src = *ck.tensors;
  WeightReader r(src, w);
  switch (l.kind) {
    case LayoutKind::kGqa:
      read_gqa(l, layout.architecture, r, where);
      break;
    case LayoutKind::kMla:
      read_mla(l, r);
      break;
    case LayoutKind::kMfa:
    case LayoutKind::kMfaKr:
      read_mfa(l, r);
      break;
    case LayoutKind::kLinear: case LayoutKind::kGta: case LayoutKind::kGla: case LayoutKind::kNone:
      break;  // refused above
  }
  // HF Llama and Qwen3 give o_proj a bias with attention_bias (Qwen2, Mistral never do; an MLA
  // bias is refused below as unused).
  const std::string o_bias = l.o_proj.substr(0, l.o_proj.size() - 7) + ".bias";  // ".weight"
  const std::string& arch = layout.architecture;
  const bool o_has_bias = (arch == "llama" || arch == "qwen3" || arch == "qwen3_moe") &&
                          cfg.contains("attention_bias") && cfg["attention_bias"].is_boolean() &&
                          cfg["attention_bias"].get<bool>();
  if (o_has_bias && src.find(o_bias)) {
    out.o_bias = src.read_matrix_d(o_bias);
    r.use(o_bias);
  }
  if (!l.input_layernorm.empty()) out.input_norm = src.read_matrix_d(l.input_layernorm);
  const std::string attn_prefix =
      l.o_proj.substr(0, l.o_proj.size() - std::string("o_proj.weight").size());
  check_nothing_unused(src, attn_prefix, r.used(), where, layout.architecture);
  check_layer_weights(w, where);
  if (out.o_bias.size() != 0 && out.o_bias.size() != l.shape.d_model)
    throw InputError(fmt::format("{}: tensor '{}' has {} values, expected {}", where, o_bias,
                                 out.o_bias.size(), l.shape.d_model));
  return out;
}

void round_to_bf16(MatrixRM& m) {
  for (double& v : m.reshaped()) v = bf16_to_float(float_to_bf16(static_cast<float>(v)));
}

void round_layer_to_bf16(CheckpointLayer& l) {
  for (auto& [name, t] : l.weights.tensors) round_to_bf16(t);
  round_to_bf16(l.o_bias);
  round_to_bf16(l.input_norm);
}

MatrixRM checkpoint_attention(const CheckpointLayer& l, const MatrixRM& x, AttentionForm form,
                              bool input_norm) {
  MatrixRM y;
  if (input_norm) {
    if (l.input_norm.size() == 0)
      throw InputError(fmt::format("{}: no input_layernorm tensor to apply", l.where));
    if (x.cols() != l.input_norm.size())
      throw InputError(
          fmt::format("{}: x has width {}, the model {}", l.where, x.cols(), l.input_norm.size()));
    y = reference_forward(l.weights, rms_rows(x, l.input_norm, l.input_norm_eps), l.options, form);
  } else {
    y = reference_forward(l.weights, x, l.options, form);
  }
  if (l.o_bias.size() != 0) y.rowwise() += l.o_bias.reshaped().transpose();
  return y;
}

MatrixRM read_hidden_states(const std::string& path, const std::string& name, int64_t d_model) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError(fmt::format("{}: no such file", path));
  const auto src = SafetensorsSource::open(path);
  const TensorInfo* t = src->find(name);
  if (!t) {
    std::vector<std::string> names;
    for (const TensorInfo& i : src->tensors()) names.push_back(i.name);
    throw InputError(
        fmt::format("{}: no tensor '{}' (the file holds: {})", path, name,
                    names.empty() ? "nothing" : fmt::format("{}", fmt::join(names, ", "))));
  }
  if (t->dtype != "F64" && t->dtype != "F32" && t->dtype != "BF16" && t->dtype != "F16")
    throw InputError(
        fmt::format("{}: tensor '{}' is {}, expected F32, BF16, F16 or F64", path, name, t->dtype));
  if (t->shape.size() != 2 || t->shape[1] != d_model || t->shape[0] < 1)
    throw InputError(
        fmt::format("{}: tensor '{}' has shape [{}], expected [T, {}] (T >= 1 tokens, "
                    "hidden_size {})",
                    path, name, fmt::join(t->shape, ", "), d_model, d_model));
  MatrixRM x = src->read_matrix_d(name);
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    for (Eigen::Index j = 0; j < x.cols(); ++j)
      if (!std::isfinite(x(i, j)))
        throw InputError(fmt::format("{}: tensor '{}' has a non-finite value ({}) at [{}, {}]",
                                     path, name, x(i, j), i, j));
  return x;
}

void write_hidden_states(const std::string& path, const std::string& name, const MatrixRM& y,
                         const std::string& dtype,
                         const std::map<std::string, std::string>& metadata) {
  TensorToWrite t;
  t.name = name;
  t.dtype = dtype;
  t.shape = {y.rows(), y.cols()};
  // Row-major [T, d]; BF16 is rounded from the float value by the writer (nearest even).
  t.fill = [&y](std::span<float> v) {
    for (Eigen::Index i = 0; i < y.size(); ++i)
      v[static_cast<size_t>(i)] = static_cast<float>(y.data()[i]);
  };
  SafetensorsWriteOptions o;
  o.metadata = metadata;
  write_safetensors_file(path, {t}, o);
}

}  // namespace gmha
