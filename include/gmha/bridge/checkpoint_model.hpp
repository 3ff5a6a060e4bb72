#pragma once
// A checkpoint file as a model input: `compare`, `show`, `fit` and `report` accept the GGUF and
// llama2.c files that `inspect` and `audit` read. The checkpoint area turns their metadata (or
// header) into a Hugging Face config; the config reader turns that into the layer-level model,
// so a .gguf, its llama2.c .bin and its config.json give the same figures (docs/formats.md).
#include <optional>
#include <string>

#include "gmha/attention/model.hpp"

namespace gmha {

/// The model a GGUF or llama2.c checkpoint describes, named by the file's stem; nullopt when
/// `path` is not such a file (a preset, a config.json, a folder or a design spec are resolved
/// elsewhere). Throws InputError naming the file when its architecture does not map to a model.
std::optional<ModelDesign> model_from_checkpoint_file(const std::string& path);

}  // namespace gmha
