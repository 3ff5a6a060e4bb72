#include "gmha/capacity/weight_format.hpp"

#include <algorithm>
#include <cctype>
#include <regex>

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

namespace {
// The module names a part's weights carry in Hugging Face checkpoints (several spellings of one
// part: Qwen's shared_expert, DeepSeek's shared_experts).
std::vector<std::string> module_names(WeightPart part, int layer) {
  const std::string l = fmt::format("model.layers.{}.", layer);
  switch (part) {
    case WeightPart::kAttention: return {l + "self_attn.q_proj"};
    case WeightPart::kDenseFfn: return {l + "mlp.gate_proj"};
    case WeightPart::kSharedExperts: return {l + "mlp.shared_experts.gate_proj", l + "mlp.shared_expert.gate_proj"};
    case WeightPart::kRoutedExperts: return {l + "mlp.experts.0.gate_proj"};
    case WeightPart::kOutputHead: return {"lm_head"};
  }
  return {};
}

// '*' matches any run of characters (a glob without character classes).
bool glob_match(std::string_view p, std::string_view s) {
  if (p.empty()) return s.empty();
  if (p.front() == '*') {
    for (size_t i = 0; i <= s.size(); ++i) {
      if (glob_match(p.substr(1), s.substr(i))) return true;
    }
    return false;
  }
  return !s.empty() && p.front() == s.front() && glob_match(p.substr(1), s.substr(1));
}

// A plain entry names a module or one of its parents, anywhere along the dotted path: it matches
// a run of whole components (transformers tests `key in name`; whole components keep "gate" from
// matching "gate_proj").
bool component_match(std::string_view pattern, std::string_view name) {
  std::vector<size_t> starts = {0}, ends;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '.') ends.push_back(i), starts.push_back(i + 1);
  }
  ends.push_back(name.size());
  for (size_t b : starts) {
    for (size_t e : ends) {
      if (e > b && glob_match(pattern, name.substr(b, e - b))) return true;
    }
  }
  return false;
}

bool entry_matches(const std::string& entry, const std::string& name) {
  if (entry.rfind("re:", 0) == 0) {
    try {
      const std::regex re(entry.substr(3), std::regex::ECMAScript);
      return std::regex_search(name, re, std::regex_constants::match_continuous);
    } catch (const std::regex_error&) {
      throw InputError(fmt::format("quantization_config: exclusion '{}' is not a regular expression", entry));
    }
  }
  return component_match(entry, name);
}

WeightFormat dtype_format(const std::string& model, const std::string& torch_dtype) {
  if (torch_dtype == "float32") return read_weight_format("fp32", model);
  if (torch_dtype == "float16") return read_weight_format("fp16", model);
  return read_weight_format("bf16", model);
}

// The parts each method quantizes (before the config's exclusions). MXFP4 (gpt-oss,
// transformers' Mxfp4 quantizer) swaps the experts' modules only; FP8 block quantization
// (DeepSeek's inference model.py, transformers' FineGrainedFP8) every decoder Linear, with the
// head left in the model dtype; GPTQ/AWQ the decoder's Linear layers (GPTQ's `lm_head` flag adds
// the head); compressed-tensors and ModelOpt every Linear their `targets` name, the head included,
// unless excluded.
std::vector<WeightPart> method_parts(const std::string& method, bool lm_head) {
  using P = WeightPart;
  if (method == "mxfp4") return {P::kRoutedExperts};
  std::vector<WeightPart> parts = {P::kAttention, P::kDenseFfn, P::kSharedExperts, P::kRoutedExperts};
  if (method == "compressed-tensors" || method == "modelopt" || lm_head) parts.push_back(P::kOutputHead);
  return parts;
}
}  // namespace

std::string_view weight_part_name(WeightPart p) {
  switch (p) {
    case WeightPart::kAttention: return "attention";
    case WeightPart::kDenseFfn: return "dense FFN";
    case WeightPart::kSharedExperts: return "shared experts";
    case WeightPart::kRoutedExperts: return "routed experts";
    case WeightPart::kOutputHead: return "output head";
  }
  return "?";
}

bool weight_part_excluded(const std::vector<std::string>& not_converted, WeightPart part, int layer) {
  for (const std::string& name : module_names(part, layer)) {
    for (const std::string& e : not_converted) {
      if (entry_matches(e, name)) return true;
    }
  }
  return false;
}

double WeightFormat::bits_of(WeightPart part, int layer) const {
  if (uniform()) return bits_per_weight;
  if (std::find(covered.begin(), covered.end(), part) == covered.end()) return rest_bits;
  return weight_part_excluded(not_converted, part, layer) ? rest_bits : bits_per_weight;
}

std::string WeightFormat::label() const {
  if (uniform()) return name;
  if (scope.empty()) return fmt::format("{} (the quantization_config leaves no part in {})", rest_name, name);
  return fmt::format("{} on {}, {} elsewhere", name, scope, rest_name);
}

namespace {
// Which parts layer `l` holds.
bool holds(const ModelDesign& m, size_t l, WeightPart p) {
  const LayerSpec& s = m.layers[l];
  switch (p) {
    case WeightPart::kAttention: return s.has_mixer;
    case WeightPart::kDenseFfn: return s.ffn.kind == FfnKind::kDense;
    case WeightPart::kSharedExperts: return s.ffn.kind == FfnKind::kMoe && s.ffn.shared_experts > 0;
    case WeightPart::kRoutedExperts: return s.ffn.kind == FfnKind::kMoe && s.ffn.routed_experts > 0;
    case WeightPart::kOutputHead: return false;
  }
  return false;
}

// "routed experts, attention (12 of 61 layers)": the parts the format is on in at least one layer.
std::string scope_of(const WeightFormat& w, const ModelDesign& m) {
  std::string out;
  for (WeightPart p : w.covered) {
    std::string item;
    if (p == WeightPart::kOutputHead) {
      if (m.vocab_size > 0 && !m.tied_embeddings && w.bits_of(p, -1) == w.bits_per_weight) item = "output head";
    } else {
      size_t present = 0, quantized = 0;
      // Per decoder layer: a parallel mixer is part of the layer before it.
      for (size_t l = 0; l < m.layers.size(); ++l) {
        if (m.layers[l].parallel || !holds(m, l, p)) continue;
        ++present;
        quantized += w.bits_of(p, m.decoder_layer_of(l)) == w.bits_per_weight ? 1 : 0;
      }
      if (quantized > 0) {
        item = std::string(weight_part_name(p));
        if (quantized < present) item += fmt::format(" ({} of {} layers)", quantized, present);
      }
    }
    if (!item.empty()) out += (out.empty() ? "" : ", ") + item;
  }
  return out;
}
}  // namespace

WeightFormat default_weight_format(const ModelDesign& m) {
  if (m.stored_bits_per_weight > 0) {
    // A GGUF file read as the model: every weight at the file's own average (its mix named).
    return {fmt::format("gguf ({:.2f} bits: {})", m.stored_bits_per_weight, m.stored_types),
            m.stored_bits_per_weight, "measured: the file's tensor bytes over its elements"};
  }
  const WeightFormat rest = dtype_format(m.name, m.torch_dtype);
  if (m.quant_method.empty()) return rest;
  const std::string method = lower(m.quant_method);
  const std::string name = format_of_quant_method(method, lower(m.quant_format));
  if (name.empty()) {
    throw InputError(fmt::format(
        "{}: quantization_config quant_method '{}'{} is not modelled; give --weight-dtype", m.name,
        m.quant_method, m.quant_format.empty() ? "" : " (" + m.quant_format + ")"));
  }
  WeightFormat w = read_weight_format(name, m.name);
  if (m.quant_bits < 0) {
    throw InputError(fmt::format("{}: quantization_config config_groups give different weight schemes; "
                                 "that mix is not modelled; give --weight-dtype", m.name));
  }
  // An integer scheme stated with its group: b bits, one scale in the model dtype (16 bits) per
  // group of g, and a b-bit zero point per group unless symmetric. Per-channel scales add 16 bits
  // per row of thousands of weights (< 0.01 bit per weight): not counted.
  if (m.quant_type == "int" && (m.quant_bits == 4 || m.quant_bits == 8) && (m.quant_group_size > 0 || m.quant_group_size == -1)) {
    const double b = m.quant_bits;
    if (m.quant_group_size > 0) {
      const double g = m.quant_group_size;
      w.bits_per_weight = b + 16.0 / g + (m.quant_symmetric ? 0.0 : b / g);
      w.name = fmt::format("int{}-g{}", m.quant_bits, m.quant_group_size);
      w.layout = fmt::format("int{}, one 16-bit scale{} per group of {}", m.quant_bits,
                             m.quant_symmetric ? "" : fmt::format(" and a {}-bit zero point", m.quant_bits),
                             m.quant_group_size);
    } else {
      w.bits_per_weight = b;
      w.name = fmt::format("int{}-channel", m.quant_bits);
      w.layout = fmt::format("int{}, one 16-bit scale per output row", m.quant_bits);
    }
  }
  w.covered = method_parts(method, m.quant_lm_head);
  w.not_converted = m.quant_not_converted;
  w.rest_name = rest.name;
  w.rest_bits = rest.bits_per_weight;
  // Evaluating the scope checks every exclusion once: a malformed one fails here.
  w.scope = scope_of(w, m);
  return w;
}

}  // namespace gmha
