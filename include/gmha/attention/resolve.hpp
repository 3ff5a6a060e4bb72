#pragma once
// One way to turn what a user typed into a model: a preset name, a config.json, a model folder,
// or a --design spec string (anything with a ':' that names a variant).
#include <string>

#include "gmha/attention/model.hpp"

namespace gmha {

/// Resolves a preset name, a config.json path or a folder holding one, or a design spec.
/// Throws InputError saying what was tried when nothing matches.
ModelDesign resolve_model(const std::string& name_or_path);

}  // namespace gmha
