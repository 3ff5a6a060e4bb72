// Readers of the hybrid Hugging Face families (docs/model_defaults.md, "Hybrid families"):
// nemotron_h (Mamba2 / attention / MLP / MoE blocks), lfm2 and lfm2_vl (gated short convolutions
// and attention), jamba (Mamba-1 and attention, MoE every other layer), hunyuan (cross-layer
// attention: cla_share_factor), nemotron-nas (DeciLM block_configs), granitemoehybrid (its reader
// is hf_granite.cpp; the Mamba2 layer is built here) and falcon_h1 (hf_falcon_h1.cpp: attention
// and Mamba2 in parallel in every layer). Each maps the published config.json onto the layer-level
// model (docs/capacity.md, "Layer kinds"); a field omitted takes the default of the model_type's
// transformers config class, and a key that changes the architecture in a way the reader does not
// model fails closed.
#include "hf_fields.hpp"

#include <functional>

#include "gmha/core/checked.hpp"

namespace gmha::hf_detail {

namespace {

// The first of `keys` the config writes, as an integer; nullopt when none is written.
std::optional<int64_t> first_int(const Fields& f, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    if (f.has(k)) return positive(f, k, f.req_int(k));
  }
  return std::nullopt;
}


// --- Nemotron-H -------------------------------------------------------------------------------

// One block kind per layer: hybrid_override_pattern (M Mamba2, * attention, - MLP, E MoE) or
// layers_block_type ("mamba", "attention", "mlp", "moe"); both written must agree.
std::vector<char> nemotron_blocks(const Fields& f, size_t n) {
  std::vector<char> blocks;
  if (f.has("hybrid_override_pattern")) {
    const json& p = f.raw().at("hybrid_override_pattern");
    if (!p.is_string()) throw InputError(f.where() + ": field 'hybrid_override_pattern' must be a string");
    for (char c : p.get<std::string>()) blocks.push_back(c);
  }
  if (auto types = f.opt_string_list("layers_block_type")) {
    std::vector<char> from_types;
    for (size_t i = 0; i < types->size(); ++i) {
      const std::string& t = (*types)[i];
      const char c = t == "mamba" ? 'M' : t == "attention" ? '*' : t == "mlp" ? '-' : t == "moe" ? 'E' : '?';
      if (c == '?') {
        throw InputError(fmt::format("{}: layers_block_type[{}] = '{}' is not mamba, attention, mlp or moe",
                                     f.where(), i, t));
      }
      from_types.push_back(c);
    }
    if (!blocks.empty() && blocks != from_types) {
      throw InputError(f.where() + ": hybrid_override_pattern and layers_block_type disagree");
    }
    blocks = from_types;
  }
  if (blocks.empty()) {
    // NemotronHConfig's default pattern (52 layers).
    for (char c : std::string("M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-")) blocks.push_back(c);
  }
  if (blocks.size() != n) {
    throw InputError(fmt::format("{}: hybrid_override_pattern has {} blocks for {} layers", f.where(),
                                 blocks.size(), n));
  }
  return blocks;
}

// Nemotron-H (Nemotron-H, Nemotron Nano 2, Nemotron 3): every block is ONE of a Mamba2 mixer, a
// NoPE GQA attention, a squared-ReLU MLP (up, down: 2 matrices) or a MoE of such MLPs with a
// shared expert. gmha's layer is mixer + FFN, so an M or * block is a layer without FFN and a -
// or E block a layer without mixer (has_mixer = false). Each block has one RMSNorm where gmha
// counts two per layer (d per layer too many: under 0.001 % of the released sizes).
ModelDesign nemotron_h(const Fields& f) {
  const std::string type = "nemotron_h";
  // Nemotron 3 Super's latent MoE projects tokens into a smaller space before the experts; the
  // sliding window and projection biases are not in gmha's weights either.
  reject_unmodelled(f, type, {"moe_latent_size", "sliding_window"});
  require_bool(f, type, "mamba_proj_bias", false, false);
  require_bool(f, type, "use_conv_bias", true, true);
  require_bool(f, type, "mlp_bias", false, false);

  LayerSpec attn;
  attn.attention = gqa_shape(f, f.bool_or("attention_bias", false));
  // head_dim (or attention_head_dim in the first Nemotron-H configs) is required: the class's
  // fallback differs between releases, so gmha does not guess it.
  const auto hd = first_int(f, {"head_dim", "attention_head_dim"});
  if (!hd) throw errors::missing_field(f.where(), "head_dim");
  attn.attention.head_dim = *hd;
  attn.rope = false;  // NemotronHAttention applies no positional encoding

  // NemotronHConfig: mamba_num_heads 128, mamba_head_dim 64, ssm_state_size 128, n_groups 8,
  // conv_kernel 4; the mixer's width is heads x head_dim (expand is not used).
  Mamba2Geometry g;
  g.heads = positive(f, "mamba_num_heads", f.int_or("mamba_num_heads", 128));
  g.head_dim = positive(f, "mamba_head_dim", f.int_or("mamba_head_dim", 64));
  g.state = positive(f, "ssm_state_size", f.int_or("ssm_state_size", 128));
  g.groups = positive(f, "n_groups", f.int_or("n_groups", 8));
  g.conv_kernel = positive(f, "conv_kernel", f.int_or("conv_kernel", 4));
  const LayerSpec mamba = mamba2_layer(f, attn.attention.d_model, g);

  LayerSpec mlp;
  mlp.has_mixer = false;
  mlp.attention = attn.attention;
  mlp.ffn = dense_ffn(f);
  mlp.ffn.matrices = 2;  // relu2: up and down, no gate

  LayerSpec moe = mlp;
  const bool has_moe_fields = f.has("n_routed_experts");
  if (has_moe_fields) {
    const int64_t shared = f.int_or("n_shared_experts", 1);
    if (shared != 0 && shared != 1) {
      throw InputError(fmt::format("{}: n_shared_experts = {} is not modelled for nemotron_h (0 or 1)",
                                   f.where(), shared));
    }
    moe.ffn = moe_ffn(f, "n_routed_experts", "num_experts_per_tok", "moe_intermediate_size", shared,
                      shared > 0 ? req_pos(f, "moe_shared_expert_intermediate_size") : 0);
    moe.ffn.matrices = 2;
  }

  ModelDesign m = uniform(f, attn);
  const std::vector<char> blocks = nemotron_blocks(f, m.layers.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    switch (blocks[i]) {
      case 'M': m.layers[i] = mamba; break;
      case '*': m.layers[i] = attn; break;
      case '-': m.layers[i] = mlp; break;
      case 'E':
        if (!has_moe_fields) throw errors::missing_field(f.where(), "n_routed_experts");
        m.layers[i] = moe;
        break;
      default:
        throw InputError(fmt::format("{}: hybrid_override_pattern[{}] = '{}' is not M, *, - or E",
                                     f.where(), i, blocks[i]));
    }
  }
  return m;
}

// --- LFM2 -------------------------------------------------------------------------------------

// LFM2's SwiGLU width: with block_auto_adjust_ff_dim (the default) Lfm2MLP takes 2/3 of
// block_ff_dim (intermediate_size), scales it by block_ffn_dim_multiplier and rounds it up to a
// multiple of block_multiple_of, as Llama's FFN sizing does. LFM2-1.2B: 12288 -> 8192.
int64_t lfm2_ffn_width(const Fields& f) {
  // Lfm2Config: intermediate_size = block_ff_dim when written, default 12288.
  int64_t width = f.has("block_ff_dim") ? req_pos(f, "block_ff_dim")
                                        : positive(f, "intermediate_size", f.int_or("intermediate_size", 12288));
  if (!f.bool_or("block_auto_adjust_ff_dim", true)) return width;
  width = 2 * width / 3;
  double multiplier = 1.0;
  if (f.has("block_ffn_dim_multiplier")) {
    const json& v = f.raw().at("block_ffn_dim_multiplier");
    if (!v.is_number() || v.get<double>() <= 0) {
      throw InputError(fmt::format("{}: field 'block_ffn_dim_multiplier' must be positive (got {})",
                                   f.where(), v.dump()));
    }
    multiplier = v.get<double>();
  }
  width = static_cast<int64_t>(multiplier * static_cast<double>(width));
  const int64_t multiple = positive(f, "block_multiple_of", f.int_or("block_multiple_of", 256));
  return multiple * ((width + multiple - 1) / multiple);
}

// LFM2: gated short-convolution layers (in_proj [3d, d], a depthwise conv of conv_L_cache taps,
// out_proj) and GQA layers with per-head q/k norms; a SwiGLU FFN in every layer. layer_types
// ("conv" / "full_attention"), else full_attn_idxs, else every layer attention (Lfm2Config).
ModelDesign lfm2(const Fields& f) {
  const std::string type = "lfm2";
  require_bool(f, type, "conv_bias", false, false);  // biases on in_proj, conv, out_proj: not counted
  LayerSpec attn;
  attn.attention = gqa_shape(f, false);
  attn.attention.qk_norm = true;  // q_layernorm, k_layernorm over each head
  attn.ffn.kind = FfnKind::kDense;
  attn.ffn.intermediate = lfm2_ffn_width(f);
  if (const auto conv_dim = first_int(f, {"conv_dim"}); conv_dim && *conv_dim != attn.attention.d_model) {
    throw InputError(fmt::format("{}: conv_dim {} differs from hidden_size {}: not modelled for lfm2",
                                 f.where(), *conv_dim, attn.attention.d_model));
  }
  LayerSpec conv;
  conv.attention.variant = Variant::kLinear;
  conv.attention.recurrent = RecurrentKind::kShortConv;
  conv.attention.d_model = attn.attention.d_model;
  conv.attention.inner = attn.attention.d_model;
  conv.attention.conv_kernel = positive(f, "conv_L_cache", f.int_or("conv_L_cache", 3));
  conv.conv_dtype = model_dtype(f);
  conv.ffn = attn.ffn;

  ModelDesign m = uniform(f, attn);
  // Lfm2Config: tie_embedding (its own name) or tie_word_embeddings, default true.
  m.tied_embeddings = f.bool_or("tie_embedding", f.bool_or("tie_word_embeddings", true));
  const size_t n = m.layers.size();
  std::vector<std::string> types;
  if (auto t = f.opt_string_list("layer_types")) {
    if (t->size() != n) {
      throw InputError(fmt::format("{}: layer_types has {} entries for {} layers", f.where(), t->size(), n));
    }
    types = *t;
  } else {
    std::set<int64_t> full;
    if (auto idx = f.opt_int_list("full_attn_idxs")) {
      for (int64_t i : *idx) {
        if (i < 0 || i >= static_cast<int64_t>(n)) {
          throw InputError(fmt::format("{}: full_attn_idxs lists layer {} of {}", f.where(), i, n));
        }
        full.insert(i);
      }
    } else {
      for (size_t i = 0; i < n; ++i) full.insert(static_cast<int64_t>(i));
    }
    for (size_t i = 0; i < n; ++i) types.push_back(full.count(static_cast<int64_t>(i)) ? "full_attention" : "conv");
  }
  for (size_t i = 0; i < n; ++i) {
    if (types[i] == "conv") m.layers[i] = conv;
    else if (types[i] != "full_attention") bad_layer_type(f, i, types[i]);
  }
  return m;
}

// --- Jamba ------------------------------------------------------------------------------------

// Jamba (AI21): Mamba-1 layers and GQA layers without positional encoding; layer i is attention
// when i % attn_layer_period == attn_layer_offset, MoE (num_experts SwiGLU experts, top-k, no
// shared expert) when i % expert_layer_period == expert_layer_offset. JambaConfig defaults:
// periods 8 and 2, offsets 4 and 1, 16 experts top-2, mamba_d_state 16, mamba_d_conv 4,
// mamba_expand 2, mamba_dt_rank "auto" = ceil(hidden_size / 16).
ModelDesign jamba(const Fields& f) {
  const std::string type = "jamba";
  reject_unmodelled(f, type, {"sliding_window"});
  require_bool(f, type, "mamba_proj_bias", false, false);
  require_bool(f, type, "mamba_conv_bias", true, true);
  LayerSpec attn;
  attn.attention = gqa_shape(f, false);
  attn.rope = false;
  attn.ffn = dense_ffn(f);

  LayerSpec mamba;
  AttentionShape& s = mamba.attention;
  s.variant = Variant::kLinear;
  s.recurrent = RecurrentKind::kMamba;
  s.d_model = attn.attention.d_model;
  s.inner = checked_mul(positive(f, "mamba_expand", f.int_or("mamba_expand", 2)), s.d_model, "mamba width");
  s.heads = s.kv_heads = s.inner;  // Mamba-1 as SSD with head width 1 (variant.hpp)
  s.head_dim = 1;
  s.key_heads = 1;
  s.state_value_dim = positive(f, "mamba_d_state", f.int_or("mamba_d_state", 16));
  s.conv_kernel = positive(f, "mamba_d_conv", f.int_or("mamba_d_conv", 4));
  if (f.has("mamba_dt_rank") && f.raw().at("mamba_dt_rank").is_string()) {
    if (f.raw().at("mamba_dt_rank").get<std::string>() != "auto") {
      throw InputError(f.where() + ": field 'mamba_dt_rank' must be an integer or \"auto\"");
    }
    s.dt_rank = (s.d_model + 15) / 16;
  } else {
    s.dt_rank = positive(f, "mamba_dt_rank", f.int_or("mamba_dt_rank", (s.d_model + 15) / 16));
  }
  mamba.kv_dtype = state_dtype(f);
  mamba.conv_dtype = model_dtype(f);
  mamba.ffn = attn.ffn;

  ModelDesign m = uniform(f, attn);
  const int64_t attn_period = positive(f, "attn_layer_period", f.int_or("attn_layer_period", 8));
  const int64_t attn_offset = f.int_or("attn_layer_offset", 4);
  const int64_t expert_period = positive(f, "expert_layer_period", f.int_or("expert_layer_period", 2));
  const int64_t expert_offset = f.int_or("expert_layer_offset", 1);
  if (attn_offset < 0 || attn_offset >= attn_period || expert_offset < 0 || expert_offset >= expert_period) {
    throw InputError(fmt::format("{}: attn_layer_offset / expert_layer_offset must be below their periods",
                                 f.where()));
  }
  const int64_t experts = positive(f, "num_experts", f.int_or("num_experts", 16));
  FfnShape moe;
  if (experts > 1) {
    nlohmann::json filled = f.raw();
    filled["num_experts"] = experts;
    if (!filled.contains("num_experts_per_tok") || filled.at("num_experts_per_tok").is_null()) {
      filled["num_experts_per_tok"] = 2;
    }
    moe = moe_ffn(Fields(filled, f.where()), "num_experts", "num_experts_per_tok", "intermediate_size", 0, 0);
  }
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const int64_t li = static_cast<int64_t>(i);
    const FfnShape ffn = experts > 1 && li % expert_period == expert_offset ? moe : attn.ffn;
    if (li % attn_period != attn_offset) m.layers[i] = mamba;
    m.layers[i].ffn = ffn;
  }
  if (auto written = f.opt_string_list("layers_block_type")) {
    for (size_t i = 0; i < written->size() && i < m.layers.size(); ++i) {
      const bool is_attn = mixer_kind(m.layers[i]) == MixerKind::kSoftmax;
      if ((*written)[i] != (is_attn ? "attention" : "mamba") || written->size() != m.layers.size()) {
        throw InputError(fmt::format("{}: layers_block_type[{}] = '{}' disagrees with attn_layer_period "
                                     "and attn_layer_offset", f.where(), i, (*written)[i]));
      }
    }
  }
  return m;
}

// --- Hunyuan ----------------------------------------------------------------------------------

// An integer field that Hunyuan writes either as one value or as one value per layer; a list
// must hold one value (gmha models every layer the same here).
int64_t uniform_int(const Fields& f, const char* k, int64_t fallback) {
  if (!f.has(k)) return fallback;
  if (!f.raw().at(k).is_array()) return positive(f, k, f.req_int(k));
  const auto list = f.opt_int_list(k);
  if (list->empty() || std::adjacent_find(list->begin(), list->end(), std::not_equal_to<>()) != list->end()) {
    throw InputError(fmt::format("{}: field '{}' differs between layers: not modelled for hunyuan", f.where(), k));
  }
  return positive(f, k, list->front());
}

// Hunyuan-Large (model_type hunyuan): GQA with per-head q/k norms; cross-layer attention (CLA)
// with use_cla: layer i with i % cla_share_factor != 0 reads the cache of layer
// i - (i % cla_share_factor) and stores none. Every layer is MoE: num_experts experts of
// intermediate_size, moe_topk active, plus num_shared_expert always-active experts of the same
// width (use_mixed_mlp_moe).
ModelDesign hunyuan(const Fields& f) {
  const std::string type = "hunyuan";
  // Hunyuan variants with MLA or per-layer dense/MoE lists are other architectures.
  reject_unmodelled(f, type, {"kv_lora_rank", "q_lora_rank", "dense_list"});
  LayerSpec l;
  l.attention = gqa_shape(f, f.bool_or("attention_bias", false));
  if (const auto hd = first_int(f, {"head_dim", "attention_head_dim"})) l.attention.head_dim = *hd;
  l.attention.qk_norm = f.bool_or("use_qk_norm", false);
  const int64_t experts = uniform_int(f, "num_experts", 1);
  if (experts > 1) {
    nlohmann::json filled = f.raw();
    filled["num_experts"] = experts;
    filled["moe_topk"] = uniform_int(f, "moe_topk", 1);
    const bool mixed = f.bool_or("use_mixed_mlp_moe", false);
    const int64_t shared = mixed ? uniform_int(f, "num_shared_expert", 1) : 0;
    l.ffn = moe_ffn(Fields(filled, f.where()), "num_experts", "moe_topk", "intermediate_size", shared,
                    shared > 0 ? req_pos(f, "intermediate_size") : 0);
  } else {
    l.ffn = dense_ffn(f);
  }
  ModelDesign m = uniform(f, l);
  if (f.bool_or("use_cla", false)) {
    const int64_t factor = positive(f, "cla_share_factor", f.int_or("cla_share_factor", 1));
    for (size_t i = 0; i < m.layers.size(); ++i) {
      const int64_t r = static_cast<int64_t>(i) % factor;
      if (r == 0) continue;
      // Cross-layer attention holds q_proj, o_proj and the q/k norms, no k_proj / v_proj (vLLM
      // models/hunyuan_v1.py, HunYuanCrossAttention).
      m.layers[i].kv_source = static_cast<int>(static_cast<int64_t>(i) - r);
      m.layers[i].kv_projections = false;
    }
  }
  return m;
}

// --- Nemotron-NAS (DeciLM) -------------------------------------------------------------------

// DeciLM's FFN width from ffn_mult: _ffn_mult_to_intermediate_size = int(2 * mult * d / 3)
// rounded up to a multiple of 256 (Llama's SwiGLU sizing). d 8192: 2.625 -> 14336, 1.0 -> 5632.
int64_t decilm_ffn_width(double mult, int64_t d) {
  const int64_t w = static_cast<int64_t>(2.0 * mult * static_cast<double>(d) / 3.0);
  return w % 256 == 0 ? w : w + 256 - w % 256;
}

// Nemotron-NAS (Llama-3.1-Nemotron-51B, Llama-3.3-Nemotron-Super-49B; DeciLMConfig): one entry of
// block_configs per layer. attention: no_op (no mixer), n_heads_in_group (KV heads = heads / it),
// window_length (a sliding window); ffn: no_op (no FFN) or ffn_mult (SwiGLU width above). A block
// replaced by a single linear layer, attention sinks and sparsified weights are not modelled. gmha
// counts two norms per layer; DeciLM drops the norm of a no-op sub-block (d per no-op fewer).
ModelDesign nemotron_nas(const Fields& f) {
  const std::string type = "nemotron-nas";
  if (!f.has("block_configs") || !f.raw().at("block_configs").is_array()) {
    throw errors::missing_field(f.where(), "block_configs");
  }
  const json& blocks = f.raw().at("block_configs");
  LayerSpec base;
  base.attention = gqa_shape(f, f.bool_or("attention_bias", false));  // kv heads set per block
  ModelDesign m = uniform(f, base);
  if (blocks.size() != m.layers.size()) {
    throw InputError(fmt::format("{}: block_configs has {} entries for {} layers", f.where(), blocks.size(),
                                 m.layers.size()));
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    const std::string where = fmt::format("{} (block_configs[{}])", f.where(), i);
    if (!blocks[i].is_object()) throw InputError(where + ": not an object");
    static const json kEmpty = json::object();
    const json& aj = blocks[i].contains("attention") ? blocks[i].at("attention") : kEmpty;
    const json& fj = blocks[i].contains("ffn") ? blocks[i].at("ffn") : kEmpty;
    const Fields attn(aj, where + ".attention");
    const Fields ffn(fj, where + ".ffn");
    reject_unmodelled(attn, type, {"replace_with_linear", "sparsify", "num_sink_tokens", "unshifted_sink",
                                    "use_prefill_window_in_sink_attention"});
    reject_unmodelled(ffn, type, {"replace_with_linear", "sparsify"});
    LayerSpec& l = m.layers[i];
    if (attn.bool_or("no_op", false)) {
      l.has_mixer = false;
    } else {
      const int64_t group = req_pos(attn, "n_heads_in_group");
      if (l.attention.heads % group != 0) {
        throw InputError(fmt::format("{}: n_heads_in_group {} does not divide {} heads", attn.where(), group,
                                     l.attention.heads));
      }
      l.attention.kv_heads = l.attention.heads / group;
      l.attention.variant = group == 1 ? Variant::kMha : l.attention.kv_heads == 1 ? Variant::kMqa : Variant::kGqa;
      if (attn.has("window_length")) l.span = {SpanKind::kSlidingWindow, req_pos(attn, "window_length")};
    }
    if (ffn.bool_or("no_op", false)) {
      l.ffn = {};
    } else {
      if (!ffn.has("ffn_mult") || !ffn.raw().at("ffn_mult").is_number() || ffn.raw().at("ffn_mult").get<double>() <= 0) {
        throw InputError(ffn.where() + ": field 'ffn_mult' must be a positive number");
      }
      l.ffn.kind = FfnKind::kDense;
      l.ffn.intermediate = decilm_ffn_width(ffn.raw().at("ffn_mult").get<double>(), m.d_model);
    }
  }
  return m;
}

}  // namespace

void require_bool(const Fields& f, const std::string& type, const char* key, bool fallback, bool modelled) {
  if (f.bool_or(key, fallback) != modelled) {
    throw InputError(fmt::format("{}: field '{}' = {} is not modelled for model_type '{}' (gmha counts "
                                 "the weights of {} = {})", f.where(), key, !modelled, type, key, modelled));
  }
}

LayerSpec mamba2_layer(const Fields& f, int64_t d_model, const Mamba2Geometry& g) {
  LayerSpec mamba;
  AttentionShape& s = mamba.attention;
  s.variant = Variant::kLinear;
  s.recurrent = RecurrentKind::kMamba2;
  s.d_model = d_model;
  s.heads = g.heads;
  s.head_dim = g.head_dim;
  s.state_value_dim = g.state;
  s.key_heads = g.groups;  // B and C are shared by the heads of one group
  s.conv_kernel = g.conv_kernel;
  s.inner = checked_mul(g.heads, g.head_dim, "mamba width");
  s.kv_heads = s.heads;
  // vLLM keeps the SSM state in mamba_ssm_dtype (else the model dtype), the conv state in the
  // model dtype (docs/capacity.md, "Recurrent mixers").
  mamba.kv_dtype = state_dtype(f);
  mamba.conv_dtype = model_dtype(f);
  return mamba;
}

std::optional<ModelDesign> read_hybrid_family(const Fields& f, const std::string& type) {
  if (type == "nemotron_h") return nemotron_h(f);
  if (type == "lfm2" || type == "lfm2_vl") return lfm2(f);
  if (type == "jamba") return jamba(f);
  if (type == "hunyuan") return hunyuan(f);
  if (type == "nemotron-nas") return nemotron_nas(f);
  if (type == "granitemoehybrid") return granite_moe_hybrid(f);
  if (type == "falcon_h1") return falcon_h1(f);
  return std::nullopt;
}

}  // namespace gmha::hf_detail
