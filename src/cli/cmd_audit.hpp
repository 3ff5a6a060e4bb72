#pragma once
// gmha audit PATH: per-head QK/VO spectra and rank metrics of a checkpoint; gmha audit merge.
#include <CLI/CLI.hpp>

namespace gmha::cli {

/// Registers `audit` (and its `merge` subcommand) on the app.
void add_audit_command(CLI::App& app);

}  // namespace gmha::cli
