#include "cli/capacity_tables.hpp"

#include <cmath>
#include <cstdint>
#include <set>

#include <fmt/format.h>

#include "gmha/core/parse.hpp"
#include "gmha/report/units.hpp"

namespace gmha::cli {

using report::Align;
using report::Table;
using namespace report;

namespace {
std::string context_label(int64_t t) { return format_token_count(t); }
}  // namespace

std::string kind_geometry(const LayerSpec& l) {
  const AttentionShape& a = l.attention;
  switch (mixer_kind(l)) {
    case MixerKind::kNone: return "-";
    case MixerKind::kRecurrent:
      if (a.recurrent == RecurrentKind::kShortConv) return fmt::format("conv {}x{}", a.inner, a.conv_kernel);
      if (a.recurrent == RecurrentKind::kMamba) return fmt::format("{} x N {}", a.inner, a.state_value_dim);
      return fmt::format("{}h x {}x{}{}", a.heads, a.head_dim, a.state_value_dim,
                         a.key_heads > 0 ? fmt::format(" ({} key)", a.key_heads) : "");
    case MixerKind::kSoftmax: break;
  }
  if (a.variant == Variant::kMla) {
    return fmt::format("{}h, C {} + rope {}{}", a.heads, a.kv_lora_rank, a.qk_rope_dim,
                       a.index_head_dim > 0 ? fmt::format(", indexer {}x{}", a.index_heads, a.index_head_dim) : "");
  }
  switch (a.variant) {
    case Variant::kGla:
      return fmt::format("{}h, {} x C {} + rope {}", a.heads, a.kv_heads, a.kv_lora_rank, a.qk_rope_dim);
    case Variant::kMtla:
      return fmt::format("{}h, C {} + rope {}, stride {}", a.heads, a.kv_lora_rank, a.qk_rope_dim, a.temporal_stride);
    case Variant::kGta:
      return fmt::format("{}/{} x {} tied + rope {}", a.heads, a.kv_heads, a.head_dim, a.qk_rope_dim);
    case Variant::kTpa:
      return fmt::format("{}h x {}, R {}/{}/{}{}", a.heads, a.head_dim, a.tpa_rank_q, a.tpa_rank_k, a.tpa_rank_v,
                         a.tpa_noncontextual ? ", non-contextual" : "");
    default:
      break;
  }
  std::string g = fmt::format("{}/{} x {}", a.heads, a.kv_heads, a.head_dim);
  if (a.v_head_dim > 0 && a.v_head_dim != a.head_dim) g += fmt::format("/{}", a.v_head_dim);
  if (a.kv_tied) g += ", K=V";
  if (a.sinks) g += ", sinks";
  if (a.gate != OutputGate::kNone) g += ", gated";
  return g;
}

std::string kind_fill(const LayerSpec& l) {
  if (mixer_kind(l) != MixerKind::kSoftmax) return "-";
  std::string s = fill_rule_label(l.span);
  if (l.kv_source >= 0) s += fmt::format(", cache of {}", l.kv_source);
  return s;
}

Table capacity_table(const std::vector<CompareRow>& rows) {
  Table t;
  t.title = "Capacity (per layer of the main attention; KV per token over all layers)";
  t.columns = {{"model", Align::kLeft}, {"variant", Align::kLeft}, {"layers"}, {"heads"},
               {"kv heads"}, {"head dim"}, {"FRH"}, {"SLSD"}, {"TER"}, {"KV/token"},
               {"attn params"}, {"total params"}, {"active params"}};
  std::set<std::string> seen;
  std::vector<double> kv, attn, total, active;
  for (const auto& r : rows) {
    const ModelFigures& f = r.figures;
    if (!seen.insert(f.model).second) continue;
    // A model without softmax attention (a recurrent design) has no FRH/SLSD/TER: "n/a", not 0.
    auto rank = [&](int64_t v) { return f.softmax_ranks ? std::to_string(v) : std::string("n/a"); };
    t.add_row({f.model, f.variant, std::to_string(f.layers), std::to_string(f.heads),
               std::to_string(f.kv_heads), std::to_string(f.head_dim), rank(f.ranks.frh),
               rank(f.ranks.slsd), rank(f.ranks.ter), "", "", "", ""});
    kv.push_back(f.kv_bytes_per_token);
    attn.push_back(static_cast<double>(f.attn_params));
    // Unknown FFN: no total to state ("-"), not a zero.
    total.push_back(f.ffn_known ? static_cast<double>(f.total_params) : std::nan(""));
    active.push_back(f.ffn_known ? static_cast<double>(f.active_params) : std::nan(""));
  }
  t.set_unit_column(9, kv, Quantity::kBytes);
  t.set_unit_column(10, attn, Quantity::kCount);
  t.set_unit_column(11, total, Quantity::kCount);
  t.set_unit_column(12, active, Quantity::kCount);
  return t;
}

Table decode_table(const std::vector<CompareRow>& rows) {
  Table t;
  t.title = "Decoding one token";
  t.key_columns = 2;  // model, context
  t.columns = {{"model", Align::kLeft}, {"context"}, {"batch"}, {"kv dtype"}, {"KV cache (TxB)"},
               {"KV read/token"}, {"attn FLOPs"}, {"linear FLOPs"}, {"FFN FLOPs"},
               {"FLOP/byte"}};
  std::vector<double> cache, read, attn, linear, ffn;
  for (const auto& r : rows) {
    const ModelFigures& f = r.figures;
    t.add_row({f.model, context_label(f.context), std::to_string(f.batch), f.kv_dtype, "", "", "",
               "", "", format_number(f.arithmetic_intensity, 4)});
    cache.push_back(f.kv_bytes);
    read.push_back(f.decode_kv_bytes_read);
    attn.push_back(static_cast<double>(f.attn_flops));
    linear.push_back(static_cast<double>(f.linear_flops));
    ffn.push_back(static_cast<double>(f.ffn_flops));
  }
  t.set_unit_column(4, cache, Quantity::kBytes);
  t.set_unit_column(5, read, Quantity::kBytes);
  t.set_unit_column(6, attn, Quantity::kFlops);
  t.set_unit_column(7, linear, Quantity::kFlops);
  t.set_unit_column(8, ffn, Quantity::kFlops);
  return t;
}

// "0,2,4,...,34" (LayerGroup::layer_list) as the runs of parse_int_ranges: "0-34:2".
std::string compact_layers(const std::string& list) {
  return format_int_ranges(parse_int_ranges(list, "layers", 0, INT64_MAX));
}

// One line per layer kind (mixer, fill rule, cache source; the FFN aside) of each hybrid model.
Table groups_table(const std::vector<CompareRow>& rows) {
  Table t;
  t.title = "Layer kinds of hybrid models (at each context)";
  t.key_columns = 2;  // model @context, kind
  t.columns = {{"model", Align::kLeft}, {"kind", Align::kLeft}, {"layers", Align::kLeft},
               {"count"}, {"geometry", Align::kLeft}, {"fill", Align::kLeft}, {"kv dtype"},
               {"KV/token/layer"}, {"state/layer"}, {"FRH/SLSD/TER", Align::kLeft},
               {"KV cache (TxB)"}, {"KV read/token"}};
  std::set<std::pair<std::string, int64_t>> seen;
  std::vector<double> kv, state, cache, read;
  for (const auto& r : rows) {
    const ModelFigures& f = r.figures;
    if (f.kinds.size() < 2 || !seen.insert({f.model, f.context}).second) continue;
    for (const auto& k : f.kinds) {
      t.add_row({f.model + " @" + context_label(f.context), k.label, compact_layers(k.layer_list),
                 std::to_string(k.layer_count), kind_geometry(k.spec), kind_fill(k.spec),
                 std::string(kv_cache_type_name(k.spec.kv_dtype, k.spec.kv_layout)), "", "",
                 k.softmax_ranks ? fmt::format("{}/{}/{}", k.softmax_ranks->frh, k.softmax_ranks->slsd,
                                               k.softmax_ranks->ter)
                                 : "n/a",
                 "", ""});
      // A kind without a cache (recurrent) or without state (softmax) shows "-".
      kv.push_back(k.kv_bytes_per_token_per_layer > 0 ? k.kv_bytes_per_token_per_layer : std::nan(""));
      state.push_back(k.state_bytes_per_layer > 0 ? k.state_bytes_per_layer : std::nan(""));
      cache.push_back(k.kv_bytes);
      read.push_back(k.decode_kv_bytes_read);
    }
  }
  t.set_unit_column(7, kv, Quantity::kBytes);
  t.set_unit_column(8, state, Quantity::kBytes);
  t.set_unit_column(10, cache, Quantity::kBytes);
  t.set_unit_column(11, read, Quantity::kBytes);
  return t;
}

Table cost_table(const std::vector<CompareRow>& rows) {
  Table t;
  t.title = "Decoding cost per 1M tokens (attention: max(compute, KV reads) + linear; FFN compute-bound)";
  t.key_columns = 3;  // model, context, card
  t.columns = {{"model", Align::kLeft}, {"context"}, {"card", Align::kLeft}, {"attention"},
               {"FFN"}, {"total"}, {"attn bound", Align::kLeft}};
  std::vector<double> attn, ffn, total;
  const double none = std::nan("");
  for (const auto& r : rows) {
    for (const auto& c : r.cost.cards) {
      t.add_row({r.figures.model, context_label(r.figures.context), c.card, "", "", "", c.bound});
      attn.push_back(c.attn_usd_per_mtok);
      ffn.push_back(c.ffn_usd_per_mtok);
      total.push_back(c.total_usd_per_mtok);
    }
    if (!r.cost.cards.empty()) {
      t.add_row({r.figures.model, context_label(r.figures.context),
                 "AFD " + r.cost.afd_attn_card + "+" + r.cost.afd_ffn_card, "", "", "", ""});
      attn.push_back(none);
      ffn.push_back(none);
      total.push_back(r.cost.afd_usd_per_mtok);
    }
  }
  t.set_unit_column(3, attn, Quantity::kUsd);
  t.set_unit_column(4, ffn, Quantity::kUsd);
  t.set_unit_column(5, total, Quantity::kUsd);
  return t;
}

Table flat_table(const std::vector<CompareRow>& rows) {
  Table t;
  t.columns = {{"model"}, {"design"}, {"variant"}, {"layers"}, {"d_model"}, {"heads"}, {"kv_heads"},
               {"head_dim"}, {"frh"}, {"slsd"}, {"ter"}, {"context"}, {"batch"}, {"kv_dtype"},
               {"kv_bytes_per_token"}, {"kv_bytes"}, {"decode_kv_bytes_read"}, {"attn_flops"},
               {"linear_flops"}, {"ffn_flops"}, {"arithmetic_intensity"}, {"attn_params"},
               {"total_params"}, {"active_params"}};
  std::vector<std::string> cards;
  if (!rows.empty()) {
    for (const auto& c : rows.front().cost.cards) {
      cards.push_back(c.card);
      for (const char* k : {"attn_usd_per_mtok", "ffn_usd_per_mtok", "total_usd_per_mtok", "bound"}) {
        t.columns.push_back({c.card + "_" + k});
      }
    }
    if (!cards.empty()) t.columns.push_back({"afd_usd_per_mtok"});
  }
  for (const auto& r : rows) {
    const ModelFigures& f = r.figures;
    std::vector<std::string> cells = {
        f.model, f.spec, f.variant, std::to_string(f.layers), std::to_string(f.d_model),
        std::to_string(f.heads), std::to_string(f.kv_heads), std::to_string(f.head_dim),
        std::to_string(f.ranks.frh), std::to_string(f.ranks.slsd), std::to_string(f.ranks.ter),
        std::to_string(f.context), std::to_string(f.batch), f.kv_dtype,
        format_exact(f.kv_bytes_per_token), format_exact(f.kv_bytes),
        format_exact(f.decode_kv_bytes_read), std::to_string(f.attn_flops),
        std::to_string(f.linear_flops), std::to_string(f.ffn_flops),
        fmt::format("{:.17g}", f.arithmetic_intensity), std::to_string(f.attn_params),
        f.ffn_known ? std::to_string(f.total_params) : "", f.ffn_known ? std::to_string(f.active_params) : ""};
    for (const auto& c : r.cost.cards) {
      cells.push_back(fmt::format("{:.17g}", c.attn_usd_per_mtok));
      cells.push_back(fmt::format("{:.17g}", c.ffn_usd_per_mtok));
      cells.push_back(fmt::format("{:.17g}", c.total_usd_per_mtok));
      cells.push_back(c.bound);
    }
    if (!cards.empty()) cells.push_back(fmt::format("{:.17g}", r.cost.afd_usd_per_mtok));
    t.add_row(cells);
  }
  return t;
}

}  // namespace gmha::cli
