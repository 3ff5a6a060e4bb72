// gmha audit diff: parses the options, runs the library's diff (progress bar on stderr when it is
// a terminal) and formats it as tables, CSV or JSON.
#include "cli/cmd_audit_diff.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "cli/output.hpp"
#include "cli/progress.hpp"
#include "gmha/bridge/layout.hpp"
#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/core/error.hpp"
#include "gmha/rank/audit.hpp"
#include "gmha/rank/audit_diff.hpp"
#include "gmha/rank/audit_diff_json.hpp"
#include "gmha/report/table.hpp"

namespace gmha::cli {
namespace {

struct DiffCliOptions {
  std::string a, b;
  std::string format = "table";
  std::string layers;
  double energy = 0.99;
  int threads = 0;
  int worst = 10;
  std::string out;
  bool allow_nonfinite = false;
};

constexpr const char* kNa = "n/a";
std::string f2(double v) { return fmt::format("{:.2f}", v); }
std::string g3(double v) { return fmt::format("{:.3g}", v); }
std::string signed_int(int64_t v) { return fmt::format("{:+d}", v); }
std::string rel(const CircuitDiff& c) {
  return c.a.sigma_1 > 0 ? fmt::format("{:+.3g}", (c.b.sigma_1 - c.a.sigma_1) / c.a.sigma_1) : kNa;
}

// A circuit of a layer outside its heads: an output group (V4) or a recurrent factor.
struct LayerCircuit {
  const LayerDiff* layer;
  const char* circuit;  // "vo_group", "compressor", "recurrent_q", "recurrent_k"
  int64_t index;        // the group, or the query/key head
  const CircuitDiff* diff;
};
std::vector<LayerCircuit> layer_circuits(const AuditDiffReport& r) {
  std::vector<LayerCircuit> out;
  for (const auto& l : r.layers) {
    for (size_t g = 0; g < l.output_groups.size(); ++g)
      out.push_back({&l, "vo_group", static_cast<int64_t>(g), &l.output_groups[g]});
    for (size_t h = 0; h < l.compressor.size(); ++h)
      out.push_back({&l, "compressor", static_cast<int64_t>(h), &l.compressor[h]});
    for (size_t i = 0; i < l.recurrent_q.size(); ++i) {
      out.push_back({&l, "recurrent_q", static_cast<int64_t>(i), &l.recurrent_q[i]});
      out.push_back({&l, "recurrent_k", static_cast<int64_t>(i), &l.recurrent_k[i]});
    }
  }
  return out;
}

report::Table layer_table(const AuditDiffReport& r) {
  report::Table t;
  t.title = "Per layer (angles in degrees over the finite heads; Δ = B − A)";
  t.columns = {{"layer"},           {"variant", report::Align::kLeft},
               {"heads"},           {"max angle"},
               {"mean QK angle"},   {"mean VO angle"},
               {"max |Δσ₁|/σ₁"},    {"max ‖ΔW‖/σ₁"},    {"max |Δ entropy rank|"},
               {"energy-rank changes"}, {"non-finite heads"}};
  for (const auto& l : r.layers) {
    const LayerDiffSummary s = summarize_layer(l);
    if (!l.audited && s.factors == 0) {
      t.add_row({std::to_string(l.layer), l.kind_label(), "-", "-", "-", "-", "-", "-", "-", "-", "-"});
      continue;
    }
    // A recurrent layer: its query/key factors' figures; no heads, no QK/VO means.
    const bool heads = l.audited;
    t.add_row({std::to_string(l.layer), l.kind_label(), heads ? std::to_string(s.heads) : "-",
               f2(s.max_angle_deg), heads ? f2(s.mean_qk_angle_deg) : "-", heads ? f2(s.mean_vo_angle_deg) : "-",
               g3(s.max_rel_sigma_1_change), g3(s.max_change_rel), g3(s.max_abs_entropy_change),
               std::to_string(s.energy_rank_changes), std::to_string(s.nonfinite_heads + s.nonfinite_factors)});
  }
  return t;
}

// Output groups and recurrent factors, the ones that moved most first (at most `worst`).
report::Table factor_table(const AuditDiffReport& r, int worst) {
  std::vector<LayerCircuit> all = layer_circuits(r);
  std::stable_sort(all.begin(), all.end(), [](const LayerCircuit& x, const LayerCircuit& y) {
    const double ax = x.diff->finite ? x.diff->max_angle_deg() : -1.0, ay = y.diff->finite ? y.diff->max_angle_deg() : -1.0;
    return ax > ay;
  });
  if (static_cast<int64_t>(all.size()) > worst) all.resize(static_cast<size_t>(worst));
  report::Table t;
  t.title = fmt::format("Output groups, compressor and recurrent query/key factors that moved most ({} "
                        "listed; a factor W is compared as the circuit W·I)", all.size());
  t.columns = {{"layer"}, {"circuit", report::Align::kLeft}, {"index"}, {"r"}, {"left"}, {"right"},
               {"Δσ₁/σ₁"}, {"Δ erank"}, {"Δ energy rank"}, {"‖ΔW‖/σ₁"}};
  for (const LayerCircuit& c : all) {
    std::vector<std::string> row{std::to_string(c.layer->layer), c.circuit, std::to_string(c.index)};
    const CircuitDiff& d = *c.diff;
    if (!d.finite) {
      for (int i = 0; i < 7; ++i) row.emplace_back(kNa);
    } else {
      row.insert(row.end(), {std::to_string(d.r), f2(d.left_angle_deg), f2(d.right_angle_deg), rel(d),
                             fmt::format("{:+.3g}", d.b.entropy_rank - d.a.entropy_rank),
                             signed_int(d.b.energy_rank - d.a.energy_rank), g3(d.change_rel)});
    }
    t.add_row(row);
  }
  return t;
}

report::Table moved_table(const AuditDiffReport& r, int worst) {
  const auto moved = most_moved_heads(r, worst);
  report::Table t;
  t.title = fmt::format("Heads whose subspaces moved most ({} listed; r = A's energy rank; "
                        "left/right = largest principal angle of each side, degrees)", moved.size());
  t.columns = {{"layer"},      {"head"},       {"kv head"},      {"QK r"},
               {"QK left"},    {"QK right"},   {"QK Δσ₁/σ₁"},    {"QK Δ erank"},
               {"QK Δ energy rank"}, {"VO r"}, {"VO left"},      {"VO right"},
               {"VO Δσ₁/σ₁"},  {"VO Δ erank"}, {"VO Δ energy rank"}};
  bool rope = false;
  for (const MovedHead& m : moved) rope = rope || m.head->qk_rope.has_value();
  if (rope) t.columns.insert(t.columns.end(), {{"RoPE left"}, {"RoPE right"}});
  t.columns.push_back({"flags", report::Align::kLeft});
  for (const MovedHead& m : moved) {
    const HeadDiff& h = *m.head;
    std::vector<std::string> row{std::to_string(m.layer->layer), std::to_string(h.head),
                                 std::to_string(h.kv_head)};
    for (const CircuitDiff* c : {&h.qk, &h.vo}) {
      if (!c->finite) {
        for (int i = 0; i < 6; ++i) row.emplace_back(kNa);
        continue;
      }
      row.insert(row.end(), {std::to_string(c->r), f2(c->left_angle_deg), f2(c->right_angle_deg),
                             rel(*c), fmt::format("{:+.3g}", c->b.entropy_rank - c->a.entropy_rank),
                             signed_int(c->b.energy_rank - c->a.energy_rank)});
    }
    if (rope) {
      if (h.qk_rope && h.qk_rope->finite) row.insert(row.end(), {f2(h.qk_rope->left_angle_deg), f2(h.qk_rope->right_angle_deg)});
      else row.insert(row.end(), 2, h.qk_rope ? kNa : "-");
    }
    std::string flags;
    if (!h.finite()) flags += "non-finite ";
    if (h.qk.b_rank_short || h.vo.b_rank_short || (h.qk_rope && h.qk_rope->b_rank_short)) flags += "B-rank-below-r";
    row.push_back(flags);
    t.add_row(row);
  }
  return t;
}

report::Table csv_table(const AuditDiffReport& r) {
  report::Table t;
  t.columns = {{"layer"},          {"head"},           {"kv_head"},          {"circuit"},
               {"finite"},         {"r"},              {"sigma_1_a"},        {"sigma_1_b"},
               {"energy_rank_a"},  {"energy_rank_b"},  {"entropy_rank_a"},   {"entropy_rank_b"},
               {"left_angle_deg"}, {"right_angle_deg"}, {"distance"},        {"b_rank_short"},
               {"change_rel"},     {"gap_rel"}};
  auto g17 = [](double v) { return fmt::format("{:.17g}", v); };
  auto add = [&](int64_t layer, int64_t head, int64_t kv_head, const char* name, const CircuitDiff& c) {
    std::vector<std::string> row{std::to_string(layer), std::to_string(head), std::to_string(kv_head), name,
                                 c.finite ? "1" : "0"};
    if (c.finite) {
      row.insert(row.end(), {std::to_string(c.r), g17(c.a.sigma_1), g17(c.b.sigma_1),
                             std::to_string(c.a.energy_rank), std::to_string(c.b.energy_rank),
                             g17(c.a.entropy_rank), g17(c.b.entropy_rank), g17(c.left_angle_deg),
                             g17(c.right_angle_deg), g17(c.distance()), c.b_rank_short ? "1" : "0",
                             g17(c.change_rel), g17(c.gap_rel)});
    } else {
      for (int i = 0; i < 13; ++i) row.emplace_back(kNa);
    }
    t.add_row(row);
  };
  for (const auto& l : r.layers)
    for (const auto& h : l.heads) {
      add(l.layer, h.head, h.kv_head, "qk", h.qk);
      add(l.layer, h.head, h.kv_head, "vo", h.vo);
      if (h.qk_rope) add(l.layer, h.head, h.kv_head, "qk_rope", *h.qk_rope);
    }
  // Output groups and recurrent factors: head and kv_head are the group or query/key head.
  for (const LayerCircuit& c : layer_circuits(r)) add(c.layer->layer, c.index, c.index, c.circuit, *c.diff);
  return t;
}

report::Format diff_format(const std::string& format) {
  const report::Format f = report::read_format(format);
  if (f == report::Format::kLatex) {
    throw InputError(fmt::format("--format: audit diff writes table, md, csv or json, not '{}'", format));
  }
  return f;
}

std::string render(const AuditDiffReport& r, const std::string& format, int worst) {
  const report::Format f = diff_format(format);
  if (f == report::Format::kJson) return audit_diff_to_json(r, worst).dump(2) + "\n";
  if (f == report::Format::kCsv) return report::to_csv(csv_table(r));
  std::string text = fmt::format(
      "A: {}  ({}, {})\nB: {}  ({}, {})\nr = A's energy rank at p = {}; angles: largest principal "
      "angle between A's and B's top-r singular subspaces\n\n",
      r.a, r.a_format, r.a_architecture, r.b, r.b_format, r.b_architecture, r.energy);
  std::vector<report::Table> tables{layer_table(r), moved_table(r, worst)};
  if (!layer_circuits(r).empty()) tables.push_back(factor_table(r, worst));
  for (const report::Table& t : tables) {
    text += report::render(t, f);
    text += "\n";
  }
  return text;
}

void run_diff(const DiffCliOptions& o) {
  diff_format(o.format);  // fail on bad options before opening anything
  if (o.worst < 0) throw InputError(fmt::format("--worst: {} is negative; give how many heads to list", o.worst));
  if (o.threads < 0) throw InputError("--threads: must be positive (0: all cores)");
  check_output(o.out);
  const Checkpoint ca = open_checkpoint(o.a), cb = open_checkpoint(o.b);
  const Layout la = detect_layout(ca), lb = detect_layout(cb);
  AuditDiffOptions d;
  d.energy = o.energy;
  d.threads = o.threads;
  if (!o.layers.empty())
    d.layers = parse_layer_list(o.layers, la.decoder_layers(), "--layers");
  d.progress = terminal_progress("audit diff", "layers");
  const AuditDiffReport r = diff_checkpoints(ca, la, cb, lb, d);
  emit(render(r, o.format, o.worst), o.out);
  int64_t nonfinite = 0;
  for (const auto& l : r.layers) {
    const LayerDiffSummary s = summarize_layer(l);
    nonfinite += s.nonfinite_heads + s.nonfinite_factors;
  }
  if (nonfinite > 0 && !o.allow_nonfinite) {
    throw CheckFailed(fmt::format("audit diff: {} heads or factors hold NaN/Inf weights in A or B; they "
                                  "are reported as n/a (--allow-nonfinite to exit 0)", nonfinite));
  }
}

}  // namespace

CLI::App* add_audit_diff_command(CLI::App& audit) {
  auto o = std::make_shared<DiffCliOptions>();
  CLI::App* cmd = audit.add_subcommand(
      "diff",
      "Compare two checkpoints of one architecture (a release and its quantized copy, a base model\n"
      "and its fine-tune) head by head: for the QK and VO circuits, σ₁, energy rank and entropy\n"
      "rank in A and B, and the largest principal angles between A's and B's top-r left and right\n"
      "singular subspaces, r = A's energy rank at p (docs/audit.md). Per layer a summary, then the\n"
      "heads that moved most. Both checkpoints stream one layer at a time. Layouts: every one the\n"
      "audit reads (MHA/GQA/MQA, MLA, GLA, GTA, MFA, DeepSeek-V4 with its RoPE circuits and output\n"
      "groups, and recurrent layers' query/key factors); checkpoints whose layers differ in shape\n"
      "are refused naming what differs.\n\n"
      "Examples:\n"
      "  gmha audit diff ../shared/data/stories260K-hf-f32 ../shared/data/stories260K-hf-bf16\n"
      "  gmha audit diff ../shared/data/stories260K-gguf/stories260K.gguf ../shared/data/gguf-quant/stories260K-Q4_0.gguf --worst 5\n"
      "  gmha audit diff ../shared/data/stories260K-hf-f32 ../shared/data/stories260K-hf-bf16 --format csv --out diff.csv\n"
      "  gmha audit diff ../shared/data/stories260K-hf-f32 ../shared/data/stories260K-hf-bf16 --layers 0-1 --format json --out diff.json");
  cmd->add_option("a", o->a, "Checkpoint A (the reference: r is its energy rank)")->required();
  cmd->add_option("b", o->b, "Checkpoint B")->required();
  cmd->add_option("--format", o->format, "table | md | csv | json")->capture_default_str();
  cmd->add_option("--layers", o->layers, "Layers to compare, e.g. 0-3,10 (default: all)");
  cmd->add_option("--energy", o->energy, "Energy level p of the energy rank (and of r)")->capture_default_str();
  cmd->add_option("--threads", o->threads, "Worker threads (0: all cores)")->capture_default_str();
  cmd->add_option("--worst", o->worst, "Heads listed as the ones that moved most")->capture_default_str();
  cmd->add_option("--out", o->out, "Write the report to this file (atomically) instead of stdout");
  cmd->add_flag("--allow-nonfinite", o->allow_nonfinite, "Exit 0 even when weights hold NaN/Inf");
  cmd->callback([o] { run_diff(*o); });
  return cmd;
}

}  // namespace gmha::cli
