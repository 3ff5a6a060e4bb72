#pragma once
// The MFA paper's Table 1 closed forms (docs/capacity.md): a second, independent implementation that
// tests hold against the concrete counts wherever the closed form applies.
#include <cstdint>

#include "gmha/attention/variant.hpp"

namespace gmha {

struct ClosedForm {
  int64_t kv_per_token_per_layer = 0;  // elements (MLA: the paper's idealised 2C)
  int64_t heads = 0;
  int64_t frh = 0;
  int64_t slsd = 0;
  int64_t ter = 0;
};

/// Table 1 row for the shape's variant. Linear attention has no row (all zero).
ClosedForm closed_form(const AttentionShape& s);

}  // namespace gmha
