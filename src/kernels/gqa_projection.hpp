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
  Eigen::VectorXd k;  // [kv_heads * h]: bias, k norm, RoPE at the token's position
  Eigen::VectorXd v;  // [kv_heads * v_head_dim]: bias only
};

/// Token `x` ([d]) at position `t`. q_proj must hold query rows only (an element-wise gate's
/// rows taken out, as make_row_rules does).
GqaToken gqa_token(const LayerWeights& w, const Eigen::VectorXd& x, int64_t t, const LayerOptions& o,
                   const RopeTable& rt);

}  // namespace gmha::detail
