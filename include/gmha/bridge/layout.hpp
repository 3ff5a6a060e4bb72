#pragma once
// The layout detector: from a checkpoint's config and tensor names, the attention layout of every
// layer (docs/formats.md): its AttentionShape (from the lead's config parser, the source of truth for
// shapes), its kind, and the full tensor name of each factor, checked to exist with the [out, in]
// shape the kind implies. Consumers (audit, kernels) read factors by these names only.
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gmha/attention/model.hpp"
#include "gmha/attention/variant.hpp"
#include "gmha/checkpoint/checkpoint.hpp"

namespace gmha {

// kGta, kGla: grouped-tied and grouped latent attention (docs/designs.md), in the tensor names of
// their reference code (Dao-AILab/grouped-latent-attention, modeling_llama_GTA.py / _GLA.py).
// kNone: a block without a token mixer (Nemotron-H's MLP and MoE blocks): nothing to audit.
enum class LayoutKind { kGqa, kMla, kMfa, kMfaKr, kLinear, kGta, kGla, kNone };

/// "gqa" (the MHA/MQA/GQA family), "mla", "mfa", "mfa-kr", "linear", "gta", "gla", "none".
std::string_view layout_kind_name(LayoutKind k);

/// One layer's factors. Names are full tensor names; empty when the layer has no such factor.
struct LayerLayout {
  int layer = 0;  // the checkpoint's decoder layer (its tensors' layers.N)
  // A second mixer of decoder layer `layer`, beside the entry before it (Falcon-H1's Mamba2
  // next to its attention: both read the layer's input_layernorm, their outputs are summed).
  bool parallel = false;
  LayoutKind kind = LayoutKind::kGqa;
  AttentionShape shape;
  std::string input_layernorm;  // the pre-attention RMSNorm [d] (not part of the circuits)
  // GQA family [n*h, d], [g*h, d], [g*h, d], [d, n*h]; MLA q_proj when q_lora_rank is 0;
  // MFA: q_proj is S_Q [C_q, d], k_proj S_K [C, d], v_proj S_V [C, d] (absent for MFA-KR).
  std::string q_proj, k_proj, v_proj, o_proj;
  std::string q_bias, k_bias, v_bias;  // Qwen2-style biases, when present
  std::string q_norm, k_norm;          // Qwen3 per-head RMSNorm [h], when present
  // What the family adds to the stored q/k norm weights: Gemma 2/3's RMSNorm scales by
  // (1 + w) in the Hugging Face files (qk_norm_offset); 0 for every other family.
  double qk_norm_offset = 0.0;
  // MLA: q_a_proj [q_lora, d], q_a_layernorm [q_lora], q_b_proj [n*(nope+rope), q_lora],
  // kv_a_proj_with_mqa [C + rope, d], kv_a_layernorm [C], kv_b_proj [n*(nope + v), C].
  std::string q_a_proj, q_a_layernorm, q_b_proj, kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj;
  // MFA: inter_norm [C_q], wq [m*C, C_q].
  std::string inter_norm, wq;
  // MFA-KR: kr_n [C, C], kr_alpha [C].
  std::string kr_n, kr_alpha;
  // GTA: q_proj [h_q*d_h, d], kv_proj [h_kv*d_h, d] (the tied states), k_rope_proj [d_R, d] (the
  // reference's W_rope_k, or k_rope_proj), o_proj [d, h_q*d_h].
  std::string kv_proj, k_rope_proj;
  // GLA: the MLA fields (q_a_proj = W_dQ, q_a_layernorm = q_norm, q_b_proj = W_uQ_rope,
  // kv_a_proj_with_mqa = W_dKV [h_c*d_c + rope, d]) and, per latent head g, its norm [d_c] and
  // up-projection [(h_q/h_c)(nope + v), d_c] (the reference's kv_norm_{g+1}, W_ukv_{g+1}). Empty
  // when one kv_a_layernorm [h_c*d_c] and one kv_b_proj [h_q(nope + v), d_c] hold them all.
  std::vector<std::string> kv_a_layernorms, kv_b_projs;
  // Output gates (GQA family): element-wise, q_proj holds per head h query rows then h gate rows
  // ([2*n*h, d], Qwen3-Next attn_output_gate); head-wise, g_proj [n, d] (Step-3.5).
  bool q_proj_gated = false;
  std::string g_proj;
  std::string sinks;  // gpt-oss's per-head sink logits [n], when present
  // DSA lightning indexer (DeepSeek-V3.2, GLM-5): wq_b [H_I*d_I, q_lora] reads the query latent,
  // wk [d_I, d] the hidden state, k_norm a LayerNorm [d_I] (weight and bias), weights_proj [H_I, d].
  std::string indexer_wq_b, indexer_wk, indexer_k_norm, indexer_k_norm_bias, indexer_weights_proj;
  // DeepSeek-V4 (gqa with a grouped output LoRA, under attn. or self_attn.): q_a_proj = wq_a
  // [q_lora, d], q_a_layernorm = q_norm [q_lora], q_b_proj = wq_b [n·c, q_lora]; k_proj = wkv
  // [c, d] and k_norm = kv_norm [c], the one K = V latent (the value is the normed latent); o_proj
  // = wo_b [d, G·R] and wo_a [G·R, n·c/G] (group g's rows g·R.., its heads' columns in order);
  // sinks = attn_sink [n].
  std::string wo_a;
  // DeepSeek-V4's compressor on a compressed layer (compress ratio r > 0; model.py's Compressor):
  // wkv [c·(1 + overlap), d] (overlap on r = 4: two halves of c rows), its norm [c]; wgate and
  // ape are checked to exist with their shapes ([c·(1 + overlap), d], [r, c·(1 + overlap)]).
  std::string compressor_wkv, compressor_norm;
  int64_t compressor_halves = 0;  // 0: no compressor; 1 (HCA) or 2 (CSA's overlapping halves)
  // What the config says the circuits leave out (Falcon-H1's µP multipliers), one sentence each.
  std::vector<std::string> notes;
  // Recurrent layers (LayoutKind::kLinear): recurrent_heads query/key heads of recurrent_dk rows
  // each, head i's query rows from q_row0 + i·row_stride of q_proj and its key rows from
  // k_row0 + i·row_stride of k_proj (the two may name one fused tensor). KDA: separate q_proj and
  // k_proj [H·d_k, d], stride d_k. Gated DeltaNet (H_k key heads): Qwen3.5's in_proj_qkv holds
  // q, k, v one after the other (k at H_k·d_k, stride d_k); Qwen3-Next's in_proj_qkvz holds per
  // key head [q d_k, k d_k, v, z (H_v/H_k)·d_v each] (k at d_k, stride 2·d_k + 2·(H_v/H_k)·d_v).
  // Mamba2: in_proj [z I, x I, B G·N, C G·N, dt H]: the query is C and the key B of each of the
  // G groups (recurrent_dk = N; B at 2I, C at 2I + G·N, stride N). MiniMax lightning:
  // self_attn.qkv_proj [H·3d_k, d], per head q, k, v (k at d_k, stride 3·d_k).
  int64_t recurrent_heads = 0, recurrent_dk = 0, q_row0 = 0, k_row0 = 0, row_stride = 0;
};

struct Layout {
  std::string architecture;         // HF model_type
  ModelDesign model;                // per-layer shapes, spans, FFNs (from model_from_hf_config)
  std::vector<LayerLayout> layers;  // one per entry of `model` (a parallel mixer has its own)
  nlohmann::json config;            // raw config: rope_theta, rope_scaling, rms_norm_eps, ...
  double rms_norm_eps = 1e-6;       // config value (HF default when absent)
  double rope_theta = 10000.0;      // config value (HF default when absent)

  /// Decoder layers: the checkpoint's layers.N (entries less the parallel mixers).
  int64_t decoder_layers() const;
  /// The entries (indices into `layers`) of the given decoder layers, in order: both mixers of a
  /// Falcon-H1 layer. Empty `selection`: every entry. A layer out of range is an InputError naming
  /// `flag`.
  std::vector<size_t> entries_of(const std::vector<int64_t>& selection, const std::string& flag) const;
};

/// The offset a model_type's RMSNorm adds to its stored weights in Hugging Face files: 1 for
/// Gemma 2 and Gemma 3 (Gemma2RMSNorm/Gemma3RMSNorm multiply by 1 + w), 0 otherwise (Gemma 3n
/// and Gemma 4 multiply by w; llama.cpp's GGUF converter stores Gemma's 1 + w itself).
double qk_norm_offset(std::string_view model_type);

/// Detects the layout of an opened checkpoint. Throws InputError naming the checkpoint and the
/// layer/tensor when a factor is missing or its shape disagrees with the config.
Layout detect_layout(const Checkpoint& checkpoint);
/// The same for a model description given by the caller instead of read from config.json (a
/// family whose config reader gmha does not have, or a test's planted model): every layer's
/// factors are found and checked against `model`'s shapes as above.
Layout detect_layout(const Checkpoint& checkpoint, const ModelDesign& model);

}  // namespace gmha
