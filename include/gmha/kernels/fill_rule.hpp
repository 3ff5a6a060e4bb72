#pragma once
// A layer's fill rule (attention/model.hpp AttentionSpan, the --design modifiers of
// docs/designs.md) as options of reference attention (kernels/sparse.hpp), so `gmha validate`
// checks the three forms of a design under the rule its spec names. The rule's learned parts
// the spec does not give (NSA's branch gates, the pooled CSA/HCA gate, the DSA selection of a
// layer without an indexer) are drawn from `seed`; NSA pools blocks by the mean. CSA/HCA uses the
// layer's DeepSeek-V4 compressor when its weights hold one (has_v4_compressor: MHA/MQA/GQA with
// compressor.*), else softmax-gated pooling as sparse.hpp defines it.
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
