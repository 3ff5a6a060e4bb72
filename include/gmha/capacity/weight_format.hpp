#pragma once
// Weight storage formats and their bits per weight, block or group scales included
// (docs/capacity.md, weight precision): what `fit`, the serving figures and `throughput` charge
// for storing and reading one weight.
#include <string>
#include <string_view>
#include <vector>

#include "gmha/attention/model.hpp"

namespace gmha {

/// The parts of a model's weights a quantization method may store in its format
/// (docs/capacity.md, "Mixed weight formats"). Embeddings, routers, norms and the other small
/// weights are not among them: none of the methods gmha reads quantizes them.
enum class WeightPart { kAttention, kDenseFfn, kSharedExperts, kRoutedExperts, kOutputHead };
std::string_view weight_part_name(WeightPart p);

struct WeightFormat {
  std::string name;            // bf16, fp16, fp32, fp8, int8, int4, int4-g32, mxfp4, nvfp4
  double bits_per_weight = 16;  // element bits + scale bits shared over a block or group
  std::string layout;          // how the bits arise, for --help and the docs
  // A checkpoint's quantization covers some parts only: `covered` lists them (empty: every weight,
  // the uniform formats of --weight-dtype) and `not_converted` the config's exclusions, matched
  // per layer against the parts' module names (weight_part_excluded); the rest stays in `rest_*`.
  std::vector<WeightPart> covered;
  std::vector<std::string> not_converted;
  std::string rest_name = "bf16";
  double rest_bits = 16;
  // The parts of the model the format ends up on, e.g. "routed experts" or "attention (12 of 61
  // layers)"; set by default_weight_format, which knows the layers.
  std::string scope;

  bool uniform() const { return covered.empty(); }
  /// Bits per weight of `part` in layer `layer` (the output head ignores `layer`).
  double bits_of(WeightPart part, int layer) const;
  /// Bits of the weights no method quantizes (embeddings, routers, norms, extras).
  double other_bits() const { return uniform() ? bits_per_weight : rest_bits; }
  /// "mxfp4" when uniform, else "mxfp4 on routed experts, bf16 elsewhere".
  std::string label() const;
};

/// True when a quantization_config exclusion matches `part` of layer `layer`. The part's module
/// names are Hugging Face's (model.layers.<i>.self_attn.q_proj, .mlp.gate_proj,
/// .mlp.shared_experts.gate_proj / .shared_expert., .mlp.experts.0.gate_proj, lm_head). A "re:"
/// entry is a regular expression matched from the name's start (compressed-tensors, Python's
/// re.match); any other is a name with '*' wildcards matched against whole dotted components
/// (transformers' modules_to_not_convert, ModelOpt's exclude_modules). Throws InputError naming
/// the entry when its expression is malformed.
bool weight_part_excluded(const std::vector<std::string>& not_converted, WeightPart part, int layer);

/// The formats in display order.
std::vector<WeightFormat> weight_formats();
/// A format by name or throws InputError naming `where` and listing the names.
WeightFormat read_weight_format(std::string_view name, const std::string& where);
/// The weights a model description states: a GGUF file read as the model, at its measured
/// average (stored_bits_per_weight); else its quantization_config's format over the parts the
/// method quantizes, less the config's exclusions, the rest in the model's torch_dtype (float32,
/// float16, else bf16); without one, every weight in that dtype. Throws InputError naming the
/// model and asking for --weight-dtype when quantization_config names a method or scheme gmha
/// does not model.
WeightFormat default_weight_format(const ModelDesign& m);

}  // namespace gmha
