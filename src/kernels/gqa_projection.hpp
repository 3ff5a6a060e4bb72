#pragma once
// Private to the reference (src/kernels/): one token's projections in an MHA/MQA/GQA layer as the
// decode cache holds them, shared by the decode form (reference.cpp) and the DeepSeek-V4
// compressor's forms (compress_reference.cpp), so the q/k norm and RoPE order lives in one place.
#include <cstdint>

#include <Eigen/Core>

#include "gmha/kernels/layer_weights.hpp"

namespace gmha::detail {

struct GqaToken {
  Eigen::VectorXd q;  // [heads * h]: bias, q norm (per head or per layer), RoPE at the token's position
  Eigen::VectorXd k;      // [kv_heads * h]: bias, k norm, RoPE at the token's position
  Eigen::VectorXd v;      // [kv_heads * v_head_dim]: bias only; K = V tied: k_raw
  Eigen::VectorXd k_raw;  // [kv_heads * h]: the key projection with its bias, before norm and RoPE
};

/// Token `x` ([d]) at position `t`. q_proj must hold query rows only (an element-wise gate's
/// rows taken out, as make_row_rules does). A K = V tied layer (kv_tied) has no v_proj: its value
/// is the raw key projection (Gemma 4's attention_k_eq_v).
GqaToken gqa_token(const LayerWeights& w, const Eigen::VectorXd& x, int64_t t, const LayerOptions& o,
                   const RopeTable& rt);

/// The scored key of a raw key projection `k_raw` ([kv_heads * h]) at position `t`: k norm (per
/// head or per layer) then RoPE, as gqa_token forms GqaToken::k.
Eigen::VectorXd gqa_key(const LayerWeights& w, Eigen::VectorXd k_raw, int64_t t, const LayerOptions& o,
                        const RopeTable& rt);

}  // namespace gmha::detail
