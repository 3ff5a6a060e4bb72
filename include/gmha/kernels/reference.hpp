#pragma once
// The double-precision reference for one attention layer of every variant, in the three forms of
// docs/kernels.md, which must agree:
//   bilinear  o_i = sum_c sum_j softmax_j(a_i x_i W_c(j-i) x_j^T b_j * s) (e_j x_j U_c), with the
//             d x d circuits W_c, U_c formed explicitly (RoPE makes W_c depend on the offset
//             j - i; RMSNorms between down and up projections contribute per-token scalars
//             a_i, b_j, e_j; biases are handled by appending a constant 1 to x). Small d only.
//   prefill   per-head projections, RoPE, causal softmax, output projection (as HF computes it).
//   decode    token by token with the variant's minimal cache (GQA: g heads; MLA: latent + the
//             shared RoPE key, W_UK absorbed into the query and W_UV into the output; MFA: one K
//             and one V of width C; MFA-KR: the pre-RoPE K only, v = k + alpha . (N k); K = V
//             tied GQA: the raw key projection only, which is also the value).
// Input x is [T, d] (the layer's input after its input norm) at positions 0..T-1; output [T, d].
// All three forms also apply LayerOptions::window (a sliding window, as a mask) and the GQA
// family's optional per-head q_norm/k_norm (Qwen3; in bilinear, per-head per-token scalars).
// CSA/HCA with DeepSeek-V4's compressor (has_v4_compressor, sparse.hpp) has the prefill and
// decode forms only; the bilinear form throws InputError (docs/kernels.md).
#include <cstdint>
#include <string_view>
#include <optional>

#include "gmha/kernels/layer_weights.hpp"

namespace gmha {

enum class AttentionForm { kBilinear, kPrefill, kDecode };

/// "bilinear", "prefill", "decode".
std::string_view form_name(AttentionForm f);
std::optional<AttentionForm> find_form(std::string_view name);

/// What a decode run kept in its cache after the last token.
struct DecodeCacheStats {
  int64_t tokens = 0;
  int64_t elements_per_token = 0;  // sum of the cached vector widths
  int64_t elements = 0;            // elements held after `tokens` tokens
};

/// One layer forward in double. Throws InputError on inconsistent weights or shapes (bilinear
/// refuses d > 512 or T > 4096, where its d x d per-offset circuits would not fit).
MatrixRM reference_forward(const LayerWeights& w, const MatrixRM& x, const LayerOptions& o,
                           AttentionForm form, DecodeCacheStats* stats = nullptr);

}  // namespace gmha

namespace gmha {

/// A layer that reads an earlier layer's cache instead of keeping its own (CLA, YOCO, Gemma 3n's
/// KV-shared layers, `share=`): its queries, sinks, gates and output come from `reader` applied
/// to `x`; its keys and values are the ones `owner` computed from its own input `x_owner` (same
/// tokens, [T, d]). MHA/MQA/GQA layers with the owner's KV heads, head width and bias flag.
/// The decode form builds the owner's cache as the owner does and attends to it; `stats` counts
/// the reader's own cache, which is empty. Throws InputError on mismatched layers or inputs.
MatrixRM reference_forward_shared(const LayerWeights& reader, const LayerWeights& owner, const MatrixRM& x,
                                  const MatrixRM& x_owner, const LayerOptions& o, AttentionForm form,
                                  DecodeCacheStats* stats = nullptr);

}  // namespace gmha
