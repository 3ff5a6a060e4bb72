#pragma once
// A layer's fill rule (attention/model.hpp AttentionSpan, the --design modifiers of
// docs/designs.md) as options of reference attention (kernels/sparse.hpp), so `gmha validate`
// checks the three forms of a design under the rule its spec names. The rule's learned parts come
// from the layer's weights when it holds them (random_layer_weights over the LayerSpec draws
// them): NSA's branch K/V, phi and gate (the reference then computes the paper's NSA), and the
// DeepSeek-V4 compressor of CSA/HCA (has_v4_compressor: MHA/MQA/GQA with compressor.*). What the
// weights do not give (NSA's gate without nsa.gate, the pooled CSA/HCA gate, the DSA selection of
// a layer without an indexer) is drawn from `seed`; NSA without its branch weights pools blocks by
// the mean, CSA/HCA without a compressor by softmax-gated weights, as sparse.hpp defines them.
#include <cstdint>

#include "gmha/attention/model.hpp"
#include "gmha/kernels/layer_weights.hpp"

namespace gmha {

/// Sets `o.window` or `o.sparse` from `span` for the layer `w` over the input `x` ([T, d]):
/// sliding window W; top-k (the DSA indexer's top-k when the layer has index heads, else the
/// top-k of seeded scores); MoBA B/k; NSA l/d/n/l'/w; compression s with its window and top-k
/// entries. Full spans change nothing. Throws InputError for a chunked span (reference attention
/// has no chunk mask).
void apply_fill_rule(const AttentionSpan& span, const LayerWeights& w, const MatrixRM& x, LayerOptions& o,
                     uint64_t seed);

}  // namespace gmha
