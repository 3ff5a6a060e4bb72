#include "gmha/attention/hf_config.hpp"

#include "hf_fields.hpp"

#include <cmath>
#include <filesystem>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gmha/attention/design_spec.hpp"
#include "gmha/core/atomic_file.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parse.hpp"
#include "gmha/core/json_text.hpp"

namespace gmha {

using nlohmann::json;

namespace {

using namespace hf_detail;

// Python's json module writes Infinity, -Infinity and NaN (e.g. a soft-cap of Infinity), which
// JSON does not allow. Outside strings they become null: no field gmha reads is infinite, and a
// field it needs that was written so then fails as missing, naming it.
std::string python_literals_to_null(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) out += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') { in_string = true; out += c; continue; }
    bool replaced = false;
    for (const char* lit : {"-Infinity", "Infinity", "NaN"}) {
      const size_t n = std::char_traits<char>::length(lit);
      if (text.compare(i, n, lit) == 0) {
        out += "null";
        i += n - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

// The defaults of a model_type's transformers config class for the size fields a published
// config may omit (docs/model_defaults.md); empty for families whose readers require them.
std::vector<std::pair<const char*, json>> class_defaults(const std::string& type) {
  if (type == "gemma3" || type == "gemma3_text") {  // Gemma3TextConfig
    return {{"vocab_size", 262208}, {"hidden_size", 2304}, {"intermediate_size", 9216},
            {"num_hidden_layers", 26}, {"num_attention_heads", 8}, {"num_key_value_heads", 4},
            {"head_dim", 256}, {"max_position_embeddings", 131072}, {"sliding_window", 4096},
            {"sliding_window_pattern", 6}};
  }
  if (type == "gemma4" || type == "gemma4_text") {  // Gemma4TextConfig
    return {{"vocab_size", 262144}, {"hidden_size", 2304}, {"intermediate_size", 9216},
            {"num_hidden_layers", 30}, {"num_attention_heads", 8}, {"num_key_value_heads", 4},
            {"head_dim", 256}, {"max_position_embeddings", 131072}, {"sliding_window", 512}};
  }
  if (type == "gemma3n" || type == "gemma3n_text") {  // Gemma3nTextConfig (the E4B geometry)
    return {{"vocab_size", 262400}, {"hidden_size", 2048}, {"intermediate_size", 16384},
            {"num_hidden_layers", 35}, {"num_attention_heads", 8}, {"num_key_value_heads", 2},
            {"head_dim", 256}, {"max_position_embeddings", 32768}, {"sliding_window", 512},
            {"num_kv_shared_layers", 15}};
  }
  if (type == "cohere2") {  // Cohere2Config (num_key_value_heads: num_attention_heads when absent)
    return {{"vocab_size", 256000}, {"hidden_size", 8192}, {"intermediate_size", 22528},
            {"num_hidden_layers", 40}, {"num_attention_heads", 64}, {"max_position_embeddings", 8192}};
  }
  if (type == "mimo_v2_flash") {  // MiMoV2FlashConfig
    return {{"vocab_size", 152576}, {"hidden_size", 4096}, {"intermediate_size", 16384},
            {"moe_intermediate_size", 2048}, {"num_hidden_layers", 48}, {"num_attention_heads", 64},
            {"num_key_value_heads", 4}, {"head_dim", 192}, {"v_head_dim", 128},
            {"max_position_embeddings", 131072}, {"n_routed_experts", 256}, {"num_experts_per_tok", 8}};
  }
  if (type == "granitemoehybrid") {  // GraniteMoeHybridConfig (num_key_value_heads: the heads)
    return {{"vocab_size", 32000}, {"hidden_size", 4096}, {"intermediate_size", 11008},
            {"num_hidden_layers", 32}, {"num_attention_heads", 32}, {"max_position_embeddings", 2048},
            {"num_local_experts", 8}, {"num_experts_per_tok", 2}, {"shared_intermediate_size", 1024},
            {"mamba_n_heads", 128}, {"mamba_n_groups", 1}, {"mamba_d_state", 256}, {"mamba_d_conv", 4},
            {"mamba_expand", 2}};
  }
  if (type == "falcon_h1") {  // FalconH1Config; a null num_key_value_heads, mamba_d_ssm or
    // mamba_d_head means something else than absent: hf_falcon_h1.cpp reads those three.
    return {{"vocab_size", 128000}, {"hidden_size", 4096}, {"intermediate_size", 14336},
            {"num_hidden_layers", 32}, {"num_attention_heads", 32}, {"max_position_embeddings", 8192},
            {"mamba_n_heads", 128}, {"mamba_n_groups", 1}, {"mamba_d_state", 256}, {"mamba_d_conv", 4},
            {"mamba_expand", 2}};
  }
  if (type == "olmo3") {  // Olmo3Config (num_key_value_heads defaults to num_attention_heads)
    return {{"vocab_size", 50304}, {"hidden_size", 4096}, {"intermediate_size", 11008},
            {"num_hidden_layers", 32}, {"num_attention_heads", 32},
            {"max_position_embeddings", 2048}, {"sliding_window", 4096}};
  }
  return {};
}

ModelDesign llama_like(const Fields& f, const std::string& type) {
  const bool bias = type == "qwen2" || type == "qwen2_moe" || f.bool_or("attention_bias", false);
  LayerSpec l;
  l.attention = gqa_shape(f, bias);
  // Qwen3 and Qwen3-MoE normalise each q and k head (q_norm, k_norm [head_dim]; modeling_qwen3).
  l.attention.qk_norm = type == "qwen3" || type == "qwen3_moe";
  if (type == "mixtral") {
    l.ffn = moe_ffn(f, "num_local_experts", "num_experts_per_tok", "intermediate_size", 0, 0);
  } else if (type == "qwen2_moe" || type == "qwen3_moe") {
    const int64_t shared_inter = f.int_or("shared_expert_intermediate_size", 0);
    l.ffn = moe_ffn(f, "num_experts", "num_experts_per_tok", "moe_intermediate_size",
                    shared_inter > 0 ? 1 : 0, shared_inter);
  } else {
    l.ffn = dense_ffn(f);
  }
  ModelDesign m = uniform(f, l);
  if (type == "qwen2_moe" || type == "qwen3_moe") {
    // Qwen MoE: layer i is sparse unless listed in mlp_only_layers or off the sparse step.
    const int64_t step = positive(f, "decoder_sparse_step", f.int_or("decoder_sparse_step", 1));
    std::set<int64_t> mlp_only;
    if (auto v = f.opt_int_list("mlp_only_layers")) mlp_only.insert(v->begin(), v->end());
    for (size_t i = 0; i < m.layers.size(); ++i) {
      if (mlp_only.count(static_cast<int64_t>(i)) || (static_cast<int64_t>(i) + 1) % step != 0) {
        m.layers[i].ffn = dense_ffn(f);
      }
    }
  }
  // Sliding windows: Mistral/Mixtral apply `sliding_window` to every layer; Qwen only with
  // use_sliding_window, from max_window_layers on (a sliding_window value alone does nothing).
  const int64_t window = f.int_or("sliding_window", 0);
  if (apply_layer_types(f, m, window)) return m;
  if ((type == "mistral" || type == "mixtral") && window > 0) {
    for (auto& l2 : m.layers) l2.span = {SpanKind::kSlidingWindow, window};
  }
  if (type.rfind("qwen", 0) == 0 && f.bool_or("use_sliding_window", false) && window > 0) {
    const int64_t from = f.int_or("max_window_layers", 0);
    for (size_t i = 0; i < m.layers.size(); ++i) {
      if (static_cast<int64_t>(i) >= from) m.layers[i].span = {SpanKind::kSlidingWindow, window};
    }
  }
  return m;
}

ModelDesign deepseek(const Fields& f) {
  const AttentionShape a = mla_shape(f);
  LayerSpec l;
  l.attention = a;
  l.ffn = dense_ffn(f);
  ModelDesign m = uniform(f, l);
  if (f.has("n_routed_experts")) {
    const int64_t shared = f.int_or("n_shared_experts", 0);
    FfnShape moe = moe_ffn(f, "n_routed_experts", "num_experts_per_tok", "moe_intermediate_size",
                           shared, f.int_or("moe_intermediate_size", 0));
    const int64_t first_dense = f.int_or("first_k_dense_replace", 0);
    const int64_t freq = positive(f, "moe_layer_freq", f.int_or("moe_layer_freq", 1));
    for (size_t i = 0; i < m.layers.size(); ++i) {
      const int64_t li = static_cast<int64_t>(i);
      if (li >= first_dense && li % freq == 0) m.layers[i].ffn = moe;
    }
  }
  return m;
}

// GLM-5 writes each layer's FFN as "dense" or "sparse" (mlp_layer_types); it must agree with
// first_k_dense_replace, which deepseek() applied: a disagreement is reported, not resolved.
void apply_mlp_layer_types(const Fields& f, const ModelDesign& m, const std::vector<std::string>& types) {
  if (types.size() != m.layers.size()) {
    throw InputError(fmt::format("{}: mlp_layer_types has {} entries for {} layers", f.where(),
                                 types.size(), m.layers.size()));
  }
  for (size_t i = 0; i < types.size(); ++i) {
    const bool moe = m.layers[i].ffn.kind == FfnKind::kMoe;
    if ((types[i] != "dense" && types[i] != "sparse") || (types[i] == "sparse") != moe) {
      throw InputError(fmt::format("{}: mlp_layer_types[{}] = '{}' disagrees with first_k_dense_replace "
                                   "and moe_layer_freq (layer {} is {})", f.where(), i, types[i], i,
                                   moe ? "sparse" : "dense"));
    }
  }
}

ModelDesign step3(const Fields& f) {
  AttentionShape a;
  a.variant = Variant::kMfa;
  a.d_model = req_pos(f, "hidden_size");
  a.heads = req_pos(f, "num_attention_heads");
  a.kv_heads = positive(f, "num_attention_groups", f.int_or("num_attention_groups", 1));
  if (a.kv_heads != 1) {
    throw InputError(fmt::format("{}: num_attention_groups = {}: gmha models MFA with one shared "
                                 "K/V head (docs/capacity.md)", f.where(), a.kv_heads));
  }
  a.head_dim = req_pos(f, "head_dim");
  a.q_share_dim = positive(f, "share_q_dim", f.int_or("share_q_dim", a.head_dim));
  LayerSpec l;
  l.attention = a;
  l.ffn = dense_ffn(f);
  ModelDesign m = uniform(f, l);
  if (auto moe_layers = f.opt_int_list("moe_layers_enum")) {
    const int64_t shared_dim = f.int_or("share_expert_dim", 0);
    FfnShape moe = moe_ffn(f, "moe_num_experts", "moe_top_k", "moe_intermediate_size",
                           shared_dim > 0 ? 1 : 0, shared_dim);
    for (int64_t i : *moe_layers) {
      if (i < 0 || i >= static_cast<int64_t>(m.layers.size())) {
        throw InputError(fmt::format("{}: moe_layers_enum lists layer {} of {}", f.where(), i,
                                     m.layers.size()));
      }
      m.layers[static_cast<size_t>(i)].ffn = moe;
    }
  }
  return m;
}

ModelDesign llama4(const Fields& f) {
  LayerSpec l;
  l.attention = gqa_shape(f, f.bool_or("attention_bias", false));
  l.ffn = dense_ffn(f, f.has("intermediate_size_mlp") ? "intermediate_size_mlp" : "intermediate_size");
  ModelDesign m = uniform(f, l);
  const size_t n = m.layers.size();
  // no_rope_layers[i] = 1: RoPE layer with chunked attention; 0: NoPE layer with global attention.
  std::vector<int64_t> rope_layers;
  if (auto v = f.opt_int_list("no_rope_layers"); v && !v->empty()) {
    if (v->size() != n) {
      throw InputError(fmt::format("{}: no_rope_layers has {} entries for {} layers", f.where(), v->size(), n));
    }
    rope_layers = *v;
  } else {
    const int64_t interval = positive(f, "no_rope_layer_interval", f.int_or("no_rope_layer_interval", 4));
    for (size_t i = 0; i < n; ++i) rope_layers.push_back((static_cast<int64_t>(i) + 1) % interval != 0);
  }
  const int64_t chunk = f.int_or("attention_chunk_size", 0);
  for (size_t i = 0; i < n; ++i) {
    m.layers[i].rope = rope_layers[i] != 0;
    if (rope_layers[i] != 0 && chunk > 0) m.layers[i].span = {SpanKind::kChunked, chunk};
  }
  // MoE layers: `moe_layers` when given, else every interleave_moe_layer_step-th layer.
  FfnShape moe = moe_ffn(f, "num_local_experts", "num_experts_per_tok", "intermediate_size", 1,
                         f.int_or("intermediate_size", 0));
  std::vector<int64_t> moe_layers;
  if (auto v = f.opt_int_list("moe_layers")) {
    moe_layers = *v;
  } else {
    const int64_t step = positive(f, "interleave_moe_layer_step", f.int_or("interleave_moe_layer_step", 1));
    for (int64_t i = step - 1; i < static_cast<int64_t>(n); i += step) moe_layers.push_back(i);
  }
  for (int64_t i : moe_layers) {
    if (i < 0 || i >= static_cast<int64_t>(n)) {
      throw InputError(fmt::format("{}: moe_layers lists layer {} of {}", f.where(), i, n));
    }
    m.layers[static_cast<size_t>(i)].ffn = moe;
  }
  return m;
}

ModelDesign minimax(const Fields& f) {
  LayerSpec l;
  l.attention = gqa_shape(f, false);
  l.ffn = moe_ffn(f, "num_local_experts", "num_experts_per_tok", "intermediate_size",
                  f.int_or("shared_intermediate_size", 0) > 0 ? 1 : 0,
                  f.int_or("shared_intermediate_size", 0));
  ModelDesign m = uniform(f, l);
  // MiniMax's own configs say attn_type_list (0 lightning, 1 softmax); transformers' converted
  // ones (MiniMax-Text-01-hf) say layer_types ("linear_attention", "full_attention").
  auto types = f.opt_int_list("attn_type_list");
  if (auto names = f.opt_string_list("layer_types")) {
    std::vector<int64_t> from_names;
    for (size_t i = 0; i < names->size(); ++i) {
      const std::string& t = (*names)[i];
      if (t != "linear_attention" && t != "full_attention")
        throw InputError(fmt::format("{}: layer_types[{}] = '{}' (expected linear_attention or full_attention)",
                                     f.where(), i, t));
      from_names.push_back(t == "full_attention" ? 1 : 0);
    }
    if (types && *types != from_names)
      throw InputError(fmt::format("{}: layer_types and attn_type_list disagree", f.where()));
    types = std::move(from_names);
  }
  if (!types) throw InputError(fmt::format("{}: needs attn_type_list or layer_types (which layers are "
                                           "lightning attention)", f.where()));
  if (types->size() != m.layers.size()) {
    throw InputError(fmt::format("{}: attn_type_list has {} entries for {} layers", f.where(),
                                 types->size(), m.layers.size()));
  }
  for (size_t i = 0; i < types->size(); ++i) {
    if ((*types)[i] == 1) continue;  // softmax attention
    if ((*types)[i] != 0) {
      throw InputError(fmt::format("{}: attn_type_list[{}] = {} (expected 0 or 1)", f.where(), i, (*types)[i]));
    }
    // Lightning attention: per head a d_k x d_v state, output gate, kept in fp32.
    AttentionShape a = l.attention;
    a.variant = Variant::kLinear;
    a.kv_heads = a.heads;
    a.state_value_dim = a.head_dim;
    a.output_gate = true;
    m.layers[i].attention = a;
    m.layers[i].kv_dtype = DType::kF32;
  }
  return m;
}

ModelDesign ernie(const Fields& f, const std::string& type) {
  LayerSpec l;
  l.attention = gqa_shape(f, f.bool_or("use_bias", false));
  l.ffn = dense_ffn(f);
  ModelDesign m = uniform(f, l);
  if (type == "ernie4_5_moe" && f.has("moe_num_experts")) {
    const int64_t shared = f.int_or("moe_num_shared_experts", 0);
    FfnShape moe = moe_ffn(f, "moe_num_experts", "moe_k", "moe_intermediate_size", shared, 0);
    moe.shared_intermediate = shared > 0 ? moe.expert_intermediate : 0;
    const int64_t start = f.int_or("moe_layer_start_index", 0);
    const int64_t end = f.int_or("moe_layer_end_index", static_cast<int64_t>(m.layers.size()) - 1);
    const int64_t interval = positive(f, "moe_layer_interval", f.int_or("moe_layer_interval", 1));
    for (size_t i = 0; i < m.layers.size(); ++i) {
      const int64_t li = static_cast<int64_t>(i);
      if (li >= start && li <= end && (li - start) % interval == 0) m.layers[i].ffn = moe;
    }
  }
  return m;
}

ModelDesign gemma(const Fields& f, const std::string& type) {
  LayerSpec l;
  l.attention = gqa_shape(f, f.bool_or("attention_bias", false));
  l.ffn = dense_ffn(f);
  ModelDesign m = uniform(f, l);
  m.tied_embeddings = f.bool_or("tie_word_embeddings", true);
  const int64_t window = f.int_or("sliding_window", 0);
  if (apply_layer_types(f, m, window)) return m;
  if (window <= 0 || type == "gemma") return m;
  // Gemma 2 alternates sliding and global layers; Gemma 3 has one global layer every
  // sliding_window_pattern layers (HF: sliding unless (i + 1) % pattern == 0).
  const int64_t pattern = type == "gemma2" ? 2 : positive(f, "sliding_window_pattern",
                                                          f.int_or("sliding_window_pattern", 6));
  for (size_t i = 0; i < m.layers.size(); ++i) {
    if ((static_cast<int64_t>(i) + 1) % pattern != 0) m.layers[i].span = {SpanKind::kSlidingWindow, window};
  }
  return m;
}

}  // namespace

namespace {
// quantization_config: kept as written; which weight format it means is the capacity area's
// (weight_format_of_quant_method), which fails closed on what it does not model.
// The dtype is the root config's when it writes one, else text_config's: vLLM's rule for
// multimodal wrappers (Qwen2.5-VL's transformers-4.53 config says bfloat16 at the root and float32
// in text_config, and is served in bf16).
// The weights' scheme: compressed-tensors states it per config group ({"weights": {"num_bits",
// "group_size", "strategy", "symmetric", "type"}}; all groups must agree, else bits -1), GPTQ and
// AWQ at the top level ("bits", "group_size" (-1: per channel), "sym" / "zero_point", "lm_head").
void read_quantization_scheme(const json& q, const std::string& field, ModelDesign& m) {
  auto integer = [&](const json& o, const char* k, const std::string& where) -> int {
    if (!o.contains(k) || o.at(k).is_null()) return 0;
    if (!o.at(k).is_number_integer()) throw InputError(fmt::format("{}.{}' must be an integer", where, k));
    return o.at(k).get<int>();
  };
  auto boolean = [&](const json& o, const char* k, bool fallback, const std::string& where) {
    if (!o.contains(k) || o.at(k).is_null()) return fallback;
    if (!o.at(k).is_boolean()) throw InputError(fmt::format("{}.{}' must be true or false", where, k));
    return o.at(k).get<bool>();
  };
  if (q.contains("config_groups") && q.at("config_groups").is_object()) {
    bool first = true;
    for (const auto& [name, group] : q.at("config_groups").items()) {
      const std::string where = fmt::format("{}.config_groups.{}.weights", field, name);
      if (!group.is_object() || !group.contains("weights") || !group.at("weights").is_object()) continue;
      const json& w = group.at("weights");
      const std::string strategy = w.contains("strategy") && w.at("strategy").is_string()
                                       ? w.at("strategy").get<std::string>() : "";
      const int bits = integer(w, "num_bits", where);
      const int gs = strategy == "channel" ? -1 : integer(w, "group_size", where);
      const bool sym = boolean(w, "symmetric", true, where);
      const std::string type = w.contains("type") && w.at("type").is_string() ? w.at("type").get<std::string>() : "";
      if (first) {
        m.quant_bits = bits, m.quant_group_size = gs, m.quant_symmetric = sym, m.quant_type = type;
        first = false;
      } else if (bits != m.quant_bits || gs != m.quant_group_size || sym != m.quant_symmetric || type != m.quant_type) {
        m.quant_bits = -1;  // groups with different schemes: the capacity area refuses to price it
      }
    }
    return;
  }
  const std::string method = m.quant_method;
  if (method != "gptq" && method != "awq") return;
  m.quant_bits = integer(q, "bits", field);
  m.quant_group_size = integer(q, "group_size", field);
  m.quant_type = "int";
  // GPTQ writes `sym` (default true); AWQ `zero_point` (default true: asymmetric).
  m.quant_symmetric = method == "gptq" ? boolean(q, "sym", true, field) : !boolean(q, "zero_point", true, field);
  m.quant_lm_head = method == "gptq" && boolean(q, "lm_head", false, field);
}

void read_quantization_config(const json& root, const Fields& f, ModelDesign& m) {
  for (const json* holder : {&root, &f.raw()}) {
    for (const char* k : {"torch_dtype", "dtype"}) {
      if (m.torch_dtype.empty() && holder->contains(k) && holder->at(k).is_string()) {
        m.torch_dtype = holder->at(k).get<std::string>();
      }
    }
  }
  // The text stack's own quantization_config (Kimi K2.5 keeps it in text_config), else the root's.
  const json* qp = f.has("quantization_config") ? &f.raw().at("quantization_config")
                   : root.contains("quantization_config") ? &root.at("quantization_config") : nullptr;
  if (qp == nullptr) return;
  const json& q = *qp;
  const std::string field = f.where() + ": field 'quantization_config";
  if (!q.is_object()) throw InputError(field + "' must be an object");
  auto text = [&](const char* k) -> std::string {
    if (!q.contains(k) || q.at(k).is_null()) return "";
    if (!q.at(k).is_string()) throw InputError(fmt::format("{}.{}' must be a string", field, k));
    return q.at(k).get<std::string>();
  };
  m.quant_method = text("quant_method");
  for (const char* k : {"fmt", "format", "quant_algo"}) {
    if (m.quant_format.empty()) m.quant_format = text(k);
  }
  // What the method leaves in the model dtype, under each writer's key.
  for (const char* k : {"ignore", "modules_to_not_convert", "exclude_modules"}) {
    if (!q.contains(k) || q.at(k).is_null()) continue;
    if (!q.at(k).is_array()) throw InputError(fmt::format("{}.{}' must be a list of names", field, k));
    for (const json& e : q.at(k)) {
      if (!e.is_string()) throw InputError(fmt::format("{}.{}' must be a list of names", field, k));
      m.quant_not_converted.push_back(e.get<std::string>());
    }
  }
  read_quantization_scheme(q, field, m);
}
}  // namespace

ModelDesign model_from_hf_config(const json& config, const std::string& where) {
  if (!config.is_object()) throw InputError(where + ": config is not a JSON object");
  if (!config.contains("model_type") || !config.at("model_type").is_string()) {
    throw errors::missing_field(where, "model_type");
  }
  std::string type = config.at("model_type").get<std::string>();
  const json* body = &config;
  // Multimodal wrappers keep the language model in text_config (Step-3 VL, Llama 4, Gemma 3).
  if (config.contains("text_config") && config.at("text_config").is_object()) {
    body = &config.at("text_config");
    if (body->contains("model_type") && body->at("model_type").is_string()) {
      type = body->at("model_type").get<std::string>();
    }
  }
  // Configs omit fields that their transformers config class defaults (docs/model_defaults.md):
  // fill them in so an omitted field is transformers' value, never 0.
  json filled;
  if (const auto defaults = class_defaults(type); !defaults.empty()) {
    filled = *body;
    for (const auto& [k, v] : defaults) {
      if (!filled.contains(k) || filled.at(k).is_null()) filled[k] = v;
    }
    body = &filled;
  }
  Fields f(*body, where);
  // Keys that change the architecture; each family names the ones it reads, and any other
  // present in a config fails closed (reject_unmodelled) instead of being silently ignored.
  static const std::vector<std::string> kArchKeys = {
      "index_topk", "cla_share_factor", "num_kv_shared_layers", "hybrid_override_pattern",
      "kv_source_layer_ids", "compress_ratios", "attention_k_eq_v", "attn_output_gate",
      "linear_num_value_heads", "sparse_topk_blocks", "block_configs", "use_qk_norm",
      "partial_rotary_factor"};
  std::set<std::string> handled;
  ModelDesign m;
  if (auto frontier = read_frontier_family(f, type)) {
    m = std::move(*frontier);
    if (type == "glm4_moe") handled = {"use_qk_norm", "partial_rotary_factor"};
    else if (type == "minimax_m2") handled = {"use_qk_norm"};  // RoPE width from rotary_dim
    else if (type != "gpt_oss") handled = {"attn_output_gate", "linear_num_value_heads", "partial_rotary_factor"};
  } else if (auto y2026 = read_2026_family(f, type, handled)) {
    m = std::move(*y2026);
  } else if (auto more = read_more_family(f, type)) {
    m = std::move(*more);
    if (type == "phi3") handled = {"partial_rotary_factor"};
  } else if (auto hybrid = read_hybrid_family(f, type)) {
    m = std::move(*hybrid);
    // Nemotron-H's attention applies no RoPE, so its partial_rotary_factor changes nothing.
    if (type == "nemotron_h") handled = {"hybrid_override_pattern", "partial_rotary_factor"};
    if (type == "hunyuan") handled = {"cla_share_factor", "use_qk_norm"};
    if (type == "nemotron-nas") handled = {"block_configs"};
  } else if (auto v4 = read_deepseek_v4(f, type)) {
    m = std::move(*v4);
    handled = {"compress_ratios", "index_topk"};
  } else if (type == "deepseek_v32" || type == "glm_moe_dsa") {
    // DeepSeek-V3.2: V3's MLA plus the DSA lightning indexer; each layer keeps every token's
    // latent and index key and attends to the index_topk it selects. GLM-5 (glm_moe_dsa) is the
    // same architecture under the same field names (qk_nope 192, v 256). GLM-5.2's indexers
    // shared across layers (index_topk_freq, indexer_types) change what is cached: refused.
    if (type == "glm_moe_dsa") {
      reject_unmodelled(f, type, {"index_topk_freq", "indexer_types", "index_skip_topk_offset"});
    }
    m = deepseek(f);
    if (auto mlp = f.opt_string_list("mlp_layer_types")) apply_mlp_layer_types(f, m, *mlp);
    for (auto& l : m.layers) {
      l.attention.index_heads = req_pos(f, "index_n_heads");
      l.attention.index_head_dim = req_pos(f, "index_head_dim");
      l.span = {SpanKind::kTopK, req_pos(f, "index_topk")};
    }
    handled = {"index_topk"};
  } else if (type == "llama" || type == "mistral" || type == "mixtral" || type == "qwen2" ||
      type == "qwen3" || type == "qwen2_moe" || type == "qwen3_moe") {
    m = llama_like(f, type);
  } else if (type == "ministral3" || type == "mistral3") {
    // Ministral 3 / Devstral 2 (ministral3) is Mistral's layer with YaRN and a position-dependent
    // query scale, neither of which holds weights; a mistral3 wrapper whose text_config names no
    // model_type holds a mistral stack (Mistral3Config's default). Vision: vision_params.
    m = llama_like(f, "mistral");
  } else if (type == "qwen2_5_vl" || type == "qwen2_5_vl_text") {
    // Qwen2.5-VL's text stack is Qwen2 (q/k/v biases); its ViT is counted as vision_params.
    m = llama_like(f, "qwen2");
  } else if (type == "qwen3_vl" || type == "qwen3_vl_text" || type == "qwen3_vl_moe" ||
             type == "qwen3_vl_moe_text") {
    // Qwen3-VL's text stack is Qwen3 (dense) or Qwen3-MoE; its ViT is counted as vision_params.
    m = llama_like(f, type.rfind("qwen3_vl_moe", 0) == 0 ? "qwen3_moe" : "qwen3");
  } else if (type == "deepseek_v2" || type == "deepseek_v3" || type == "kimi_k2") {
    m = deepseek(f);
  } else if (type == "step3" || type == "step3_vl" || type == "step3_text" || type == "step3v") {
    m = step3(f);
  } else if (type == "llama4" || type == "llama4_text") {
    m = llama4(f);
  } else if (type == "minimax" || type == "minimax_m1" || type == "minimax_text_01") {
    m = minimax(f);
  } else if (type == "ernie4_5" || type == "ernie4_5_moe") {
    m = ernie(f, type);
  } else if (type == "gemma" || type == "gemma2" || type == "gemma3" || type == "gemma3_text") {
    m = gemma(f, type);
    // Gemma 3 normalises each q and k head (q_norm, k_norm), Gemma 2 soft-caps instead.
    if (type == "gemma3" || type == "gemma3_text") {
      for (auto& l : m.layers) l.attention.qk_norm = true;
    }
  } else {
    throw InputError(fmt::format(
        "{}: model_type '{}' is not supported (supported: llama, mistral, mixtral, qwen2, qwen2_moe, "
        "qwen3, qwen3_moe, deepseek_v2, deepseek_v3, kimi_k2, step3, step3_vl, llama4, minimax, "
        "ernie4_5, ernie4_5_moe, gemma, gemma2, gemma3, gemma3_text, gpt_oss, qwen3_next, qwen3_5, "
        "qwen3_5_moe, glm4_moe, minimax_m2, olmo2, deepseek_v32, deepseek_v4, glm_moe_dsa, smollm3, exaone4, olmo3, phi3, kimi_linear, qwen3_vl, qwen3_vl_moe, gemma4, gemma4_text, mimo_v2_flash, step3p5, mistral3, ministral3, qwen2_5_vl, nemotron_h, nemotron-nas, granitemoehybrid, falcon_h1, lfm2, lfm2_vl, jamba, hunyuan, cohere2, gemma3n, gemma3n_text)", where, type));
  }
  std::vector<const char*> unhandled;
  for (const auto& k : kArchKeys) {
    if (!handled.count(k)) unhandled.push_back(k.c_str());
  }
  for (const char* k : unhandled) reject_unmodelled(f, type, {k});
  m.max_context = f.int_or("max_position_embeddings", 0);
  if (m.max_context < 0) throw errors::not_positive(where, "field 'max_position_embeddings'", m.max_context);
  read_quantization_config(config, f, m);
  // The softmax layers' KV dtype is what vLLM allocates with kv_cache_dtype "auto": the dtype it
  // serves the model in, bf16 for bfloat16 and fp16 for float16 and float32 checkpoints (its
  // dtype "auto" serves fp32 weights in fp16). docs/model_defaults.md, "KV dtype".
  if (m.torch_dtype == "float16" || m.torch_dtype == "float32") {
    for (auto& l : m.layers)
      if (mixer_kind(l) == MixerKind::kSoftmax && l.kv_dtype == DType::kBF16) l.kv_dtype = DType::kF16;
  }
  m.vision_params = vision_tower_params(config, where);
  m.name = where;
  m.source = where + " (model_type " + type + ")";
  validate_model(m, where);
  m.spec = design_spec_of(m);
  return m;
}

ModelDesign read_hf_config(const std::string& path) {
  namespace fs = std::filesystem;
  std::string file = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) file = (fs::path(path) / "config.json").string();
  if (!fs::exists(file, ec)) throw InputError(file + ": no such file");
  const std::string text = python_literals_to_null(read_text_file(file));
  const json j = parse_json_text(text, file);
  ModelDesign m = model_from_hf_config(j, file);
  // Name a model by its folder (the usual way checkpoints are laid out: .../Llama-3-8B/config.json),
  // or by the file's stem for another name; tables show the name, sources keep the path.
  const fs::path f = fs::absolute(fs::path(file), ec).lexically_normal();
  m.name = f.filename() == "config.json" ? f.parent_path().filename().string() : f.stem().string();
  if (m.name.empty()) m.name = file;
  return m;
}

}  // namespace gmha
