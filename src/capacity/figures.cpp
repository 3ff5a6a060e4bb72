#include "gmha/capacity/figures.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "gmha/attention/design_spec.hpp"
#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"

namespace gmha {

namespace {
// NSA's complete compression blocks at T: blocks of l taken every d tokens (arXiv 2502.11089 §3.3).
int64_t nsa_blocks(const AttentionSpan& s, int64_t t) {
  return t < s.block ? 0 : (t - s.block) / s.ratio + 1;
}
}  // namespace

int64_t effective_tokens(const AttentionSpan& span, int64_t context, Convention c) {
  switch (span.kind) {
    case SpanKind::kFull: return context;
    case SpanKind::kSlidingWindow: return std::min(context, span.tokens);
    case SpanKind::kChunked:
      // Exact: the token at position T sees its own chunk so far (docs/capacity.md). The Step-3 paper
      // charges min(T, C); both agree at multiples of C.
      if (c == Convention::kStep3Paper) return std::min(context, span.tokens);
      return ((context - 1) % span.tokens) + 1;
    case SpanKind::kTopK: return std::min(context, span.tokens);
    case SpanKind::kCompressed: {
      const int64_t entries = context / span.ratio;  // complete blocks only
      return std::min(context, span.window) + (span.tokens > 0 ? std::min(entries, span.tokens) : entries);
    }
    case SpanKind::kNsa:
      return nsa_blocks(span, context) + std::min(context, checked_mul(span.blocks, span.select_block, "nsa")) +
             std::min(context, span.window);
    case SpanKind::kMoba: return std::min(context, checked_mul(span.blocks, span.block, "moba"));
  }
  return context;
}

int64_t stored_tokens(const AttentionSpan& span, int64_t context, Convention c) {
  switch (span.kind) {
    case SpanKind::kTopK:
    case SpanKind::kMoba: return context;  // any token may be selected later
    case SpanKind::kCompressed: return std::min(context, span.window) + context / span.ratio;
    case SpanKind::kNsa: return context + std::min(context, span.window) + nsa_blocks(span, context);
    default: return effective_tokens(span, context, c);
  }
}

FillCounts fill_counts(const LayerSpec& l, int64_t context, Convention c) {
  const AttentionShape& a = l.attention;
  const AttentionSpan& sp = l.span;
  FillCounts f;
  f.stored = cache_entries(a, stored_tokens(sp, context, c));
  f.read = cache_entries(a, effective_tokens(sp, context, c));
  f.entries_per_token = 1.0 / static_cast<double>(tokens_per_cache_entry(a));
  const bool indexed = a.index_head_dim > 0;
  switch (sp.kind) {
    case SpanKind::kCompressed:
      f.entries_per_token = 1.0 + 1.0 / static_cast<double>(sp.ratio);
      if (indexed) {
        f.index_stored = f.index_read = context / sp.ratio;
        f.index_per_token = 1.0 / static_cast<double>(sp.ratio);
      }
      break;
    case SpanKind::kNsa:
      f.entries_per_token = 2.0 + 1.0 / static_cast<double>(sp.ratio);
      break;
    case SpanKind::kMoba:
      f.mean_keys = context / sp.block;
      f.mean_keys_per_token = 1.0 / static_cast<double>(sp.block);
      break;
    default:
      // A DSA indexer keeps one index key per token and scores all of them (top-k selection).
      if (indexed) {
        f.index_stored = f.index_read = stored_tokens(sp, context, c);
        f.index_per_token = 1.0;
      }
      break;
  }
  return f;
}

int64_t tokens_per_cache_entry(const AttentionShape& a) {
  return a.variant == Variant::kMtla && a.temporal_stride > 1 ? a.temporal_stride : 1;
}

int64_t cache_entries(const AttentionShape& a, int64_t tokens) {
  // MTLA appends one entry every s tokens and merges the next s - 1 into it (MTLA.py: a new
  // entry when T mod s = 1), so T tokens fill ceil(T / s) entries.
  const int64_t s = tokens_per_cache_entry(a);
  return s == 1 ? tokens : tokens / s + (tokens % s != 0 ? 1 : 0);
}

int64_t kv_row_bits(const LayerSpec& l, int64_t elements) {
  if (l.kv_layout == KvLayout::kElements || elements == 0) {
    return checked_mul(elements, dtype_bits(l.kv_dtype), "kv bits");
  }
  const AttentionShape& a = l.attention;
  const int64_t latent = a.kv_lora_rank, rope = a.qk_rope_dim;
  if (elements != latent + rope) {
    throw InputError(fmt::format("kv_dtype fp8_ds_mla: a part of {} elements of the {} + {} row has no "
                                 "layout of its own", elements, latent, rope));
  }
  // vLLM flashmla_sparse.py: fp8 values, one fp32 scale per 128 of them, the RoPE key in bf16.
  const int64_t scales = (latent + 127) / 128;
  return checked_add(checked_add(checked_mul(latent, 8, "kv bits"), checked_mul(scales, 32, "kv bits"), "kv bits"),
                     checked_mul(rope, 16, "kv bits"), "kv bits");
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
    // FLOPs per state element and token (docs/capacity.md, "Recurrent mixers"). Lightning: read
    // with q and add k^T v, 4; the Step-3 paper's Tables 2-3 charge 10 (the one whole multiple
    // both its 8K and 32K figures fit; it states no formula): step3-paper does too. Delta rules
    // (GDN, KDA): decay 1 + S^T k 2 + rank-1 correction 2 + read with q 2 = 7. Mamba2: decay 1 +
    // dt x B^T 2 + read with C 2 = 5. A causal conv of K taps: 2 x channels x K.
    int64_t per_state = 0;
    switch (a.recurrent) {
      case RecurrentKind::kLightning: per_state = c == Convention::kStep3Paper ? 10 : 4; break;
      case RecurrentKind::kGatedDeltaNet:
      case RecurrentKind::kKda: per_state = 7; break;
      case RecurrentKind::kMamba2:
      case RecurrentKind::kMamba: per_state = 5; break;  // Mamba-1: the same scan, per channel
      case RecurrentKind::kShortConv: per_state = 0; break;
    }
    const int64_t conv = checked_product({2, conv_channels(a), a.conv_kernel}, "conv flops");
    return checked_add(checked_mul(per_state, linear_state_elements(a), "attention flops"), conv,
                       "attention flops");
  }
  const DecodeWidths w = decode_widths(a, c);
  return checked_product({2, w.query_heads, tokens, w.qk_width + w.pv_width}, "attention flops");
}

int64_t indexer_flops(const AttentionShape& a, int64_t context) {
  if (a.index_head_dim <= 0) return 0;
  return checked_product({2, a.index_heads, a.index_head_dim, context}, "indexer flops");
}

int64_t embedding_params(const ModelDesign& m) {
  const int64_t tables =
      m.vocab_size <= 0 ? 0 : checked_product({m.vocab_size, m.d_model, m.tied_embeddings ? 1 : 2}, "embeddings");
  return checked_add(tables, per_layer_embedding_params(m), "embeddings");
}

int64_t per_layer_embedding_params(const ModelDesign& m) {
  if (m.per_layer_input_dim <= 0) return 0;
  const auto layers = static_cast<int64_t>(m.layers.size());
  return checked_product({m.per_layer_input_vocab, layers, m.per_layer_input_dim}, "per-layer embeddings");
}

int64_t per_layer_input_params(const ModelDesign& m) {
  const int64_t p = m.per_layer_input_dim, d = m.d_model;
  if (p <= 0) return 0;
  const auto layers = static_cast<int64_t>(m.layers.size());
  const int64_t model = checked_add(checked_product({layers, p, d}, "per-layer inputs"), p, "per-layer inputs");
  const int64_t per_layer = checked_add(checked_product({2, p, d}, "per-layer inputs"), d, "per-layer inputs");
  return checked_add(model, checked_mul(layers, per_layer, "per-layer inputs"), "per-layer inputs");
}

int64_t norm_params(const ModelDesign& m) {
  // A parallel mixer shares its decoder layer's two norms (docs/capacity.md, "Parallel mixers").
  return checked_mul(m.d_model, 2 * m.decoder_layers() + 1, "norms");
}

int64_t altup_laurel_params(const ModelDesign& m) {
  const int64_t d = m.d_model, n = m.altup_inputs, r = m.laurel_rank;
  const int64_t layers = m.decoder_layers();
  int64_t total = 0;
  if (n > 1) {
    const int64_t model = checked_product({2, n - 1, d, d}, "AltUp");
    const int64_t per_layer =
        checked_add(checked_add(checked_mul(2, d, "AltUp"), checked_mul(n, n, "AltUp"), "AltUp"),
                    checked_add(checked_product({n, n, n}, "AltUp"), checked_mul(n, d, "AltUp"), "AltUp"), "AltUp");
    total = checked_add(model, checked_mul(layers, per_layer, "AltUp"), "AltUp");
  }
  if (r > 0) {
    const int64_t per_layer = checked_add(checked_product({2, r, d}, "LAuReL"), d, "LAuReL");
    total = checked_add(total, checked_mul(layers, per_layer, "LAuReL"), "LAuReL");
  }
  return total;
}

namespace {

// Bits -> bytes; exact while bits < 2^53 (all realistic sizes), else rounded.
double bytes_of_bits(int64_t bits) { return static_cast<double>(bits) / 8.0; }

// Folds layer groups into layer kinds: groups whose layers differ only in their FFN.
std::vector<LayerKindFigures> layer_kinds(const std::vector<GroupFigures>& groups, const ModelDesign& m) {
  std::vector<LayerKindFigures> kinds;
  std::vector<std::vector<int>> members;
  std::vector<int> decoder_layer(m.layers.size());  // entry -> its decoder layer
  for (size_t i = 0, n = 0; i < m.layers.size(); ++i) {
    if (!m.layers[i].parallel) ++n;
    decoder_layer[i] = static_cast<int>(n) - 1;
  }
  for (const GroupFigures& g : groups) {
    size_t k = 0;
    while (k < kinds.size() && !same_kind(kinds[k].spec, g.spec)) ++k;
    if (k == kinds.size()) {
      LayerKindFigures kf;
      LayerGroup shown{g.spec, {}};
      shown.spec.ffn = {};  // the kind's label names the mixer and fill rule, not an FFN
      kf.label = shown.label();
      kf.spec = g.spec;
      kf.softmax_ranks = g.softmax_ranks;
      kf.recurrent = g.recurrent;
      kf.kv_bytes_per_token_per_layer = g.kv_bytes_per_token_per_layer;
      kf.kv_bytes_per_token_minimal_per_layer = g.kv_bytes_per_token_minimal_per_layer;
      kf.index_key_bytes_per_layer = g.index_key_bytes_per_layer;
      kf.state_bytes_per_layer = g.state_bytes_per_layer;
      kinds.push_back(kf);
      members.emplace_back();
    }
    kinds[k].layer_count += g.layer_count;
    kinds[k].kv_bytes += g.kv_bytes;
    kinds[k].decode_kv_bytes_read += g.decode_kv_bytes_read;
    // Recover the layer indices of the group to list the kind's layers in order.
    for (size_t i = 0; i < m.layers.size(); ++i) {
      if (same_layer(m.layers[i], g.spec)) members[k].push_back(decoder_layer[i]);
    }
  }
  for (size_t k = 0; k < kinds.size(); ++k) {
    std::sort(members[k].begin(), members[k].end());
    kinds[k].layer_list = LayerGroup{kinds[k].spec, members[k]}.layer_list();
  }
  return kinds;
}

}  // namespace

ModelFigures compute_figures(const ModelDesign& m, const CapacityOptions& o) {
  validate_model(m, m.name);
  if (o.context <= 0) throw errors::option_not_positive("context", o.context);
  if (o.batch <= 0) throw errors::option_not_positive("batch", o.batch);

  ModelFigures f;
  f.model = m.name;
  f.spec = m.spec;
  f.layers = m.decoder_layers();
  f.d_model = m.d_model;
  f.context = o.context;
  f.batch = o.batch;

  int64_t cache_bits = 0, read_bits = 0, state_bits_all = 0;
  // Per-token bytes as doubles: exact sums of bits / 8, except that an MTLA entry of s tokens
  // counts 1/s of its bytes per token (docs/designs.md: (d_c + d_R) / s).
  double kv_bytes_per_token = 0, kv_bytes_minimal = 0;
  std::set<std::string> kv_dtypes;
  for (const LayerGroup& g : m.groups()) {
    const LayerSpec& l = g.spec;
    const AttentionShape& a = l.attention;
    const MixerKind mixer = mixer_kind(l);
    const int64_t n = static_cast<int64_t>(g.layers.size());
    GroupFigures gf;
    gf.label = g.label();
    gf.layer_list = g.layer_list();
    gf.layer_count = n;
    gf.spec = l;
    gf.owns_cache = owns_cache(l);
    // A layer without a mixer has no attention weights, cache or FLOPs (only its FFN).
    const AttentionCounts counts = mixer == MixerKind::kNone ? AttentionCounts{} : attention_counts(l);
    if (mixer != MixerKind::kNone) {
      gf.ranks = capacity_ranks(a);
      gf.softmax_ranks = softmax_ranks(a);
      gf.recurrent = recurrent_capacity(a);
    }
    gf.attn_params_per_layer = counts.params;
    gf.kv_elements_per_token_per_layer = counts.cached_elements;
    const int bits = dtype_bits(l.kv_dtype);
    // Bits of one cache entry of one layer: its streams in the KV dtype; an index key (DSA, CSA)
    // in fp8 + fp32 scales and a MoBA block-mean key in the KV dtype are entries of their own.
    gf.index_key_bytes_per_layer = mixer == MixerKind::kSoftmax ? index_key_bytes(a) : 0;
    const int64_t index_bits = checked_mul(gf.index_key_bytes_per_layer, 8, "index bits");
    const bool softmax = mixer == MixerKind::kSoftmax;
    const int64_t stream_bits = softmax ? kv_row_bits(l, counts.cached_elements) : 0;
    const int64_t minimal_stream_bits = softmax ? kv_row_bits(l, counts.cached_elements_minimal) : 0;
    const int64_t mean_key_bits =
        softmax && l.span.kind == SpanKind::kMoba ? kv_row_bits(l, stream_widths(a).keys) : 0;
    FillCounts fill;
    if (mixer == MixerKind::kSoftmax) fill = fill_counts(l, o.context, o.convention);
    // What the layer itself stores: nothing when it reads an earlier layer's cache. Per token:
    // the entries a token adds (docs/designs.md: 1/s under MTLA, 1 + 1/s under CSA/HCA, ...).
    if (gf.owns_cache) {
      const double extra = bytes_of_bits(mean_key_bits) * fill.mean_keys_per_token +
                           bytes_of_bits(index_bits) * fill.index_per_token;
      gf.kv_bytes_per_token_per_layer = bytes_of_bits(stream_bits) * fill.entries_per_token + extra;
      gf.kv_bytes_per_token_minimal_per_layer = bytes_of_bits(minimal_stream_bits) * fill.entries_per_token + extra;
    }
    gf.state_elements_per_layer = mixer == MixerKind::kRecurrent ? linear_state_elements(a) : 0;
    gf.conv_state_elements_per_layer = mixer == MixerKind::kRecurrent ? conv_state_elements(a) : 0;
    const int64_t state_bits = checked_add(
        checked_mul(gf.state_elements_per_layer, bits, "state bits"),
        checked_mul(gf.conv_state_elements_per_layer, dtype_bits(l.conv_dtype), "conv bits"), "state bits");
    gf.state_bytes_per_layer = bytes_of_bits(state_bits);
    if (mixer == MixerKind::kSoftmax) {
      gf.effective_tokens = fill.read;
      gf.stored_tokens = fill.stored;
      kv_dtypes.insert(std::string(kv_cache_type_name(l.kv_dtype, l.kv_layout)));
    }

    // Whole cache at T x B: the entries each layer keeps (its fill rule) plus fixed states.
    int64_t layer_cache_bits = state_bits;
    if (gf.owns_cache) {
      layer_cache_bits = checked_add(
          layer_cache_bits,
          checked_add(checked_add(checked_mul(fill.stored, stream_bits, "kv cache"),
                                  checked_mul(fill.mean_keys, mean_key_bits, "kv cache"), "kv cache"),
                      checked_mul(fill.index_stored, index_bits, "kv cache"), "kv cache"),
          "kv cache");
    }
    const int64_t group_cache_bits = checked_product({layer_cache_bits, n, o.batch}, "kv cache (T x B)");
    gf.kv_bytes = bytes_of_bits(group_cache_bits);
    // Decode reads the entries it attends to (a shared layer reads its source's cache again),
    // every index key and MoBA mean key, and reads + writes a recurrent state (docs/capacity.md).
    int64_t layer_read_bits = checked_mul(2, state_bits, "state read");
    if (mixer == MixerKind::kSoftmax) {
      layer_read_bits = checked_add(
          layer_read_bits,
          checked_add(checked_add(checked_mul(fill.read, stream_bits, "kv read"),
                                  checked_mul(fill.mean_keys, mean_key_bits, "kv read"), "kv read"),
                      checked_mul(fill.index_read, index_bits, "index read"), "kv read"),
          "kv read");
    }
    gf.decode_kv_bytes_read = bytes_of_bits(checked_mul(layer_read_bits, n, "kv read"));

    // Core attention FLOPs per token (decode_attention_flops, indexer_flops), all layers; MoBA
    // also scores its block means (QK width only).
    if (mixer != MixerKind::kNone) {
      int64_t per_layer = decode_attention_flops(a, gf.effective_tokens, o.convention);
      if (mixer == MixerKind::kSoftmax) {
        per_layer = checked_add(per_layer, indexer_flops(a, fill.index_read), "attention flops");
        if (fill.mean_keys > 0) {
          const DecodeWidths w = decode_widths(a, o.convention);
          per_layer = checked_add(
              per_layer, checked_product({2, w.query_heads, fill.mean_keys, w.qk_width}, "moba flops"),
              "attention flops");
        }
      }
      gf.attn_flops = checked_mul(per_layer, n, "attention flops");
    }
    gf.linear_flops = checked_product({2, counts.decode_matmul, n}, "linear flops");
    const FfnParams fp = ffn_params(l.ffn, m.d_model);
    gf.ffn_params_per_layer = fp.total;
    gf.ffn_active_params_per_layer = fp.active;
    gf.ffn_flops = checked_product({2, fp.active_matmul, n}, "ffn flops");

    kv_bytes_per_token += gf.kv_bytes_per_token_per_layer * static_cast<double>(n);
    kv_bytes_minimal += gf.kv_bytes_per_token_minimal_per_layer * static_cast<double>(n);
    if (gf.owns_cache) {
      f.indexer_bytes_per_token = checked_add(
          f.indexer_bytes_per_token, checked_mul(gf.index_key_bytes_per_layer, n, "index"), "index");
      f.cache_owning_layers += n;
    }
    state_bits_all = checked_add(state_bits_all, checked_mul(state_bits, n, "state"), "state");
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
  f.kv_bytes_per_token_minimal = kv_bytes_minimal;
  f.state_bytes_per_sequence = bytes_of_bits(state_bits_all);
  f.kinds = layer_kinds(f.groups, m);
  f.kv_bytes_per_token = kv_bytes_per_token;
  f.kv_bytes = bytes_of_bits(cache_bits);
  f.decode_kv_bytes_read = bytes_of_bits(read_bits);
  f.arithmetic_intensity =
      f.decode_kv_bytes_read > 0 ? static_cast<double>(f.attn_flops) / f.decode_kv_bytes_read : 0;
  f.kv_dtype = kv_dtypes.size() == 1 ? *kv_dtypes.begin() : kv_dtypes.empty() ? "none" : "mixed";

  // The model's main attention: its first full-span softmax group, else its first softmax group.
  const GroupFigures* main = nullptr;
  for (const auto& g : f.groups) {
    if (mixer_kind(g.spec) != MixerKind::kSoftmax) continue;
    if (!main || (main->spec.span.kind != SpanKind::kFull && g.spec.span.kind == SpanKind::kFull)) {
      main = &g;
    }
  }
  if (!main) main = &f.groups.front();
  const AttentionShape& a = main->spec.attention;
  f.heads = a.heads;
  f.kv_heads = a.kv_heads;
  const bool latent = a.variant == Variant::kMla || a.variant == Variant::kGla || a.variant == Variant::kMtla;
  f.head_dim = latent ? a.qk_nope_dim + a.qk_rope_dim : a.head_dim;
  f.ranks = main->ranks;
  f.softmax_ranks = main->softmax_ranks;

  std::vector<std::string> kinds;
  std::set<SpanKind> spans;
  for (const auto& l : m.layers) {
    const MixerKind mk = mixer_kind(l);
    if (mk == MixerKind::kNone) continue;
    std::string v = mk == MixerKind::kRecurrent && l.attention.recurrent != RecurrentKind::kLightning
                        ? std::string(recurrent_name(l.attention.recurrent))
                        : std::string(variant_label(l.attention.variant));
    if (std::find(kinds.begin(), kinds.end(), v) == kinds.end()) kinds.push_back(v);
    if (mk == MixerKind::kSoftmax) spans.insert(l.span.kind);
  }
  if (kinds.empty()) kinds.push_back("none");
  f.variant = kinds.front();
  for (size_t i = 1; i < kinds.size(); ++i) f.variant += "+" + kinds[i];
  if (kinds.size() > 1 || spans.size() > 1) {
    std::string s;
    if (spans.count(SpanKind::kChunked)) s += "+chunked";
    if (spans.count(SpanKind::kSlidingWindow)) s += "+sliding";
    if (spans.count(SpanKind::kTopK)) s += "+top-k";
    if (spans.count(SpanKind::kCompressed)) s += "+compressed";
    if (spans.count(SpanKind::kNsa)) s += "+nsa";
    if (spans.count(SpanKind::kMoba)) s += "+moba";
    f.variant = "hybrid(" + f.variant + (spans.size() > 1 ? s : "") + ")";
  } else if (spans.count(SpanKind::kSlidingWindow)) {
    f.variant += " (sliding)";
  } else if (spans.count(SpanKind::kChunked)) {
    f.variant += " (chunked)";
  } else if (spans.count(SpanKind::kTopK)) {
    f.variant += " (top-k)";
  } else if (spans.count(SpanKind::kCompressed)) {
    f.variant += " (compressed)";
  } else if (spans.count(SpanKind::kNsa)) {
    f.variant += " (nsa)";
  } else if (spans.count(SpanKind::kMoba)) {
    f.variant += " (moba)";
  }

  // Embeddings (input and, unless tied, output) and the two RMSNorms per layer plus the final one.
  f.embedding_params = embedding_params(m);
  f.per_layer_embedding_params = per_layer_embedding_params(m);
  // Per-layer inputs' projections, AltUp and LAuReL run on every token: counted with the norms.
  const int64_t norms = checked_add(norm_params(m), checked_add(per_layer_input_params(m), altup_laurel_params(m), "params"),
                                    "params");
  f.total_params = checked_add(checked_add(f.attn_params, f.ffn_params, "params"),
                               checked_add(f.embedding_params, norms, "params"), "params");
  f.active_params = checked_add(checked_add(f.attn_params, f.active_params, "params"),
                                checked_add(f.embedding_params, norms, "params"), "params");
  // The input embedding is a row lookup (no FLOPs per token); the output head is a matmul. The
  // per-layer embedding table is a lookup too.
  const int64_t input_embedding = checked_add(
      m.vocab_size > 0 ? checked_mul(m.vocab_size, m.d_model, "embeddings") : 0, f.per_layer_embedding_params, "embeddings");
  f.active_params_excl_input_embedding = f.active_params - input_embedding;
  f.active_params_excl_embeddings = f.active_params - f.embedding_params;
  f.max_context = m.max_context;
  f.vision_params = m.vision_params;
  f.beyond_max_context = m.max_context > 0 && o.context > m.max_context;
  return f;
}

void apply_step3_paper_precision(ModelDesign& m) {
  bool hybrid = m.is_hybrid();
  for (auto& l : m.layers) {
    if (mixer_kind(l) == MixerKind::kNone) continue;
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
