// gmha presets / gmha hardware: list the built-in models and cards with their sources.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "gmha/attention/presets.hpp"
#include "gmha/capacity/hardware.hpp"
#include "gmha/report/table.hpp"
#include "gmha/report/units.hpp"

namespace gmha::cli {
namespace {

struct ListOptions {
  std::string format = "table";
  std::string out;
};

void add_list_options(CLI::App* cmd, ListOptions& o) {
  cmd->add_option("--format", o.format, "table, md, csv, json or latex")->capture_default_str();
  cmd->add_option("--out", o.out, "Write to this file (atomically) instead of stdout");
}

void list_presets_as(const ListOptions& o) {
  const report::Format f = report::read_format(o.format);
  if (f == report::Format::kJson) {
    // JSON holds the exact fields, not a rendered table.
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const auto& p : list_presets()) {
      j.push_back({{"name", p.name}, {"description", p.description}, {"source", p.source}});
    }
    return emit(j.dump(2) + "\n", o.out);
  }
  report::Table t;
  t.columns = {{"preset", report::Align::kLeft},
               {"description", report::Align::kLeft},
               {"source", report::Align::kLeft}};
  for (const auto& p : list_presets()) t.add_row({p.name, p.description, p.source});
  emit(report::render(t, f), o.out);
}

nlohmann::ordered_json hardware_json(const Hardware& h) {
  // Unknown figures (0 in the table of cards) are null, not a zero that reads as a measurement.
  auto known = [](double v) {
    return v > 0 ? nlohmann::ordered_json(v) : nlohmann::ordered_json();
  };
  return {{"name", h.name},
          {"usd_per_hour", h.usd_per_hour},
          {"bf16_flops", h.bf16_flops},
          {"fp8_flops", known(h.fp8_flops)},
          {"fp4_flops", known(h.fp4_flops)},
          {"bandwidth_bytes_per_s", h.bandwidth},
          {"memory_bytes", known(h.memory_bytes)},
          {"network_bytes_per_s", known(h.network_bandwidth)},
          {"ridge_flop_per_byte", h.ridge()},  // the Step-3 paper's: FP8 where the card has it
          {"ridge_bf16_flop_per_byte", h.ridge(ComputeDType::kBf16)},
          {"ridge_fp8_flop_per_byte", h.fp8_flops > 0 ? nlohmann::ordered_json(h.ridge(ComputeDType::kFp8))
                                                      : nlohmann::ordered_json()},
          {"ridge_fp4_flop_per_byte", h.fp4_flops > 0 ? nlohmann::ordered_json(h.ridge(ComputeDType::kFp4))
                                                      : nlohmann::ordered_json()},
          {"source", h.source}};
}

void list_hardware_as(const ListOptions& o) {
  const report::Format f = report::read_format(o.format);
  if (f == report::Format::kJson) {
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const auto& h : list_hardware()) j.push_back(hardware_json(h));
    return emit(j.dump(2) + "\n", o.out);
  }
  // Peaks and ridges per precision in separate columns (dense, no sparsity); the sources in a
  // second table keep both under 100 columns.
  report::Table t;
  t.title = "Accelerators: dense peaks (TFLOP/s) and ridges (peak / bandwidth) per precision";
  t.columns = {{"card", report::Align::kLeft}, {"USD/h"}, {"BF16"},       {"FP8"},
               {"FP4"},                        {"GB/s"},  {"GB"},         {"ridge BF16"},
               {"ridge FP8"},                  {"ridge FP4"}};
  report::Table src;
  src.title = "Sources";
  src.columns = {{"card", report::Align::kLeft}, {"source", report::Align::kLeft}};
  auto rate = [](double v) { return v > 0 ? report::format_number(v / 1e12, 5) : std::string("-"); };
  for (const auto& h : list_hardware()) {
    auto ridge = [&](ComputeDType d, double peak) {
      return peak > 0 ? report::format_number(h.ridge(d), 4) : std::string("-");
    };
    t.add_row({h.name, report::format_number(h.usd_per_hour), rate(h.bf16_flops), rate(h.fp8_flops),
               rate(h.fp4_flops), report::format_number(h.bandwidth / 1e9),
               h.memory_bytes > 0 ? report::format_number(h.memory_bytes / 1e9) : "-",
               ridge(ComputeDType::kBf16, h.bf16_flops), ridge(ComputeDType::kFp8, h.fp8_flops),
               ridge(ComputeDType::kFp4, h.fp4_flops)});
    src.add_row({h.name, h.source});
  }
  t.notes.push_back("dense (no sparsity); GB/s bandwidth, GB memory, decimal (1 GB = 1e9 B);");
  t.notes.push_back("ridge in FLOP/byte; - : the card has no tensor units of that precision");
  if (f == report::Format::kCsv) {
    // One table in CSV: the sources as a last column.
    t.columns.push_back({"source", report::Align::kLeft});
    for (size_t i = 0; i < t.rows.size(); ++i) t.rows[i].push_back(src.rows[i][1]);
    return emit(report::render(t, f), o.out);
  }
  emit(report::render(t, f) + "\n" + report::render(src, f), o.out);
}

}  // namespace

void add_presets_command(CLI::App& app) {
  auto o = std::make_shared<ListOptions>();
  CLI::App* cmd = app.add_subcommand("presets",
                                     "List built-in model presets with their sources.\n\n"
                                     "Example:\n  gmha presets --format md");
  add_list_options(cmd, *o);
  cmd->callback([o] { list_presets_as(*o); });
}

void add_hardware_command(CLI::App& app) {
  auto o = std::make_shared<ListOptions>();
  CLI::App* cmd = app.add_subcommand(
      "hardware",
      "List built-in accelerators (price, peak FLOP/s, bandwidth, ridge) with sources.\n\n"
      "Example:\n  gmha hardware\n  gmha compare step3 --hardware h20 "
      "--hardware-def mycard:price=1.5,bf16=5e14,fp8=1e15,bw=4e12");
  add_list_options(cmd, *o);
  cmd->callback([o] { list_hardware_as(*o); });
}

}  // namespace gmha::cli
