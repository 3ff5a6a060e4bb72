// gmha sweep: search a design space of one width and depth for the Pareto frontier of
// (TER, KV bytes per token, attention FLOPs) and the best design per family.
#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.hpp"
#include "cli/model_args.hpp"
#include "cli/output.hpp"
#include "cli/progress.hpp"
#include "gmha/capacity/figures_json.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parse.hpp"
#include "gmha/capacity/sweep.hpp"
#include "gmha/report/table.hpp"
#include "gmha/report/units.hpp"

namespace gmha::cli {

namespace {

struct SweepCliOptions {
  long long d = 0;
  long long layers = 0;
  std::string families = "all";
  std::string heads, head_dims, mla_c, mla_nope, mla_rope, mla_qlora, mfa_c, mfa_cq, gla_hc, tpa_r, tpa_rq;
  std::string kv_dtype = "bf16";
  std::string context = kDefaultContext;
  std::string convention = "exact";
  std::string compute_dtype;  // empty: bf16, or fp8 under step3-paper (as compare)
  std::string max_kv, max_kv_device, max_params, max_flops;
  long long tp = 1;
  long long max_designs = 5'000'000;
  long long min_ter = 0;
  std::string objective = "ter";
  std::string format = "table";
  long long limit = 25;
  long long top = 10;
  std::string out;
  std::vector<std::string> modifiers;  // --modifier, repeatable (docs/designs.md fill rules)
};

int64_t to_int_budget(double v, const std::string& flag) {
  if (v >= 9.2e18) throw errors::overflow(flag, "budget");
  return static_cast<int64_t>(std::floor(v));
}

std::string objective_name(SweepObjective o, const std::optional<Hardware>& card) {
  switch (o) {
    case SweepObjective::kTer:
      return "ter";
    case SweepObjective::kSlsd:
      return "slsd";
    case SweepObjective::kCost:
      return "cost:" + card->name;
  }
  return "";
}

nlohmann::json design_json(const SweepDesign& d, bool with_cost) {
  const ModelFigures& f = d.figures;
  const AttentionShape& a = d.model.layers.front().attention;
  nlohmann::json j;
  j["family"] = d.family;
  j["spec"] = d.spec;
  j["heads"] = a.heads;
  j["kv_heads"] = a.kv_heads;
  if (a.variant == Variant::kMla) {
    j["c"] = a.kv_lora_rank;
    j["q_lora"] = a.q_lora_rank;
    j["nope"] = a.qk_nope_dim;
    j["rope"] = a.qk_rope_dim;
    j["v"] = a.v_head_dim;
  } else if (a.variant == Variant::kMfa || a.variant == Variant::kMfaKr) {
    j["c"] = a.head_dim;
    j["cq"] = a.q_share_dim;
  } else {
    j["head_dim"] = a.head_dim;
  }
  j["frh"] = f.ranks.frh;
  j["frh_bound"] = f.ranks.frh_bound;
  j["slsd"] = f.ranks.slsd;
  j["ter"] = f.ranks.ter;
  j["kv_bytes_per_token"] = f.kv_bytes_per_token;
  j["kv_bytes_per_token_per_device"] = d.kv_bytes_per_token_per_device;
  j["decode_kv_bytes_read"] = f.decode_kv_bytes_read;
  j["attn_params"] = f.attn_params;
  j["attn_flops"] = f.attn_flops;
  j["linear_flops"] = f.linear_flops;
  j["attn_total_flops"] = d.attn_total_flops;
  j["arithmetic_intensity"] = f.arithmetic_intensity;
  if (with_cost) j["attn_usd_per_mtok"] = d.attn_usd_per_mtok;
  j["objective"] = d.objective;
  return j;
}

report::Table design_table(const std::string& title, const std::vector<SweepDesign>& ds,
                           const std::vector<size_t>& shown, bool with_cost, bool exact) {
  report::Table t;
  t.title = title;
  t.columns = {{"family", report::Align::kLeft},
               {"TER"},
               {"SLSD"},
               {"FRH"},
               {"KV/token"},
               {"KV/token/device"},
               {"attn params"},
               {"attn FLOPs/token"}};
  if (with_cost) t.columns.push_back({"$/1M tok (attn)"});
  t.columns.push_back({"design", report::Align::kLeft});
  for (size_t i : shown) {
    const auto& d = ds[i];
    const ModelFigures& f = d.figures;
    std::vector<std::string> row = {
        d.family,
        std::to_string(f.ranks.ter),
        std::to_string(f.ranks.slsd),
        std::to_string(f.ranks.frh),
        exact ? report::format_exact(f.kv_bytes_per_token)
              : report::format_bytes(f.kv_bytes_per_token),
        exact ? report::format_exact(d.kv_bytes_per_token_per_device)
              : report::format_bytes(d.kv_bytes_per_token_per_device),
        exact ? std::to_string(f.attn_params)
              : report::format_count(static_cast<double>(f.attn_params)),
        exact ? std::to_string(d.attn_total_flops)
              : report::format_flops(static_cast<double>(d.attn_total_flops))};
    if (with_cost) {
      row.push_back(exact ? fmt::format("{:.9g}", d.attn_usd_per_mtok)
                          : report::format_usd(d.attn_usd_per_mtok));
    }
    row.push_back(d.spec);
    t.add_row(std::move(row));
  }
  return t;
}

// Up to `limit` indices spread evenly over [0, n), first and last included (0 = all).
std::vector<size_t> spread(size_t n, size_t limit) {
  std::vector<size_t> v;
  if (limit == 0 || n <= limit) {
    for (size_t i = 0; i < n; ++i) v.push_back(i);
    return v;
  }
  for (size_t k = 0; k < limit; ++k) {
    size_t i = limit == 1 ? 0 : (k * (n - 1) + (limit - 1) / 2) / (limit - 1);
    if (v.empty() || v.back() != i) v.push_back(i);
  }
  return v;
}

// The design count up front: a sweep over the cap is refused before it runs (the cap can be
// raised), and on a terminal the count is announced so a long sweep is not mistaken for a hang.
void check_design_count(const SweepSpace& space, long long cap) {
  if (cap <= 0) throw errors::not_positive("--max-designs", "max designs", cap);
  const uint64_t n = sweep_space_size(space);
  if (n > static_cast<uint64_t>(cap)) {
    throw InputError(fmt::format("--max-designs: the grid has {} designs, above the cap of {}; "
                                 "narrow --heads/--head-dims/... or raise --max-designs",
                                 n, cap));
  }
  if (::isatty(STDERR_FILENO)) std::fprintf(stderr, "sweep: evaluating %llu designs...\n",
                                            static_cast<unsigned long long>(n));
}

void run_sweep_command(const SweepCliOptions& c) {
  const report::Format fmt_out = report::read_format(c.format);
  SweepOptions o;
  if (c.d <= 0) throw errors::not_positive("--d", "d", c.d);
  if (c.layers <= 0) throw errors::not_positive("--layers", "layers", c.layers);
  if (c.limit < 0) throw errors::not_positive("--limit", "limit", c.limit);
  if (c.top < 0) throw errors::not_positive("--top", "top", c.top);
  o.space = default_sweep_space(c.d, c.layers);
  o.space.families = parse_families(c.families);
  for (const std::string& m : c.modifiers) o.space.modifiers.push_back(parse_sweep_modifier(m));
  // Grid values are sizes the sweep multiplies: positive (0 allowed for RoPE and q_lora) and
  // within int32, which keeps every product below 2^63.
  auto grid = [](const std::string& text, std::vector<int64_t>& dst, const char* flag, bool zero) {
    if (!text.empty()) dst = parse_int_ranges(text, flag, zero ? 0 : 1, INT32_MAX);
  };
  grid(c.heads, o.space.heads, "--heads", false);
  grid(c.head_dims, o.space.head_dims, "--head-dims", false);
  grid(c.mla_c, o.space.mla_latents, "--mla-c", false);
  grid(c.mla_nope, o.space.mla_nope, "--mla-nope", false);
  grid(c.mla_rope, o.space.mla_rope, "--mla-rope", true);
  grid(c.mla_qlora, o.space.mla_q_lora, "--mla-qlora", true);
  grid(c.mfa_c, o.space.mfa_dims, "--mfa-c", false);
  grid(c.mfa_cq, o.space.mfa_q_share, "--mfa-cq", false);
  grid(c.gla_hc, o.space.gla_latent_heads, "--gla-hc", false);
  grid(c.tpa_r, o.space.tpa_ranks, "--tpa-r", false);
  grid(c.tpa_rq, o.space.tpa_q_ranks, "--tpa-rq", false);
  if (c.kv_dtype == "fp8_ds_mla") {
    // A layout of 512 + 64 MLA rows only (docs/capacity.md, "KV cache layouts"); the sweep prices
    // every family's elements in one dtype.
    throw InputError("--kv-dtype: fp8_ds_mla is a layout of 512 + 64 MLA rows only; the sweep "
                     "prices every family in one element dtype (use fp8)");
  }
  o.space.kv_dtype = read_kv_dtype(c.kv_dtype, "--kv-dtype");
  const auto contexts = parse_token_counts(c.context, "--context");
  if (contexts.size() != 1) throw InputError("--context: give one context length for a sweep");
  o.context = contexts.front();
  o.convention = read_convention(c.convention);
  o.objective = parse_objective(c.objective, o.card);
  {
    HardwareArgs h;
    h.compute_dtype = c.compute_dtype;
    o.compute_dtype = compute_dtype_of(h, o.convention);
  }
  if (!c.max_kv.empty())
    o.budgets.max_kv_bytes_per_token = parse_amount(c.max_kv, "--max-kv-bytes-per-token", AmountKind::kBytes);
  if (c.tp <= 0) throw errors::not_positive("--tp", "tp", c.tp);
  o.tp = c.tp;
  if (!c.max_kv_device.empty()) {
    o.budgets.max_kv_bytes_per_token_per_device =
        parse_amount(c.max_kv_device, "--max-kv-bytes-per-token-per-device", AmountKind::kBytes);
  }
  if (!c.max_params.empty()) {
    o.budgets.max_attn_params =
        to_int_budget(parse_amount(c.max_params, "--max-attn-params", AmountKind::kCount), "--max-attn-params");
  }
  if (!c.max_flops.empty()) {
    o.budgets.max_attn_flops =
        to_int_budget(parse_amount(c.max_flops, "--max-attn-flops", AmountKind::kCount), "--max-attn-flops");
  }
  if (c.min_ter < 0) throw errors::not_positive("--min-ter", "min TER", c.min_ter);
  if (c.min_ter > 0) o.budgets.min_ter = c.min_ter;
  o.top = static_cast<size_t>(c.top);

  check_design_count(o.space, c.max_designs);
  check_output(c.out);
  o.progress = terminal_progress("sweep", "designs");
  const SweepResult r = run_sweep(o);
  const bool with_cost = o.card.has_value();
  std::string text;
  if (fmt_out == report::Format::kJson) {
    nlohmann::json j;
    j["d_model"] = c.d;
    j["layers"] = c.layers;
    j["context"] = o.context;
    j["convention"] = std::string(convention_name(o.convention));
    j["kv_dtype"] = std::string(dtype_name(o.space.kv_dtype));
    j["objective"] = objective_name(o.objective, o.card);
    if (with_cost) {
      j["compute_dtype"] = std::string(compute_dtype_name(o.card->charged_dtype(o.compute_dtype)));
      j["peak_flops_charged"] = o.card->peak_flops(o.compute_dtype);
    }
    nlohmann::json b = nlohmann::json::object();
    if (o.budgets.max_kv_bytes_per_token)
      b["max_kv_bytes_per_token"] = *o.budgets.max_kv_bytes_per_token;
    if (o.budgets.max_kv_bytes_per_token_per_device)
      b["max_kv_bytes_per_token_per_device"] = *o.budgets.max_kv_bytes_per_token_per_device;
    if (o.budgets.max_attn_params) b["max_attn_params"] = *o.budgets.max_attn_params;
    if (o.budgets.max_attn_flops) b["max_attn_flops"] = *o.budgets.max_attn_flops;
    if (o.budgets.min_ter) b["min_ter"] = *o.budgets.min_ter;
    j["budgets"] = b;
    j["evaluated"] = r.evaluated;
    j["feasible"] = r.feasible;
    j["tp"] = o.tp;
    j["unsharded"] = r.unsharded;
    j["frontier"] = nlohmann::json::array();
    for (const auto& d : r.frontier) j["frontier"].push_back(design_json(d, with_cost));
    j["best"] = nlohmann::json::object();
    for (const auto& d : r.best) j["best"][d.family] = design_json(d, with_cost);
    j["ranked"] = nlohmann::json::array();
    for (const auto& d : r.ranked) j["ranked"].push_back(design_json(d, with_cost));
    text = j.dump(2) + "\n";
  } else if (fmt_out == report::Format::kCsv) {
    // One flat CSV with exact values: a "set" column says where each row comes from.
    report::Table t;
    std::vector<size_t> all;
    auto add = [&](const char* set, const std::vector<SweepDesign>& ds) {
      std::vector<size_t> idx = spread(ds.size(), 0);
      report::Table part = design_table("", ds, idx, with_cost, true);
      if (t.columns.empty()) {
        t.columns = part.columns;
        t.columns.insert(t.columns.begin(), {"set", report::Align::kLeft});
      }
      for (auto& row : part.rows) {
        row.insert(row.begin(), set);
        t.add_row(std::move(row));
      }
    };
    add("best", r.best);
    add("frontier", r.frontier);
    add("ranked", r.ranked);
    if (t.columns.empty()) t = design_table("", {}, {}, with_cost, true);
    text = report::to_csv(t);
  } else {
    const std::string ctx = report::format_number(static_cast<double>(o.context));
    const std::string obj = objective_name(o.objective, o.card);
    report::Table best = design_table(
        fmt::format("Best design per family (objective {}, T = {}, d = {}, {} layers, KV {})", obj,
                    ctx, c.d, c.layers, dtype_name(o.space.kv_dtype)),
        r.best, spread(r.best.size(), 0), with_cost, false);
    best.notes.push_back(
        fmt::format("{} designs evaluated, {} within the budgets", r.evaluated, r.feasible));
    if (o.tp > 1) {
      best.notes.push_back(fmt::format(
          "TP {}: KV/token/device is one device's share (GQA/GTA/GLA streams split or replicate, "
          "MLA/MFA replicate); the frontier's KV axis is per device; {} designs do not shard {} "
          "ways (heads, KV streams; TPA has no TP model) and are skipped",
          o.tp, r.unsharded, o.tp));
    }
    if (r.best.empty()) best.notes.push_back("no design meets the budgets");
    const auto shown = spread(r.frontier.size(), static_cast<size_t>(c.limit));
    report::Table front = design_table(
        fmt::format("Pareto frontier: TER up, KV bytes/token{} down, attention FLOPs/token down "
                    "({} designs)",
                    o.tp > 1 ? fmt::format("/device (TP {})", o.tp) : std::string(), r.frontier.size()),
        r.frontier, shown, with_cost, false);
    if (shown.size() < r.frontier.size()) {
      front.notes.push_back(fmt::format("{} of {} shown, evenly spaced by KV; --limit 0 shows all",
                                        shown.size(), r.frontier.size()));
    }
    front.notes.push_back("attention FLOPs = core attention at T + projections, per decoded token");
    if (with_cost) {
      const std::string peak = fmt::format("cost: attention on {} at its {} dense peak", o.card->name,
                                           compute_dtype_name(o.card->charged_dtype(o.compute_dtype)));
      best.notes.push_back(peak);
      front.notes.push_back(peak);
    }
    report::Table ranked = design_table(fmt::format("Top {} by {}", r.ranked.size(), obj), r.ranked,
                                        spread(r.ranked.size(), 0), with_cost, false);
    text = report::render(best, fmt_out) + "\n" + report::render(front, fmt_out);
    if (!r.ranked.empty()) text += "\n" + report::render(ranked, fmt_out);
  }
  emit(text, c.out);
}

}  // namespace

void add_sweep_command(CLI::App& app) {
  auto opts = std::make_shared<SweepCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sweep",
      "Search attention designs of one width and depth: MHA, GQA (every valid g), MQA, MLA\n"
      "(latent, RoPE, nope, q_lora sizes), MFA and MFA-KR (heads, C, C_q), GTA (every h_kv,\n"
      "d_R = h/2), GLA (h_c latent heads on the MLA grids), contextual TPA (R_Q, R_K, R_V;\n"
      "its ranks are the non-contextual bounds, docs/designs.md). Filters by budgets,\n"
      "prints the Pareto frontier of TER vs KV bytes/token vs attention FLOPs/token and the best\n"
      "design per family under an objective. Every row has its --design spec string.\n\n"
      "Examples:\n"
      "  gmha sweep --d 7168 --layers 61 --max-kv-bytes-per-token 70272 --context 32k\n"
      "  gmha sweep --d 7168 --layers 61 --families mla,mfa --objective cost:h20 --min-ter 16384\n"
      "  gmha sweep --d 4096 --layers 32 --families gqa --heads 32 --head-dims 128 --format json\n"
      "  gmha sweep --d 2048 --layers 24 --families gqa,gta,mla,gla,tpa --heads 16 --head-dims 128 "
      "--max-kv-bytes-per-token 27648\n"
      "  gmha sweep --d 7168 --layers 61 --mfa-c 128-512:64 --mfa-cq 1024,2048 --format csv --out "
      "s.csv\n"
      "  gmha sweep --d 4096 --layers 32 --families gqa,mla --heads 32 --head-dims 128 --mla-c 512 "
      "--mla-nope 128 --mla-rope 64 --mla-qlora 0 --modifier topk=2048,index_heads=64,index_dim=128 "
      "--modifier compress=4,window=128 --context 128k\n"
      "  gmha sweep --d 4096 --layers 32 --families gla,mla,gqa,mfa,gta,tpa --heads 32 --head-dims 128 "
      "--mla-c 256,512 --mla-nope 128 --mla-rope 64 --mla-qlora 0 --gla-hc 2,4 --mfa-c 256 --mfa-cq 1024 "
      "--tp 4 --max-kv-bytes-per-token-per-device 20480 --objective slsd");
  cmd->add_option("--modifier", opts->modifiers,
                  "Also sweep every design under this fill rule (repeatable): topk=k,index_heads=,"
                  "index_dim= | compress=s[,window=w][,topk=...] | nsa=l/d/n/l'/w | moba=B/k");
  cmd->add_option("--d", opts->d, "Model width d (hidden_size)")->required();
  cmd->add_option("--layers", opts->layers, "Number of layers L")->required();
  cmd->add_option("--families", opts->families,
                  "Families to sweep: mha,gqa,mqa,mla,mfa,mfa-kr,gta,gla,tpa or all")
      ->capture_default_str();
  cmd->add_option("--heads", opts->heads, "Query heads n / m grid, e.g. 8-128:8 (default 1-256)");
  cmd->add_option("--head-dims", opts->head_dims,
                  "MHA/GQA/MQA head dims h (default 64,80,96,128,160,192,256)");
  cmd->add_option("--mla-c", opts->mla_c, "MLA latent C = kv_lora_rank (default 64-1024:64)");
  cmd->add_option("--mla-nope", opts->mla_nope,
                  "MLA qk_nope_head_dim (= v_head_dim) (default 64,128,192)");
  cmd->add_option("--mla-rope", opts->mla_rope,
                  "MLA qk_rope_head_dim, 0 allowed (default 0,32,64)");
  cmd->add_option("--mla-qlora", opts->mla_qlora,
                  "MLA q_lora_rank, 0 = none (default 0,768,1536,3072)");
  cmd->add_option("--mfa-c", opts->mfa_c, "MFA/MFA-KR key/value head width C (default 32-1024:32)");
  cmd->add_option("--mfa-cq", opts->mfa_cq,
                  "MFA/MFA-KR query share dim C_q (default 256-8192:256, <= d)");
  cmd->add_option("--gla-hc", opts->gla_hc, "GLA latent heads h_c, each dividing the heads (default 2,4,8)");
  cmd->add_option("--tpa-r", opts->tpa_r, "TPA key and value ranks R_K, R_V (default 1,2,4)");
  cmd->add_option("--tpa-rq", opts->tpa_rq, "TPA query rank R_Q (default 1,2,4,6)");
  cmd->add_option("--kv-dtype", opts->kv_dtype, "KV cache dtype: bf16, fp16, fp8, int8, int4, fp32")
      ->capture_default_str();
  cmd->add_option("--context", opts->context, "Context length T for FLOPs and cost (k = 1024)")
      ->capture_default_str();
  cmd->add_option("--convention", opts->convention, "exact or step3-paper (MLA PV width)")
      ->capture_default_str();
  cmd->add_option("--max-kv-bytes-per-token", opts->max_kv,
                  "Budget: KV bytes per token, all layers (e.g. 70272, 64K)");
  cmd->add_option("--tp", opts->tp,
                  "Tensor-parallel degree N: skip designs whose heads or KV streams do not shard N "
                  "ways (TPA: no TP model), rank the frontier by KV bytes/token per device")
      ->capture_default_str();
  cmd->add_option("--max-kv-bytes-per-token-per-device", opts->max_kv_device,
                  "Budget: KV bytes per token on one device of the --tp group, all layers (e.g. 20480)");
  cmd->add_option("--max-attn-params", opts->max_params,
                  "Budget: attention parameters, all layers (e.g. 12B, 1.2e10)");
  cmd->add_option("--max-attn-flops", opts->max_flops,
                  "Budget: attention FLOPs per decoded token at T, core + projections (e.g. 2T)");
  cmd->add_option("--min-ter", opts->min_ter,
                  "Floor: designs need TER >= this (e.g. with a cost objective)");
  cmd->add_option("--compute-dtype", opts->compute_dtype,
                  "Precision whose peak the cost objective charges: bf16, fp8, fp4 (default bf16; "
                  "fp8 under --convention step3-paper)");
  cmd->add_option("--objective", opts->objective,
                  "ter or slsd (maximised), cost:CARD (attention $/1M tokens on CARD, minimised)")
      ->capture_default_str();
  cmd->add_option("--limit", opts->limit, "Frontier rows shown in tables (0 = all)")
      ->capture_default_str();
  cmd->add_option("--top", opts->top, "Length of the overall ranking")->capture_default_str();
  cmd->add_option("--format", opts->format, "table, md, csv, json or latex")->capture_default_str();
  cmd->add_option("--out", opts->out, "Write to this file (atomically) instead of stdout");
  cmd->add_option("--max-designs", opts->max_designs,
                  "Refuse a grid with more designs than this (raise it for a long sweep)")
      ->capture_default_str();
  cmd->callback([opts] { run_sweep_command(*opts); });
}

}  // namespace gmha::cli
