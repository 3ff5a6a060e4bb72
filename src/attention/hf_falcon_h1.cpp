// Falcon-H1 (model_type falcon_h1: transformers' FalconH1Config and modeling_falcon_h1.py) onto
// the layer-level model (docs/capacity.md, "Parallel mixers"; docs/model_defaults.md). Every
// decoder layer runs a GQA attention AND a Mamba2 mixer on the same normalised input and adds
// their outputs, then a SwiGLU MLP: gmha holds it as two entries, the attention with the layer's
// FFN and a parallel Mamba2 entry (LayerSpec::parallel) that adds its weights, state and FLOPs
// but no norms and no layer of its own. The muP multipliers (embedding, lm_head, key, attention
// and SSM in/out, mlp_multipliers, ssm_multipliers) scale activations and hold no weights.
#include <string>

#include "gmha/core/checked.hpp"
#include "hf_fields.hpp"

namespace gmha::hf_detail {

namespace {

const char* const kType = "falcon_h1";

// The Mamba2 width I: mamba_d_ssm, FalconH1Config's 1024 when omitted, mamba_expand x hidden_size
// when written as null (the class's own rule).
int64_t mamba_width(const Fields& f, int64_t d) {
  if (f.has("mamba_d_ssm")) return positive(f, "mamba_d_ssm", f.req_int("mamba_d_ssm"));
  if (f.raw().contains("mamba_d_ssm")) return checked_mul(positive(f, "mamba_expand", f.req_int("mamba_expand")), d, "mamba width");
  return 1024;
}

// The Mamba2 head width: mamba_d_head, or I / mamba_n_heads when "auto" (the default).
int64_t mamba_head_dim(const Fields& f, int64_t width, int64_t heads) {
  if (f.has("mamba_d_head") && !f.raw().at("mamba_d_head").is_string()) {
    return positive(f, "mamba_d_head", f.req_int("mamba_d_head"));
  }
  if (f.has("mamba_d_head") && f.raw().at("mamba_d_head").get<std::string>() != "auto") {
    throw InputError(f.where() + ": field 'mamba_d_head' must be an integer or \"auto\"");
  }
  return width / heads;
}

}  // namespace

ModelDesign falcon_h1(const Fields& f) {
  // attn_layer_indices (attention in some layers only) and a sliding window are not in
  // transformers' FalconH1 and not in gmha's weights.
  reject_unmodelled(f, kType, {"attn_layer_indices", "sliding_window"});
  require_bool(f, kType, "mamba_use_mlp", true, true);
  require_bool(f, kType, "mamba_proj_bias", false, false);
  require_bool(f, kType, "mamba_conv_bias", true, true);
  require_bool(f, kType, "projectors_bias", false, false);
  require_bool(f, kType, "attention_bias", false, false);
  require_bool(f, kType, "mlp_bias", false, false);
  if (auto types = f.opt_string_list("layers_block_type")) {
    for (size_t i = 0; i < types->size(); ++i) {
      if ((*types)[i] != "attention" && (*types)[i] != "hybrid") {
        throw InputError(fmt::format("{}: layers_block_type[{}] = '{}': every falcon_h1 layer is attention "
                                     "and Mamba2 side by side", f.where(), i, (*types)[i]));
      }
    }
  }

  // num_key_value_heads: the class's 8 when omitted, the query heads when written as null.
  json filled = f.raw();
  if (!filled.contains("num_key_value_heads")) filled["num_key_value_heads"] = 8;
  const Fields g(filled, f.where());
  LayerSpec attn;
  attn.attention = gqa_shape(g, false);
  attn.ffn = dense_ffn(g);
  const int64_t d = attn.attention.d_model;

  Mamba2Geometry geo;
  const int64_t width = mamba_width(g, d);
  geo.heads = req_pos(g, "mamba_n_heads");
  geo.head_dim = mamba_head_dim(g, width, geo.heads);
  if (checked_mul(geo.heads, geo.head_dim, "mamba width") != width) {
    throw InputError(fmt::format("{}: mamba_n_heads x mamba_d_head ({} x {}) is not the Mamba2 width "
                                 "mamba_d_ssm = {}{}", f.where(), geo.heads, geo.head_dim, width,
                                 g.raw().contains("mamba_d_ssm") ? "" : " (FalconH1Config's default when omitted)"));
  }
  geo.state = req_pos(g, "mamba_d_state");
  geo.groups = req_pos(g, "mamba_n_groups");
  geo.conv_kernel = req_pos(g, "mamba_d_conv");
  LayerSpec mamba = mamba2_layer(g, d, geo);
  mamba.attention.mamba_norm = g.bool_or("mamba_rms_norm", false);
  mamba.parallel = true;

  const ModelDesign one = uniform(g, attn);
  ModelDesign m = one;
  m.layers.clear();
  for (size_t i = 0; i < one.layers.size(); ++i) {
    m.layers.push_back(attn);
    m.layers.push_back(mamba);
  }
  return m;
}

}  // namespace gmha::hf_detail
