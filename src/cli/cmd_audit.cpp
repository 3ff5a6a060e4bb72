// gmha audit: parses the options, runs the library's audit with a progress bar on stderr (only
// when stderr is a terminal) and formats the report as tables, CSV or JSON.
#include "cli/cmd_audit.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/cmd_audit_diff.hpp"
#include "cli/output.hpp"
#include "cli/progress.hpp"
#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/bridge/layout.hpp"
#include "gmha/core/atomic_file.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/json_text.hpp"
#include "gmha/rank/audit.hpp"
#include "gmha/rank/audit_json.hpp"
#include "gmha/report/table.hpp"

namespace gmha::cli {
namespace {

struct AuditCliOptions {
  std::string path;
  std::string format = "table";
  std::string layers;
  std::optional<double> rank_tol;
  double energy = 0.99;
  int threads = 0;
  bool spectra = false;
  int worst = 10;
  std::string out;
  std::vector<std::string> merge_inputs;
  std::string merge_format = "json";
  bool allow_nonfinite = false;
};

std::string g4(double v) { return fmt::format("{:.4g}", v); }
std::string f2(double v) { return fmt::format("{:.2f}", v); }

constexpr const char* kNa = "n/a";  // a figure that could not be computed (NaN/Inf weights)

std::string nonfinite_text(const LayerAudit& l) {
  if (l.nonfinite_heads > 0) return fmt::format("{} heads left out", l.nonfinite_heads);
  return l.nonfinite_tensors.empty() && l.key_finite ? "" : "yes";
}

// The smallest QK entropy rank over the layer's finite heads, or n/a when none is finite.
std::string min_entropy_text(const LayerAudit& l) {
  std::optional<double> m;
  for (const auto& h : l.heads)
    if (h.finite()) m = std::min(m.value_or(h.qk.metrics.entropy_rank), h.qk.metrics.entropy_rank);
  return m ? f2(*m) : kNa;
}

report::Table layer_table(const AuditReport& r) {
  report::Table t;
  t.title = "Per layer: nominal vs measured (SLSD = numerical rank of the stacked keys; "
            "TER = Σ QK numerical ranks, entropy-rank sum beside it)";
  t.columns = {{"layer"},        {"layout", report::Align::kLeft},
               {"FRH"},          {"SLSD nom"},
               {"SLSD meas"},    {"TER nom"},
               {"TER meas"},     {"TER entropy"},
               {"min QK erank"}, {"below nominal"},
               {"dead"},         {"non-finite", report::Align::kLeft}};
  for (const auto& l : r.layers) {
    if (!l.audited) {
      const std::string kind = l.mixer.empty() ? l.layout : l.layout + ": " + l.mixer;
      t.add_row({std::to_string(l.layer), kind + (l.parallel ? " (parallel)" : ""), "-", "-", "-", "-",
                 "-", "-", "-", "-", "-", ""});
      continue;
    }
    // A measured SLSD short of the nominal one is a finding (the keys span fewer directions
    // than the shape allows): marked with '<' so it stands out in the column.
    const std::string slsd = !l.key_finite              ? std::string(kNa)
                             : l.slsd_below_nominal() ? fmt::format("<{}", l.measured_slsd)
                                                      : std::to_string(l.measured_slsd);
    t.add_row({std::to_string(l.layer), l.variant + (l.parallel ? " (parallel)" : ""),
               std::to_string(l.nominal.frh), std::to_string(l.nominal.slsd), slsd,
               std::to_string(l.nominal.ter), std::to_string(l.measured_ter),
               f2(l.measured_ter_entropy), min_entropy_text(l), std::to_string(l.heads_below_nominal),
               std::to_string(l.dead_heads), nonfinite_text(l)});
  }
  return t;
}

report::Table worst_table(const AuditReport& r, int count) {
  struct Ref { const LayerAudit* l; const HeadAudit* h; };
  std::vector<Ref> refs;
  for (const auto& l : r.layers)
    for (const auto& h : l.heads) refs.push_back({&l, &h});
  // Heads with NaN/Inf weights first (they are the worst), then by entropy rank.
  std::sort(refs.begin(), refs.end(), [](const Ref& a, const Ref& b) {
    if (a.h->finite() != b.h->finite()) return !a.h->finite();
    if (a.h->qk.metrics.entropy_rank != b.h->qk.metrics.entropy_rank)
      return a.h->qk.metrics.entropy_rank < b.h->qk.metrics.entropy_rank;
    return std::pair(a.l->layer, a.h->head) < std::pair(b.l->layer, b.h->head);
  });
  if (static_cast<int>(refs.size()) > count) refs.resize(static_cast<size_t>(count));
  report::Table t;
  t.title = fmt::format("Worst {} heads by QK entropy effective rank", refs.size());
  t.columns = {{"layer"}, {"head"}, {"kv head"}, {"QK σ₁"}, {"QK numerical rank"},
               {"QK energy rank"}, {"QK entropy rank"}, {"QK stable rank"}, {"VO numerical rank"},
               {"VO entropy rank"}, {"flags", report::Align::kLeft}};
  for (const Ref& x : refs) {
    const HeadAudit& h = *x.h;
    std::string flags;
    if (!h.qk.finite || !h.vo.finite) flags += "non-finite ";
    if (h.qk_dead || h.vo_dead) flags += "dead ";
    if (h.qk_below_nominal || h.vo_below_nominal) flags += "below-nominal";
    const bool qk = h.qk.finite, vo = h.vo.finite;
    t.add_row({std::to_string(x.l->layer), std::to_string(h.head), std::to_string(h.kv_head),
               qk ? g4(h.qk.metrics.sigma_1) : kNa,
               qk ? fmt::format("{}/{}", h.qk.metrics.numerical_rank, h.qk.nominal_rank) : kNa,
               qk ? std::to_string(h.qk.metrics.energy_rank) : kNa,
               qk ? f2(h.qk.metrics.entropy_rank) : kNa, qk ? f2(h.qk.metrics.stable_rank) : kNa,
               vo ? fmt::format("{}/{}", h.vo.metrics.numerical_rank, h.vo.nominal_rank) : kNa,
               vo ? f2(h.vo.metrics.entropy_rank) : kNa, flags});
  }
  return t;
}

report::Table summary_table(const AuditReport& r) {
  const AuditSummary s = summarize(r);
  report::Table t;
  t.title = "Model summary";
  t.columns = {{"figure", report::Align::kLeft}, {"value"}};
  t.add_row({"layers audited", fmt::format("{} of {}", s.layers, r.model_layers)});
  t.add_row({"heads audited", std::to_string(s.heads)});
  t.add_row({"TER nominal / measured", fmt::format("{} / {}", s.nominal_ter, s.measured_ter)});
  t.add_row({"TER entropy-rank sum", f2(s.measured_ter_entropy)});
  const bool any_finite = s.heads > s.nonfinite_heads;
  t.add_row({"QK entropy rank min / mean",
             any_finite ? fmt::format("{} / {}", f2(s.min_qk_entropy_rank), f2(s.mean_qk_entropy_rank))
                        : std::string(kNa)});
  t.add_row({"layers with SLSD below nominal", std::to_string(s.layers_slsd_below_nominal)});
  t.add_row({"heads below nominal rank", std::to_string(s.heads_below_nominal)});
  t.add_row({"dead heads", std::to_string(s.dead_heads)});
  t.add_row({"layers with non-finite weights", std::to_string(s.layers_with_nonfinite)});
  t.add_row({"heads left out of the totals (non-finite)", std::to_string(s.nonfinite_heads)});
  return t;
}

report::Table csv_table(const AuditReport& r) {
  report::Table t;
  t.columns = {{"layer"}, {"head"}, {"kv_head"}, {"circuit"}, {"nominal_rank"}, {"sigma_1"},
               {"numerical_rank"}, {"energy_rank"}, {"entropy_rank"}, {"stable_rank"},
               {"rank_tol"}, {"below_nominal"}, {"dead"}, {"finite"}};
  auto row = [&](const LayerAudit& l, const HeadAudit& h, const char* name, const CircuitAudit& c,
                 bool below, bool dead) {
    auto num = [&](std::string v) { return c.finite ? v : std::string(kNa); };
    t.add_row({std::to_string(l.layer), std::to_string(h.head), std::to_string(h.kv_head), name,
               std::to_string(c.nominal_rank), num(fmt::format("{:.17g}", c.metrics.sigma_1)),
               num(std::to_string(c.metrics.numerical_rank)),
               num(std::to_string(c.metrics.energy_rank)),
               num(fmt::format("{:.17g}", c.metrics.entropy_rank)),
               num(fmt::format("{:.17g}", c.metrics.stable_rank)),
               num(fmt::format("{:.17g}", c.rank_tol)), below ? "1" : "0",
               dead ? "1" : "0", c.finite ? "1" : "0"});
  };
  for (const auto& l : r.layers)
    for (const auto& h : l.heads) {
      row(l, h, "qk", h.qk, h.qk_below_nominal, h.qk_dead);
      row(l, h, "vo", h.vo, h.vo_below_nominal, h.vo_dead);
      if (h.qk_rope) row(l, h, "qk_rope", *h.qk_rope, false, false);
    }
  // DSA indexer heads: `head` is the indexer head, kv_head 0.
  for (const auto& l : r.layers)
    for (size_t j = 0; j < l.indexer.size(); ++j) {
      HeadAudit ih;
      ih.head = static_cast<int64_t>(j);
      row(l, ih, "indexer", l.indexer[j], false, false);
    }
  // Recurrent layers' query and key factors (KDA), one row each per head.
  for (const auto& l : r.layers)
    for (size_t j = 0; j < l.recurrent_q.size(); ++j) {
      HeadAudit ih;
      ih.head = ih.kv_head = static_cast<int64_t>(j);
      row(l, ih, "recurrent_q", l.recurrent_q[j], false, false);
      row(l, ih, "recurrent_k", l.recurrent_k[j], false, false);
    }
  // DeepSeek-V4's output groups: `head` is the group.
  for (const auto& l : r.layers)
    for (size_t j = 0; j < l.output_groups.size(); ++j) {
      HeadAudit ih;
      ih.head = ih.kv_head = static_cast<int64_t>(j);
      row(l, ih, "vo_group", l.output_groups[j], false, false);
    }
  // DeepSeek-V4's compressor factors: `head` is the half of wkv.
  for (const auto& l : r.layers)
    for (size_t j = 0; j < l.compressor.size(); ++j) {
      HeadAudit ih;
      ih.head = ih.kv_head = static_cast<int64_t>(j);
      row(l, ih, "compressor", l.compressor[j], false, false);
    }
  return t;
}

// "lo-hi" of the circuits' numerical ranks (the finite ones), or n/a.
std::string rank_span(const std::vector<CircuitAudit>& cs) {
  int64_t lo = INT64_MAX, hi = 0;
  for (const auto& c : cs)
    if (c.finite) lo = std::min(lo, c.metrics.numerical_rank), hi = std::max(hi, c.metrics.numerical_rank);
  return lo == INT64_MAX ? std::string(kNa) : fmt::format("{}-{}", lo, hi);
}

// Recurrent layers' query/key factor ranks, one row per layer (min/max over its heads).
report::Table recurrent_table(const AuditReport& r) {
  report::Table t;
  t.title = "Recurrent layers: per-head query and key factor ranks (not softmax circuits)";
  t.columns = {{"layer"}, {"heads"}, {"d_k"}, {"W_Q rank min-max"}, {"W_K rank min-max"}};
  for (const auto& l : r.layers) {
    if (l.recurrent_q.empty()) continue;
    t.add_row({std::to_string(l.layer), std::to_string(l.recurrent_q.size()),
               std::to_string(l.recurrent_q.front().nominal_rank), rank_span(l.recurrent_q), rank_span(l.recurrent_k)});
  }
  return t;
}

// DeepSeek-V4's output groups' ranks, one row per layer (min/max over its groups).
report::Table output_group_table(const AuditReport& r) {
  report::Table t;
  t.title = "Grouped output LoRA: each group's output map wo_b_g·wo_a_g";
  t.columns = {{"layer"}, {"groups"}, {"bound"}, {"rank min-max"}};
  for (const auto& l : r.layers) {
    if (l.output_groups.empty()) continue;
    t.add_row({std::to_string(l.layer), std::to_string(l.output_groups.size()),
               std::to_string(l.output_groups.front().nominal_rank), rank_span(l.output_groups)});
  }
  return t;
}

// DeepSeek-V4's compressor factors, one row per compressed layer.
report::Table compressor_table(const AuditReport& r) {
  report::Table t;
  t.title = "DeepSeek-V4 compressor: diag(norm)·wkv per half (the compressed entries' factor, not in TER)";
  t.columns = {{"layer"}, {"halves"}, {"c"}, {"rank per half"}};
  for (const auto& l : r.layers) {
    if (l.compressor.empty()) continue;
    std::vector<std::string> ranks;
    for (const auto& c : l.compressor) ranks.push_back(c.finite ? std::to_string(c.metrics.numerical_rank) : kNa);
    t.add_row({std::to_string(l.layer), std::to_string(l.compressor.size()),
               std::to_string(l.compressor.front().nominal_rank), fmt::format("{}", fmt::join(ranks, ", "))});
  }
  return t;
}

// The DSA indexer's scoring circuits, one row per indexer head (only when a layer has one).
report::Table indexer_table(const AuditReport& r) {
  report::Table t;
  t.title = "DSA indexer circuits (not in TER)";
  t.columns = {{"layer"}, {"indexer head"}, {"rank"}, {"entropy"}, {"sigma_1"}};
  for (const auto& l : r.layers)
    for (size_t j = 0; j < l.indexer.size(); ++j) {
      const CircuitAudit& c = l.indexer[j];
      t.add_row({std::to_string(l.layer), std::to_string(j),
                 c.finite ? fmt::format("{}/{}", c.metrics.numerical_rank, c.nominal_rank) : kNa,
                 c.finite ? f2(c.metrics.entropy_rank) : kNa,
                 c.finite ? fmt::format("{:.4g}", c.metrics.sigma_1) : kNa});
    }
  return t;
}

// Each layer note once, with the layers it applies to ("layers 0-2,5: ...").
std::string notes_text(const AuditReport& r) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> notes;
  for (const auto& l : r.layers)
    for (const auto& n : l.notes) {
      auto it = std::find_if(notes.begin(), notes.end(), [&](const auto& p) { return p.first == n; });
      if (it == notes.end()) notes.push_back({n, {l.layer}});
      else if (it->second.back() != l.layer) it->second.push_back(l.layer);  // a layer's two mixers: once
    }
  std::string text;
  for (const auto& [note, layers] : notes)
    text += fmt::format("  layers {}: {}\n", fmt::join(layers, ","), note);
  return text.empty() ? text : "Notes\n" + text + "\n";
}

// The formats audit writes. LaTeX is refused: the report is several tables and a header line,
// not one table a paper can \input (gmha report writes those).
report::Format audit_format(const std::string& format, const char* flag) {
  const report::Format f = report::read_format(format);
  if (f == report::Format::kLatex) {
    throw InputError(fmt::format("{}: audit writes table, md, csv or json, not '{}' (gmha report "
                                 "--audit writes LaTeX tables)",
                                 flag, format));
  }
  return f;
}

void check_worst(int worst) {
  if (worst < 0) {
    throw InputError(fmt::format("--worst: {} is negative; give how many heads to list (0 or more)",
                                 worst));
  }
}

// NaN/Inf weights are a finding: the report is written, then the audit exits 1 (unless allowed).
void check_finite(const AuditReport& r, bool allowed) {
  const AuditSummary s = summarize(r);
  if (allowed || s.layers_with_nonfinite == 0) return;
  std::string first;
  for (const auto& l : r.layers) {
    if (!l.nonfinite_tensors.empty()) {
      first = l.nonfinite_tensors.front();
      break;
    }
  }
  throw CheckFailed(fmt::format(
      "{}: {} heads in {} layers hold NaN/Inf weights{}; they are reported as n/a and left out "
      "of the totals (--allow-nonfinite to exit 0)",
      r.checkpoint, s.nonfinite_heads, s.layers_with_nonfinite,
      first.empty() ? "" : fmt::format(" (first: {})", first)));
}

std::string render_report(const AuditReport& r, const std::string& format, bool spectra, int worst) {
  const report::Format f = audit_format(format, "--format");
  if (f == report::Format::kJson) return audit_to_json(r, spectra).dump(2) + "\n";
  if (f == report::Format::kCsv) return report::to_csv(csv_table(r));
  const std::string about = fmt::format("{}; energy rank at p = {}", describe_rank_tolerance(r), r.energy);
  const size_t width = report::text_width();
  std::string head = fmt::format("{}  ({}, {})\n{}\n\n", r.checkpoint, r.format, r.architecture,
                                 width > 0 ? report::wrap_text(about, width) : about);
  std::string text = head;
  for (const report::Table& t : {layer_table(r), worst_table(r, worst), summary_table(r)}) {
    text += report::render(t, f);
    text += "\n";
  }
  if (const report::Table ix = indexer_table(r); !ix.rows.empty()) text += report::render(ix, f) + "\n";
  if (const report::Table rt = recurrent_table(r); !rt.rows.empty()) text += report::render(rt, f) + "\n";
  if (const report::Table ot = output_group_table(r); !ot.rows.empty()) text += report::render(ot, f) + "\n";
  if (const report::Table ct = compressor_table(r); !ct.rows.empty()) text += report::render(ct, f) + "\n";
  text += notes_text(r);
  return text;
}

void run_audit(const AuditCliOptions& o) {
  if (o.path.empty()) throw InputError("audit: a checkpoint PATH (or `merge a.json b.json`, `diff A B`) is required");
  audit_format(o.format, "--format");  // fail on a bad --format or --worst before the work
  check_worst(o.worst);
  check_output(o.out);  // an audit can take minutes: refuse a bad --out first
  const Checkpoint ck = open_checkpoint(o.path);
  const Layout layout = detect_layout(ck);
  AuditOptions a;
  a.rank_tol = o.rank_tol;
  a.energy = o.energy;
  a.threads = o.threads;
  if (o.threads < 0) throw InputError("--threads: must be positive (0: all cores)");
  if (!o.layers.empty())
    a.layers = parse_layer_list(o.layers, layout.decoder_layers(), "--layers");
  a.progress = terminal_progress("audit", "layers");
  const AuditReport r = audit_checkpoint(ck, layout, a);
  emit(render_report(r, o.format, o.spectra, o.worst), o.out);
  check_finite(r, o.allow_nonfinite);
}

void run_merge(const AuditCliOptions& o) {
  audit_format(o.merge_format, "--format");
  check_worst(o.worst);
  std::vector<AuditReport> shards;
  for (const auto& p : o.merge_inputs) {
    shards.push_back(audit_from_json(parse_json_text(read_text_file(p), p), p));
  }
  const AuditReport merged = merge_audits(shards, o.merge_inputs);
  emit(render_report(merged, o.merge_format, true, o.worst), o.out);
  check_finite(merged, o.allow_nonfinite);
}

}  // namespace

void add_audit_command(CLI::App& app) {
  auto o = std::make_shared<AuditCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "audit",
      "Audit a checkpoint's attention ranks: for every layer and head, the singular values of the\n"
      "QK circuit W_c and the VO circuit U_c from thin factors (never a d×d matrix), with the\n"
      "numerical rank (σ above the storage rounding noise), energy rank at p, entropy effective\n"
      "rank (Roy & Vetterli), "
      "stable rank and σ₁; per layer the nominal FRH / SLSD / TER beside the measured ones, and\n"
      "flags for heads below nominal rank, dead heads and non-finite weights. Layouts: MHA/GQA/\n"
      "MQA (gates, sinks, K = V, per-layer geometry), MLA with the DSA indexer, GLA, GTA, MFA,\n"
      "MFA-KR, DeepSeek-V4 (grouped output LoRA), and recurrent layers' query/key factors (KDA,\n"
      "Gated DeltaNet, Mamba2, Mamba-1, lightning); RoPE circuits apart as qk_rope. Layers stream\n"
      "one at a time, so memory stays near one layer's attention weights.\n\n"
      "Examples:\n"
      "  gmha audit ../shared/data/stories260K-hf-f32\n"
      "  gmha audit ../shared/data/stories260K-gguf/stories260K.gguf --format csv --out ranks.csv\n"
      "  gmha audit ../shared/data/stories260K-hf-f32 --layers 0-2 --format json --out part0.json --spectra\n"
      "  gmha audit ../shared/data/stories260K-hf-f32 --layers 3-4 --format json --out part1.json --spectra\n"
      "  gmha audit merge part0.json part1.json --out all.json");
  cmd->add_option("path", o->path, "Checkpoint: safetensors file or folder, .gguf, llama2.c .bin");
  cmd->add_option("--format", o->format, "table | md | csv | json")->capture_default_str();
  cmd->add_option("--layers", o->layers, "Layers to audit, e.g. 0-3,10 (default: all)");
  cmd->add_option("--rank-tol", o->rank_tol,
                  "A fixed numerical-rank tolerance τ for every matrix, in (0, 1) (default: "
                  "noise-aware, each matrix's τ = 2 × its estimated storage rounding noise / σ₁; "
                  "docs/audit.md)");
  cmd->add_option("--energy", o->energy, "Energy level p of the energy rank")->capture_default_str();
  cmd->add_option("--threads", o->threads, "Worker threads (0: all cores)")->capture_default_str();
  cmd->add_flag("--spectra", o->spectra, "With --format json: include every singular value");
  cmd->add_option("--worst", o->worst, "Heads listed in the worst-heads table")->capture_default_str();
  cmd->add_option("--out", o->out, "Write the report to this file (atomically) instead of stdout");
  cmd->add_flag("--allow-nonfinite", o->allow_nonfinite,
                "Exit 0 even when weights hold NaN/Inf (they are still reported and left out)");
  CLI::App* merge = cmd->add_subcommand(
      "merge",
      "Join JSON shards of one audit (from `gmha audit --layers ... --format json`) into one\n"
      "report; fails when shards disagree on the model, τ or p, or overlap.\n\n"
      "Examples:\n"
      "  gmha audit merge part0.json part1.json --out all.json");
  merge->add_option("shards", o->merge_inputs, "JSON shards")->required();
  merge->add_option("--format", o->merge_format, "json | table | md | csv")->capture_default_str();
  merge->add_option("--out", o->out, "Write the report to this file (atomically)");
  merge->add_flag("--allow-nonfinite", o->allow_nonfinite, "Exit 0 even when a shard found NaN/Inf");
  merge->callback([o] { run_merge(*o); });
  CLI::App* diff = add_audit_diff_command(*cmd);
  cmd->require_subcommand(0, 1);
  cmd->callback([o, merge, diff] {
    if (!merge->parsed() && !diff->parsed()) run_audit(*o);
  });
}

}  // namespace gmha::cli
