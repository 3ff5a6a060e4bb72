#pragma once
// Every subcommand is an options struct + a setup function that registers it on the app and
// binds its callback (see CLI11's subcommand pattern). One file pair per command.
#include <CLI/CLI.hpp>

namespace gmha::cli {

void add_compare_command(CLI::App& app);
void add_show_command(CLI::App& app);
void add_presets_command(CLI::App& app);
void add_hardware_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_validate_command(CLI::App& app);
void add_attention_command(CLI::App& app);
void add_sweep_command(CLI::App& app);
void add_fit_command(CLI::App& app);
void add_throughput_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_audit_command(CLI::App& app);
void add_synth_command(CLI::App& app);

}  // namespace gmha::cli
