#include "gmha/capacity/weight_format.hpp"

#include <cctype>

#include <fmt/format.h>

#include "gmha/core/error.hpp"

namespace gmha {

std::vector<WeightFormat> weight_formats() {
  // Bits per weight = element bits + scale bits / elements sharing the scale. The layouts are
  // those of the checkpoints docs/formats.md reads (a per-tensor FP32 scale adds nothing per weight).
  return {
      {"fp32", 32, "IEEE float32"},
      {"bf16", 16, "bfloat16 (the usual model dtype)"},
      {"fp16", 16, "IEEE float16"},
      // DeepSeek-V3 / Kimi K2: E4M3 with one FP32 scale per 128 x 128 block: 8 + 32 / 16384.
      {"fp8", 8.0 + 32.0 / 16384.0, "E4M3, one FP32 scale per 128x128 block (DeepSeek-V3 layout)"},
      // W8 with one FP16 scale per group of 128: 8 + 16 / 128.
      {"int8", 8.0 + 16.0 / 128.0, "int8, one FP16 scale per group of 128"},
      // GPTQ / AWQ group 128: a FP16 scale and a packed 4-bit zero point per group: 4 + 20 / 128.
      {"int4", 4.0 + 20.0 / 128.0, "int4, FP16 scale + 4-bit zero per group of 128 (GPTQ/AWQ)"},
      // OCP MX: E2M1 elements, one E8M0 scale per block of 32: 4 + 8 / 32 (gpt-oss).
      {"mxfp4", 4.0 + 8.0 / 32.0, "E2M1, one E8M0 scale per 32 (OCP MXFP4, gpt-oss)"},
      // NVFP4: E2M1 elements, one E4M3 scale per block of 16: 4 + 8 / 16 (+ one FP32 per tensor).
      {"nvfp4", 4.0 + 8.0 / 16.0, "E2M1, one E4M3 scale per 16 (+ FP32 per tensor)"},
  };
}

WeightFormat read_weight_format(std::string_view name, const std::string& where) {
  std::string known;
  for (const WeightFormat& w : weight_formats()) {
    if (w.name == name) return w;
    known += (known.empty() ? "" : ", ") + w.name;
  }
  throw InputError(fmt::format("{}: unknown weight dtype '{}' (known: {})", where, name, known));
}

namespace {
std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
// quantization_config -> format name, "" when not modelled.
std::string format_of_quant_method(const std::string& method, const std::string& fmt_name) {
  if (method == "fp8" || method == "fbgemm_fp8") return "fp8";
  if (method == "mxfp4") return "mxfp4";
  if (method == "gptq" || method == "awq") return "int4";
  if (method == "modelopt") return fmt_name == "nvfp4" ? "nvfp4" : fmt_name == "fp8" ? "fp8" : "";
  if (method == "compressed-tensors") {
    if (fmt_name == "nvfp4-pack-quantized") return "nvfp4";
    if (fmt_name == "float-quantized") return "fp8";
    if (fmt_name == "pack-quantized") return "int4";
    if (fmt_name == "int-quantized") return "int8";
  }
  return "";
}
}  // namespace

WeightFormat default_weight_format(const std::string& model, const std::string& quant_method,
                                   const std::string& quant_format, const std::string& torch_dtype) {
  if (!quant_method.empty()) {
    const std::string name = format_of_quant_method(lower(quant_method), lower(quant_format));
    if (name.empty()) {
      throw InputError(fmt::format(
          "{}: quantization_config quant_method '{}'{} is not modelled; give --weight-dtype", model,
          quant_method, quant_format.empty() ? "" : " (" + quant_format + ")"));
    }
    return read_weight_format(name, model);
  }
  if (torch_dtype == "float32") return read_weight_format("fp32", model);
  if (torch_dtype == "float16") return read_weight_format("fp16", model);
  return read_weight_format("bf16", model);
}

}  // namespace gmha
