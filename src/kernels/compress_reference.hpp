#pragma once
// Private to the reference (src/kernels/): CSA/HCA with DeepSeek-V4's compressor in the
// prefill and decode forms (compress_reference.cpp), for MHA/MQA/GQA layers whose weights hold
// compressor.* (has_v4_compressor, sparse.hpp).
#include "gmha/kernels/reference.hpp"
#include "row_rules.hpp"

namespace gmha::detail {

/// One layer under o.sparse.compress with V4's compressor. `w` is the layer with an element-wise
/// gate's rows taken out of q_proj (make_row_rules), `rr` its sinks and gates, `rt` the resolved
/// RoPE of the layer's keys. The bilinear form throws InputError (outside the bilinear GMHA
/// form). `stats` count cache entries: min(T, window) raw tokens and floor(T/s) compressed
/// entries, each of the layer's cache width W.
MatrixRM compress_forward(const LayerWeights& w, const MatrixRM& x, const LayerOptions& o, const RopeTable& rt,
                          const RowRules& rr, AttentionForm form, DecodeCacheStats* stats);

}  // namespace gmha::detail
