#include "gmha/bridge/synth_model.hpp"

#include <fmt/format.h>

#include "gmha/bridge/layout.hpp"
#include "gmha/core/error.hpp"

namespace gmha {

namespace {

bool same_shape(const ModelDesign& m) {
  for (const LayerSpec& l : m.layers)
    if (!(l.attention == m.layers[0].attention) || !l.has_mixer) return false;
  return true;
}

}  // namespace

SynthOptions synth_options_for_model(const ModelDesign& m, const std::string& model_type) {
  const std::string where = fmt::format("synth --config ({})", model_type);
  if (m.layers.empty()) throw InputError(where + ": the model has no layers");
  SynthOptions o;
  o.layers = static_cast<int64_t>(m.layers.size());
  o.vocab_size = m.vocab_size;
  o.qk_norm_offset = qk_norm_offset(model_type);
  o.intermediate_size = m.layers[0].ffn.intermediate;
  const AttentionShape& first = m.layers[0].attention;
  // One MLA or MFA shape throughout: those layouts' own writers (DeepSeek's, Step-3's names).
  if (same_shape(m) && (first.variant == Variant::kMla || first.variant == Variant::kMfa ||
                        first.variant == Variant::kMfaKr)) {
    o.layout = synth_layout_for(first.variant);
    o.shape = first;
    return o;
  }
  o.layout = SynthLayout::kLlama;
  o.gdn_qkvz = model_type == "qwen3_next";
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const LayerSpec& l = m.layers[i];
    const AttentionShape& a = l.attention;
    if (l.has_mixer && l.kv_source >= 0 && !l.kv_projections)
      throw InputError(fmt::format("{}: layer {} reads layer {}'s cache and has no K/V projections of its "
                                   "own; synth writes each layer's own", where, i, l.kv_source));
    if (l.has_mixer && a.variant != Variant::kMha && a.variant != Variant::kMqa && a.variant != Variant::kGqa &&
        a.variant != Variant::kMla && a.variant != Variant::kLinear)
      throw InputError(fmt::format("{}: layer {} is {} among layers of other kinds; synth writes mixed stacks "
                                   "of GQA-family, MLA, DeepSeek-V4 and recurrent layers", where, i,
                                   variant_label(a.variant)));
  }
  // The options' one shape (it gives d; every layer is checked on its own): a mixer's.
  for (const LayerSpec& l : m.layers)
    if (l.has_mixer) {
      o.shape = l.attention;
      break;
    }
  for (const LayerSpec& l : m.layers) {
    o.no_mixer.push_back(!l.has_mixer);
    o.parallel.push_back(l.parallel);
    o.compress_ratios.push_back(l.span.kind == SpanKind::kCompressed ? l.span.ratio : 0);
    o.layer_shapes.push_back(l.has_mixer ? l.attention : o.shape);  // an MLP block's entry is skipped
  }
  return o;
}

}  // namespace gmha
