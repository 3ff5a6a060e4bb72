// gmha presets / gmha hardware: list the built-in models and cards with their sources.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/capacity/hardware.hpp"
#include "gmha/report/table.hpp"
#include "gmha/report/units.hpp"

namespace gmha::cli {

void add_presets_command(CLI::App& app) {
  auto format = std::make_shared<std::string>("table");
  CLI::App* cmd = app.add_subcommand("presets", "List built-in model presets with their sources.\n\n"
                                                "Example:\n  gmha presets --format md");
  cmd->add_option("--format", *format, "table, md, csv or latex")->capture_default_str();
  cmd->callback([format] {
    report::Table t;
    t.columns = {{"preset", report::Align::kLeft}, {"description", report::Align::kLeft},
                 {"source", report::Align::kLeft}};
    for (const auto& p : list_presets()) t.add_row({p.name, p.description, p.source});
    emit(report::render(t, report::read_format(*format)), "");
  });
}

void add_hardware_command(CLI::App& app) {
  auto format = std::make_shared<std::string>("table");
  CLI::App* cmd = app.add_subcommand(
      "hardware", "List built-in accelerators (price, peak FLOP/s, bandwidth, ridge) with sources.\n\n"
                  "Example:\n  gmha hardware\n  gmha compare step3 --hardware h20 "
                  "--hardware-def mycard:price=1.5,bf16=5e14,fp8=1e15,bw=4e12");
  cmd->add_option("--format", *format, "table, md, csv or latex")->capture_default_str();
  cmd->callback([format] {
    report::Table t;
    t.columns = {{"card", report::Align::kLeft}, {"USD/h"}, {"BF16"}, {"FP8"}, {"bandwidth"},
                 {"memory"}, {"ridge FLOP/B"}, {"source", report::Align::kLeft}};
    for (const auto& h : list_hardware()) {
      t.add_row({h.name, report::format_number(h.usd_per_hour),
                 report::format_flop_rate(h.bf16_flops),
                 h.fp8_flops > 0 ? report::format_flop_rate(h.fp8_flops) : "-",
                 fmt::format("{} GB/s", report::format_number(h.bandwidth / 1e9)),
                 h.memory_bytes > 0 ? fmt::format("{} GB", report::format_number(h.memory_bytes / 1e9)) : "-",
                 report::format_number(h.ridge(), 4), h.source});
    }
    emit(report::render(t, report::read_format(*format)), "");
  });
}

}  // namespace gmha::cli
