#pragma once
// Weight storage formats and their bits per weight, block or group scales included
// (docs/capacity.md, weight precision): what `fit`, the serving figures and `throughput` charge
// for storing and reading one weight.
#include <string>
#include <string_view>
#include <vector>

namespace gmha {

struct WeightFormat {
  std::string name;            // bf16, fp16, fp32, fp8, int8, int4, mxfp4, nvfp4
  double bits_per_weight = 16;  // element bits + scale bits shared over a block or group
  std::string layout;          // how the bits arise, for --help and the docs
};

/// The formats in display order.
std::vector<WeightFormat> weight_formats();
/// A format by name or throws InputError naming `where` and listing the names.
WeightFormat read_weight_format(std::string_view name, const std::string& where);
/// The weights a model description states: its quantization_config's format, else its
/// torch_dtype (float32, float16, else bf16). Throws InputError naming the model and asking for
/// --weight-dtype when quantization_config names a method gmha does not model.
WeightFormat default_weight_format(const std::string& model, const std::string& quant_method,
                                   const std::string& quant_format, const std::string& torch_dtype);

}  // namespace gmha
