#pragma once
// The concrete parameterisation of each variant (docs/capacity.md): weight matrices as [out, in] like a
// Hugging Face Linear, norm/bias vectors, and the vectors cached per token.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gmha/attention/model.hpp"
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
/// Fixed recurrent state of a linear-attention layer in elements (heads * d_k * d_v; Mamba2
/// heads * head_dim * d_state; short conv none); 0 for softmax layers. Kept in the layer's KV dtype.
int64_t linear_state_elements(const AttentionShape& s);
/// Causal-convolution state of a recurrent layer in elements: (K - 1) x the convolved width
/// (GDN 2·H_k·d_k + H_v·d_v; KDA 2·H·d_k + H·d_v; Mamba2 I + 2·G·N; short conv d). Kept in the
/// model dtype (LayerSpec::conv_dtype). 0 for softmax layers and lightning attention.
int64_t conv_state_elements(const AttentionShape& s);
/// Channels the causal conv of a recurrent layer filters (the widths above); 0 without a conv.
int64_t conv_channels(const AttentionShape& s);
/// Bytes of one DSA index key per token and layer: d_I fp8 values plus one fp32 scale per 128
/// (ceil), whatever the KV dtype: 132 for d_I = 128 (vLLM DeepseekV32IndexerCache). 0 without an
/// indexer.
int64_t index_key_bytes(const AttentionShape& s);

/// The one enumeration of a layer's weights (docs/capacity.md as docs/capacity.md derives it): calls
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
  int64_t cached_elements = 0;  // elements cached per token as engines allocate (0 for linear)
  int64_t cached_elements_minimal = 0;  // the architectural minimum: a tied V is not stored again
};
/// Allocation-free. MFA-KR's kr_n is absorbed into o_proj at decode (v = (I + diag(a)N)k is
/// linear in k), so it counts as a parameter but costs no FLOPs per token.
AttentionCounts attention_counts(const AttentionShape& s);
/// The same over visit_layer_weights (the fill rule's weights too); NSA's phi (run once per
/// compressed block) and DeepSeek-V4's compressors (once per s tokens) cost no matmul per token
/// beyond their projections, which are charged (docs/designs.md).
AttentionCounts attention_counts(const LayerSpec& l);

/// Widths that one decoded query meets per cached token (docs/capacity.md): QK dot width and PV width,
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

/// Weights of a recurrent mixer (docs/capacity.md, "Recurrent mixers"), as the Hugging Face
/// modules name them. `mat(name, rows, cols)` and `vec(name, n)` as in visit_attention_weights.
template <class Mat, class Vec>
void visit_recurrent_weights(const AttentionShape& s, Mat&& mat, Vec&& vec) {
  const int64_t d = s.d_model;
  auto mul = [](int64_t a, int64_t b) { return checked_mul(a, b, "weight shape"); };
  auto add = [](int64_t a, int64_t b) { return checked_add(a, b, "weight shape"); };
  switch (s.recurrent) {
    case RecurrentKind::kLightning: {
      // Lightning attention (MiniMax): fused qkv_proj, output gate, out_proj, per-head norm.
      const int64_t inner = mul(s.heads, s.head_dim);
      mat("qkv_proj", mul(3, inner), d);
      if (s.output_gate) mat("output_gate", inner, d);
      mat("out_proj", d, inner);
      vec("norm", inner);
      break;
    }
    case RecurrentKind::kGatedDeltaNet: {
      // Qwen3-Next: q, k (H_k x d_k each), v and the gate z (H_v x d_v each) from in_proj_qkvz;
      // beta and alpha (one per value head) from in_proj_ba; a depthwise conv over q, k, v.
      const int64_t qk = mul(s.key_heads, s.head_dim), vz = mul(s.heads, s.state_value_dim);
      const int64_t conv_dim = add(mul(2, qk), vz);
      mat("in_proj_qkvz", add(mul(2, qk), mul(2, vz)), d);
      mat("in_proj_ba", mul(2, s.heads), d);
      vec("conv1d", mul(conv_dim, s.conv_kernel));
      vec("dt_bias", s.heads);
      vec("A_log", s.heads);
      vec("norm", s.state_value_dim);
      mat("out_proj", d, vz);
      break;
    }
    case RecurrentKind::kKda: {
      // Kimi Delta Attention: q, k, v projections each with a short conv; a low-rank per-channel
      // decay (f_a, f_b) and output gate (g_a, g_b) through a d_v bottleneck; beta per head.
      const int64_t qk = mul(s.heads, s.head_dim), v = mul(s.heads, s.state_value_dim);
      mat("q_proj", qk, d);
      mat("k_proj", qk, d);
      mat("v_proj", v, d);
      vec("q_conv1d", mul(qk, s.conv_kernel));
      vec("k_conv1d", mul(qk, s.conv_kernel));
      vec("v_conv1d", mul(v, s.conv_kernel));
      mat("f_a_proj", s.state_value_dim, d);
      mat("f_b_proj", qk, s.state_value_dim);
      mat("b_proj", s.heads, d);
      vec("A_log", s.heads);
      vec("dt_bias", qk);
      mat("g_a_proj", s.state_value_dim, d);
      mat("g_b_proj", v, s.state_value_dim);
      vec("o_norm", s.state_value_dim);
      mat("o_proj", d, v);
      break;
    }
    case RecurrentKind::kMamba2: {
      // Mamba2 mixer: in_proj gives z (I), x (I), B and C (G x N each) and dt (H); a depthwise
      // conv with bias over x, B, C; per-head dt_bias, A_log, D; a gated RMSNorm over I (unless
      // mamba_norm is false: Falcon-H1 without mamba_rms_norm).
      const int64_t groups = mul(mul(2, s.key_heads), s.state_value_dim);
      const int64_t conv_dim = add(s.inner, groups);
      mat("in_proj", add(add(mul(2, s.inner), groups), s.heads), d);
      vec("conv1d.weight", mul(conv_dim, s.conv_kernel));
      vec("conv1d.bias", conv_dim);
      vec("dt_bias", s.heads);
      vec("A_log", s.heads);
      vec("D", s.heads);
      if (s.mamba_norm) vec("norm", s.inner);
      mat("out_proj", d, s.inner);
      break;
    }
    case RecurrentKind::kMamba: {
      // Mamba-1 mixer as Jamba names it (JambaMambaMixer, no projection biases): in_proj gives x
      // and the gate z (I each); a depthwise conv with bias over x; x_proj gives dt (R), B and C
      // (N each); dt_proj [I, R] with bias; A_log [I, N]; D [I]; Jamba's RMSNorms over dt, B, C.
      const int64_t n = s.state_value_dim;
      mat("in_proj", mul(2, s.inner), d);
      vec("conv1d.weight", mul(s.inner, s.conv_kernel));
      vec("conv1d.bias", s.inner);
      mat("x_proj", add(s.dt_rank, mul(2, n)), s.inner);
      mat("dt_proj", s.inner, s.dt_rank);
      vec("dt_proj.bias", s.inner);
      vec("A_log", mul(s.inner, n));
      vec("D", s.inner);
      vec("dt_layernorm", s.dt_rank);
      vec("b_layernorm", n);
      vec("c_layernorm", n);
      mat("out_proj", d, s.inner);
      break;
    }
    case RecurrentKind::kShortConv: {
      // LFM2: in_proj gives B, C and x (d each); a depthwise conv of L taps over B*x; out_proj.
      mat("in_proj", mul(3, s.inner), d);
      vec("conv", mul(s.inner, s.conv_kernel));
      mat("out_proj", d, s.inner);
      break;
    }
  }
}

/// Weights of the 2025 designs (docs/designs.md), named as their reference code names them.
/// `mat(name, rows, cols)` and `vec(name, n)` as in visit_attention_weights.
template <class Mat, class Vec>
void visit_design_weights(const AttentionShape& s, Mat&& mat, Vec&& vec) {
  const int64_t d = s.d_model;
  auto mul = [](int64_t a, int64_t b) { return checked_mul(a, b, "weight shape"); };
  auto add = [](int64_t a, int64_t b) { return checked_add(a, b, "weight shape"); };
  switch (s.variant) {
    case Variant::kGta:
      // Dao-AILab/grouped-latent-attention modeling_llama_GTA.py: q_proj, kv_proj (the tied
      // states), W_rope_k (the shared RoPE key; gmha counts no bias on it), o_proj.
      mat("q_proj", mul(s.heads, s.head_dim), d);
      mat("kv_proj", mul(s.kv_heads, s.head_dim), d);
      if (s.qk_rope_dim > 0) mat("k_rope_proj", s.qk_rope_dim, d);
      mat("o_proj", d, mul(s.heads, s.head_dim));
      break;
    case Variant::kGla:
    case Variant::kMtla: {
      // MLA's projections (DeepSeek names). GLA: the down-projection emits h_c latents of d_c
      // (one RMSNorm each) and kv_b_proj is block-diagonal, each head reading its group's d_c:
      // rows h_q * (nope + v), d_c columns (modeling_llama_GLA.py W_ukv_1..h_c, stacked).
      const int64_t qk_head = add(s.qk_nope_dim, s.qk_rope_dim);
      const int64_t latents = s.variant == Variant::kGla ? mul(s.kv_heads, s.kv_lora_rank) : s.kv_lora_rank;
      // MTLA.py normalises with LayerNorm (a weight and a bias); GLA with RMSNorm (a weight).
      const bool layer_norm = s.variant == Variant::kMtla;
      if (s.q_lora_rank > 0) {
        mat("q_a_proj", s.q_lora_rank, d);
        vec("q_a_layernorm", s.q_lora_rank);
        if (layer_norm) vec("q_a_layernorm.bias", s.q_lora_rank);
        mat("q_b_proj", mul(s.heads, qk_head), s.q_lora_rank);
      } else {
        mat("q_proj", mul(s.heads, qk_head), d);
      }
      mat("kv_a_proj_with_mqa", add(latents, s.qk_rope_dim), d);
      vec("kv_a_layernorm", latents);
      if (layer_norm) vec("kv_a_layernorm.bias", latents);
      mat("kv_b_proj", mul(s.heads, add(s.qk_nope_dim, s.v_head_dim)), s.kv_lora_rank);
      mat("o_proj", d, mul(s.heads, s.v_head_dim));
      if (s.variant == Variant::kMtla) {
        // D-Keqi/mtla MTLA.py HyperNetwork (low_rank = 4): the merge weight of token i is
        // sigmoid(fc_c(c_i) . fc_p(pe_j)), both d_c -> d_c / 4 with biases; pe_j is a fixed
        // sinusoid of the entry index. Both run once per decoded token.
        const int64_t r = s.kv_lora_rank / 4;
        mat("hypernet.fc_c", r, s.kv_lora_rank);
        vec("hypernet.fc_c.bias", r);
        mat("hypernet.fc_p", r, s.kv_lora_rank);
        vec("hypernet.fc_p.bias", r);
      }
      break;
    }
    case Variant::kTpa: {
      // tensorgi/TPA (T6): W_A_* give the head factors (R x h), W_B_* the feature factors
      // (R x d_h). Non-contextual TPA keeps the head factors as learned constants A_* [R * h].
      const struct { const char* a_mat; const char* a_vec; const char* b; int64_t rank; } parts[] = {
          {"W_A_q", "A_q", "W_B_q", s.tpa_rank_q},
          {"W_A_k", "A_k", "W_B_k", s.tpa_rank_k},
          {"W_A_v", "A_v", "W_B_v", s.tpa_rank_v}};
      for (const auto& p : parts) {
        if (s.tpa_noncontextual) {
          vec(p.a_vec, mul(p.rank, s.heads));
        } else {
          mat(p.a_mat, mul(p.rank, s.heads), d);
        }
        mat(p.b, mul(p.rank, s.head_dim), d);
      }
      mat("o_proj", d, mul(s.heads, s.head_dim));
      break;
    }
    default:
      break;
  }
}

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
      const int64_t v_dim = s.v_head_dim > 0 ? s.v_head_dim : s.head_dim;
      const int64_t q = mul(s.heads, s.head_dim), kv = mul(s.kv_heads, s.head_dim);
      const int64_t v = mul(s.kv_heads, v_dim), o = mul(s.heads, v_dim);
      // An element-wise output gate comes out of q_proj beside the query (Qwen3-Next doubles
      // q_proj's rows); a head-wise one is its own g_proj with one output per head (Step-3.5).
      const int64_t q_rows = s.gate == OutputGate::kElementwise ? mul(2, q) : q;
      if (s.q_lora_rank > 0) {
        // DeepSeek-V4's compressed query (wq_a, q_norm, wq_b), named as MLA's.
        mat("q_a_proj", s.q_lora_rank, d);
        vec("q_a_layernorm", s.q_lora_rank);
        mat("q_b_proj", q_rows, s.q_lora_rank);
      } else {
        mat("q_proj", q_rows, d);
      }
      if (s.kv_latent) {
        // DeepSeek-V4 wkv: one K = V latent per KV head, RMS-normalised (kv_norm).
        mat("wkv", kv, d);
        vec("kv_norm", kv);
      } else {
        mat("k_proj", kv, d);
        if (!s.kv_tied) mat("v_proj", v, d);
      }
      if (s.qkv_bias) {
        vec("q_proj.bias", q_rows);
        vec("k_proj.bias", kv);
        if (!s.kv_tied) vec("v_proj.bias", v);
      }
      if (s.gate == OutputGate::kHeadwise) mat("g_proj", s.heads, d);
      if (s.qk_norm) {
        // One RMSNorm weight over head_dim shared by all heads (Qwen3-style q_norm / k_norm), or
        // one over the whole projection when normalised per layer (MiniMax-M2, OLMo 2).
        vec("q_norm", s.qk_norm_per_layer ? q : s.head_dim);
        vec("k_norm", s.qk_norm_per_layer ? kv : s.head_dim);
      }
      if (s.o_lora_rank > 0) {
        // DeepSeek-V4 grouped output LoRA: wo_a maps each group's h/G heads (h/G * v) to its own
        // o_lora_rank (stored [G * r, h * v / G]); wo_b [d, G * r] mixes the groups.
        mat("wo_a", mul(s.o_groups, s.o_lora_rank), o / s.o_groups);
        mat("wo_b", d, mul(s.o_groups, s.o_lora_rank));
      } else {
        mat("o_proj", d, o);
      }
      if (s.o_bias) vec("o_proj.bias", d);
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
    case Variant::kLinear:
      visit_recurrent_weights(s, mat, vec);
      break;
    case Variant::kGta:
    case Variant::kGla:
    case Variant::kTpa:
    case Variant::kMtla:
      visit_design_weights(s, mat, vec);
      break;
  }
  if (s.variant == Variant::kLinear) return;
  const bool gqa_family = s.variant == Variant::kMha || s.variant == Variant::kMqa || s.variant == Variant::kGqa;
  // Output gates outside the GQA family (where q_proj or g_proj above carries them): a g_proj
  // of one output per head, or per output element (docs/designs.md, "gate=").
  if (!gqa_family && s.gate != OutputGate::kNone) {
    const int64_t per_head = s.variant == Variant::kMla || s.variant == Variant::kGla ||
                                     s.variant == Variant::kMtla ? s.v_head_dim
                             : s.variant == Variant::kFpba ? d : s.head_dim;
    mat("g_proj", s.gate == OutputGate::kHeadwise ? s.heads : mul(s.heads, per_head), d);
  }
  if (s.sinks) vec("sinks", s.heads);  // one learned logit per query head (gpt-oss, V4 attn_sink)
  if (s.hyper_connections > 0) {
    // mHC (DeepSeek-V4): per block, pre/post/residual mixing of n streams for the attention and
    // for the FFN: fn [(2 + n) n, n d] (a matmul per token), base [(2 + n) n], scale [3].
    const int64_t nh = s.hyper_connections;
    const int64_t rows = mul(nh + 2, nh), cols = mul(nh, d);
    mat("hc_attn_fn", rows, cols);
    vec("hc_attn_base", rows);
    vec("hc_attn_scale", 3);
    mat("hc_ffn_fn", rows, cols);
    vec("hc_ffn_base", rows);
    vec("hc_ffn_scale", 3);
  }
  if (s.index_head_dim > 0) {
    // DSA lightning indexer: its query from the compressed query (or x), one key head, a
    // LayerNorm on the key, one weight per indexer head (DeepSeek-V3.2-Exp inference/model.py).
    // Under temporal compression (visit_layer_weights) a compressor replaces wk and k_norm.
    const int64_t iq = mul(s.index_heads, s.index_head_dim);
    mat("indexer.wq_b", iq, s.q_lora_rank > 0 ? s.q_lora_rank : d);
    mat("indexer.wk", s.index_head_dim, d);
    vec("indexer.k_norm", s.index_head_dim);
    vec("indexer.k_norm.bias", s.index_head_dim);
    mat("indexer.weights_proj", s.index_heads, d);
  }
}

/// Elements per token of the base design's cache streams: all (W) and the key part the scores
/// read (W_K: every stream but v, v_tied, a_v, b_v). docs/designs.md, "Modifiers".
struct StreamWidths {
  int64_t all = 0;
  int64_t keys = 0;
};
StreamWidths stream_widths(const AttentionShape& s);

/// True for a weight whose only job is to produce the cached vectors from the hidden state (K/V
/// projections and their biases, MLA's and GLA's down-projection and latent norm, GTA's tied
/// state, TPA's key and value factors): what a layer that reads another layer's cache without
/// projections of its own (LayerSpec::kv_projections false) does not hold. Norms applied to the
/// key (k_norm) stay: checkpoints keep them (Hunyuan's key_layernorm).
bool writes_cache(std::string_view weight_name);

/// The one enumeration of a layer's weights with its fill rule (docs/designs.md, "Modifiers"):
/// visit_attention_weights, then what the fill rule adds: NSA's two more K/V branches, phi and
/// gate; CSA/HCA's compressor (and CSA's indexer compressor in place of indexer.wk/k_norm).
template <class Visit>
void visit_layer_weights(const LayerSpec& l, Visit&& visit) {
  const AttentionShape& s = l.attention;
  const bool compressed = l.span.kind == SpanKind::kCompressed;
  const bool borrows_kv = l.kv_source >= 0 && !l.kv_projections;
  visit_attention_weights(s, [&](const char* name, int64_t rows, int64_t cols, bool is_matrix) {
    const std::string_view n(name);
    if (compressed && (n == "indexer.wk" || n == "indexer.k_norm" || n == "indexer.k_norm.bias")) return;
    if (borrows_kv && writes_cache(n)) return;
    visit(name, rows, cols, is_matrix);
  });
  auto mul = [](int64_t a, int64_t b) { return checked_mul(a, b, "weight shape"); };
  const int64_t d = s.d_model;
  if (l.span.kind == SpanKind::kNsa) {
    const int64_t kv = mul(s.kv_heads, s.head_dim);
    const int64_t v = mul(s.kv_heads, s.v_head_dim > 0 ? s.v_head_dim : s.head_dim);
    visit("nsa.k_cmp", kv, d, true);
    visit("nsa.v_cmp", v, d, true);
    visit("nsa.k_win", kv, d, true);
    visit("nsa.v_win", v, d, true);
    // phi runs once per l / d tokens, not per token: counted as parameters with no decode FLOPs
    // (attention_counts names it apart).
    visit("nsa.phi_k", s.head_dim, mul(l.span.block, s.head_dim), true);
    visit("nsa.phi_v", s.head_dim, mul(l.span.block, s.head_dim), true);
    visit("nsa.phi_pos", mul(l.span.block, s.head_dim), int64_t{1}, false);
    visit("nsa.gate", mul(3, s.heads), d, true);
  }
  if (compressed) {
    // DeepSeek-V4 Compressor: overlapping blocks (CSA, with an indexer) project twice the width.
    const int64_t c = l.span.tokens > 0 ? 2 : 1;
    const int64_t w = stream_widths(s).all;
    visit("compressor.wkv", mul(c, w), d, true);
    visit("compressor.wgate", mul(c, w), d, true);
    visit("compressor.ape", mul(l.span.ratio, mul(c, w)), int64_t{1}, false);
    visit("compressor.norm", w, int64_t{1}, false);
    if (s.index_head_dim > 0) {
      const int64_t wi = mul(c, s.index_head_dim);
      visit("indexer.compressor.wkv", wi, d, true);
      visit("indexer.compressor.wgate", wi, d, true);
      visit("indexer.compressor.ape", mul(l.span.ratio, wi), int64_t{1}, false);
      visit("indexer.compressor.norm", s.index_head_dim, int64_t{1}, false);
    }
  }
}
/// visit_layer_weights collected (cmd_show's weight table).
std::vector<WeightTensor> layer_weights(const LayerSpec& l);

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
      if (s.kv_latent) {
        // DeepSeek-V4: one K = V latent per KV head, cached once (as MLA's latent).
        visit("kv", checked_mul(s.kv_heads, s.head_dim, "cache width"));
        break;
      }
      visit("k", checked_mul(s.kv_heads, s.head_dim, "cache width"));
      // K = V tied: the architecture needs K once, but vLLM allocates a V block beside K all the
      // same ("v_tied"; attention_counts leaves it out of the minimal figure).
      visit(s.kv_tied ? "v_tied" : "v",
            checked_mul(s.kv_heads, s.v_head_dim > 0 ? s.v_head_dim : s.head_dim, "cache width"));
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
    case Variant::kGta:
      // One tied state of d_h per KV head (K reads its first d_h - d_R dims, V all of it) and
      // the one RoPE key shared by every head (Zadouri et al. 2025, docs/designs.md).
      visit("kv", checked_mul(s.kv_heads, s.head_dim, "cache width"));
      if (s.qk_rope_dim > 0) visit("k_rope", s.qk_rope_dim);
      break;
    case Variant::kGla:
      // h_c normalised latents of d_c each and the shared RoPE key.
      visit("latent", checked_mul(s.kv_heads, s.kv_lora_rank, "cache width"));
      visit("k_rope", s.qk_rope_dim);
      break;
    case Variant::kMtla:
      // Per cache entry (s tokens merged, docs/designs.md): the merged latent and the RoPE key of
      // the entry's latest token. Widths are per entry; figures divide the tokens by s.
      visit("latent", s.kv_lora_rank);
      visit("k_rope", s.qk_rope_dim);
      break;
    case Variant::kTpa:
      // Contextual TPA caches both factors of each of the R_K key and R_V value products: the
      // head factor a (h) and the feature factor b (d_h). Non-contextual TPA's head factors are
      // weights, so only b is cached (Zhang et al. 2025, Table 1).
      if (!s.tpa_noncontextual) visit("a_k", checked_mul(s.tpa_rank_k, s.heads, "cache width"));
      visit("b_k", checked_mul(s.tpa_rank_k, s.head_dim, "cache width"));
      if (!s.tpa_noncontextual) visit("a_v", checked_mul(s.tpa_rank_v, s.heads, "cache width"));
      visit("b_v", checked_mul(s.tpa_rank_v, s.head_dim, "cache width"));
      break;
  }
}

}  // namespace gmha
