#include "gmha/attention/model.hpp"

#include <fmt/format.h>

#include "gmha/core/error.hpp"

namespace gmha {

MixerKind mixer_kind(const LayerSpec& l) {
  if (!l.has_mixer) return MixerKind::kNone;
  return l.attention.variant == Variant::kLinear ? MixerKind::kRecurrent : MixerKind::kSoftmax;
}

bool owns_cache(const LayerSpec& l) { return mixer_kind(l) == MixerKind::kSoftmax && l.kv_source < 0; }

bool same_kind(const LayerSpec& a, const LayerSpec& b) {
  LayerSpec x = a;
  x.ffn = b.ffn;
  return x == b;
}

bool same_layer(const LayerSpec& a, const LayerSpec& b) {
  return a == b;
}

std::string fill_rule_label(const AttentionSpan& s) {
  switch (s.kind) {
    case SpanKind::kFull: return "full";
    case SpanKind::kSlidingWindow: return fmt::format("window {}", s.tokens);
    case SpanKind::kChunked: return fmt::format("chunk {}", s.tokens);
    case SpanKind::kTopK: return fmt::format("top-{}", s.tokens);
    case SpanKind::kCompressed: {
      std::string out = fmt::format("compressed 1/{}", s.ratio);
      if (s.window > 0) out += fmt::format(" + window {}", s.window);
      if (s.tokens > 0) out += fmt::format(", top-{}", s.tokens);
      return out;
    }
    case SpanKind::kNsa:
      return fmt::format("nsa {}/{} {}x{} + window {}", s.block, s.ratio, s.blocks, s.select_block, s.window);
    case SpanKind::kMoba: return fmt::format("moba {} x{}", s.block, s.blocks);
  }
  return "full";
}

std::string LayerGroup::label() const {
  const AttentionShape& a = spec.attention;
  std::string s = !spec.has_mixer ? std::string("no mixer")
                  : a.variant == Variant::kLinear && a.recurrent != RecurrentKind::kLightning
                      ? std::string(recurrent_name(a.recurrent))
                      : std::string(variant_label(a.variant));
  if (spec.span.kind == SpanKind::kTopK) s += fmt::format(" top-{}", spec.span.tokens);
  if (spec.kv_source >= 0) s += fmt::format(" (cache of layer {})", spec.kv_source);
  if (spec.span.kind == SpanKind::kSlidingWindow) s += fmt::format(" sliding {}", spec.span.tokens);
  if (spec.span.kind == SpanKind::kChunked) s += fmt::format(" chunked {}", spec.span.tokens);
  if (spec.span.kind == SpanKind::kCompressed || spec.span.kind == SpanKind::kNsa ||
      spec.span.kind == SpanKind::kMoba) {
    s += " " + fill_rule_label(spec.span);
  }
  if (!spec.rope) s += " NoPE";
  if (spec.parallel) s += " (parallel)";
  if (spec.ffn.kind == FfnKind::kMoe) s += ", MoE";
  if (spec.ffn.kind == FfnKind::kDense) s += ", dense FFN";
  return s;
}

std::string LayerGroup::layer_list() const {
  std::string out;
  for (size_t i = 0; i < layers.size();) {
    size_t j = i;
    while (j + 1 < layers.size() && layers[j + 1] == layers[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += j == i ? fmt::format("{}", layers[i]) : fmt::format("{}-{}", layers[i], layers[j]);
    i = j + 1;
  }
  return out;
}

std::vector<LayerGroup> ModelDesign::groups() const {
  std::vector<LayerGroup> g;
  int decoder_layer = -1;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!layers[i].parallel) ++decoder_layer;
    bool placed = false;
    for (auto& grp : g) {
      if (same_layer(grp.spec, layers[i])) {
        grp.layers.push_back(decoder_layer);
        placed = true;
        break;
      }
    }
    if (!placed) g.push_back({layers[i], {decoder_layer}});
  }
  return g;
}

int64_t ModelDesign::decoder_layers() const {
  int64_t n = 0;
  for (const auto& l : layers) n += l.parallel ? 0 : 1;
  return n;
}

int ModelDesign::decoder_layer_of(size_t entry) const {
  int index = -1;
  for (size_t i = 0; i <= entry && i < layers.size(); ++i) index += layers[i].parallel ? 0 : 1;
  return index;
}

bool ModelDesign::has_parallel_mixers() const {
  for (const auto& l : layers)
    if (l.parallel) return true;
  return false;
}

bool ModelDesign::is_hybrid() const {
  for (const auto& l : layers) {
    const auto& f = layers.front();
    if (l.attention.variant != f.attention.variant || !(l.span == f.span) ||
        mixer_kind(l) != mixer_kind(f) || l.attention.recurrent != f.attention.recurrent) {
      return true;
    }
  }
  return false;
}

void ModelDesign::set_kv_dtype(DType t) {
  for (auto& l : layers) {
    if (mixer_kind(l) == MixerKind::kSoftmax) {
      l.kv_dtype = t;
      l.kv_layout = KvLayout::kElements;
    }
  }
}

void ModelDesign::set_kv_cache_type(KvCacheType t, const std::string& where) {
  for (size_t i = 0; i < layers.size(); ++i) {
    LayerSpec& l = layers[i];
    if (mixer_kind(l) != MixerKind::kSoftmax) continue;
    l.kv_dtype = t.dtype;
    l.kv_layout = t.layout;
    check_kv_layout(l, layers.size() == 1 ? where : fmt::format("{} (layer {})", where, i));
  }
}

void check_kv_layout(const LayerSpec& l, const std::string& where) {
  if (l.kv_layout != KvLayout::kFp8DsMla) return;
  const AttentionShape& a = l.attention;
  const bool mla_row = a.variant == Variant::kMla || a.variant == Variant::kMtla;
  if (mixer_kind(l) != MixerKind::kSoftmax || !mla_row || a.kv_lora_rank != 512 || a.qk_rope_dim != 64 ||
      l.kv_dtype != DType::kF8E4M3) {
    const std::string got = mixer_kind(l) != MixerKind::kSoftmax ? "a layer without a KV cache"
                            : !mla_row ? std::string("a ") + std::string(variant_name(a.variant)) + " layer"
                                       : fmt::format("a latent of {} + RoPE {}", a.kv_lora_rank, a.qk_rope_dim);
    throw InputError(fmt::format("{}: fp8_ds_mla (vLLM's 656 B row: 512 fp8 latent, 4 fp32 scales, 64 bf16 "
                                 "RoPE) needs an mla or mtla layer with a 512 latent and a 64 RoPE key, got {}",
                                 where, got));
  }
}

void validate_model(const ModelDesign& m, const std::string& where) {
  if (m.layers.empty()) throw InputError(fmt::format("{}: the model has no layers", where));
  if (m.d_model <= 0) throw errors::not_positive(where, "d (hidden_size)", m.d_model);
  if (m.vocab_size < 0) throw errors::not_positive(where, "vocab_size", m.vocab_size);
  if (m.per_layer_input_dim < 0) throw errors::not_positive(where, "per-layer input width", m.per_layer_input_dim);
  if (m.altup_inputs < 0) throw errors::not_positive(where, "AltUp inputs", m.altup_inputs);
  if (m.laurel_rank < 0) throw errors::not_positive(where, "LAuReL rank", m.laurel_rank);
  if (m.per_layer_input_dim > 0 && m.per_layer_input_vocab <= 0) {
    throw errors::not_positive(where, "per-layer input vocabulary", m.per_layer_input_vocab);
  }
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const LayerSpec& l = m.layers[i];
    std::string w = m.layers.size() == 1 ? where : fmt::format("{} layer {}", where, i);
    if (l.has_mixer) validate_shape(l.attention, w);
    if (l.parallel) {
      // A second mixer of the decoder layer before it: it has a mixer, and the layer's FFN and
      // norms are counted once, on the entry it runs beside.
      if (i == 0 || m.layers[i - 1].parallel) {
        throw InputError(fmt::format("{}: a parallel mixer must follow the first mixer of its layer", w));
      }
      if (!l.has_mixer || l.ffn.kind != FfnKind::kNone || l.kv_source >= 0) {
        throw InputError(fmt::format("{}: a parallel mixer has a mixer of its own, no FFN and no "
                                     "shared cache", w));
      }
    }
    check_kv_layout(l, w + " kv_dtype");
    if (l.kv_source >= 0) {
      // A shared cache comes from an earlier softmax layer that owns one with the same streams.
      if (static_cast<size_t>(l.kv_source) >= i || !owns_cache(m.layers[static_cast<size_t>(l.kv_source)])) {
        throw InputError(fmt::format("{}: kv source layer {} is not an earlier layer with its own cache",
                                     w, l.kv_source));
      }
      if (mixer_kind(l) != MixerKind::kSoftmax) {
        throw InputError(fmt::format("{}: only softmax layers can read another layer's cache", w));
      }
    }
    if (l.span.kind == SpanKind::kTopK && l.attention.index_head_dim <= 0) {
      throw InputError(fmt::format("{}: top-k selection needs an indexer (index_head_dim)", w));
    }
    const AttentionSpan& sp = l.span;
    const bool softmax = mixer_kind(l) == MixerKind::kSoftmax;
    if (sp.kind == SpanKind::kCompressed) {
      // docs/designs.md "compress=": ratio s >= 2, a window >= 0, top-k only with an indexer.
      if (sp.ratio < 2) throw InputError(fmt::format("{}: compression ratio must be at least 2 (got {})", w, sp.ratio));
      if (sp.window < 0) throw errors::not_positive(w, "window", sp.window);
      if (sp.tokens < 0) throw errors::not_positive(w, "top-k", sp.tokens);
      if ((sp.tokens > 0) != (l.attention.index_head_dim > 0)) {
        throw InputError(fmt::format("{}: compressed top-k selection and an indexer go together "
                                     "(CSA has both, HCA neither)", w));
      }
      if (!softmax) throw InputError(fmt::format("{}: only softmax layers can be compressed", w));
    } else if (sp.kind == SpanKind::kNsa) {
      if (sp.block <= 0) throw errors::not_positive(w, "nsa block l", sp.block);
      if (sp.ratio <= 0 || sp.ratio > sp.block) {
        throw InputError(fmt::format("{}: nsa stride d ({}) must be in 1..l ({})", w, sp.ratio, sp.block));
      }
      if (sp.blocks <= 0) throw errors::not_positive(w, "nsa selected blocks n", sp.blocks);
      if (sp.select_block <= 0) throw errors::not_positive(w, "nsa selection block l'", sp.select_block);
      if (sp.window <= 0) throw errors::not_positive(w, "nsa window w", sp.window);
      const Variant v = l.attention.variant;
      if (v != Variant::kMha && v != Variant::kMqa && v != Variant::kGqa) {
        throw InputError(fmt::format("{}: nsa needs an mha, mqa or gqa layer (its branches each "
                                     "have their own k_proj and v_proj)", w));
      }
    } else if (sp.kind == SpanKind::kMoba) {
      if (sp.block <= 0) throw errors::not_positive(w, "moba block", sp.block);
      if (sp.blocks <= 0) throw errors::not_positive(w, "moba selected blocks", sp.blocks);
    } else if (sp.kind != SpanKind::kFull && sp.tokens <= 0) {
      throw errors::not_positive(w, l.span.kind == SpanKind::kChunked ? "chunk"
                                  : l.span.kind == SpanKind::kTopK ? "top-k" : "window",
                                 l.span.tokens);
    }
    const FfnShape& f = l.ffn;
    if (f.kind == FfnKind::kDense && f.intermediate <= 0) {
      throw errors::not_positive(w, "intermediate_size", f.intermediate);
    }
    if (f.kind == FfnKind::kMoe) {
      if (f.routed_experts <= 0) throw errors::not_positive(w, "routed experts", f.routed_experts);
      if (f.top_k <= 0) throw errors::not_positive(w, "experts per token (top-k)", f.top_k);
      if (f.top_k > f.routed_experts) {
        throw InputError(fmt::format("{}: top-k ({}) exceeds the routed experts ({})", w, f.top_k,
                                     f.routed_experts));
      }
      if (f.expert_intermediate <= 0) {
        throw errors::not_positive(w, "moe_intermediate_size", f.expert_intermediate);
      }
      if (f.shared_experts < 0) throw errors::not_positive(w, "shared experts", f.shared_experts);
      if (f.shared_experts > 0 && f.shared_intermediate <= 0) {
        throw errors::not_positive(w, "shared expert intermediate size", f.shared_intermediate);
      }
    }
  }
}

}  // namespace gmha
