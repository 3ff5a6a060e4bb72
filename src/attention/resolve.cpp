#include "gmha/attention/resolve.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "gmha/attention/design_spec.hpp"
#include "gmha/attention/hf_config.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/core/error.hpp"

namespace gmha {

ModelDesign resolve_model(const std::string& arg) {
  if (is_preset(arg)) return read_preset(arg);
  std::error_code ec;
  if (std::filesystem::exists(arg, ec)) return read_hf_config(arg);
  const size_t colon = arg.find(':');
  if (colon != std::string::npos && is_design_name(arg.substr(0, colon))) return parse_design_spec(arg);
  std::string known;
  for (const auto& p : list_presets()) known += (known.empty() ? "" : ", ") + p.name;
  throw InputError(fmt::format("'{}' is not a preset, a config.json, a model folder or a design "
                               "spec (presets: {})", arg, known));
}

}  // namespace gmha
