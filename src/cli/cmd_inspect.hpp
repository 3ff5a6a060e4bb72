#pragma once
// gmha inspect PATH: what a checkpoint holds (format, architecture, detected attention layout
// with its nominal FRH/SLSD/TER, every tensor), and statistics of one tensor after conversion.
#include <CLI/CLI.hpp>

namespace gmha::cli {

/// Registers `inspect` on the app.
void add_inspect_command(CLI::App& app);

}  // namespace gmha::cli
