#pragma once
// An attention variant is data: its shape parameters (this file), the named weight matrices of a
// layer and the cache vectors it keeps per token (weights.hpp). Every figure gmha reports is derived
// from those two lists, so parameters, cache and FLOPs cannot disagree. Spec: docs/capacity.md.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gmha {

// kGta, kGla, kTpa, kMtla: the 2025 designs of docs/designs.md (grouped-tied, grouped latent,
// tensor product, temporal latent attention).
enum class Variant { kFpba, kMha, kMqa, kGqa, kMla, kMfa, kMfaKr, kLinear, kGta, kGla, kTpa, kMtla };

/// Lower-case name used in designs and output: fpba, mha, mqa, gqa, mla, mfa, mfa-kr, linear,
/// gta, gla, tpa, mtla.
std::string_view variant_name(Variant v);
/// Display name: FPBA, MHA, MQA, GQA, MLA, MFA, MFA-KR, Linear, GTA, GLA, TPA, MTLA.
std::string_view variant_label(Variant v);
/// Parses a variant name (case-insensitive; mfa_kr and mfakr accepted), nullopt when unknown.
std::optional<Variant> find_variant(std::string_view name);

/// The recurrent mixer a `Variant::kLinear` layer runs (docs/capacity.md, "Recurrent mixers").
/// Each keeps a fixed state per sequence instead of a per-token cache.
enum class RecurrentKind {
  kLightning,      // MiniMax lightning attention: per head a d_k x d_v state
  kGatedDeltaNet,  // Qwen3-Next / Qwen3.5: value heads x d_k x d_v state + a causal conv state
  kKda,            // Kimi Delta Attention: heads x d_k x d_v state (fp32) + q/k/v conv states
  kMamba2,         // Mamba2 SSD: heads x head_dim x d_state state + a conv state
  kShortConv,      // LFM2 gated short convolution: only a conv state of (L - 1) x d
  kMamba,          // Mamba-1 selective scan (Jamba): I channels x d_state state + a conv state over x
};
std::string_view recurrent_name(RecurrentKind k);

/// A softmax layer's output gate: none; element-wise (q_proj also emits a gate of n*h, Qwen3-Next
/// `attn_output_gate`); head-wise (one gate per head from g_proj [n, d], Step-3.5).
enum class OutputGate { kNone, kElementwise, kHeadwise };

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

  // --- per-layer geometry and extras of softmax layers (docs/capacity.md, "Layer kinds") ---
  // GQA family: v_head_dim > 0 is a V head width different from the K head (MiMo-V2 192/128);
  // 0 means V = head_dim. (MLA uses v_head_dim as before.)
  int64_t rotary_dim = 0;   // dims of each head that RoPE rotates; 0 = all (informational)
  bool kv_tied = false;     // K = V (m_kv = 1): no v_proj; engines still allocate V (see cache)
  bool o_bias = false;      // bias on o_proj (gpt-oss attention_bias)
  bool sinks = false;       // one learned sink logit per query head (gpt-oss); no cache
  bool qk_norm = false;     // RMSNorm over each q and k head: q_norm, k_norm [head_dim]
  bool qk_norm_per_layer = false;  // ...over all heads at once instead: q_norm [n*h], k_norm [g*h]
                                   // (MiniMax-M2 qk_norm_type "per_layer", OLMo 2)
  OutputGate gate = OutputGate::kNone;
  // DSA lightning indexer (DeepSeek-V3.2): H_I heads of width d_I reading one cached index key
  // of d_I per token (stored fp8 + an fp32 scale per 128 elements, whatever the KV dtype).
  int64_t index_heads = 0;
  int64_t index_head_dim = 0;
  // DeepSeek-V4 on the GQA family (docs/capacity.md, "DeepSeek-V4"): a compressed query
  // (q_lora_rank > 0: q_a_proj, q_a_layernorm, q_b_proj as MLA's), one cached K = V latent per
  // KV head (kv_latent: wkv + kv_norm, cached once as MLA's latent, not as K beside a V block),
  // and a grouped low-rank output (o_groups groups of heads, each through o_lora_rank).
  bool kv_latent = false;
  int64_t o_lora_rank = 0;
  int64_t o_groups = 0;
  // Manifold-constrained hyper-connections (DeepSeek-V4 hc_mult = n): n residual streams; each
  // block's attention and FFN have a mixing map hc_*_fn [(2 + n) n, n d] with hc_*_base
  // [(2 + n) n] and hc_*_scale [3], counted with the layer's attention weights. 0: none.
  int64_t hyper_connections = 0;

  // --- recurrent mixers (variant kLinear) ---
  RecurrentKind recurrent = RecurrentKind::kLightning;
  int64_t key_heads = 0;    // GDN: linear_num_key_heads (q/k heads; heads = value heads); Mamba2: n_groups
  int64_t conv_kernel = 0;  // causal conv width K (GDN, KDA, Mamba2) or L_cache (short conv)
  int64_t inner = 0;        // Mamba2: intermediate width (heads * head_dim); short conv: d
  // Mamba-1 is stored as Mamba2's SSD view with head width 1: heads = inner = I channels,
  // head_dim = 1, key_heads = 1 (one B of d_state N shared by every channel), state_value_dim = N.
  int64_t dt_rank = 0;      // Mamba-1: rank R of the dt projection (x_proj -> dt_proj)
  // Mamba2: the gated RMSNorm over I before out_proj. Falcon-H1 has it only with mamba_rms_norm.
  bool mamba_norm = true;

  // --- the 2025 designs (docs/designs.md) ---
  // GTA: heads = h_q, kv_heads = h_kv tied K/V states of head_dim = d_h, qk_rope_dim = d_R (one
  //   shared RoPE key; K = the state's first d_h - d_R dims + that key, V = the whole state).
  // GLA: the MLA fields with kv_heads = h_c latent heads of kv_lora_rank = d_c each.
  // MTLA: the MLA fields plus temporal_stride = s (s tokens merged into one cache entry).
  int64_t temporal_stride = 0;  // MTLA s (>= 1); 0 for every other variant
  // TPA: heads = h, head_dim = d_h; Q, K, V are sums of R_Q, R_K, R_V tensor products a (x) b.
  int64_t tpa_rank_q = 0;
  int64_t tpa_rank_k = 0;
  int64_t tpa_rank_v = 0;
  bool tpa_noncontextual = false;  // the head factors a are learned constants (the bilinear bound)

  bool operator==(const AttentionShape&) const = default;
};

/// GTA's RoPE width when a design does not give one: Zadouri et al. rotate half of each head,
/// d_h / 2, rounded down to even (rotary dimensions come in pairs).
int64_t gta_default_rope_dim(int64_t head_dim);

/// Throws InputError (naming `where` and the field) when the shape is impossible: a size zero or
/// negative, heads not divisible by kv_heads, MLA/MFA fields missing.
void validate_shape(const AttentionShape& s, const std::string& where);

/// FRH, SLSD, TER of a layer (docs/capacity.md nominal ranks). Linear attention has none (0):
/// callers that report them use `softmax_ranks`, which says "n/a" for recurrent layers.
struct CapacityRanks {
  int64_t frh = 0;        // nominal rank of one head's QK circuit W_Q,i W_K,iᵀ
  int64_t slsd = 0;
  int64_t ter = 0;
  std::string frh_bound;  // what binds FRH, e.g. "h", "C", "C_q", "h_nope"
  int64_t vo_rank = 0;    // nominal rank of one head's VO circuit W_V,i W_O,i (the audit's bound)
  // SLSD_head (docs/designs.md): the part of the cached key subspace one head can reach; equal to
  // slsd (SLSD_layer) except for grouped latents (GLA: d_c of h_c * d_c) and GQA/GTA groups.
  int64_t slsd_head = 0;
  // False where the bilinear GMHA form does not hold (contextual TPA: the key is quadratic in x);
  // the ranks are then the non-contextual bounds, and outputs say "outside GMHA".
  bool bilinear = true;
  // Grouped output LoRA (DeepSeek-V4 o_lora_rank, o_groups): the rank bound of one group's VO
  // map, min(o_lora_rank, (h / G) * v, d) (frontier §3). 0 without one.
  int64_t vo_group_rank = 0;
};
CapacityRanks capacity_ranks(const AttentionShape& s);
/// capacity_ranks for softmax layers; nullopt (reported "n/a", never 0) for recurrent ones.
std::optional<CapacityRanks> softmax_ranks(const AttentionShape& s);

/// What a recurrent layer can hold instead (frontier §3): the state capacity H·d_k·d_v and the
/// key rank bound H·d_k (H the heads that own a state). Zero for softmax layers.
struct RecurrentCapacity {
  int64_t state_capacity = 0;
  int64_t key_rank_bound = 0;
};
RecurrentCapacity recurrent_capacity(const AttentionShape& s);

}  // namespace gmha
