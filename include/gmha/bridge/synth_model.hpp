#pragma once
// Planted-rank synth options for a whole model description (`gmha synth --config`): the layout,
// shapes and per-layer kinds that make synth write every layer of a family gmha reads, in tensor
// names its audit layout finds (docs/audit.md, "gmha synth").
#include <string>

#include "gmha/attention/model.hpp"
#include "gmha/bridge/synth.hpp"

namespace gmha {

/// The layout, shape, layer count and layer_shapes (with no_mixer, parallel) for `model`, read
/// from a config.json of HF model_type `model_type`: MLA or MFA models of one shape use those
/// layouts; every other model the llama layout with per-layer shapes (GQA family with gates,
/// sinks, K = V, biases and q/k norms; MLA (Kimi-Linear); DeepSeek-V4; KDA, Gated DeltaNet
/// (Qwen3-Next's in_proj_qkvz for qwen3_next, else in_proj_qkv), Mamba2, Mamba-1 and lightning
/// layers; MLP-only blocks; Falcon-H1's two mixers of one layer). Throws InputError naming the
/// first layer synth cannot write: a cache read from another layer without K/V projections, MFA
/// among other kinds. (Short convolutions are refused by the writer.) Ranks, seed and dtype are
/// left at their defaults.
SynthOptions synth_options_for_model(const ModelDesign& model, const std::string& model_type);

}  // namespace gmha
