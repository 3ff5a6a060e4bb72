#pragma once
// Built-in model presets, each with its source (the published Hugging Face config it follows).
#include <string>
#include <string_view>
#include <vector>

#include "gmha/attention/model.hpp"

namespace gmha {

struct PresetInfo {
  std::string name;         // e.g. "deepseek-v3"
  std::string description;  // e.g. "DeepSeek-V3 (671B, MLA, MoE 256 experts top-8)"
  std::string source;       // citation
};

/// All preset names with descriptions and sources, in display order.
std::vector<PresetInfo> list_presets();
/// The preset model, or throws InputError listing the known names.
ModelDesign read_preset(std::string_view name);
/// True when `name` is a preset.
bool is_preset(std::string_view name);

}  // namespace gmha
