// gmha compare: capacity, KV cache, decode FLOPs and cost of models side by side.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/capacity_tables.hpp"
#include "cli/commands.hpp"
#include "cli/serving_tables.hpp"
#include "cli/model_args.hpp"
#include "cli/output.hpp"
#include "gmha/capacity/figures_json.hpp"
#include "gmha/capacity/serving_json.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parse.hpp"

namespace gmha::cli {

namespace {

struct CompareOptions {
  ModelArgs models;
  HardwareArgs hardware;
  ServingArgs serving;
  std::string context = kDefaultContexts;
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
  const ComputeDType dtype = compute_dtype_of(o.hardware, conv);

  std::vector<CompareRow> rows;
  std::vector<ServingRow> serving;
  for (const auto& m : models) {
    ServingOptions so;
    so.tp = o.serving.tp;
    so.ep = o.serving.ep;
    so.decode_tokens = o.serving.decode_tokens;
    so.compute_dtype = dtype;
    so.weights = weight_format_of(o.serving, m);
    for (long long t : contexts) {
      CompareRow r;
      r.figures = compute_figures(m, {t, o.batch, conv});
      if (!cards.empty()) r.cost = compute_cost(r.figures, cards, dtype);
      ServingRow s{r.figures.model, t, r.figures.beyond_max_context, serving_model(m, r.figures, so), {}};
      for (const Hardware& h : cards) s.points.push_back(serving_point(s.serving, h, o.batch));
      rows.push_back(std::move(r));
      serving.push_back(std::move(s));
    }
  }

  std::string text;
  if (fmt == report::Format::kJson) {
    nlohmann::json arr = nlohmann::json::array();
    for (size_t i = 0; i < rows.size(); ++i) {
      nlohmann::json j = figures_to_json(rows[i].figures, cards.empty() ? nullptr : &rows[i].cost, conv);
      add_serving_json(j, serving[i].serving, serving[i].points);
      arr.push_back(std::move(j));
    }
    text = arr.dump(2) + "\n";
  } else if (fmt == report::Format::kCsv) {
    report::Table flat = flat_table(rows);
    append_serving_columns(flat, serving);
    text = report::to_csv(flat);
  } else {
    std::vector<report::Table> tables = {capacity_table(rows), decode_table(rows)};
    report::Table groups = groups_table(rows);
    if (!groups.rows.empty()) tables.push_back(groups);
    if (!cards.empty()) {
      tables.push_back(cost_table(rows));
      tables.back().notes.push_back(step3_cost_model_note());
      tables.back().notes.push_back(charged_peak_note(rows.front().cost));
      tables.push_back(serving_step_table(serving));
      tables.push_back(serving_device_table(serving));
    }
    // What every figure below assumes, defaults included (README, "Defaults").
    std::string ctx;
    for (long long t : contexts) ctx += (ctx.empty() ? "" : ", ") + report::format_token_count(t);
    text = ::fmt::format("contexts {}; batch {}; convention {}; KV dtype per model (kv dtype column; "
                         "--kv-dtype sets it){}\n\n",
                         ctx, o.batch, convention_name(conv),
                         cards.empty() ? "; no cost without --hardware" : "");
    if (fmt == report::Format::kLatex) text.clear();  // LaTeX output is the tables alone
    // Figures past max_position_embeddings are extrapolations: say which rows they are.
    for (const auto& r : rows) {
      const ModelFigures& f = r.figures;
      if (!f.beyond_max_context) continue;
      tables[1].notes.push_back(::fmt::format("{} at {}: beyond max_position_embeddings ({})", f.model,
                                              f.context, f.max_context));
    }
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
      "A model may be a Hugging Face id org/name[@revision]: its config.json is read from the HF cache\n"
      "($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub) and downloaded there first when missing\n"
      "(${HF_ENDPOINT:-https://huggingface.co}, HF_TOKEN honoured; HF_HUB_OFFLINE=1 never downloads), e.g.\n"
      "  HF_HUB_OFFLINE=1 gmha compare Qwen/Qwen3-8B@main\n\n"
      "Examples:\n"
      "  gmha compare step3 deepseek-v3 qwen3-235b-a22b --context 8k,32k --hardware h800,h20\n"
      "  gmha compare ../shared/data/stories260K-hf-f32/config.json --design mfa:d=288,heads=6,c=48,cq=96,layers=5\n"
      "  gmha compare llama3-8b --kv-dtype fp8 --format json --out figures.json\n"
      "  gmha compare --design gta:d=2048,heads=16,kv=4,hd=128,rope=64,layers=24 "
      "--design gla:d=2048,heads=16,hc=2,c=256,nope=128,rope=64,v=128,layers=24 "
      "--design tpa:d=2048,heads=16,hd=128,rq=6,rk=2,rv=2,layers=24\n"
      "  gmha compare step3 deepseek-v3 --convention step3-paper --hardware h800,h20,a800,ascend-910b\n"
      "  gmha compare llama3-8b --hardware h100 --batch 64 --context 8k\n"
      "  gmha compare deepseek-v3 --hardware h800 --tp 8 --weight-dtype fp8 --compute-dtype fp8 --format json\n"
      "  gmha compare deepseek-v3 qwen3-235b-a22b --hardware h200 --tp 8 --ep 8 --batch 1");
  add_model_options(cmd, opts->models);
  add_hardware_options(cmd, opts->hardware);
  add_serving_options(cmd, opts->serving);
  cmd->add_option("--context", opts->context, "Context lengths T, comma-separated, k suffix = 1024")
      ->capture_default_str();
  cmd->add_option("--batch", opts->batch, "Batch B (the whole-cache figure and the serving step)")
      ->capture_default_str();
  cmd->add_option("--format", opts->format, "table, md, csv, json or latex")->capture_default_str();
  cmd->add_option("--out", opts->out, "Write to this file (atomically) instead of stdout");
  cmd->callback([opts] { run_compare(*opts); });
}

}  // namespace gmha::cli
