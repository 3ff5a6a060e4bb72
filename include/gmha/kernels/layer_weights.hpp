#pragma once
// The weights of one attention layer as dense double matrices, named and shaped exactly as
// attention_weights(shape) lists them ([out, in] like a Hugging Face Linear; vectors [n, 1]),
// plus the numerical options the forward pass needs (RoPE, norm eps, softmax scale).
#include <cstdint>
#include <map>
#include <string>

#include <Eigen/Core>

#include "gmha/attention/model.hpp"
#include "gmha/attention/variant.hpp"
#include "gmha/kernels/rope.hpp"
#include "gmha/kernels/sparse.hpp"

namespace gmha {

// MatrixRM (row-major double, rows are tokens for activations [T, d]) is declared in sparse.hpp.

struct LayerWeights {
  AttentionShape shape;
  // name -> [rows, cols] (vectors: [n, 1]). Besides attention_weights(shape), the GQA family may
  // hold "q_norm" and "k_norm" [h, 1]: Qwen3's per-head RMSNorm of each head's q and k before
  // RoPE (eps = LayerOptions::norm_eps). Optional so random weights and designs stay unchanged.
  std::map<std::string, MatrixRM> tensors;

  /// The tensor `name`; throws InputError naming it when absent.
  const MatrixRM& at(const std::string& name) const;
  bool has(const std::string& name) const { return tensors.count(name) != 0; }
};

/// How one layer computes, beyond its weights.
struct LayerOptions {
  RopeConfig rope;          // rope.enabled = false for --no-rope (and always for FPBA)
  double norm_eps = 1e-6;   // eps of the layer's inner RMSNorms (MLA q_a/kv_a, MFA inter_norm)
  double scale = 0.0;       // softmax scale override; 0 = the variant's default (softmax_scale)
  int64_t window = 0;       // sliding window W: token i attends to j with i - W < j <= i; 0 = all
  SparseOptions sparse;     // DSA top-k, MoBA, NSA, CSA/HCA compression (sparse.hpp); default dense
};

/// Random weights of every tensor attention_weights(shape) lists, drawn from N(0, 1/fan_in)
/// (norm weights 1 + U(-0.25, 0.25), biases N(0, 0.1), MFA-KR alpha U(-0.5, 0.5)).
/// Deterministic in `seed`. Throws InputError when the shape is invalid.
LayerWeights random_layer_weights(const AttentionShape& shape, uint64_t seed);
/// The same over every weight of a layer with its fill rule (visit_layer_weights: NSA's branch
/// K/V, phi and gate; the CSA/HCA compressors), drawn by the same rules. A layer that borrows
/// another's cache without K/V projections gets none.
LayerWeights random_layer_weights(const LayerSpec& layer, uint64_t seed);

/// Checks that `w` holds every tensor of its shape with the right dimensions and finite values
/// (and the optional q_norm/k_norm: GQA family only, [h, 1]); throws InputError naming the first
/// bad tensor. Weights holding CSA's `indexer.compressor.wkv` may lack `indexer.wk` and
/// `indexer.k_norm(.bias)`, which that compressor replaces (visit_layer_weights).
void check_layer_weights(const LayerWeights& w, const std::string& where);

/// The softmax scale of a variant (docs/kernels.md): 1/sqrt(qk width) with qk width h (GQA family),
/// nope + rope (MLA), C (MFA), d (FPBA); MLA under yarn with mscale_all_dim multiplies it by
/// yarn_get_mscale(factor, mscale_all_dim)^2 as DeepSeek does. `o.scale` > 0 overrides.
double softmax_scale(const AttentionShape& s, const LayerOptions& o);

/// Rotary width of the variant: h (GQA family; rotary_dim when set: each head rotates its first rotary_dim dims), qk_rope_dim (MLA), C (MFA); 0 for FPBA.
int64_t rotary_dim(const AttentionShape& s);

}  // namespace gmha
