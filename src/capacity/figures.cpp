#include "gmha/capacity/figures.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "gmha/attention/design_spec.hpp"
#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"

namespace gmha {

int64_t effective_tokens(const AttentionSpan& span, int64_t context, Convention c) {
  switch (span.kind) {
    case SpanKind::kFull: return context;
    case SpanKind::kSlidingWindow: return std::min(context, span.tokens);
    case SpanKind::kChunked:
      // Exact: the token at position T sees its own chunk so far (primer §2). The Step-3 paper
      // charges min(T, C); both agree at multiples of C.
      if (c == Convention::kStep3Paper) return std::min(context, span.tokens);
      return ((context - 1) % span.tokens) + 1;
  }
  return context;
}

FfnParams ffn_params(const FfnShape& f, int64_t d) {
  FfnParams p;
  switch (f.kind) {
    case FfnKind::kNone: break;
    case FfnKind::kDense:
      p.total = p.active = p.active_matmul = checked_product({f.matrices, d, f.intermediate}, "ffn");
      break;
    case FfnKind::kMoe: {
      const int64_t expert = checked_product({f.matrices, d, f.expert_intermediate}, "expert");
      const int64_t shared =
          checked_product({f.shared_experts, f.matrices, d, f.shared_intermediate}, "shared experts");
      p.router = checked_mul(d, f.routed_experts, "router");
      p.active_matmul = checked_add(checked_mul(expert, f.top_k, "active experts"), shared, "ffn");
      p.total = checked_add(checked_add(checked_mul(expert, f.routed_experts, "experts"), shared,
                                        "ffn"), p.router, "ffn");
      p.active = checked_add(p.active_matmul, p.router, "ffn");
      break;
    }
  }
  return p;
}

int64_t decode_attention_flops(const AttentionShape& a, int64_t tokens, Convention c) {
  if (a.variant == Variant::kLinear) {
    // The Step-3 paper's Tables 2-3 charge 10 x heads x d_k x d_v (the one whole multiple both
    // its 8K and 32K figures fit; it states no formula): step3-paper does too.
    const int64_t per_state = c == Convention::kStep3Paper ? 10 : 4;
    return checked_mul(per_state, linear_state_elements(a), "attention flops");
  }
  const DecodeWidths w = decode_widths(a, c);
  return checked_product({2, w.query_heads, tokens, w.qk_width + w.pv_width}, "attention flops");
}

int64_t embedding_params(const ModelDesign& m) {
  if (m.vocab_size <= 0) return 0;
  return checked_product({m.vocab_size, m.d_model, m.tied_embeddings ? 1 : 2}, "embeddings");
}

int64_t norm_params(const ModelDesign& m) {
  return checked_mul(m.d_model, 2 * static_cast<int64_t>(m.layers.size()) + 1, "norms");
}

namespace {

// Bits -> bytes; exact while bits < 2^53 (all realistic sizes), else rounded.
double bytes_of_bits(int64_t bits) { return static_cast<double>(bits) / 8.0; }

}  // namespace

ModelFigures compute_figures(const ModelDesign& m, const CapacityOptions& o) {
  validate_model(m, m.name);
  if (o.context <= 0) throw errors::option_not_positive("context", o.context);
  if (o.batch <= 0) throw errors::option_not_positive("batch", o.batch);

  ModelFigures f;
  f.model = m.name;
  f.spec = m.spec;
  f.layers = static_cast<int64_t>(m.layers.size());
  f.d_model = m.d_model;
  f.context = o.context;
  f.batch = o.batch;

  int64_t kv_bits_per_token = 0, cache_bits = 0, read_bits = 0;
  std::set<std::string> kv_dtypes;
  for (const LayerGroup& g : m.groups()) {
    const LayerSpec& l = g.spec;
    const AttentionShape& a = l.attention;
    const int64_t n = static_cast<int64_t>(g.layers.size());
    GroupFigures gf;
    gf.label = g.label();
    gf.layer_list = g.layer_list();
    gf.layer_count = n;
    gf.spec = l;
    gf.ranks = capacity_ranks(a);

    const AttentionCounts counts = attention_counts(a);
    gf.attn_params_per_layer = counts.params;
    gf.kv_elements_per_token_per_layer = counts.cached_elements;
    const int bits = dtype_bits(l.kv_dtype);
    gf.state_elements_per_layer = linear_state_elements(a);
    const int64_t token_bits = checked_mul(gf.kv_elements_per_token_per_layer, bits, "kv bits");
    gf.kv_bytes_per_token_per_layer = bytes_of_bits(token_bits);
    const int64_t state_bits = checked_mul(gf.state_elements_per_layer, bits, "state bits");
    if (a.variant != Variant::kLinear) {
      gf.effective_tokens = effective_tokens(l.span, o.context, o.convention);
      kv_dtypes.insert(std::string(dtype_name(l.kv_dtype)));
    }

    // Whole cache at T x B: the tokens each layer keeps (its span) plus fixed states.
    const int64_t layer_cache_bits =
        checked_add(checked_mul(gf.effective_tokens, token_bits, "kv cache"), state_bits, "kv cache");
    const int64_t group_cache_bits = checked_product({layer_cache_bits, n, o.batch}, "kv cache (T x B)");
    gf.kv_bytes = bytes_of_bits(group_cache_bits);
    // Decode reads every cached token once and reads + writes a linear state (primer §3).
    const int64_t layer_read_bits = checked_add(checked_mul(gf.effective_tokens, token_bits, "kv read"),
                                                checked_mul(2, state_bits, "state read"), "kv read");
    gf.decode_kv_bytes_read = bytes_of_bits(checked_mul(layer_read_bits, n, "kv read"));

    // Core attention FLOPs per token (decode_attention_flops), all layers of the group.
    gf.attn_flops = checked_mul(decode_attention_flops(a, gf.effective_tokens, o.convention), n,
                                "attention flops");
    gf.linear_flops = checked_product({2, counts.decode_matmul, n}, "linear flops");
    const FfnParams fp = ffn_params(l.ffn, m.d_model);
    gf.ffn_params_per_layer = fp.total;
    gf.ffn_active_params_per_layer = fp.active;
    gf.ffn_flops = checked_product({2, fp.active_matmul, n}, "ffn flops");

    kv_bits_per_token = checked_add(kv_bits_per_token, checked_mul(token_bits, n, "kv"), "kv");
    cache_bits = checked_add(cache_bits, group_cache_bits, "kv cache");
    read_bits = checked_add(read_bits, checked_mul(layer_read_bits, n, "kv read"), "kv read");
    f.attn_flops = checked_add(f.attn_flops, gf.attn_flops, "attention flops");
    f.linear_flops = checked_add(f.linear_flops, gf.linear_flops, "linear flops");
    f.ffn_flops = checked_add(f.ffn_flops, gf.ffn_flops, "ffn flops");
    f.attn_params = checked_add(f.attn_params, checked_mul(gf.attn_params_per_layer, n, "p"), "params");
    f.ffn_params = checked_add(f.ffn_params, checked_mul(fp.total, n, "p"), "params");
    f.active_params = checked_add(f.active_params, checked_mul(fp.active, n, "p"), "params");
    if (l.ffn.kind != FfnKind::kNone) f.ffn_known = true;
    f.groups.push_back(std::move(gf));
  }
  f.kv_bytes_per_token = bytes_of_bits(kv_bits_per_token);
  f.kv_bytes = bytes_of_bits(cache_bits);
  f.decode_kv_bytes_read = bytes_of_bits(read_bits);
  f.arithmetic_intensity =
      f.decode_kv_bytes_read > 0 ? static_cast<double>(f.attn_flops) / f.decode_kv_bytes_read : 0;
  f.kv_dtype = kv_dtypes.size() == 1 ? *kv_dtypes.begin() : kv_dtypes.empty() ? "none" : "mixed";

  // The model's main attention: its first full-span softmax group, else its first softmax group.
  const GroupFigures* main = nullptr;
  for (const auto& g : f.groups) {
    if (g.spec.attention.variant == Variant::kLinear) continue;
    if (!main || (main->spec.span.kind != SpanKind::kFull && g.spec.span.kind == SpanKind::kFull)) {
      main = &g;
    }
  }
  if (!main) main = &f.groups.front();
  const AttentionShape& a = main->spec.attention;
  f.heads = a.heads;
  f.kv_heads = a.kv_heads;
  f.head_dim = a.variant == Variant::kMla ? a.qk_nope_dim + a.qk_rope_dim : a.head_dim;
  f.ranks = main->ranks;

  std::vector<std::string> kinds;
  std::set<SpanKind> spans;
  for (const auto& l : m.layers) {
    std::string v(variant_label(l.attention.variant));
    if (std::find(kinds.begin(), kinds.end(), v) == kinds.end()) kinds.push_back(v);
    if (l.attention.variant != Variant::kLinear) spans.insert(l.span.kind);
  }
  f.variant = kinds.front();
  for (size_t i = 1; i < kinds.size(); ++i) f.variant += "+" + kinds[i];
  if (kinds.size() > 1 || spans.size() > 1) {
    std::string s;
    if (spans.count(SpanKind::kChunked)) s += "+chunked";
    if (spans.count(SpanKind::kSlidingWindow)) s += "+sliding";
    f.variant = "hybrid(" + f.variant + (spans.size() > 1 ? s : "") + ")";
  } else if (spans.count(SpanKind::kSlidingWindow)) {
    f.variant += " (sliding)";
  } else if (spans.count(SpanKind::kChunked)) {
    f.variant += " (chunked)";
  }

  // Embeddings (input and, unless tied, output) and the two RMSNorms per layer plus the final one.
  f.embedding_params = embedding_params(m);
  const int64_t norms = norm_params(m);
  f.total_params = checked_add(checked_add(f.attn_params, f.ffn_params, "params"),
                               checked_add(f.embedding_params, norms, "params"), "params");
  f.active_params = checked_add(checked_add(f.attn_params, f.active_params, "params"),
                                checked_add(f.embedding_params, norms, "params"), "params");
  return f;
}

void apply_step3_paper_precision(ModelDesign& m) {
  bool hybrid = m.is_hybrid();
  for (auto& l : m.layers) {
    if (l.attention.variant == Variant::kLinear) {
      l.kv_dtype = DType::kF32;
    } else if (hybrid && l.span.kind == SpanKind::kFull) {
      l.kv_dtype = DType::kBF16;
    } else {
      l.kv_dtype = DType::kF8E4M3;
    }
  }
}

}  // namespace gmha
