#include "gmha/capacity/closed_form.hpp"

namespace gmha {

ClosedForm closed_form(const AttentionShape& s) {
  // MFA paper Table 1 (docs/capacity.md). d = n*h for the MHA family; C the latent; m heads.
  const int64_t d = s.d_model, n = s.heads, h = s.head_dim, g = s.kv_heads;
  switch (s.variant) {
    case Variant::kFpba: return {2 * d * d, d, d, d, d * d};
    case Variant::kMha: return {2 * n * h, n, h, n * h, n * h};
    case Variant::kMqa: return {2 * h, n, h, h, n * h};
    case Variant::kGqa: return {2 * g * h, n, h, g * h, n * h};
    case Variant::kMla: {
      const int64_t c = s.kv_lora_rank, hn = s.qk_nope_dim;
      return {2 * c, n, hn, c, n * hn};
    }
    case Variant::kMfa: return {2 * h, n, h, h, n * h};
    case Variant::kMfaKr: return {h, n, h, h, n * h};
    // Not in the MFA paper's table: the 2025 designs and linear attention have no row.
    case Variant::kLinear:
    case Variant::kGta:
    case Variant::kGla:
    case Variant::kTpa:
    case Variant::kMtla:
      return {};
  }
  return {};
}

}  // namespace gmha
