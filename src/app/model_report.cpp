#include "gmha/app/model_report.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "gmha/app/throughput.hpp"
#include "gmha/capacity/cost.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/capacity/serving.hpp"
#include "gmha/core/atomic_file.hpp"
#include "gmha/core/error.hpp"
#include "gmha/report/svg_plot.hpp"
#include "gmha/report/table.hpp"
#include "gmha/report/units.hpp"

namespace gmha::app {
using namespace gmha::report;  // tables, units and SVG figures: the presentation layer
namespace {

// "numerical rank ..." → "Numerical rank ..." (ASCII first letter) to start a sentence.
std::string sentence_case(std::string text) {
  if (!text.empty() && text[0] >= 'a' && text[0] <= 'z') text[0] = static_cast<char>(text[0] - 'a' + 'A');
  return text;
}


namespace fs = std::filesystem;

// A report is a list of blocks rendered twice: to Markdown and to HTML.
struct Block {
  enum Kind { kHeading, kText, kTable, kFigure, kCode } kind = kText;
  int level = 2;
  std::string text;  // heading, paragraph, code, or figure caption
  Table table;
  std::string slug;  // table: tables/<slug>.tex; figure: figures/<slug>.svg
  std::string svg;
};

std::string html_escape(std::string_view s) { return xml_escape(s); }

std::string to_html(const Table& t) {
  std::string o = "<table>\n";
  if (!t.title.empty()) o += "<caption>" + html_escape(t.title) + "</caption>\n";
  o += "<thead><tr>";
  for (const auto& c : t.columns) {
    o += fmt::format("<th class=\"{}\">{}</th>", c.align == Align::kLeft ? "l" : "r",
                     html_escape(c.header));
  }
  o += "</tr></thead>\n<tbody>\n";
  for (const auto& row : t.rows) {
    o += "<tr>";
    for (size_t i = 0; i < row.size(); ++i) {
      const bool left = i < t.columns.size() && t.columns[i].align == Align::kLeft;
      o += fmt::format("<td class=\"{}\">{}</td>", left ? "l" : "r", html_escape(row[i]));
    }
    o += "</tr>\n";
  }
  o += "</tbody></table>\n";
  for (const auto& n : t.notes) o += "<p class=\"note\">" + html_escape(n) + "</p>\n";
  return o;
}

// Contexts for the figures: powers of two from 1K up to 1M (or the largest table context).
std::vector<int64_t> figure_contexts(const std::vector<int64_t>& table_contexts) {
  int64_t hi = int64_t{1} << 20;
  for (int64_t t : table_contexts) hi = std::max(hi, t);
  std::vector<int64_t> v;
  for (int64_t t = 1024; t <= hi; t *= 2) v.push_back(t);
  return v;
}

std::string model_label(const ModelDesign& m) { return m.name; }

// Context lengths as people write them: 8K, 32K, 128K (binary K), exact otherwise.
std::string tokens(int64_t t) {
  if (t >= 1024 && t % 1024 == 0) return format_tick(static_cast<double>(t), TickFormat::kTokens);
  return std::to_string(t);
}

Table capacity_table(const std::vector<ModelFigures>& figs) {
  Table t;
  t.title = "Capacity: heads, FRH, SLSD, TER, KV cache per token, parameters";
  t.columns = {{"model", Align::kLeft},
               {"variant", Align::kLeft},
               {"layers"},
               {"heads"},
               {"KV heads"},
               {"head dim"},
               {"FRH"},
               {"SLSD"},
               {"TER"},
               {"KV/token"},
               {"KV dtype", Align::kLeft},
               {"attn params"},
               {"total params"},
               {"active params"}};
  for (const auto& f : figs) {
    t.add_row({f.model, f.variant, std::to_string(f.layers), std::to_string(f.heads),
               std::to_string(f.kv_heads), std::to_string(f.head_dim), std::to_string(f.ranks.frh),
               std::to_string(f.ranks.slsd), std::to_string(f.ranks.ter),
               format_bytes(f.kv_bytes_per_token), f.kv_dtype,
               format_count(static_cast<double>(f.attn_params)),
               format_count(static_cast<double>(f.total_params)),
               format_count(static_cast<double>(f.active_params))});
  }
  t.notes.push_back(
      "FRH, SLSD, TER of the main softmax attention (MFA paper Table 1, docs/capacity.md); "
      "KV/token over all layers; parameters from the concrete weight shapes");
  return t;
}

Table decode_table(const std::vector<std::vector<ModelFigures>>& per_ctx) {
  Table t;
  t.title = "Per-token decode at context T (batch 1)";
  t.columns = {{"model", Align::kLeft}, {"T"},          {"KV cache"},
               {"KV read/token"},       {"attn FLOPs"}, {"linear FLOPs"},
               {"FFN FLOPs"},           {"FLOP/byte"}};
  for (const auto& row : per_ctx) {
    for (const auto& f : row) {
      t.add_row({f.model, tokens(f.context), format_bytes(f.kv_bytes),
                 format_bytes(f.decode_kv_bytes_read),
                 format_flops(static_cast<double>(f.attn_flops)),
                 format_flops(static_cast<double>(f.linear_flops)),
                 f.ffn_known ? format_flops(static_cast<double>(f.ffn_flops)) : "unknown",
                 format_number(f.arithmetic_intensity, 4)});
    }
  }
  t.notes.push_back("arithmetic intensity = core attention FLOPs / KV bytes read (docs/capacity.md)");
  return t;
}

Table cost_table(const std::vector<std::vector<ModelFigures>>& per_ctx,
                 const std::vector<Hardware>& cards, ComputeDType dtype) {
  Table t;
  t.title =
      "Decode cost per 1M tokens, Step-3 large-batch model (attention bound by max(compute, KV "
      "reads) + projections; FFN compute-bound; weight reads amortised away)";
  t.columns = {{"model", Align::kLeft},
               {"T"},
               {"card", Align::kLeft},
               {"attention"},
               {"FFN"},
               {"total (one card)"},
               {"attention bound", Align::kLeft}};
  for (const auto& row : per_ctx) {
    for (const auto& f : row) {
      const CostFigures c = compute_cost(f, cards, dtype);
      for (const auto& cc : c.cards) {
        t.add_row({f.model, tokens(f.context), cc.card, format_usd(cc.attn_usd_per_mtok),
                   format_usd(cc.ffn_usd_per_mtok), format_usd(cc.total_usd_per_mtok), cc.bound});
      }
      t.add_row({f.model, tokens(f.context),
                 fmt::format("AFD: {} + {}", c.afd_attn_card, c.afd_ffn_card), "", "",
                 format_usd(c.afd_usd_per_mtok), "disaggregated"});
    }
  }
  t.notes.push_back(
      "AFD = attention on its cheapest card + FFN on its cheapest card (Step-3 paper)");
  t.notes.push_back(fmt::format("peak charged: {} dense where the card has it, else the next wider",
                                compute_dtype_name(dtype)));
  return t;
}

// Serving at the first context: batch 1 and the largest batch that fits, per model and card.
Table serving_table(const std::vector<ThroughputCurve>& curves, int64_t tp, int64_t ep) {
  Table t;
  t.title = fmt::format("Serving on TP {}{} card groups: batch 1 and the largest batch that fits", tp,
                        ep > 1 ? fmt::format(", EP {}", ep) : "");
  t.columns = {{"model", Align::kLeft}, {"T"},          {"card", Align::kLeft}, {"weights/device"},
               {"ms/token B=1"},        {"$/1M B=1"},   {"largest B"},          {"tok/s/device"},
               {"$/1M at B"},           {"TTFT"}};
  for (const auto& c : curves) {
    const ThroughputPoint& one = c.points.front();
    const ThroughputPoint* best = nullptr;
    for (const auto& p : c.points) {
      if (p.fits) best = &p;
    }
    t.add_row({c.model, tokens(c.context), c.card, format_bytes(one.step.weight_bytes_per_device),
               format_number(one.ms_per_token, 4), format_usd(one.step.usd_per_mtok),
               best ? std::to_string(best->step.batch) : "none",
               best ? format_number(best->step.tokens_per_second_per_device, 4) : "-",
               best ? format_usd(best->step.usd_per_mtok) : "-",
               format_number(one.step.ttft_seconds * 1e3, 4) + " ms"});
  }
  t.notes.push_back("a step reads the active weights once and every sequence's KV (docs/capacity.md)");
  return t;
}

std::string slug_of(std::string s) {
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
}

// --- the audit section -------------------------------------------------------------------------

void audit_blocks(const AuditReport& a, const std::string& source, size_t worst_n,
                  std::vector<Block>& out) {
  const AuditSummary s = summarize(a);
  out.push_back({Block::kHeading, 2, "Rank audit"});
  out.push_back(
      {Block::kText, 0,
       fmt::format("Checkpoint {} ({}, {}), {} of {} layers audited, {} heads. {}; "
                   "energy rank at p = {}. Nominal TER {}, "
                   "measured TER {} (sum of QK numerical ranks), sum of QK entropy "
                   "effective ranks {}. Layers with measured SLSD below nominal: {}; heads "
                   "below nominal rank: {}; dead heads: {}; layers with non-finite weights: {} ({} heads left out of the totals).",
                   source, a.format, a.architecture, s.layers, a.model_layers, s.heads,
                   sentence_case(describe_rank_tolerance(a)), format_number(a.energy, 4),
                   s.nominal_ter, s.measured_ter, format_number(s.measured_ter_entropy, 5),
                   s.layers_slsd_below_nominal, s.heads_below_nominal, s.dead_heads, s.layers_with_nonfinite,
                   s.nonfinite_heads)});
  Table lt;
  lt.title = "Per layer: nominal vs measured capacity";
  lt.columns = {{"layer"},        {"variant", Align::kLeft},   {"FRH"},
                {"SLSD nominal"}, {"SLSD measured"},           {"TER nominal"},
                {"TER measured"}, {"Σ entropy rank"},          {"below nominal"},
                {"dead"},         {"non-finite", Align::kLeft}};
  for (const auto& l : a.layers) {
    std::string nf;
    for (const auto& n : l.nonfinite_tensors) nf += (nf.empty() ? "" : ", ") + n;
    lt.add_row({std::to_string(l.layer), l.variant + (l.parallel ? " (parallel)" : ""), std::to_string(l.nominal.frh),
                std::to_string(l.nominal.slsd), !l.audited ? "-" : l.key_finite ? std::to_string(l.measured_slsd) : "n/a",
                std::to_string(l.nominal.ter), l.audited ? std::to_string(l.measured_ter) : "-",
                l.audited ? format_number(l.measured_ter_entropy, 5) : "-",
                std::to_string(l.heads_below_nominal), std::to_string(l.dead_heads),
                nf.empty() ? "" : nf});
  }
  Block tb{Block::kTable};
  tb.table = lt;
  tb.slug = "audit_layers";
  out.push_back(tb);

  // Figures: TER and SLSD per layer, nominal against measured.
  LinePlot ter;
  ter.title = "TER per layer: nominal vs measured";
  ter.x = {"layer", AxisScale::kLinear, TickFormat::kNumber};
  ter.y = {"total effective rank (TER)", AxisScale::kLinear, TickFormat::kNumber};
  ter.y.min = 0;
  PlotSeries nom{"nominal TER"}, mea{"measured TER (Σ numerical rank)"},
      ent{"Σ entropy effective rank"};
  LinePlot slsd;
  slsd.title = "SLSD per layer: nominal vs measured";
  slsd.x = ter.x;
  slsd.y = {"shared latent subspace dim (SLSD)", AxisScale::kLinear, TickFormat::kNumber};
  slsd.y.min = 0;
  PlotSeries snom{"nominal SLSD"}, smea{"measured SLSD"};
  for (const auto& l : a.layers) {
    if (!l.audited) continue;
    const double x = static_cast<double>(l.layer);
    nom.x.push_back(x);
    nom.y.push_back(static_cast<double>(l.nominal.ter));
    mea.x.push_back(x);
    mea.y.push_back(static_cast<double>(l.measured_ter));
    ent.x.push_back(x);
    ent.y.push_back(l.measured_ter_entropy);
    snom.x.push_back(x);
    snom.y.push_back(static_cast<double>(l.nominal.slsd));
    if (l.key_finite) {  // no point where the keys held NaN/Inf
      smea.x.push_back(x);
      smea.y.push_back(static_cast<double>(l.measured_slsd));
    }
  }
  nom.markers = false;  // measured markers sit on it where the two agree
  snom.markers = false;
  ter.series = {nom, mea, ent};
  slsd.series = {snom, smea};
  out.push_back({Block::kFigure,
                 0,
                 "Measured TER (sum of the heads' QK numerical ranks) and the sum of QK entropy "
                 "effective ranks against the nominal TER (plain line), per layer; where they "
                 "agree the measured markers sit on the nominal line.",
                 {},
                 "audit_ter",
                 render_line_plot(ter)});
  out.push_back({Block::kFigure,
                 0,
                 "Measured SLSD (numerical rank of the stacked key factors) against nominal.",
                 {},
                 "audit_slsd",
                 render_line_plot(slsd)});

  // Heat map: QK entropy effective rank, layers x heads (NaN where a layer has fewer heads or
  // a non-finite circuit).
  size_t max_heads = 0;
  for (const auto& l : a.layers) max_heads = std::max(max_heads, l.heads.size());
  if (max_heads > 0) {
    HeatMap h;
    h.title = "QK entropy effective rank per head";
    h.x_label = "head";
    h.y_label = "layer";
    h.value_label = "entropy effective rank (QK)";
    for (const auto& l : a.layers) {
      if (!l.audited) continue;
      std::vector<double> row(max_heads, std::nan(""));
      for (size_t i = 0; i < l.heads.size(); ++i) {
        if (l.heads[i].qk.finite) row[i] = l.heads[i].qk.metrics.entropy_rank;
      }
      h.values.push_back(row);
      h.row_labels.push_back(std::to_string(l.layer));
    }
    // Scale from 0 to the largest nominal rank, so full rank reads as the bright end.
    h.min = 0;
    int64_t nominal = 0;
    for (const auto& l : a.layers) {
      for (const auto& hd : l.heads) nominal = std::max(nominal, hd.qk.nominal_rank);
    }
    if (nominal > 0) h.max = static_cast<double>(nominal);
    if (!h.values.empty()) {
      out.push_back({Block::kFigure,
                     0,
                     "Entropy effective rank (Roy & Vetterli) of every head's QK circuit, on a "
                     "scale from 0 to the nominal rank; crossed cells have no finite value.",
                     {},
                     "audit_entropy_heatmap",
                     render_heat_map(h)});
    }
  }

  // Worst heads: lowest QK entropy rank relative to the nominal rank.
  struct Ref {
    const LayerAudit* l;
    const HeadAudit* h;
    double ratio;
  };
  std::vector<Ref> refs;
  for (const auto& l : a.layers) {
    for (const auto& h : l.heads) {
      if (!h.qk.finite || h.qk.nominal_rank <= 0) continue;
      refs.push_back({&l, &h, h.qk.metrics.entropy_rank / static_cast<double>(h.qk.nominal_rank)});
    }
  }
  std::stable_sort(refs.begin(), refs.end(),
                   [](const Ref& x, const Ref& y) { return x.ratio < y.ratio; });
  if (refs.size() > worst_n) refs.resize(worst_n);
  if (!refs.empty()) {
    Table wt;
    wt.title = "Worst heads by QK entropy effective rank / nominal rank";
    wt.columns = {{"layer"},       {"head"},         {"nominal rank"}, {"numerical rank"},
                  {"energy rank"}, {"entropy rank"}, {"stable rank"},  {"σ₁"}};
    LinePlot sp;
    sp.title = "QK spectra of the worst heads";
    sp.x = {"index i", AxisScale::kLinear, TickFormat::kNumber};
    sp.y = {"σᵢ / σ₁", AxisScale::kLog, TickFormat::kNumber};
    bool have_sigma = false;
    for (const Ref& r : refs) {
      const RankMetrics& m = r.h->qk.metrics;
      wt.add_row({std::to_string(r.l->layer), std::to_string(r.h->head),
                  std::to_string(r.h->qk.nominal_rank), std::to_string(m.numerical_rank),
                  std::to_string(m.energy_rank), format_number(m.entropy_rank, 4),
                  format_number(m.stable_rank, 4), format_number(m.sigma_1, 4)});
      const auto& sig = r.h->qk.sigma;
      if (sig.empty() || !(sig[0] > 0)) continue;
      PlotSeries ps;
      ps.name = fmt::format("layer {} head {}", r.l->layer, r.h->head);
      for (size_t i = 0; i < sig.size(); ++i) {
        ps.x.push_back(static_cast<double>(i + 1));
        ps.y.push_back(sig[i] / sig[0]);
      }
      ps.markers = sig.size() <= 64;
      sp.series.push_back(ps);
      have_sigma = true;
    }
    Block wb{Block::kTable};
    wb.table = wt;
    wb.slug = "audit_worst_heads";
    out.push_back(wb);
    if (have_sigma) {
      // A fixed τ is one line; noise-aware τ differ per circuit, so the line is the largest of
      // the heads drawn (a value under it may still count for a head with a smaller τ).
      double tau = a.rank_tol;
      if (a.rank_tol_mode != "fixed") {
        tau = 0.0;
        for (const Ref& r : refs) tau = std::max(tau, r.h->qk.rank_tol);
      }
      sp.references.push_back({tau, fmt::format("τ = {}", format_number(tau, 3))});
      out.push_back({Block::kFigure,
                     0,
                     a.rank_tol_mode == "fixed"
                         ? "Normalised singular values of the worst heads' QK circuits; values "
                           "under the τ line do not count towards the numerical rank."
                         : "Normalised singular values of the worst heads' QK circuits; the line "
                           "is the largest of these heads' noise-aware τ (each head's own τ "
                           "decides its numerical rank).",
                     {},
                     "audit_worst_spectra",
                     render_line_plot(sp)});
    } else {
      out.push_back({Block::kText, 0,
                     "(The audit JSON has no spectra: run `gmha audit --spectra --format json` to "
                     "plot them.)"});
    }
  }
}

// --- the audit-diff section (docs/audit.md, "audit diff") ------------------------------------

// Layers × heads of `angle(head)`, NaN for a non-finite head; layers without circuits left out.
HeatMap angle_map(const AuditDiffReport& d, const std::string& circuit,
                  double (*angle)(const HeadDiff&)) {
  HeatMap h;
  h.title = circuit + " subspace angle per head";
  h.x_label = "head";
  h.y_label = "layer";
  h.value_label = "largest angle (degrees)";
  size_t max_heads = 0;
  for (const auto& l : d.layers) max_heads = std::max(max_heads, l.heads.size());
  for (const auto& l : d.layers) {
    if (!l.audited) continue;
    std::vector<double> row(max_heads, std::nan(""));
    for (size_t i = 0; i < l.heads.size(); ++i)
      if (l.heads[i].finite()) row[i] = angle(l.heads[i]);
    h.values.push_back(row);
    h.row_labels.push_back(std::to_string(l.layer));
  }
  h.min = 0;  // no movement reads as the dark end
  return h;
}

void audit_diff_blocks(const AuditDiffReport& d, std::vector<Block>& out) {
  out.push_back({Block::kHeading, 2, "Audit diff"});
  out.push_back(
      {Block::kText, 0,
       fmt::format("A = {} ({}, {}), B = {} ({}, {}); {} of {} layers compared. For every head's QK "
                   "and VO circuit, r is A's energy rank at p = {}, and an angle is the largest "
                   "principal angle between A's and B's top-r singular subspaces, in degrees "
                   "(the larger of the left and right sides). ‖ΔW‖/σ₁ = ‖W_B − W_A‖₂ / σ₁ of A. "
                   "A large angle beside a small spectral gap at r says the cut is ill-defined, "
                   "not that the head moved much (docs/audit.md).",
                   d.a, d.a_format, d.a_architecture, d.b, d.b_format, d.b_architecture,
                   d.layers.size(), d.model_layers, format_number(d.energy, 4))});
  Table t;
  t.title = "Per layer: how far the heads moved (degrees; Δ = B − A)";
  t.columns = {{"layer"},         {"variant", Align::kLeft}, {"heads"},
               {"max angle"},     {"mean QK angle"},         {"mean VO angle"},
               {"max ‖ΔW‖/σ₁"},   {"max |Δσ₁|/σ₁"},          {"energy-rank changes"},
               {"non-finite heads"}};
  for (const auto& l : d.layers) {
    const LayerDiffSummary s = summarize_layer(l);
    const std::string variant = l.kind_label();
    if (!l.audited && s.factors == 0) {
      t.add_row({std::to_string(l.layer), variant, "-", "-", "-", "-", "-", "-", "-", "-"});
      continue;
    }
    // A recurrent layer's row holds its query/key factors' figures (no heads, no QK/VO means).
    const bool heads = l.audited;
    t.add_row({std::to_string(l.layer), variant, heads ? std::to_string(s.heads) : "-",
               format_number(s.max_angle_deg, 3), heads ? format_number(s.mean_qk_angle_deg, 3) : "-",
               heads ? format_number(s.mean_vo_angle_deg, 3) : "-", format_number(s.max_change_rel, 3),
               format_number(s.max_rel_sigma_1_change, 3), std::to_string(s.energy_rank_changes),
               std::to_string(s.nonfinite_heads + s.nonfinite_factors)});
  }
  Block tb{Block::kTable};
  tb.table = t;
  tb.slug = "audit_diff_layers";
  out.push_back(tb);
  const HeatMap qk = angle_map(d, "QK", [](const HeadDiff& h) { return h.qk.max_angle_deg(); });
  if (qk.values.empty()) return;  // no layer with circuits
  const HeatMap vo = angle_map(d, "VO", [](const HeadDiff& h) { return h.vo.max_angle_deg(); });
  out.push_back({Block::kFigure, 0,
                 "Largest principal angle between A's and B's top-r singular subspaces of every "
                 "head's QK circuit (the larger of the query and key sides); crossed cells have no "
                 "finite value.",
                 {}, "audit_diff_qk_angles", render_heat_map(qk)});
  out.push_back({Block::kFigure, 0,
                 "The same for the VO circuits (the larger of the value and output sides).",
                 {}, "audit_diff_vo_angles", render_heat_map(vo)});
}

}  // namespace

std::vector<ReportFile> build_report(const ReportInput& in) {
  if (in.models.empty() && !in.audit && !in.audit_diff) {
    throw InputError("gmha report: nothing to report: give models, --design, --audit or --audit-diff");
  }
  for (int64_t t : in.contexts) {
    if (t <= 0) throw errors::option_not_positive("context", t);
  }
  std::vector<Block> blocks;
  blocks.push_back({Block::kHeading, 1, in.title});
  if (!in.command.empty()) {
    blocks.push_back({Block::kText, 0, "Reproduce with:"});
    blocks.push_back({Block::kCode, 0, in.command});
  }

  if (!in.models.empty()) {
    const std::vector<int64_t> contexts =
        in.contexts.empty() ? std::vector<int64_t>{8192} : in.contexts;
    // Figures at every table context, and at a grid of contexts for the plots.
    std::vector<std::vector<ModelFigures>> per_ctx;
    for (int64_t t : contexts) {
      std::vector<ModelFigures> row;
      for (const auto& m : in.models) row.push_back(compute_figures(m, {t, 1, in.convention}));
      per_ctx.push_back(std::move(row));
    }
    blocks.push_back({Block::kHeading, 2, "Models"});
    std::string list;
    for (const auto& m : in.models) {
      list += fmt::format("- {}: {}{}\n", m.name,
                          m.spec.empty() ? "(no single --design spec: its layers differ)" : m.spec,
                          m.source.empty() ? "" : " — source: " + m.source);
    }
    blocks.push_back({Block::kText, 0, list});
    if (!in.cards.empty()) {
      Table ct;
      ct.title = "Cards";
      ct.columns = {{"card", Align::kLeft}, {"$/hour"}, {"peak FLOP/s (charged)"}, {"bandwidth"},
                    {"ridge FLOP/byte"},    {"memory"}, {"source", Align::kLeft}};
      ct.notes.push_back(fmt::format("peak charged: {} dense, or the next wider precision a card has",
                                     compute_dtype_name(in.compute_dtype)));
      for (const auto& h : in.cards) {
        ct.add_row({h.name, format_number(h.usd_per_hour, 4),
                    format_flop_rate(h.peak_flops(in.compute_dtype)) + " " +
                        std::string(compute_dtype_name(h.charged_dtype(in.compute_dtype))),
                    format_number(h.bandwidth / 1e12, 4) + " TB/s",
                    format_number(h.ridge(in.compute_dtype), 4),
                    h.memory_bytes > 0 ? format_number(h.memory_bytes / 1e9, 4) + " GB" : "unknown",
                    h.source});
      }
      Block b{Block::kTable};
      b.table = ct;
      b.slug = "cards";
      blocks.push_back(b);
    }
    blocks.push_back({Block::kHeading, 2, "Capacity"});
    Block cap{Block::kTable};
    cap.table = capacity_table(per_ctx.front());
    cap.slug = "capacity";
    blocks.push_back(cap);
    blocks.push_back({Block::kHeading, 2, "Decode per token"});
    Block dec{Block::kTable};
    dec.table = decode_table(per_ctx);
    dec.table.notes.push_back(fmt::format(
        "convention: {}", in.convention == Convention::kExact ? "exact" : "step3-paper"));
    dec.slug = "decode";
    blocks.push_back(dec);
    if (!in.cards.empty()) {
      blocks.push_back({Block::kHeading, 2, "Cost"});
      Block cost{Block::kTable};
      cost.table = cost_table(per_ctx, in.cards, in.compute_dtype);
      cost.slug = "cost";
      blocks.push_back(cost);
    }
    // The serving frontier at the first table context, per model and card with a memory size.
    std::vector<ThroughputCurve> frontier;
    std::vector<ServingModel> serving;  // per model, at every figure context (KV figure)
    for (const auto& m : in.models) {
      ThroughputOptions to;
      to.context = contexts.front();
      to.serving.tp = in.tp;
      to.serving.ep = in.ep;
      to.serving.compute_dtype = in.compute_dtype;
      to.serving.weights = weights_of(m, in.weight_dtype);
      for (const auto& h : in.cards) {
        if (h.memory_bytes > 0) frontier.push_back(throughput_curve(m, h, to, in.convention));
      }
    }
    if (!frontier.empty()) {
      blocks.push_back({Block::kHeading, 2, "Serving"});
      Block st{Block::kTable};
      st.table = serving_table(frontier, in.tp, in.ep);
      st.slug = "serving";
      blocks.push_back(st);
      bool any_fits = false;
      for (const auto& c : frontier) {
        for (const auto& p : c.points) any_fits = any_fits || p.fits;
      }
      if (any_fits) {
        blocks.push_back(
            {Block::kFigure,
             0,
             fmt::format("Throughput against latency at T = {}, TP {}: each point a batch (1, 2, 4, ... "
                         "up to the largest that fits in memory); a step reads the weights once "
                         "and every sequence's KV, at the {} peak.",
                         tokens(contexts.front()), in.tp, compute_dtype_name(in.compute_dtype)),
             {},
             "throughput_latency",
             throughput_svg(frontier, "Output tokens/s per device vs ms per token")});
      }
    }

    // Figures over a grid of contexts.
    const std::vector<int64_t> grid = figure_contexts(contexts);
    std::vector<std::vector<ModelFigures>> curve;  // [model][context]
    for (const auto& m : in.models) {
      std::vector<ModelFigures> c;
      for (int64_t t : grid) c.push_back(compute_figures(m, {t, 1, in.convention}));
      curve.push_back(std::move(c));
    }
    blocks.push_back({Block::kHeading, 2, "Figures"});
    // Per device at the report's TP: one sequence's cache, and the memory the weights leave.
    std::vector<ServingOptions> serve_opts;
    for (const auto& m : in.models) {
      ServingOptions so;
      so.tp = in.tp;
      so.ep = in.ep;
      so.compute_dtype = in.compute_dtype;
      so.weights = weights_of(m, in.weight_dtype);
      serve_opts.push_back(so);
    }
    LinePlot kv;
    kv.title = fmt::format("KV cache of one sequence per device vs context (TP {})", in.tp);
    kv.x = {"context length T (tokens)", AxisScale::kLog, TickFormat::kTokens};
    kv.y = {"KV cache per device (bytes, binary units, batch 1)", AxisScale::kLog, TickFormat::kBytes};
    std::string no_room;
    for (size_t i = 0; i < in.models.size(); ++i) {
      PlotSeries s{model_label(in.models[i])};
      double weights = 0;
      for (const auto& f : curve[i]) {
        if (f.beyond_max_context) break;  // plots stop at max_position_embeddings
        const ServingModel sm = serving_model(in.models[i], f, serve_opts[i]);
        weights = sm.weight_bytes_per_device;
        s.x.push_back(static_cast<double>(f.context));
        s.y.push_back(sm.kv_bytes_per_sequence_per_device);
      }
      kv.series.push_back(s);
      std::string too_small;  // cards whose memory the weights alone exceed
      for (const auto& h : in.cards) {
        if (h.memory_bytes <= 0) continue;
        const double room = h.memory_bytes - weights;
        if (room > 0) {
          kv.references.push_back({room, fmt::format("{} - {} weights: {}", h.name, model_label(in.models[i]),
                                                     format_bytes(room))});
        } else {
          too_small += (too_small.empty() ? "" : ", ") + h.name;
        }
      }
      if (!too_small.empty()) {
        no_room += fmt::format(" {}'s weights per device ({}) exceed the memory of {}.",
                               model_label(in.models[i]), format_bytes(weights), too_small);
      }
    }
    blocks.push_back({Block::kFigure,
                      0,
                      "KV cache of one sequence per device (all layers, replicated streams counted on "
                      "every device that holds them) against context, up to each model's "
                      "max_position_embeddings; dashed lines: a card's memory minus the model's "
                      "weights per device." + no_room,
                      {},
                      "kv_cache_vs_context",
                      render_line_plot(kv)});

    // A roofline: attainable FLOP/s against arithmetic intensity, log-log. Each card's roof is
    // min(peak, bandwidth x I) at the charged precision; each model's decode attention is a
    // point per context on each card's roof.
    LinePlot roof;
    roof.title = fmt::format("Roofline of decode attention ({} peaks)", compute_dtype_name(in.compute_dtype));
    roof.x = {"arithmetic intensity (attention FLOP per KV byte read)", AxisScale::kLog,
              TickFormat::kNumber};
    roof.y = {"attainable FLOP/s", AxisScale::kLog, TickFormat::kNumber};
    double lo = 1, hi = 1e4;
    for (const auto& h : in.cards) hi = std::max(hi, 4 * h.ridge(in.compute_dtype));
    for (const auto& h : in.cards) {
      const double peak = h.peak_flops(in.compute_dtype);
      PlotSeries r{fmt::format("{} roof ({})", h.name, compute_dtype_name(h.charged_dtype(in.compute_dtype)))};
      r.x = {lo, h.ridge(in.compute_dtype), hi};
      r.y = {h.bandwidth * lo, peak, peak};
      r.markers = false;
      roof.series.push_back(r);
    }
    for (size_t i = 0; i < in.models.size(); ++i) {
      PlotSeries s{model_label(in.models[i])};
      s.line = false;
      for (const auto& row : per_ctx) {
        const ModelFigures& f = row[i];
        if (f.arithmetic_intensity <= 0) continue;
        for (const auto& h : in.cards) {
          s.x.push_back(f.arithmetic_intensity);
          s.y.push_back(std::min(h.peak_flops(in.compute_dtype), h.bandwidth * f.arithmetic_intensity));
        }
      }
      roof.series.push_back(s);
    }
    blocks.push_back(
        {Block::kFigure,
         0,
         fmt::format("Roofline: each card's attainable FLOP/s, min({} peak, bandwidth x intensity), "
                     "against arithmetic intensity (core attention FLOPs / KV bytes read); each "
                     "model's decode attention at the table contexts sits on every card's roof: left "
                     "of a card's ridge it is memory-bound there, right of it compute-bound.",
                     compute_dtype_name(in.compute_dtype)),
         {},
         "roofline",
         render_line_plot(roof)});

    for (const auto& h : in.cards) {
      LinePlot cp;
      cp.title = fmt::format("Decode cost per 1M tokens on {}", h.name);
      cp.x = kv.x;
      cp.y = {"USD per 1M tokens (attention + FFN, one card)", AxisScale::kLog, TickFormat::kUsd};
      for (size_t i = 0; i < in.models.size(); ++i) {
        PlotSeries s{model_label(in.models[i])};
        for (const auto& f : curve[i]) {
          if (f.beyond_max_context) break;  // plots stop at max_position_embeddings
          const CostFigures c = compute_cost(f, {h}, in.compute_dtype);
          s.x.push_back(static_cast<double>(f.context));
          s.y.push_back(c.cards.front().total_usd_per_mtok);
        }
        cp.series.push_back(s);
      }
      blocks.push_back({Block::kFigure,
                        0,
                        fmt::format("Cost per 1M decoded tokens against context on {} (${}/hour).",
                                    h.name, format_number(h.usd_per_hour, 4)),
                        {},
                        "cost_" + slug_of(h.name),
                        render_line_plot(cp)});
    }
  }
  if (in.audit) audit_blocks(*in.audit, in.audit_source, in.worst_heads, blocks);
  if (in.audit_diff) audit_diff_blocks(*in.audit_diff, blocks);

  // Render.
  std::vector<ReportFile> files;
  std::string md, html;
  html +=
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\n<title>" +
      html_escape(in.title) +
      "</title>\n<style>\nbody{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;max-width:"
      "1100px;margin:2em auto;padding:0 1em;color:#222}\ntable{border-collapse:collapse;"
      "margin:1em 0;font-size:13px}\ncaption{font-weight:bold;text-align:left;padding:4px 0}\n"
      "th,td{padding:3px 8px;border-bottom:1px solid #ddd}\nthead th{border-bottom:2px solid "
      "#444}\n.r{text-align:right}.l{text-align:left}\n.note{font-size:12px;color:#555;margin:"
      "0}\nfigure{margin:1.5em 0}\nfigcaption{font-size:13px;color:#444}\npre{background:#f4f4f4;"
      "padding:8px;overflow-x:auto}\nsvg{max-width:100%;height:auto}\n</style></head><body>\n";
  for (const Block& b : blocks) {
    switch (b.kind) {
      case Block::kHeading:
        md += std::string(static_cast<size_t>(b.level), '#') + " " + b.text + "\n\n";
        html += fmt::format("<h{0}>{1}</h{0}>\n", b.level, html_escape(b.text));
        break;
      case Block::kText:
        md += b.text + "\n\n";
        if (b.text.rfind("- ", 0) == 0) {  // a bullet list
          html += "<ul>\n";
          size_t pos = 0;
          while (pos < b.text.size()) {
            size_t nl = b.text.find('\n', pos);
            std::string line =
                b.text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
            if (line.size() > 2) html += "<li>" + html_escape(line.substr(2)) + "</li>\n";
            if (nl == std::string::npos) break;
            pos = nl + 1;
          }
          html += "</ul>\n";
        } else {
          html += "<p>" + html_escape(b.text) + "</p>\n";
        }
        break;
      case Block::kCode:
        md += "```sh\n" + b.text + "\n```\n\n";
        html += "<pre>" + html_escape(b.text) + "</pre>\n";
        break;
      case Block::kTable:
        md += "**" + b.table.title + "**\n\n";
        {
          Table t = b.table;
          t.title.clear();  // printed above in bold
          md += to_markdown(t) + "\n";
        }
        html += to_html(b.table);
        if (!b.slug.empty()) {
          Table labelled = b.table;  // \label{tab:<slug>}, so a paper can \ref the table
          labelled.label = b.slug;
          files.push_back({"tables/" + b.slug + ".tex", to_latex(labelled)});
          md += fmt::format("LaTeX: [tables/{0}.tex](tables/{0}.tex)\n\n", b.slug);
        }
        break;
      case Block::kFigure: {
        const std::string name = "figures/" + b.slug + ".svg";
        files.push_back({name, b.svg});
        md += fmt::format("![{0}]({1})\n\n*{0}*\n\n", b.text, name);
        // Inline the SVG (minus any XML prolog) so the HTML needs no other file.
        html += "<figure>\n" + b.svg + "<figcaption>" + html_escape(b.text) +
                "</figcaption>\n</figure>\n";
        break;
      }
    }
  }
  html += "</body></html>\n";
  files.insert(files.begin(), {"report.html", html});
  files.insert(files.begin(), {"report.md", md});
  return files;
}

// The checks that keep a report from replacing anything else; --force skips them.
void check_report_target(const std::string& dir) {
  const fs::path target = fs::absolute(fs::path(dir)).lexically_normal();
  std::error_code ec;
  if (!fs::is_directory(target, ec) || fs::is_empty(target, ec)) return;
  // Replace only an earlier report (or an empty folder); never a checkpoint or anything else.
  if (!fs::exists(target / "report.md")) {
    throw InputError(
        fmt::format("report folder {}: exists and is not a gmha report (no "
                    "report.md); choose a new folder",
                    dir));
  }
  for (const auto& e : fs::directory_iterator(target, ec)) {
    const std::string n = e.path().filename().string();
    if (n == "config.json" || n.ends_with(".safetensors") || n.ends_with(".gguf") ||
        n.ends_with(".bin")) {
      throw InputError(
          fmt::format("report folder {}: holds checkpoint file {}; refusing to replace it", dir, n));
    }
  }
}

// Writes one file of the report inside the staging folder.
void write_report_file(const fs::path& root, const ReportFile& f, const std::string& dir) {
  const fs::path p = root / f.name;
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out.write(f.content.data(), static_cast<std::streamsize>(f.content.size()));
  out.flush();
  if (!out) throw InputError(fmt::format("report folder {}: cannot write {}", dir, f.name));
}

void write_report_folder(const std::string& dir, const std::vector<ReportFile>& files,
                         bool force) {
  if (dir.empty()) throw errors::bad_option("out", "give a folder for the report");
  if (!force) check_report_target(dir);
  uint64_t bytes = 0;
  for (const auto& f : files) bytes += f.content.size();
  require_free_space("report folder", dir, bytes);  // statvfs on dir or its nearest existing ancestor
  // The folder checks above are the report's own; the stage only has to refuse non-folders.
  StagedFolder stage("report folder", dir, true, [](const std::string&) { return true; });
  try {
    for (const auto& f : files) write_report_file(stage.path(), f, dir);
  } catch (const fs::filesystem_error& e) {
    throw InputError(fmt::format("report folder {}: {}", dir, e.what()));
  }
  stage.commit();
}

}  // namespace gmha::app
