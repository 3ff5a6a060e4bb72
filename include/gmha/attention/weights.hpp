#pragma once
// The concrete parameterisation of each variant (primer §2): weight matrices as [out, in] like a
// Hugging Face Linear, norm/bias vectors, and the vectors cached per token.
#include <cstdint>
#include <string>
#include <vector>

#include "gmha/attention/variant.hpp"

namespace gmha {

/// One weight tensor of an attention layer. Vectors (norms, biases) have cols == 1 and
/// `is_matrix == false`; they count as parameters but cost no matmul FLOPs.
struct WeightTensor {
  std::string name;  // Hugging Face suffix under self_attn, e.g. "q_proj", "kv_a_layernorm"
  int64_t rows = 0;  // out
  int64_t cols = 0;  // in
  bool is_matrix = true;
  int64_t elements() const;  // checked rows * cols
};

/// A vector cached per token and layer (e.g. GQA "k" of width g*h, MLA "latent" of width C).
struct CacheStream {
  std::string name;
  int64_t width = 0;  // elements per token
};

/// The weights of one attention layer, in Hugging Face order.
std::vector<WeightTensor> attention_weights(const AttentionShape& s);
/// The vectors cached per token by one layer (empty for linear attention, which keeps a state).
std::vector<CacheStream> cache_streams(const AttentionShape& s);
/// Fixed recurrent state of a linear-attention layer in elements (heads * d_k * d_v); 0 otherwise.
int64_t linear_state_elements(const AttentionShape& s);

/// Widths that one decoded query meets per cached token (primer §3): QK dot width and PV width,
/// for `query_heads` heads. GQA/MFA: h and h (C and C); MLA absorbed: C + h_rope and C
/// (step3-paper convention: C + h_rope for PV too); FPBA: d and d.
struct DecodeWidths {
  int64_t query_heads = 0;
  int64_t qk_width = 0;
  int64_t pv_width = 0;
};
enum class Convention { kExact, kStep3Paper };
DecodeWidths decode_widths(const AttentionShape& s, Convention c);

}  // namespace gmha
