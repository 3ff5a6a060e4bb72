#include "cli/capacity_tables.hpp"

#include <set>

#include <fmt/format.h>

#include "gmha/report/units.hpp"

namespace gmha::cli {

using report::Align;
using report::Table;
using namespace report;

namespace {
std::string context_label(int64_t t) {
  if (t % 1024 == 0) return fmt::format("{}K", t / 1024);
  return fmt::format("{}", t);
}
std::string params_or_dash(const ModelFigures& f, int64_t v) { return f.ffn_known ? format_count(v) : "-"; }
}  // namespace

std::string kind_geometry(const LayerSpec& l) {
  const AttentionShape& a = l.attention;
  switch (mixer_kind(l)) {
    case MixerKind::kNone: return "-";
    case MixerKind::kRecurrent:
      if (a.recurrent == RecurrentKind::kShortConv) return fmt::format("conv {}x{}", a.inner, a.conv_kernel);
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
  std::string s;
  switch (l.span.kind) {
    case SpanKind::kFull: s = "full"; break;
    case SpanKind::kSlidingWindow: s = fmt::format("window {}", l.span.tokens); break;
    case SpanKind::kChunked: s = fmt::format("chunk {}", l.span.tokens); break;
    case SpanKind::kTopK: s = fmt::format("top-{}", l.span.tokens); break;
  }
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
  for (const auto& r : rows) {
    const ModelFigures& f = r.figures;
    if (!seen.insert(f.model).second) continue;
    t.add_row({f.model, f.variant, std::to_string(f.layers), std::to_string(f.heads),
               std::to_string(f.kv_heads), std::to_string(f.head_dim), std::to_string(f.ranks.frh),
               std::to_string(f.ranks.slsd), std::to_string(f.ranks.ter),
               format_bytes(f.kv_bytes_per_token), format_count(f.attn_params),
               params_or_dash(f, f.total_params), params_or_dash(f, f.active_params)});
  }
  return t;
}

Table decode_table(const std::vector<CompareRow>& rows) {
  Table t;
  t.title = "Decoding one token";
  t.columns = {{"model", Align::kLeft}, {"context"}, {"batch"}, {"kv dtype"}, {"KV cache (T x B)"},
               {"KV read/token"}, {"attn FLOPs"}, {"linear FLOPs"}, {"FFN FLOPs"},
               {"FLOP/byte"}};
  for (const auto& r : rows) {
    const ModelFigures& f = r.figures;
    t.add_row({f.model, context_label(f.context), std::to_string(f.batch), f.kv_dtype,
               format_bytes(f.kv_bytes), format_bytes(f.decode_kv_bytes_read),
               format_flops(static_cast<double>(f.attn_flops)),
               format_flops(static_cast<double>(f.linear_flops)),
               format_flops(static_cast<double>(f.ffn_flops)), format_number(f.arithmetic_intensity, 4)});
  }
  return t;
}

// One line per layer kind (mixer, fill rule, cache source; the FFN aside) of each hybrid model.
Table groups_table(const std::vector<CompareRow>& rows) {
  Table t;
  t.title = "Layer kinds of hybrid models (at each context)";
  t.columns = {{"model", Align::kLeft}, {"kind", Align::kLeft}, {"layers", Align::kLeft},
               {"count"}, {"geometry", Align::kLeft}, {"fill", Align::kLeft}, {"kv dtype"},
               {"KV/token/layer"}, {"state/layer"}, {"FRH/SLSD/TER", Align::kLeft},
               {"KV cache (T x B)"}, {"KV read/token"}};
  std::set<std::pair<std::string, int64_t>> seen;
  for (const auto& r : rows) {
    const ModelFigures& f = r.figures;
    if (f.kinds.size() < 2 || !seen.insert({f.model, f.context}).second) continue;
    for (const auto& k : f.kinds) {
      t.add_row({f.model + " @" + context_label(f.context), k.label, k.layer_list,
                 std::to_string(k.layer_count), kind_geometry(k.spec), kind_fill(k.spec),
                 std::string(dtype_name(k.spec.kv_dtype)),
                 k.kv_bytes_per_token_per_layer > 0 ? format_bytes(k.kv_bytes_per_token_per_layer) : "-",
                 k.state_bytes_per_layer > 0 ? format_bytes(k.state_bytes_per_layer) : "-",
                 k.softmax_ranks ? fmt::format("{}/{}/{}", k.softmax_ranks->frh, k.softmax_ranks->slsd,
                                               k.softmax_ranks->ter)
                                 : "n/a",
                 format_bytes(k.kv_bytes), format_bytes(k.decode_kv_bytes_read)});
    }
  }
  return t;
}

Table cost_table(const std::vector<CompareRow>& rows) {
  Table t;
  t.title = "Decoding cost, USD per 1M tokens (attention: max(compute, KV reads) + linear; FFN compute-bound)";
  t.columns = {{"model", Align::kLeft}, {"context"}, {"card", Align::kLeft}, {"attention"},
               {"FFN"}, {"total"}, {"attn bound", Align::kLeft}};
  for (const auto& r : rows) {
    for (const auto& c : r.cost.cards) {
      t.add_row({r.figures.model, context_label(r.figures.context), c.card,
                 format_usd(c.attn_usd_per_mtok), format_usd(c.ffn_usd_per_mtok),
                 format_usd(c.total_usd_per_mtok), c.bound});
    }
    if (!r.cost.cards.empty()) {
      t.add_row({r.figures.model, context_label(r.figures.context),
                 "AFD " + r.cost.afd_attn_card + "+" + r.cost.afd_ffn_card, "", "",
                 format_usd(r.cost.afd_usd_per_mtok), ""});
    }
  }
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
