// Granite 4.0-H (model_type granitemoehybrid: transformers' GraniteMoeHybridConfig and
// modeling_granitemoehybrid.py) onto the layer-level model (docs/capacity.md, "Layer kinds";
// docs/model_defaults.md). Each layer is ONE mixer, a Mamba2 mixer or a GQA attention, and an FFN:
// with num_local_experts > 0 a MoE of SwiGLU experts (router d x E, input_linear [E, 2I, d],
// output_linear [E, d, I]) beside a shared SwiGLU MLP of shared_intermediate_size (shared_mlp,
// always active); with num_local_experts = 0 the decoder layer builds no block_sparse_moe and the
// shared MLP is the layer's only FFN (Granite-4.0-H-Micro / -1B / -350M: a dense SwiGLU). Two
// RMSNorms per layer, as gmha counts. The muP multipliers (embedding_multiplier,
// attention_multiplier, residual_multiplier, logits_scaling) scale activations and hold no
// weights. Omitted size fields take GraniteMoeHybridConfig's defaults (hf_config.cpp,
// class_defaults).
#include <string>
#include <vector>

#include "gmha/core/checked.hpp"
#include "hf_fields.hpp"

namespace gmha::hf_detail {

namespace {

const char* const kType = "granitemoehybrid";

// true where layer i is attention. layer_types (or its attribute alias layers_block_type; both
// written must agree) lists "mamba" / "attention" per layer; neither written: every layer is
// Mamba2, as the class's layers_block_type property returns.
std::vector<bool> attention_layers(const Fields& f, size_t n) {
  std::optional<std::vector<std::string>> types = f.opt_string_list("layer_types");
  if (auto alias = f.opt_string_list("layers_block_type")) {
    if (types && *types != *alias) {
      throw InputError(f.where() + ": layer_types and layers_block_type disagree");
    }
    types = alias;
  }
  std::vector<bool> attn(n, false);
  if (!types) return attn;
  if (types->size() != n) {
    throw InputError(fmt::format("{}: layer_types has {} entries for {} layers", f.where(), types->size(), n));
  }
  for (size_t i = 0; i < n; ++i) {
    const std::string& t = (*types)[i];
    if (t != "mamba" && t != "attention") {
      throw InputError(fmt::format("{}: layer_types[{}] = '{}' is not mamba or attention", f.where(), i, t));
    }
    attn[i] = t == "attention";
  }
  return attn;
}

// The Mamba2 mixer. Its width is mamba_expand x hidden_size; mamba_d_head "auto" (the class
// default) is that width over mamba_n_heads, and a written one must fill the width exactly
// (GraniteMoeHybridConfig raises otherwise).
Mamba2Geometry mamba_geometry(const Fields& f, int64_t d_model) {
  Mamba2Geometry g;
  const int64_t width = checked_mul(req_pos(f, "mamba_expand"), d_model, "mamba width");
  g.heads = req_pos(f, "mamba_n_heads");
  if (width % g.heads != 0) {
    throw InputError(fmt::format("{}: mamba_n_heads {} does not divide mamba_expand x hidden_size = {}",
                                 f.where(), g.heads, width));
  }
  const bool automatic = !f.has("mamba_d_head") ||
                         (f.raw().at("mamba_d_head").is_string() && f.raw().at("mamba_d_head") == "auto");
  g.head_dim = automatic ? width / g.heads : req_pos(f, "mamba_d_head");
  if (checked_mul(g.head_dim, g.heads, "mamba width") != width) {
    throw InputError(fmt::format("{}: mamba_d_head {} x mamba_n_heads {} is not mamba_expand x "
                                 "hidden_size = {}", f.where(), g.head_dim, g.heads, width));
  }
  g.state = req_pos(f, "mamba_d_state");
  g.groups = req_pos(f, "mamba_n_groups");
  g.conv_kernel = req_pos(f, "mamba_d_conv");
  return g;
}

// Fails closed on a boolean whose other value would add or remove weights gmha counts.
void require_flag(const Fields& f, const char* key, bool fallback, bool modelled) {
  if (f.bool_or(key, fallback) != modelled) {
    throw InputError(fmt::format("{}: field '{}' = {} is not modelled for model_type '{}' (gmha counts "
                                 "the weights of {} = {})", f.where(), key, !modelled, kType, key, modelled));
  }
}

}  // namespace

ModelDesign granite_moe_hybrid(const Fields& f) {
  // In-projection / out-projection biases of the Mamba2 mixer are not in gmha's Mamba2 weights;
  // its conv bias is.
  require_flag(f, "mamba_proj_bias", false, false);
  require_flag(f, "mamba_conv_bias", true, true);
  // Neither is read by GraniteMoeHybrid; a config that writes one describes another layer.
  reject_unmodelled(f, kType, {"sliding_window", "use_sliding_window"});

  LayerSpec attn;
  const bool bias = f.bool_or("attention_bias", false);
  attn.attention = gqa_shape(f, bias);
  attn.attention.o_bias = bias;  // attention_bias applies to q, k, v and o_proj alike
  // GraniteMoeHybridAttention's head width is hidden_size / num_attention_heads whatever a
  // head_dim key says, so a different head_dim is refused rather than followed.
  if (f.has("head_dim") && attn.attention.head_dim * attn.attention.heads != attn.attention.d_model) {
    throw InputError(fmt::format("{}: field 'head_dim' = {} is not hidden_size / num_attention_heads, "
                                 "the head width of model_type '{}'", f.where(), attn.attention.head_dim, kType));
  }
  // position_embedding_type: "rope" rotates q and k; null (the class default) or "nope" is no
  // positional encoding (Granite 4.0-H's attention layers).
  if (f.has("position_embedding_type")) {
    const json& p = f.raw().at("position_embedding_type");
    if (!p.is_string() || (p != "rope" && p != "nope")) {
      throw InputError(fmt::format("{}: field 'position_embedding_type' = {} is not rope, nope or null",
                                   f.where(), p.dump()));
    }
    attn.rope = p == "rope";
  } else {
    attn.rope = false;
  }

  // Every layer's FFN, whatever its mixer.
  const int64_t experts = f.req_int("num_local_experts");
  if (experts < 0) throw errors::not_positive(f.where(), "field 'num_local_experts'", experts);
  const int64_t shared = f.req_int("shared_intermediate_size");
  if (shared < 0) throw errors::not_positive(f.where(), "field 'shared_intermediate_size'", shared);
  if (experts > 0) {
    attn.ffn = moe_ffn(f, "num_local_experts", "num_experts_per_tok", "intermediate_size", shared > 0 ? 1 : 0,
                       shared);
  } else if (shared > 0) {
    attn.ffn = dense_ffn(f, "shared_intermediate_size");
  }  // neither: GraniteMoeHybridMLP of width 0 holds no weights (FfnKind::kNone)

  LayerSpec mamba = mamba2_layer(f, attn.attention.d_model, mamba_geometry(f, attn.attention.d_model));
  mamba.ffn = attn.ffn;

  ModelDesign m = uniform(f, attn);
  const std::vector<bool> is_attention = attention_layers(f, m.layers.size());
  for (size_t i = 0; i < m.layers.size(); ++i) {
    if (!is_attention[i]) m.layers[i] = mamba;
  }
  return m;
}

}  // namespace gmha::hf_detail
