#pragma once
// Private to the reference (src/kernels/): MTLA's prefill and decode forms (mtla_reference.cpp).
#include "gmha/kernels/reference.hpp"

namespace gmha::detail {

/// One MTLA layer in the prefill or decode form (the bilinear form throws InputError). `rt` is
/// the resolved RoPE of the qk_rope_dim keys; stats count entries of ceil(T/s).
MatrixRM mtla_forward(const LayerWeights& w, const MatrixRM& x, const LayerOptions& o, const RopeTable& rt,
                      AttentionForm form, DecodeCacheStats* stats);

}  // namespace gmha::detail
