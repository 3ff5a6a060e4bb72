#include "gmha/attention/weights.hpp"

#include "gmha/core/checked.hpp"

namespace gmha {

int64_t WeightTensor::elements() const { return checked_mul(rows, cols, "weight elements"); }

namespace {
WeightTensor mat(const char* name, int64_t rows, int64_t cols) {
  return {name, rows, cols, true};
}
WeightTensor vec(const char* name, int64_t n) { return {name, n, 1, false}; }
int64_t mul(int64_t a, int64_t b) { return checked_mul(a, b, "weight shape"); }
}  // namespace

std::vector<WeightTensor> attention_weights(const AttentionShape& s) {
  const int64_t d = s.d_model;
  std::vector<WeightTensor> w;
  switch (s.variant) {
    case Variant::kFpba:
      // Per head c: full W_c and U_c (d x d each), stored as d stacked key/value maps.
      w.push_back(mat("w_qk", mul(d, d), d));
      w.push_back(mat("u_vo", mul(d, d), d));
      break;
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa: {
      const int64_t q = mul(s.heads, s.head_dim), kv = mul(s.kv_heads, s.head_dim);
      w.push_back(mat("q_proj", q, d));
      w.push_back(mat("k_proj", kv, d));
      w.push_back(mat("v_proj", kv, d));
      if (s.qkv_bias) {
        w.push_back(vec("q_proj.bias", q));
        w.push_back(vec("k_proj.bias", kv));
        w.push_back(vec("v_proj.bias", kv));
      }
      w.push_back(mat("o_proj", d, q));
      break;
    }
    case Variant::kMla: {
      const int64_t qk_head = s.qk_nope_dim + s.qk_rope_dim;
      if (s.q_lora_rank > 0) {
        w.push_back(mat("q_a_proj", s.q_lora_rank, d));
        w.push_back(vec("q_a_layernorm", s.q_lora_rank));
        w.push_back(mat("q_b_proj", mul(s.heads, qk_head), s.q_lora_rank));
      } else {
        w.push_back(mat("q_proj", mul(s.heads, qk_head), d));
      }
      w.push_back(mat("kv_a_proj_with_mqa", s.kv_lora_rank + s.qk_rope_dim, d));
      w.push_back(vec("kv_a_layernorm", s.kv_lora_rank));
      w.push_back(mat("kv_b_proj", mul(s.heads, s.qk_nope_dim + s.v_head_dim), s.kv_lora_rank));
      w.push_back(mat("o_proj", d, mul(s.heads, s.v_head_dim)));
      break;
    }
    case Variant::kMfa:
    case Variant::kMfaKr: {
      const int64_t c = s.head_dim;
      w.push_back(mat("q_proj", s.q_share_dim, d));
      w.push_back(vec("inter_norm", s.q_share_dim));
      w.push_back(mat("wq", mul(s.heads, c), s.q_share_dim));
      w.push_back(mat("k_proj", c, d));
      if (s.variant == Variant::kMfa) {
        w.push_back(mat("v_proj", c, d));
      } else {
        // Key reuse (primer §2): v = (I + diag(alpha) N) k. At decode N is absorbed into o_proj.
        w.push_back(mat("kr_n", c, c));
        w.push_back(vec("kr_alpha", c));
      }
      w.push_back(mat("o_proj", d, mul(s.heads, c)));
      break;
    }
    case Variant::kLinear: {
      // Lightning attention (MiniMax): fused qkv_proj, output gate, out_proj, per-head norm.
      const int64_t inner = mul(s.heads, s.head_dim);
      w.push_back(mat("qkv_proj", mul(3, inner), d));
      if (s.output_gate) w.push_back(mat("output_gate", inner, d));
      w.push_back(mat("out_proj", d, inner));
      w.push_back(vec("norm", inner));
      break;
    }
  }
  return w;
}

std::vector<CacheStream> cache_streams(const AttentionShape& s) {
  switch (s.variant) {
    case Variant::kFpba:
      return {{"k", mul(s.d_model, s.d_model)}, {"v", mul(s.d_model, s.d_model)}};
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa:
      return {{"k", mul(s.kv_heads, s.head_dim)}, {"v", mul(s.kv_heads, s.head_dim)}};
    case Variant::kMla:
      // Deployed cache: the normalised latent plus the one shared RoPE key (no separate V).
      return {{"latent", s.kv_lora_rank}, {"k_rope", s.qk_rope_dim}};
    case Variant::kMfa:
      return {{"k", s.head_dim}, {"v", s.head_dim}};
    case Variant::kMfaKr:
      return {{"k", s.head_dim}};
    case Variant::kLinear:
      return {};
  }
  return {};
}

int64_t linear_state_elements(const AttentionShape& s) {
  if (s.variant != Variant::kLinear) return 0;
  return checked_product({s.heads, s.head_dim, s.state_value_dim}, "linear state");
}

DecodeWidths decode_widths(const AttentionShape& s, Convention c) {
  switch (s.variant) {
    case Variant::kFpba:
      return {s.d_model, s.d_model, s.d_model};
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa:
      return {s.heads, s.head_dim, s.head_dim};
    case Variant::kMla: {
      // Absorbed form: scores over the latent and the RoPE key, values over the latent.
      const int64_t qk = s.kv_lora_rank + s.qk_rope_dim;
      return {s.heads, qk, c == Convention::kStep3Paper ? qk : s.kv_lora_rank};
    }
    case Variant::kMfa:
    case Variant::kMfaKr:
      return {s.heads, s.head_dim, s.head_dim};
    case Variant::kLinear:
      return {s.heads, 0, 0};
  }
  return {};
}

}  // namespace gmha
