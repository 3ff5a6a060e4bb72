// gmha throughput: the throughput-latency frontier of serving a model on a card group: for each
// batch from 1 to the largest that fits, ms per output token, tokens/s per device, $/1M tokens
// and the bound (capacity/serving.hpp, app/throughput.hpp).
#include <fmt/format.h>

#include <memory>

#include "cli/commands.hpp"
#include "cli/model_args.hpp"
#include "cli/output.hpp"
#include "cli/serving_tables.hpp"
#include "gmha/app/throughput.hpp"
#include "gmha/capacity/figures_json.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parse.hpp"
#include "gmha/report/table.hpp"
#include "gmha/report/units.hpp"

namespace gmha::cli {

namespace {

struct ThroughputCliOptions {
  ModelArgs models;
  HardwareArgs hardware;
  ServingArgs serving;
  std::string context = "8k";
  std::string batch;   // empty: 1, 2, 4, ... and the largest that fits
  std::string memory;  // an amount: 80e9, 80GB, 141GiB
  double memory_fraction = 0.9;
  std::string format = "table";
  std::string out;
};

report::Table frontier_table(const std::vector<app::ThroughputCurve>& curves) {
  report::Table t;
  t.title = "Throughput-latency frontier: one decode step per batch on a TP card group";
  t.columns = {{"model", report::Align::kLeft}, {"card", report::Align::kLeft}, {"batch"},
               {"ms/token"}, {"tok/s/device"}, {"$/1M out"}, {"bound", report::Align::kLeft},
               {"memory/device"}, {"fits", report::Align::kLeft}};
  for (const auto& c : curves) {
    for (const auto& p : c.points) {
      t.add_row({c.model, c.card, std::to_string(p.step.batch), report::format_number(p.ms_per_token, 4),
                 report::format_number(p.step.tokens_per_second_per_device, 4),
                 report::format_usd(p.step.usd_per_mtok), p.step.bound,
                 report::format_bytes(p.memory_per_device), p.fits ? "yes" : "no"});
    }
  }
  return t;
}

report::Table frontier_csv(const std::vector<app::ThroughputCurve>& curves) {
  report::Table t;
  for (const char* k : {"model", "card", "context", "batch", "tp", "ep", "fits", "ms_per_token", "step_seconds",
                        "tokens_per_second_per_device", "usd_per_mtok", "bound", "compute_dtype",
                        "memory_per_device", "bytes_read_per_step_per_device"}) {
    t.columns.push_back({k});
  }
  auto full = [](double v) { return fmt::format("{:.17g}", v); };
  for (const auto& c : curves) {
    for (const auto& p : c.points) {
      t.add_row({c.model, c.card, std::to_string(c.context), std::to_string(p.step.batch),
                 std::to_string(p.step.tp), std::to_string(p.step.ep), p.fits ? "true" : "false", full(p.ms_per_token),
                 full(p.step.step_seconds), full(p.step.tokens_per_second_per_device),
                 full(p.step.usd_per_mtok), p.step.bound,
                 std::string(compute_dtype_name(p.step.compute_dtype)), full(p.memory_per_device),
                 full(p.step.bytes_read_per_step_per_device)});
    }
  }
  return t;
}

void run_throughput(const ThroughputCliOptions& c) {
  const bool svg = c.format == "svg";
  const report::Format fmt_out = svg ? report::Format::kTable : report::read_format(c.format);
  const Convention conv = read_convention(c.models.convention);
  const auto models = load_models(c.models, conv);
  const auto cards = load_hardware(c.hardware);
  if (cards.empty()) throw InputError("--hardware: give at least one card (gmha hardware lists them)");
  const auto contexts = parse_token_counts(c.context, "--context");
  if (contexts.size() != 1) throw InputError("--context: give one context length");
  app::ThroughputOptions o;
  o.context = contexts.front();
  o.memory_fraction = c.memory_fraction;
  o.serving.tp = c.serving.tp;
  o.serving.ep = c.serving.ep;
  o.serving.decode_tokens = c.serving.decode_tokens;
  o.serving.compute_dtype = compute_dtype_of(c.hardware, conv);
  if (!c.memory.empty()) {
    o.memory_per_device = parse_amount(c.memory, "--memory", AmountKind::kBytes);
    if (!(*o.memory_per_device > 0)) throw InputError("--memory: must be a positive number of bytes");
  }
  if (!c.batch.empty()) {
    for (long long b : parse_token_counts(c.batch, "--batch")) o.batches.push_back(b);
  }
  std::vector<app::ThroughputCurve> curves;
  for (const ModelDesign& m : models) {
    o.serving.weights = weight_format_of(c.serving, m);
    for (const Hardware& card : cards) curves.push_back(app::throughput_curve(m, card, o, conv));
  }
  std::string text;
  if (svg) {
    text = app::throughput_svg(
        curves, fmt::format("Throughput vs latency at {} tokens of context, TP {}{}", o.context,
                            o.serving.tp, o.serving.ep > 1 ? fmt::format(", EP {}", o.serving.ep) : ""));
  } else if (fmt_out == report::Format::kJson) {
    text = app::throughput_json(curves).dump(2) + "\n";
  } else if (fmt_out == report::Format::kCsv) {
    text = report::to_csv(frontier_csv(curves));
  } else {
    report::Table t = frontier_table(curves);
    std::vector<std::pair<std::string, ComputeDType>> charged;
    for (const auto& p : curves.front().points) charged.emplace_back(p.step.card, p.step.compute_dtype);
    for (const auto& cv : curves) {
      if (cv.points.empty() || cv.card == curves.front().card) continue;
      charged.emplace_back(cv.card, cv.points.front().step.compute_dtype);
    }
    t.notes.push_back(charged_peak_note(o.serving.compute_dtype, charged));
    t.notes.push_back(fmt::format("context {}, TP {}{}, {} query token(s) per step; memory: weights + KV + "
                                  "states per device, {}% usable",
                                  o.context, o.serving.tp,
                                  o.serving.ep > 1 ? fmt::format(", EP {}", o.serving.ep) : "",
                                  o.serving.decode_tokens,
                                  report::format_number(o.memory_fraction * 100)));
    for (const auto& cv : curves) {
      t.notes.push_back(fmt::format("{} on {}: largest batch that fits {}{}", cv.model, cv.card,
                                    cv.largest_batch,
                                    cv.beyond_max_context ? " (context beyond max_position_embeddings)" : ""));
    }
    text = report::render(t, fmt_out);
  }
  emit(text, c.out);
}

}  // namespace

void add_throughput_command(CLI::App& app) {
  auto opts = std::make_shared<ThroughputCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "throughput",
      "The throughput-latency frontier of serving: for each batch from 1 to the largest that fits\n"
      "in memory (weights + KV + states per device), ms per output token, tokens/s per device,\n"
      "$/1M output tokens and the bound of one decode step (weights read once per step).\n\n"
      "Examples:\n"
      "  gmha throughput llama3-8b --hardware h100 --context 8k\n"
      "  gmha throughput llama3-70b deepseek-v3 --hardware h200 --tp 8 --context 32k --compute-dtype fp8\n"
      "  gmha throughput llama3-8b --hardware h100,b200 --batch 1,16,64 --format json\n"
      "  gmha throughput qwen3-32b --hardware h100 --format svg --out /tmp/frontier.svg");
  add_model_options(cmd, opts->models);
  add_hardware_options(cmd, opts->hardware);
  add_serving_options(cmd, opts->serving);
  cmd->add_option("--context", opts->context, "Context length T of every sequence (k = 1024)")
      ->capture_default_str();
  cmd->add_option("--batch", opts->batch, "Batches, comma-separated (default: 1, 2, 4, ... the largest that fits)");
  cmd->add_option("--memory", opts->memory, "Memory per device in bytes: 80e9, 80GB, 141GiB (default: the card's)");
  cmd->add_option("--memory-fraction", opts->memory_fraction,
                  "Usable share of each device's memory (the rest: runtime, activations)")
      ->capture_default_str();
  cmd->add_option("--format", opts->format, "table, md, csv, json, latex or svg")->capture_default_str();
  cmd->add_option("--out", opts->out, "Write to this file (atomically) instead of stdout");
  cmd->callback([opts] { run_throughput(*opts); });
}

}  // namespace gmha::cli
