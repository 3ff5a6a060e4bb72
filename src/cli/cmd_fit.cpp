// gmha fit: what fits on a card: the longest context at a batch, the largest batch at a
// context, the weights/KV split of each GPU, tensor-parallel sharding and the MoE sparsity floor.
#include <cmath>

#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/model_args.hpp"
#include "cli/output.hpp"
#include "gmha/capacity/cost.hpp"
#include "gmha/capacity/figures_json.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parse.hpp"
#include "gmha/capacity/fit.hpp"
#include "gmha/capacity/serving.hpp"
#include "gmha/report/table.hpp"
#include "gmha/report/units.hpp"

namespace gmha::cli {

namespace {

struct FitCliOptions {
  ModelArgs models;
  HardwareArgs hardware;
  long long gpus = 1;
  long long ep = 1;  // expert groups over the gpus
  long long batch = 1;
  std::string context = kDefaultContext;
  std::string memory;  // an amount: 80e9, 80GB, 141GiB (README, numbers and units)
  double memory_fraction = 0.9;
  std::string weight_dtype;  // empty: each model's own (quantization_config, else torch_dtype)
  std::string format = "table";
  std::string out;
};

std::string context_text(const FitResult& f) {
  if (!f.max_context) return "any (no layer grows with T)";
  if (*f.max_context == 0) return "none";
  // Capped: memory holds more, but the model was not trained past max_position_embeddings.
  const std::string cap = f.capped_at_model_max ? " (model max)" : "";
  // Tokens: K = 1024 as everywhere (README, numbers and units): 426784 is 416.8K.
  const int64_t t = *f.max_context;
  if (t < 1024) return std::to_string(t) + cap;
  if (t % 1024 == 0) return fmt::format("{} ({}){}", t, report::format_token_count(t), cap);
  return fmt::format("{} ({:.1f}K){}", t, static_cast<double>(t) / 1024.0, cap);
}

void run_fit(const FitCliOptions& c) {
  const report::Format fmt_out = report::read_format(c.format);
  const Convention conv = read_convention(c.models.convention);
  const auto models = load_models(c.models, conv);
  HardwareArgs hw = c.hardware;
  // Fit needs a card; without --hardware it assumes an H100 and says so in the title.
  const bool default_card = hw.hardware.empty() && hw.hardware_defs.empty();
  if (default_card) hw.hardware = "h100";
  const auto cards = load_hardware(hw);
  const auto contexts = parse_token_counts(c.context, "--context");
  if (contexts.size() != 1) throw InputError("--context: give one context length");
  FitOptions base;
  base.gpus = c.gpus;
  base.expert_parallel = c.ep;
  base.batch = c.batch;
  base.context = contexts.front();
  base.memory_fraction = c.memory_fraction;
  if (!c.memory.empty()) {
    base.memory_per_gpu = parse_amount(c.memory, "--memory", AmountKind::kBytes);
    if (!(*base.memory_per_gpu > 0)) throw InputError("--memory: must be a positive number of bytes");
  }
  if (!c.weight_dtype.empty()) base.weights = read_weight_format(c.weight_dtype, "--weight-dtype");

  nlohmann::json jall = nlohmann::json::array();
  report::Table fit_t;
  fit_t.title = fmt::format(
      "Fit: {} GPU(s) per replica (tensor parallel{}), batch {}, context {}, "
      "weights {}, {}% of memory usable{}",
      c.gpus, c.ep > 1 ? fmt::format(", experts in {} groups", c.ep) : "", c.batch, base.context,
      c.weight_dtype.empty() ? std::string("each model's own") : base.weights.name,
      report::format_number(c.memory_fraction * 100),
      default_card ? "; card h100 by default (--hardware chooses)" : "");
  fit_t.columns = {{"model", report::Align::kLeft},
                   {"card", report::Align::kLeft},
                   {"memory/GPU"},
                   {"weights/GPU"},
                   {"KV budget/GPU"},
                   {"KV/token/GPU"},
                   {"longest context @ batch"},
                   {"largest batch @ T"},
                   {"KV @ B,T"},
                   {"free @ B,T"}};
  report::Table shard_t;
  shard_t.title = fmt::format("Tensor-parallel KV sharding over {} GPU(s)", c.gpus);
  shard_t.columns = {{"model", report::Align::kLeft},
                     {"layers", report::Align::kLeft},
                     {"KV streams"},
                     {"per GPU"},
                     {"replicas"},
                     {"KV/token/layer/GPU"},
                     {"note", report::Align::kLeft}};
  report::Table moe_t;
  moe_t.title =
      "MoE sparsity floor per card (docs/capacity.md): S >= H * FLOPs * L / (Net * BW * 11.1 ms)";
  moe_t.notes.push_back(fmt::format("FLOPs: the {} dense peak (--compute-dtype)",
                                    compute_dtype_name(compute_dtype_of(c.hardware, conv))));
  moe_t.columns = {{"model", report::Align::kLeft},
                   {"card", report::Align::kLeft},
                   {"floor S"},
                   {"model S"},
                   {"FFN compute-bound", report::Align::kLeft}};

  fit_t.key_columns = 2;  // model, card
  std::vector<double> memory_col, weights_col, budget_col, token_col, kv_col, free_col;
  bool any_overflow = false;
  std::string formats;  // each model's own weight format, named in a note (docs/capacity.md)
  for (const ModelDesign& m : models) {
    if (c.weight_dtype.empty()) {
      formats += fmt::format("{}{} {}", formats.empty() ? "" : "; ", m.name, weights_of(m, "").label());
    }
    const auto sparsity = moe_sparsity(m);
    const bool beyond = m.max_context > 0 && base.context > m.max_context;
    if (beyond) {
      fit_t.notes.push_back(fmt::format("{}: context {} is beyond its max_position_embeddings ({})",
                                        m.name, base.context, m.max_context));
    }
    bool shard_done = false;
    for (const Hardware& card : cards) {
      FitOptions o = base;
      o.card = card;
      o.weights = weights_of(m, c.weight_dtype);
      const FitResult f = compute_fit(m, o);
      // What one more token of context costs once every window is full (KvGrowth), not the
      // cache of a one-token sequence: under CSA/HCA and windows the two differ many times over.
      const KvGrowth growth = kv_growth_per_sequence_per_gpu(f);
      const double per_token = growth.per_token;
      // Byte columns are filled after the loop, in one unit per column (set_unit_column).
      fit_t.add_row({m.name, card.name, "", "", "", "", context_text(f), std::to_string(f.max_batch),
                     "", ""});
      memory_col.push_back(f.memory_per_gpu);
      weights_col.push_back(f.weights_per_gpu);
      budget_col.push_back(f.weights_fit ? f.kv_budget_per_gpu : std::nan(""));
      if (!f.weights_fit) any_overflow = true;
      token_col.push_back(per_token);
      kv_col.push_back(f.kv_per_gpu);
      free_col.push_back(f.free_per_gpu);
      if (!shard_done) {
        for (const auto& g : f.groups) {
          shard_t.add_row({m.name, fmt::format("{} x {}", g.layers, g.label),
                           std::to_string(g.kv_heads), std::to_string(g.kv_heads_per_gpu),
                           std::to_string(g.kv_replication),
                           g.state_bytes_per_gpu > 0
                               ? report::format_bytes(g.state_bytes_per_gpu) + " state"
                               : report::format_exact(g.kv_bytes_per_token_per_gpu) + " B",
                           g.note});
        }
        shard_done = true;
      }
      std::optional<double> floor;
      if (card.network_bandwidth > 0) {
        floor = moe_sparsity_floor(card, m.d_model, m.decoder_layers(),
                                   compute_dtype_of(c.hardware, conv));
        moe_t.add_row({m.name, card.name, report::format_number(*floor, 3),
                       sparsity ? report::format_number(*sparsity, 3) : "dense",
                       sparsity ? (*sparsity >= *floor ? "yes" : "no: too sparse") : "n/a"});
      }
      nlohmann::json j;
      j["model"] = m.name;
      j["spec"] = m.spec;
      j["card"] = card.name;
      j["gpus"] = f.gpus;
      j["ep"] = f.expert_parallel;
      j["batch"] = o.batch;
      j["context"] = o.context;
      j["weight_dtype"] = o.weights.name;
      j["weight_bits_per_weight"] = o.weights.bits_per_weight;
      j["weight_format"] = o.weights.label();
      j["memory_per_gpu"] = f.memory_per_gpu;
      j["usable_per_gpu"] = f.usable_per_gpu;
      j["weights_per_gpu"] = f.weights_per_gpu;
      j["weights_total"] = f.weights_total;
      j["weights_fit"] = f.weights_fit;
      j["kv_budget_per_gpu"] = f.kv_budget_per_gpu;
      j["kv_bytes_per_token_per_gpu"] = per_token;
      j["kv_bytes_fixed_per_sequence_per_gpu"] = growth.fixed;
      j["kv_growth_from_context"] = growth.from_context;
      j["kv_growth_period"] = growth.period;
      j["max_context"] = f.max_context ? nlohmann::json(*f.max_context) : nlohmann::json(nullptr);
      j["max_context_capped_at_model_max"] = f.capped_at_model_max;
      j["beyond_max_context"] = beyond;
      j["max_batch"] = f.max_batch;
      j["kv_per_gpu"] = f.kv_per_gpu;
      j["free_per_gpu"] = f.free_per_gpu;
      j["groups"] = nlohmann::json::array();
      for (const auto& g : f.groups) {
        j["groups"].push_back({{"label", g.label},
                               {"layers", g.layers},
                               {"kv_heads", g.kv_heads},
                               {"kv_heads_per_gpu", g.kv_heads_per_gpu},
                               {"kv_replication", g.kv_replication},
                               {"kv_bytes_per_token_per_gpu", g.kv_bytes_per_token_per_gpu},
                               {"state_bytes_per_gpu", g.state_bytes_per_gpu},
                               {"tokens_cap", g.tokens_cap},
                               {"note", g.note}});
      }
      j["moe_sparsity"] = sparsity ? nlohmann::json(*sparsity) : nlohmann::json(nullptr);
      j["moe_sparsity_floor"] = floor ? nlohmann::json(*floor) : nlohmann::json(nullptr);
      jall.push_back(j);
    }
  }
  fit_t.set_unit_column(2, memory_col, report::Quantity::kBytes);
  fit_t.set_unit_column(3, weights_col, report::Quantity::kBytes);
  fit_t.set_unit_column(4, budget_col, report::Quantity::kBytes);
  fit_t.set_unit_column(5, token_col, report::Quantity::kBytes);
  fit_t.set_unit_column(8, kv_col, report::Quantity::kBytes);
  fit_t.set_unit_column(9, free_col, report::Quantity::kBytes);
  if (any_overflow) fit_t.notes.push_back("KV budget \"-\": the weights alone do not fit");
  if (!formats.empty()) fit_t.notes.push_back("weights: " + formats);
  fit_t.notes.push_back(
      "KV/token/GPU: what one more token of context adds to one sequence on one GPU once every "
      "window is full, all layers (a CSA/HCA layer adds an entry per s tokens, 1/s of one; "
      "windowed, chunked and recurrent layers add none; JSON kv_bytes_fixed_per_sequence_per_gpu "
      "holds the full windows and states); longest context: largest T with batch x KV(T) <= "
      "budget, the exact KV(T), at most the model's max_position_embeddings (marked \"model max\")");
  std::string text;
  if (fmt_out == report::Format::kJson) {
    text = jall.dump(2) + "\n";
  } else {
    text = report::render(fit_t, fmt_out);
    if (fmt_out != report::Format::kCsv) {
      text += "\n" + report::render(shard_t, fmt_out);
      if (!moe_t.rows.empty()) text += "\n" + report::render(moe_t, fmt_out);
    }
  }
  emit(text, c.out);
}

}  // namespace

void add_fit_command(CLI::App& app) {
  auto opts = std::make_shared<FitCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "fit",
      "What fits in GPU memory: the longest context at a batch, the largest batch at a context,\n"
      "the weights/KV split per GPU, tensor-parallel KV sharding (GQA's KV heads split until\n"
      "g < N, then replicate; MLA's latent and MFA's single K/V head replicate on every rank),\n"
      "and the MoE sparsity floor each card needs to keep the FFN compute-bound.\n\n"
      "Examples:\n"
      "  gmha fit llama3-70b --hardware h100 --gpus 4 --batch 16 --context 32k\n"
      "  gmha fit deepseek-v3 step3 --hardware h800,h20 --gpus 8 --weight-dtype fp8\n"
      "  gmha fit --design mfa:d=7168,heads=64,c=256,cq=2048,layers=61 --memory 80e9 --format "
      "json");
  add_model_options(cmd, opts->models);
  add_hardware_options(cmd, opts->hardware);
  cmd->add_option("--gpus,--tp", opts->gpus, "Tensor-parallel GPUs per model replica N")
      ->capture_default_str();
  cmd->add_option("--ep", opts->ep,
                  "Expert-parallel groups M over the N GPUs (M divides N and the routed experts; "
                  "a GPU stores E/N experts' worth either way)")
      ->capture_default_str();
  cmd->add_option("--batch", opts->batch, "Batch for the longest context")->capture_default_str();
  cmd->add_option("--context", opts->context,
                  "Context for the largest batch and the split (k = 1024)")
      ->capture_default_str();
  cmd->add_option("--memory", opts->memory,
                  "Memory per GPU in bytes: 80e9, 80GB, 141GiB (default: the card's)");
  cmd->add_option("--memory-fraction", opts->memory_fraction,
                  "Usable share of each GPU's memory (the rest: runtime, activations)")
      ->capture_default_str();
  cmd->add_option("--weight-dtype", opts->weight_dtype,
                  "Weight storage, scales counted: bf16, fp16, fp32, fp8, int8, int4, mxfp4, nvfp4 "
                  "(default: the config's quantization_config, else its dtype)");
  cmd->add_option("--format", opts->format, "table, md, csv, json or latex")->capture_default_str();
  cmd->add_option("--out", opts->out, "Write to this file (atomically) instead of stdout");
  cmd->callback([opts] { run_fit(*opts); });
}

}  // namespace gmha::cli
