#pragma once
// Known answers for `gmha attention` that share no code with the reference: attention layers
// written from the Hugging Face (Step-3: vLLM) formulas with plain loops over std::vector.
//   Llama / Qwen2 / Qwen3: q = x Wqᵀ + b, Qwen3 per-head RMSNorm, rotate_half RoPE with cos/sin of
//     cat(freqs, freqs), GQA head c -> KV head c / (n / g), causal (optionally sliding-window)
//     softmax scaled 1/sqrt(h), o_proj + bias.
//   DeepSeek-V3 (DeepseekV3Attention): q_a -> RMSNorm(1e-6) -> q_b, split [nope | rope];
//     kv_a_proj_with_mqa split [latent | k_rot], RMSNorm(1e-6) latent -> kv_b per head
//     [k_pass | v]; apply_rotary_pos_emb_interleave on q_rot and the shared k_rot; scale
//     1/sqrt(nope + rope) (no rope_scaling).
//   Step-3 (vLLM Step3TextAttention): q = wq(inter_norm(q_proj x)), one K and one V head of
//     width C, neox (rotate_half) RoPE, scale 1/sqrt(C).
#include <cstdint>
#include <vector>

namespace gmha::test {

struct HfLlamaLayer {
  int64_t d = 0, heads = 0, kv_heads = 0, head_dim = 0;
  double theta = 10000.0;
  double eps = 1e-6;                   // rms_norm_eps: input_layernorm and Qwen3 q/k norms
  int64_t window = 0;                  // sliding window (0: full causal)
  std::vector<double> wq, wk, wv, wo;  // row-major [out, in]
  std::vector<double> bq, bk, bv, bo;  // biases, empty when absent
  std::vector<double> q_norm, k_norm;  // [head_dim], empty when absent
  std::vector<double> input_norm;      // [d], used only with input_norm = true
};

/// y [T, d] (row-major) for x [T, d] at positions 0..T-1; with `input_norm`, x first goes
/// through the input RMSNorm.
std::vector<double> hf_llama_attention(const HfLlamaLayer& m, const std::vector<double>& x,
                                       int64_t tokens, bool input_norm);

struct HfMlaLayer {
  int64_t d = 0, heads = 0, q_lora = 0, kv_lora = 0, nope = 0, rope = 0, v_head = 0;
  double theta = 10000.0;
  std::vector<double> wq_a, q_a_norm, wq_b, wq;  // q_a/q_b when q_lora > 0, else wq (q_proj)
  std::vector<double> wkv_a, kv_a_norm, wkv_b, wo;
};
/// y [T, d] of a DeepSeek-V3 attention layer (interleaved RoPE, no rope_scaling).
std::vector<double> hf_deepseek_attention(const HfMlaLayer& m, const std::vector<double>& x,
                                          int64_t tokens);

struct HfMfaLayer {
  int64_t d = 0, heads = 0, head_dim = 0, q_share = 0;
  double theta = 10000.0, eps = 1e-6;
  std::vector<double> wq_share, inter_norm, wq, wk, wv, wo;
};
/// y [T, d] of a Step-3 attention layer.
std::vector<double> hf_step3_attention(const HfMfaLayer& m, const std::vector<double>& x,
                                       int64_t tokens);

}  // namespace gmha::test
