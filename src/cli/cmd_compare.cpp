// gmha compare: capacity, KV cache, decode FLOPs and cost of models side by side.
#include <nlohmann/json.hpp>

#include "cli/capacity_tables.hpp"
#include "cli/commands.hpp"
#include "cli/model_args.hpp"
#include "cli/output.hpp"
#include "gmha/capacity/figures_json.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parse.hpp"

namespace gmha::cli {

namespace {

struct CompareOptions {
  ModelArgs models;
  HardwareArgs hardware;
  std::string context = "8k,32k";
  long long batch = 1;
  std::string format = "table";
  std::string out;
};

void run_compare(const CompareOptions& o) {
  const Convention conv = read_convention(o.models.convention);
  const report::Format fmt = report::read_format(o.format);
  const auto contexts = parse_token_counts(o.context, "--context");
  if (o.batch <= 0) throw errors::not_positive("--batch", "batch", o.batch);
  const auto models = load_models(o.models, conv);
  const auto cards = load_hardware(o.hardware);

  std::vector<CompareRow> rows;
  for (const auto& m : models) {
    for (long long t : contexts) {
      CompareRow r;
      r.figures = compute_figures(m, {t, o.batch, conv});
      if (!cards.empty()) r.cost = compute_cost(r.figures, cards);
      rows.push_back(std::move(r));
    }
  }

  std::string text;
  if (fmt == report::Format::kJson) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& r : rows) arr.push_back(figures_to_json(r.figures, cards.empty() ? nullptr : &r.cost, conv));
    text = arr.dump(2) + "\n";
  } else if (fmt == report::Format::kCsv) {
    text = report::to_csv(flat_table(rows));
  } else {
    std::vector<report::Table> tables = {capacity_table(rows), decode_table(rows)};
    report::Table groups = groups_table(rows);
    if (!groups.rows.empty()) tables.push_back(groups);
    if (!cards.empty()) tables.push_back(cost_table(rows));
    tables.front().notes.push_back(std::string("convention: ") + std::string(convention_name(conv)));
    for (size_t i = 0; i < tables.size(); ++i) {
      if (i) text += "\n";
      text += report::render(tables[i], fmt);
    }
  }
  emit(text, o.out);
}

}  // namespace

void add_compare_command(CLI::App& app) {
  auto opts = std::make_shared<CompareOptions>();
  CLI::App* cmd = app.add_subcommand(
      "compare",
      "Compare attention designs: FRH/SLSD/TER, parameters, KV cache, decode FLOPs, cost.\n\n"
      "Examples:\n"
      "  gmha compare step3 deepseek-v3 qwen3-235b-a22b --context 8k,32k --hardware h800,h20\n"
      "  gmha compare ../shared/data/stories260K-hf-f32/config.json --design mfa:d=288,heads=6,c=48,cq=96,layers=5\n"
      "  gmha compare llama3-8b --kv-dtype fp8 --format json --out figures.json\n"
      "  gmha compare --design gta:d=2048,heads=16,kv=4,hd=128,rope=64,layers=24 "
      "--design gla:d=2048,heads=16,hc=2,c=256,nope=128,rope=64,v=128,layers=24 "
      "--design tpa:d=2048,heads=16,hd=128,rq=6,rk=2,rv=2,layers=24\n"
      "  gmha compare step3 deepseek-v3 --convention step3-paper --hardware h800,h20,a800,ascend-910b");
  add_model_options(cmd, opts->models);
  add_hardware_options(cmd, opts->hardware);
  cmd->add_option("--context", opts->context, "Context lengths T, comma-separated, k suffix = 1024")
      ->capture_default_str();
  cmd->add_option("--batch", opts->batch, "Batch B (for the whole-cache figure)")->capture_default_str();
  cmd->add_option("--format", opts->format, "table, md, csv, json or latex")->capture_default_str();
  cmd->add_option("--out", opts->out, "Write to this file (atomically) instead of stdout");
  cmd->callback([opts] { run_compare(*opts); });
}

}  // namespace gmha::cli
