// gmha show NAME: one design in depth: per-group weight shapes, cache layout, and every formula
// with its numbers filled in, next to the MFA paper's closed form.
#include <fmt/format.h>

#include "cli/capacity_tables.hpp"

#include "cli/commands.hpp"
#include "cli/model_args.hpp"
#include "cli/output.hpp"
#include "gmha/attention/resolve.hpp"
#include "gmha/capacity/closed_form.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/capacity/figures_json.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parse.hpp"
#include "gmha/report/table.hpp"
#include "gmha/report/units.hpp"

namespace gmha::cli {

namespace {

struct ShowOptions {
  ModelArgs models;
  std::string context = kDefaultContext;
  std::string out;
};

std::string ranks_formula(const AttentionShape& a, const CapacityRanks& r) {
  switch (a.variant) {
    case Variant::kFpba:
      return fmt::format("FRH = d = {}; SLSD = d = {}; TER = d * d = {}", r.frh, r.slsd, r.ter);
    case Variant::kMha: case Variant::kMqa: case Variant::kGqa:
      return fmt::format("FRH = h = {}; SLSD = g * h = {} * {} = {}; TER = n * h = {} * {} = {}",
                         r.frh, a.kv_heads, a.head_dim, r.slsd, a.heads, a.head_dim, r.ter);
    case Variant::kMla:
      return fmt::format("FRH = min(h_nope, C{}) = {} (bound: {}); SLSD = C = {}; TER = m * FRH = {} * {} = {}"
                         "  [the RoPE circuit adds rank <= h_rope = {} per head, reported apart]",
                         a.q_lora_rank > 0 ? ", q_lora" : "", r.frh, r.frh_bound, r.slsd, a.heads,
                         r.frh, r.ter, a.qk_rope_dim);
    case Variant::kMfa: case Variant::kMfaKr:
      return fmt::format("FRH = min(C, C_q) = min({}, {}) = {} (bound: {}); SLSD = C = {}; "
                         "TER = m * FRH = {} * {} = {}", a.head_dim, a.q_share_dim, r.frh,
                         r.frh_bound, r.slsd, a.heads, r.frh, r.ter);
    case Variant::kLinear:
      return "linear attention: no per-token keys; FRH/SLSD/TER do not apply";
    case Variant::kGta:
      return fmt::format("FRH = d_h - d_R = {} - {} = {}; SLSD_layer = h_kv * FRH = {} * {} = {}, "
                         "SLSD_head = {}; TER = h_q * FRH = {} * {} = {}  [K = V tied, m_kv = 1; the "
                         "shared RoPE key adds rank <= d_R = {} per head, reported apart]",
                         a.head_dim, a.qk_rope_dim, r.frh, a.kv_heads, r.frh, r.slsd, r.slsd_head,
                         a.heads, r.frh, r.ter, a.qk_rope_dim);
    case Variant::kGla:
      return fmt::format("FRH = min(h_nope, d_c{}) = {} (bound: {}); SLSD_layer = h_c * d_c = {} * {} = {}, "
                         "SLSD_head = d_c = {}; TER = h_q * FRH = {} * {} = {}",
                         a.q_lora_rank > 0 ? ", q_lora" : "", r.frh, r.frh_bound, a.kv_heads,
                         a.kv_lora_rank, r.slsd, r.slsd_head, a.heads, r.frh, r.ter);
    case Variant::kMtla:
      return fmt::format("FRH = min(h_nope, C{}) = {} (bound: {}); SLSD = C = {}; TER = m * FRH = {} * {} = {}"
                         "  [as MLA: merging s = {} tokens per entry changes the cache, not the circuits]",
                         a.q_lora_rank > 0 ? ", q_lora" : "", r.frh, r.frh_bound, r.slsd, a.heads,
                         r.frh, r.ter, a.temporal_stride);
    case Variant::kTpa:
      return fmt::format("{}FRH <= d_h = {}; SLSD_layer <= R_K * d_h = {} * {} = {}, SLSD_head = {}; "
                         "TER <= h * d_h = {} * {} = {}",
                         r.bilinear ? "" : "outside GMHA (contextual TPA is quadratic in x); non-contextual bounds: ",
                         r.frh, a.tpa_rank_k, a.head_dim, r.slsd, r.slsd_head, a.heads, r.frh, r.ter);
  }
  return "";
}

std::string show_model(const ModelDesign& m, int64_t context, Convention conv) {
  const ModelFigures f = compute_figures(m, {context, 1, conv});
  std::string s = fmt::format("# {}\n", m.name);
  if (!m.source.empty()) s += fmt::format("source: {}\n", m.source);
  s += fmt::format("design: {}\n", m.spec.empty() ? "(not a single design: hybrid or mixed FFN)" : m.spec);
  s += fmt::format("d = {}, layers = {}, vocab = {}, context T = {}, convention {}\n", m.d_model,
                   m.decoder_layers(), m.vocab_size ? std::to_string(m.vocab_size) : "unknown",
                   context, convention_name(conv));
  // The per-layer-kind table: one line per mixer, fill rule and cache source.
  s += "\n" + report::wrap_text(fmt::format("layer kinds at T = {} ({} cache-owning layers; KV/token {} B, minimal {} B, "
                   "index keys {} B; state per sequence {} B{}):", context, f.cache_owning_layers,
                   report::format_exact(f.kv_bytes_per_token), report::format_exact(f.kv_bytes_per_token_minimal),
                   f.indexer_bytes_per_token, report::format_exact(f.state_bytes_per_sequence),
                   f.beyond_max_context ? fmt::format("; T is beyond max_position_embeddings {}", f.max_context) : ""),
                   report::text_width() > 0 ? report::text_width() : SIZE_MAX) + "\n";
  report::Table kinds;
  kinds.columns = {{"kind", report::Align::kLeft}, {"layers", report::Align::kLeft}, {"count"},
                   {"geometry", report::Align::kLeft}, {"fill", report::Align::kLeft},
                   {"KV/token/layer [B]"}, {"state/layer [B]"}, {"FRH/SLSD/TER", report::Align::kLeft}};
  for (const auto& k : f.kinds) {
    kinds.add_row({k.label, format_int_ranges(parse_int_ranges(k.layer_list, "layers", 0, INT64_MAX)),
                   std::to_string(k.layer_count), kind_geometry(k.spec), kind_fill(k.spec),
                   report::format_exact(k.kv_bytes_per_token_per_layer),
                   report::format_exact(k.state_bytes_per_layer),
                   k.softmax_ranks ? fmt::format("{}/{}/{}", k.softmax_ranks->frh, k.softmax_ranks->slsd,
                                                 k.softmax_ranks->ter)
                                   : "n/a"});
  }
  s += report::to_text(kinds);
  int gi = 0;
  for (const auto& g : f.groups) {
    const AttentionShape& a = g.spec.attention;
    s += fmt::format("\n## group {}: {} — layers {} ({} layers), KV dtype {}\n", ++gi, g.label,
                     format_int_ranges(parse_int_ranges(g.layer_list, "layers", 0, INT64_MAX)),
                     g.layer_count, kv_cache_type_name(g.spec.kv_dtype, g.spec.kv_layout));
    if (!g.spec.has_mixer) {
      s += "no token mixer: no attention weights, cache or attention FLOPs\n";
    } else {
    s += "weights per layer ([out, in]):\n";
    int64_t matrices = 0;
    for (const auto& w : layer_weights(g.spec)) {
      s += fmt::format("  {:<22} [{}, {}]{:>16}\n", w.name, w.rows, w.cols, w.elements());
      if (w.is_matrix && w.name != "kr_n" && w.name != "nsa.phi_k" && w.name != "nsa.phi_v") {
        matrices += w.elements();
      }
    }
    s += fmt::format("  attention parameters per layer = {}\n", g.attn_params_per_layer);
    const auto streams = cache_streams(a);
    const double bytes_per_el = dtype_bits(g.spec.kv_dtype) / 8.0;
    if (a.variant == Variant::kLinear) {
      s += fmt::format("state per layer: heads * d_k * d_v = {} * {} * {} = {} elements x {} B = {} "
                       "(read and written per token)\n", a.heads, a.head_dim, a.state_value_dim,
                       g.state_elements_per_layer, report::format_number(bytes_per_el),
                       report::format_bytes(g.state_elements_per_layer * bytes_per_el));
    } else {
      std::string parts;
      for (const auto& c : streams) parts += (parts.empty() ? "" : " + ") + fmt::format("{} [{}]", c.name, c.width);
      // MTLA caches one entry per s tokens: the streams are per entry, the per-token figure 1/s.
      const int64_t per_entry = tokens_per_cache_entry(a);
      // How an element's bytes are shown: one dtype, or the fp8_ds_mla row's parts.
      const std::string times =
          g.spec.kv_layout == KvLayout::kFp8DsMla
              ? fmt::format("in fp8_ds_mla ({} fp8 + {} fp32 scales + {} bf16)", a.kv_lora_rank,
                            (a.kv_lora_rank + 127) / 128, a.qk_rope_dim)
              : fmt::format("x {} B", report::format_number(bytes_per_el));
      const double entry_bytes = g.kv_bytes_per_token_per_layer * static_cast<double>(per_entry);
      if (per_entry > 1) {
        s += fmt::format("cache per entry ({} tokens) per layer: {} = {} elements {} = {} B; per token {} B\n",
                         per_entry, parts, g.kv_elements_per_token_per_layer, times,
                         report::format_exact(entry_bytes), report::format_exact(g.kv_bytes_per_token_per_layer));
      } else {
      s += fmt::format("cache per token per layer: {} = {} elements {} = {} B\n", parts,
                       g.kv_elements_per_token_per_layer, times,
                       report::format_exact(g.kv_bytes_per_token_per_layer));
      }
      s += "capacity: " + ranks_formula(a, g.ranks) + "\n";
      const ClosedForm cf = closed_form(a);
      if (cf.heads == 0) {
        s += "closed form (MFA paper Table 1): no row for this variant (docs/designs.md derives it)\n";
      } else {
      const bool agree = cf.heads == a.heads && cf.frh == g.ranks.frh && cf.slsd == g.ranks.slsd &&
                         cf.ter == g.ranks.ter;
      s += fmt::format("closed form (MFA paper Table 1): KV/token/layer {}{} elements, heads {}, "
                       "FRH {}, SLSD {}, TER {}{}\n", cf.kv_per_token_per_layer,
                       a.variant == Variant::kMla ? " (idealised 2C)" : "", cf.heads, cf.frh,
                       cf.slsd, cf.ter, agree ? " (ranks agree)" : " (ranks differ: see docs/capacity.md)");
      }
      if (a.variant == Variant::kMtla) {
        s += fmt::format("cache entries at T = {}: ceil(T / s) = ceil({} / {}) = {}\n", context, context,
                         a.temporal_stride, g.stored_tokens);
      }
      const DecodeWidths w = decode_widths(a, conv);
      s += fmt::format("tokens read at T = {}: {}\n", context, g.effective_tokens);
      s += fmt::format("attention FLOPs/token = 2 * heads * T_eff * (qk + pv) * layers = 2 * {} * {} * ({} + {}) * {} = {}\n",
                       w.query_heads, g.effective_tokens, w.qk_width, w.pv_width, g.layer_count, g.attn_flops);
      const SpanKind sk = g.spec.span.kind;
      if (sk == SpanKind::kCompressed || sk == SpanKind::kNsa || sk == SpanKind::kMoba) {
        // The fill rules of docs/designs.md "Modifiers": entries kept and read, per layer.
        const FillCounts fc = fill_counts(g.spec, context, conv);
        s += fmt::format("fill rule {}: at T = {} keeps {} entries of {} elements", fill_rule_label(g.spec.span),
                         context, fc.stored, g.kv_elements_per_token_per_layer);
        if (fc.index_stored > 0) s += fmt::format(" + {} index keys of {} B", fc.index_stored, g.index_key_bytes_per_layer);
        if (fc.mean_keys > 0) s += fmt::format(" + {} block-mean keys", fc.mean_keys);
        s += fmt::format("; reads {} entries", fc.read);
        if (fc.index_read > 0) s += fmt::format(" + {} index keys", fc.index_read);
        if (fc.mean_keys > 0) s += fmt::format(" + {} block-mean keys", fc.mean_keys);
        s += fmt::format(" per decoded token (docs/designs.md)\nKV bytes stored at T = {}; read/token = {}\n",
                         report::format_exact(g.kv_bytes), report::format_exact(g.decode_kv_bytes_read));
      } else if (g.index_key_bytes_per_layer > 0) {
        // Top-k selection: the selected tokens' cache rows plus every token's index key.
        s += fmt::format("KV bytes read/token = (T_eff * {} B + T * {} B index key) * layers = {}\n",
                         report::format_exact(g.kv_bytes_per_token_per_layer -
                                              static_cast<double>(g.index_key_bytes_per_layer)),
                         g.index_key_bytes_per_layer, report::format_exact(g.decode_kv_bytes_read));
      } else {
        s += fmt::format("KV bytes read/token = T_eff * {} B * layers = {} * {} * {} = {}\n",
                         report::format_exact(entry_bytes), g.effective_tokens,
                         report::format_exact(entry_bytes), g.layer_count,
                         report::format_exact(g.decode_kv_bytes_read));
      }
    }
    s += fmt::format("linear FLOPs/token = 2 * {} matrix weights * {} layers = {}{}\n", matrices,
                     g.layer_count, g.linear_flops,
                     a.variant == Variant::kMfaKr ? " (kr_n absorbed into o_proj)" : "");
    }
    const FfnShape& ffn = g.spec.ffn;
    if (ffn.kind == FfnKind::kDense) {
      s += fmt::format("FFN (dense GLU): 2 * 3 * d * I * layers = 2 * 3 * {} * {} * {} = {}\n",
                       m.d_model, ffn.intermediate, g.layer_count, g.ffn_flops);
    } else if (ffn.kind == FfnKind::kMoe) {
      s += fmt::format("FFN (MoE GLU): 2 * 3 * d * (top_k * I + shared * I_s) * layers = 2 * 3 * {} * "
                       "({} * {} + {} * {}) * {} = {}  ({} routed experts; router not counted)\n",
                       m.d_model, ffn.top_k, ffn.expert_intermediate, ffn.shared_experts,
                       ffn.shared_intermediate, g.layer_count, g.ffn_flops, ffn.routed_experts);
    }
  }
  s += fmt::format("\n## totals at T = {}\n", context);
  s += fmt::format("KV per token (all layers): {}\n", report::format_bytes(f.kv_bytes_per_token));
  s += fmt::format("KV read per decoded token: {}\n", report::format_bytes(f.decode_kv_bytes_read));
  s += fmt::format("attention FLOPs {}, linear FLOPs {}, FFN FLOPs {}\n",
                   report::format_flops(static_cast<double>(f.attn_flops)),
                   report::format_flops(static_cast<double>(f.linear_flops)),
                   report::format_flops(static_cast<double>(f.ffn_flops)));
  s += fmt::format("arithmetic intensity = attention FLOPs / KV bytes = {}\n",
                   report::format_number(f.arithmetic_intensity, 5));
  s += fmt::format("parameters: attention {}, FFN {}, embeddings {}, total {}, active {}\n",
                   f.attn_params, f.ffn_known ? std::to_string(f.ffn_params) : "unknown",
                   f.embedding_params, f.ffn_known ? std::to_string(f.total_params) : "unknown",
                   f.ffn_known ? std::to_string(f.active_params) : "unknown");
  return s;
}

void run_show(const ShowOptions& o) {
  const Convention conv = read_convention(o.models.convention);
  const auto contexts = parse_token_counts(o.context, "--context");
  if (contexts.size() != 1) throw InputError("--context: give one context length for show");
  std::string text;
  for (const auto& m : load_models(o.models, conv)) {
    if (!text.empty()) text += "\n";
    text += show_model(m, contexts.front(), conv);
  }
  emit(text, o.out);
}

}  // namespace

void add_show_command(CLI::App& app) {
  auto opts = std::make_shared<ShowOptions>();
  CLI::App* cmd = app.add_subcommand(
      "show",
      "Show one design in depth: weight shapes, cache layout, formulas with numbers filled in.\n\n"
      "Examples:\n  gmha show step3\n  gmha show deepseek-v3 --context 8k --convention step3-paper\n"
      "  gmha show --design mla:d=7168,heads=128,c=512,qlora=1536,nope=128,rope=64,v=128,layers=61\n"
      "  gmha show --design mtla:d=2048,heads=16,c=256,nope=64,rope=32,v=64,stride=2,layers=24 --context 8k");
  add_model_options(cmd, opts->models);
  cmd->add_option("--context", opts->context, "Context length T (k suffix = 1024)")->capture_default_str();
  cmd->add_option("--out", opts->out, "Write to this file (atomically) instead of stdout");
  cmd->callback([opts] { run_show(*opts); });
}

}  // namespace gmha::cli
