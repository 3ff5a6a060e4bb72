#pragma once
// gmha audit diff A B: two checkpoints of one architecture compared head by head.
#include <CLI/CLI.hpp>

namespace gmha::cli {

/// Registers `diff` under the `audit` command; returns it so that `audit` can tell it was parsed.
CLI::App* add_audit_diff_command(CLI::App& audit);

}  // namespace gmha::cli
