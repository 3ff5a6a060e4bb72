#pragma once
// An attention variant is data: its shape parameters (this file), the named weight matrices of a
// layer and the cache vectors it keeps per token (weights.hpp). Every figure gmha reports is derived
// from those two lists, so parameters, cache and FLOPs cannot disagree. Spec: primer §1–§2.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gmha {

enum class Variant { kFpba, kMha, kMqa, kGqa, kMla, kMfa, kMfaKr, kLinear };

/// Lower-case name used in designs and output: fpba, mha, mqa, gqa, mla, mfa, mfa-kr, linear.
std::string_view variant_name(Variant v);
/// Display name: FPBA, MHA, MQA, GQA, MLA, MFA, MFA-KR, Linear.
std::string_view variant_label(Variant v);
/// Parses a variant name (case-insensitive; mfa_kr and mfakr accepted), nullopt when unknown.
std::optional<Variant> find_variant(std::string_view name);

/// Shape of one attention layer. Fields not used by a variant stay 0.
struct AttentionShape {
  Variant variant = Variant::kGqa;
  int64_t d_model = 0;   // d, hidden_size
  int64_t heads = 0;     // query heads: n (GQA family), m (MLA/MFA), d (FPBA)
  int64_t kv_heads = 0;  // cached KV heads: g (GQA family); 1 for MLA/MFA/MFA-KR (one stream)
  int64_t head_dim = 0;  // h (GQA family, linear); C (MFA, MFA-KR); d (FPBA)
  // MLA (DeepSeek-V2/V3, Kimi K2)
  int64_t q_lora_rank = 0;   // 0: plain q_proj, no query compression
  int64_t kv_lora_rank = 0;  // C, the cached latent
  int64_t qk_nope_dim = 0;
  int64_t qk_rope_dim = 0;
  int64_t v_head_dim = 0;
  // MFA / MFA-KR (Step-3): shared query down-projection width C_q (share_q_dim)
  int64_t q_share_dim = 0;
  // Linear attention: per-head state is head_dim (d_k) x state_value_dim (d_v)
  int64_t state_value_dim = 0;
  bool qkv_bias = false;  // Qwen2-style biases on q/k/v projections
  bool output_gate = false;  // linear attention with an output gate (MiniMax lightning)
};

/// Throws InputError (naming `where` and the field) when the shape is impossible: a size zero or
/// negative, heads not divisible by kv_heads, MLA/MFA fields missing.
void validate_shape(const AttentionShape& s, const std::string& where);

/// FRH, SLSD, TER of a layer (primer §1 and §4 nominal ranks). Linear attention has none (0).
struct CapacityRanks {
  int64_t frh = 0;        // nominal rank of one head's QK circuit W_Q,i W_K,iᵀ
  int64_t slsd = 0;
  int64_t ter = 0;
  std::string frh_bound;  // what binds FRH, e.g. "h", "C", "C_q", "h_nope"
  int64_t vo_rank = 0;    // nominal rank of one head's VO circuit W_V,i W_O,i (the audit's bound)
};
CapacityRanks capacity_ranks(const AttentionShape& s);

}  // namespace gmha
