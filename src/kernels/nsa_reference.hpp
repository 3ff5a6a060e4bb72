#pragma once
// Private to the reference (src/kernels/): NSA in the paper's frame, with each branch's own keys
// and values and the learned compression phi (nsa_reference.cpp; docs/kernels.md, "NSA with its
// branch weights").
#include <vector>

#include "gmha/kernels/reference.hpp"
#include "row_rules.hpp"

namespace gmha::detail {

/// True when `w` holds any of NSA's branch tensors (nsa.k_cmp, ..., nsa.gate): under an NSA rule
/// the reference then computes the paper's NSA instead of the pooled score-row frame.
bool has_nsa_branches(const LayerWeights& w);

/// Checks the paper frame's options and tensors (GQA family, V heads as wide as K's, no q/k
/// norms or output gates, l >= 1, no pooling weights, every nsa.* tensor of its shape and finite):
/// InputError naming the first bad one.
void check_nsa_branches(const LayerWeights& w, const NsaOptions& n);

/// One query head's row at token i, scores in, gated branch weights out (nsa_group_weights).
struct NsaRow {
  std::vector<double> cmp;  // [entries]: scaled scores of the completed compressed entries -> g_cmp p_cmp
  std::vector<double> slc;  // [i + 1]: scaled scores of the selection keys -> g_slc p_slc (0 off the selection)
  std::vector<double> win;  // [i + 1]: scaled scores of the window keys (any value outside it) -> g_win p_win
};

/// The heads h0, h0 + 1, ... of one KV group at token i: softmaxes of the three branches, the
/// group's block selection from the summed compressed probabilities (eqs. 8-11), the gates of
/// `rr` (a branch switched off by NsaOptions::branches weighs 0). Shared by every form.
void nsa_group_weights(const NsaOptions& n, const RowRules& rr, int64_t i, int64_t h0, std::vector<NsaRow>& rows);

/// The bilinear form of nsa_forward (nsa_bilinear.cpp): explicit (d + 1) x (d + 1) circuits per
/// offset, one per block position p for the compressed branch. Checked by nsa_forward.
MatrixRM nsa_bilinear(const LayerWeights& w, const MatrixRM& x, const LayerOptions& o, const RopeTable& rt,
                      const RowRules& rr);

/// One MHA/MQA/GQA layer under `o.sparse.nsa` with the branch weights of `w`, in any of the
/// three forms. `rt` is the layer's resolved RoPE, `rr`
/// gives the branch gates. Decode `stats` count the three caches (selection tokens, window
/// tokens, completed compressed entries). InputError for a missing or misshapen nsa.* tensor.
MatrixRM nsa_forward(const LayerWeights& w, const MatrixRM& x, const LayerOptions& o, const RopeTable& rt,
                     const RowRules& rr, AttentionForm form, DecodeCacheStats* stats);

}  // namespace gmha::detail
