#pragma once
// The concrete parameterisation of each variant (primer §2): weight matrices as [out, in] like a
// Hugging Face Linear, norm/bias vectors, and the vectors cached per token.
#include <cstdint>
#include <string>
#include <vector>

#include "gmha/attention/variant.hpp"
#include "gmha/core/checked.hpp"

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

/// The weights of one attention layer, in Hugging Face order (collects visit_attention_weights).
std::vector<WeightTensor> attention_weights(const AttentionShape& s);
/// The vectors cached per token by one layer (empty for linear attention, which keeps a state).
std::vector<CacheStream> cache_streams(const AttentionShape& s);
/// Fixed recurrent state of a linear-attention layer in elements (heads * d_k * d_v); 0 otherwise.
int64_t linear_state_elements(const AttentionShape& s);

/// The one enumeration of a layer's weights (primer §2 as docs/capacity.md derives it): calls
/// `visit(name, rows, cols, is_matrix)` for each tensor in Hugging Face order. Allocation-free,
/// so the sweep's inner loop can call it through attention_counts; attention_weights, fit's
/// sharding and the figures all read the same list. Throws InputError on overflow.
template <class Visit>
void visit_attention_weights(const AttentionShape& s, Visit&& visit);
/// The one enumeration of a layer's cached vectors: `visit(name, width)` per stream.
template <class Visit>
void visit_cache_streams(const AttentionShape& s, Visit&& visit);

/// Sums of one layer's weights and cache, from the two enumerations above.
struct AttentionCounts {
  int64_t params = 0;           // every weight element: matrices, norms, biases
  int64_t decode_matmul = 0;    // matrix elements applied once per decoded token (2 FLOPs each)
  int64_t cached_elements = 0;  // elements cached per token (0 for linear attention)
};
/// Allocation-free. MFA-KR's kr_n is absorbed into o_proj at decode (v = (I + diag(a)N)k is
/// linear in k), so it counts as a parameter but costs no FLOPs per token.
AttentionCounts attention_counts(const AttentionShape& s);

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

// --- the enumerations ------------------------------------------------------------------------

template <class Visit>
void visit_attention_weights(const AttentionShape& s, Visit&& visit) {
  const int64_t d = s.d_model;
  auto mul = [](int64_t a, int64_t b) { return checked_mul(a, b, "weight shape"); };
  auto mat = [&](const char* name, int64_t rows, int64_t cols) { visit(name, rows, cols, true); };
  auto vec = [&](const char* name, int64_t n) { visit(name, n, int64_t{1}, false); };
  switch (s.variant) {
    case Variant::kFpba:
      // Per head c: full W_c and U_c (d x d each), stored as d stacked key/value maps.
      mat("w_qk", mul(d, d), d);
      mat("u_vo", mul(d, d), d);
      break;
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa: {
      const int64_t q = mul(s.heads, s.head_dim), kv = mul(s.kv_heads, s.head_dim);
      mat("q_proj", q, d);
      mat("k_proj", kv, d);
      mat("v_proj", kv, d);
      if (s.qkv_bias) {
        vec("q_proj.bias", q);
        vec("k_proj.bias", kv);
        vec("v_proj.bias", kv);
      }
      mat("o_proj", d, q);
      break;
    }
    case Variant::kMla: {
      const int64_t qk_head = s.qk_nope_dim + s.qk_rope_dim;
      if (s.q_lora_rank > 0) {
        mat("q_a_proj", s.q_lora_rank, d);
        vec("q_a_layernorm", s.q_lora_rank);
        mat("q_b_proj", mul(s.heads, qk_head), s.q_lora_rank);
      } else {
        mat("q_proj", mul(s.heads, qk_head), d);
      }
      mat("kv_a_proj_with_mqa", s.kv_lora_rank + s.qk_rope_dim, d);
      vec("kv_a_layernorm", s.kv_lora_rank);
      mat("kv_b_proj", mul(s.heads, s.qk_nope_dim + s.v_head_dim), s.kv_lora_rank);
      mat("o_proj", d, mul(s.heads, s.v_head_dim));
      break;
    }
    case Variant::kMfa:
    case Variant::kMfaKr: {
      const int64_t c = s.head_dim;
      mat("q_proj", s.q_share_dim, d);
      vec("inter_norm", s.q_share_dim);
      mat("wq", mul(s.heads, c), s.q_share_dim);
      mat("k_proj", c, d);
      if (s.variant == Variant::kMfa) {
        mat("v_proj", c, d);
      } else {
        // Key reuse (docs/capacity.md): v = (I + diag(alpha) N) k; at decode N folds into o_proj.
        mat("kr_n", c, c);
        vec("kr_alpha", c);
      }
      mat("o_proj", d, mul(s.heads, c));
      break;
    }
    case Variant::kLinear: {
      // Lightning attention (MiniMax): fused qkv_proj, output gate, out_proj, per-head norm.
      const int64_t inner = mul(s.heads, s.head_dim);
      mat("qkv_proj", mul(3, inner), d);
      if (s.output_gate) mat("output_gate", inner, d);
      mat("out_proj", d, inner);
      vec("norm", inner);
      break;
    }
  }
}

template <class Visit>
void visit_cache_streams(const AttentionShape& s, Visit&& visit) {
  switch (s.variant) {
    case Variant::kFpba:
      visit("k", checked_mul(s.d_model, s.d_model, "cache width"));
      visit("v", checked_mul(s.d_model, s.d_model, "cache width"));
      break;
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa:
      visit("k", checked_mul(s.kv_heads, s.head_dim, "cache width"));
      visit("v", checked_mul(s.kv_heads, s.head_dim, "cache width"));
      break;
    case Variant::kMla:
      // Deployed cache: the normalised latent plus the one shared RoPE key (no separate V).
      visit("latent", s.kv_lora_rank);
      visit("k_rope", s.qk_rope_dim);
      break;
    case Variant::kMfa:
      visit("k", s.head_dim);
      visit("v", s.head_dim);
      break;
    case Variant::kMfaKr:
      visit("k", s.head_dim);
      break;
    case Variant::kLinear:
      break;
  }
}

}  // namespace gmha
