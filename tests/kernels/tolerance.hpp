#pragma once
// Kernel tolerances from the unit roundoff of the precision the kernel computes in and the size of
// its sums (docs/kernels.md, "Tolerances"), instead of constants picked to pass.
//
// A float32 kernel compared with a double reference on the *same* rounded inputs: each score is
// a dot product of qk terms and each output a sum over `tokens` softmax-weighted values, so by the
// standard bound on recursive summation (Higham, Accuracy and Stability, §3.1: |error| <= γ_n
// sum|terms|, γ_n = n u / (1 - n u)) their relative error is at most about (qk + tokens) u; the
// exp2, the running max and the split merge add a few ulps, covered by the factor 2. Dropping one
// of T tokens moves the output by about 1/T, orders of magnitude above this bound (a test checks
// that it fails).
#include <cstdint>

#include "gmha/core/dtype.hpp"

namespace gmha::test {

inline double f32_kernel_tolerance(int64_t qk, int64_t tokens) {
  return 2.0 * static_cast<double>(qk + tokens) * unit_roundoff(DType::kF32);
}

/// A float32 layer (projections, RoPE, attention, o_proj) against the double reference: the
/// projections add sums of d_model terms to the attention's.
inline double f32_layer_tolerance(int64_t d_model, int64_t qk, int64_t tokens) {
  return 2.0 * static_cast<double>(2 * d_model + qk + tokens) * unit_roundoff(DType::kF32);
}

/// A layer whose cache is stored in bf16, against the double reference on unrounded weights:
/// rounding K and V to bf16 perturbs every score and value by at most u_bf16 relative; scores
/// enter the softmax multiplied by their spread (at most a few units for these inputs), so the
/// output moves by a small multiple of u_bf16: 8 u_bf16 = 3.1e-2.
inline double bf16_cache_tolerance() { return 8.0 * unit_roundoff(DType::kBF16); }

}  // namespace gmha::test
