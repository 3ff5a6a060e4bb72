#pragma once
// gmha synth OUT_DIR: a Hugging Face-style checkpoint folder with planted per-head QK/VO ranks.
#include <CLI/CLI.hpp>

namespace gmha::cli {

/// Registers `synth` on the app.
void add_synth_command(CLI::App& app);

}  // namespace gmha::cli
