#pragma once
// Known-answer checkpoints: Hugging Face-style folders (config.json + safetensors) whose every
// head has a planted QK and VO rank. They are the test input of the audit, the demo for users
// without a checkpoint, and the benchmark input.
//
// Construction (so the planted spectrum is exact before storage rounding): the shared factors
// (k_proj/v_proj groups, MLA's q_a_proj and latent rows, MFA's S_Q/S_K/S_V) get orthonormal rows;
// each head's own factor is U·diag(σ)·Vᵀ with orthonormal U, V, σ linearly spaced from 1 down to
// 0.3 over the planted rank and 0 beyond it; RMSNorm weights γ are random in [0.5, 2] and divided
// out of the up-projection, so an audit that forgets to fold γ gets a different spectrum. Every
// head's circuit therefore has exactly σ = (1, …, 0.3, 0, …) with the planted rank.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gmha/attention/variant.hpp"

namespace gmha {

/// The checkpoint layouts synth writes (Hugging Face model_type in parentheses).
/// kGta, kGla: Llama configs with the attention of Dao-AILab/grouped-latent-attention's reference
/// code (modeling_llama_GTA.py: q_proj, kv_proj, W_rope_k, o_proj and config rope_dim;
/// modeling_llama_GLA.py: W_dQ, q_norm, W_uQ_rope, W_dKV, kv_norm_g, W_ukv_g, o_proj and config
/// qk_rope_dim; head_dim is both nope and v there).
enum class SynthLayout { kLlama /* llama: MHA/GQA/MQA */, kDeepseekV3 /* MLA */,
                         kStep3 /* step3_text: MFA */, kMfaKr /* step3_text + kr_n/kr_alpha */,
                         kGta /* llama + GTA */, kGla /* llama + GLA */ };

/// "llama", "deepseek_v3", "step3", "mfa-kr", "gta", "gla".
std::string_view synth_layout_name(SynthLayout l);
/// Parses a layout name; throws InputError listing the names.
SynthLayout read_synth_layout(std::string_view name);
/// The layout that stores `variant` (GQA family -> llama, MLA -> deepseek_v3, ...); throws
/// InputError for FPBA and linear attention.
SynthLayout synth_layout_for(Variant variant);

/// Planted rank of every head: one entry per (layer, head) in layer-major order, cycling through
/// `ranks` (so {r} is a fixed rank and {1, 4, full} a per-head pattern). -1 means full (the
/// nominal rank of the circuit).
struct RankPattern {
  std::vector<int64_t> ranks{-1};
  /// The planted rank of head `head` of layer `layer` for a circuit of nominal rank `nominal`.
  int64_t rank_of(int64_t layer, int64_t head, int64_t heads, int64_t nominal) const;
};
/// Parses "full", "8" or "1,4,full"; `flag` names the option in errors.
RankPattern parse_rank_pattern(std::string_view text, const std::string& flag);

struct SynthOptions {
  SynthLayout layout = SynthLayout::kLlama;
  AttentionShape shape;     // the attention shape of every layer (variant must match the layout)
  int64_t layers = 1;
  int64_t vocab_size = 0;   // written to config.json only (no embedding tensors are stored)
  int64_t intermediate_size = 0;  // config.json's FFN width (no FFN tensors are stored)
  RankPattern qk_rank, vo_rank;
  /// deepseek_v3 with shape.index_heads > 0 writes a DSA indexer (config model_type
  /// deepseek_v32): each indexer head's scoring circuit planted at this rank (nominal d_I − 1).
  RankPattern index_rank;
  /// llama: per-layer shapes (same d; heads, KV heads, head and V widths may differ, as
  /// Step-3.5's and Gemma 4's layer kinds do); empty: `shape` for every layer. config.json then
  /// describes layer 0 only: audit such a folder with detect_layout(checkpoint, model).
  /// The llama layout also honours shape.kv_tied (no v_proj), shape.gate (element-wise: gate
  /// rows in q_proj; head-wise: g_proj [n, d]) and shape.sinks (sinks [n]); config.json cannot
  /// say so (no Llama field does), so those too are audited through a given model. Biases
  /// (shape.qkv_bias, zeros) and q/k norms (qk_norm: [h], qk_norm_per_layer: [n·h], [g·h]; ones)
  /// are written when the shape has them, so a family's config finds the tensors it needs.
  std::vector<AttentionShape> layer_shapes;
  /// KDA, Gated DeltaNet, Mamba2, Mamba-1 and lightning layers among layer_shapes (Kimi-Linear's,
  /// Qwen3-Next's and Qwen3.5's, Granite 4.0-H's, Jamba's, MiniMax-01's recurrent layers): the
  /// planted ranks of each key head's (Mamba2: group's) query and key factor (nominal d_k; Mamba2
  /// d_state, C the query and B the key). Lightning writes self_attn.qkv_proj (per head q, k, v);
  /// KDA writes self_attn.q_proj / k_proj; GDN linear_attn.in_proj_qkv (Qwen3.5: all q rows,
  /// all k rows, then v), or with gdn_qkvz Qwen3-Next's in_proj_qkvz (per key head: q, k, then
  /// its value heads' v and z); Mamba2 mamba.in_proj [z, x, B, C, dt]; Mamba-1 mamba.x_proj [dt, B, C] of width I
  /// with b/c_layernorm of ones. The other rows are
  /// full-rank noise.
  RankPattern recurrent_q_rank, recurrent_k_rank;
  bool gdn_qkvz = false;
  /// llama with layer_shapes: the layers with no token mixer (Nemotron-H's MLP blocks), which
  /// get no tensors; empty: none.
  std::vector<bool> no_mixer;
  /// llama with layer_shapes: the entries that are a second mixer of the previous entry's
  /// decoder layer (Falcon-H1's Mamba2 beside its attention): same layers.N, no input norm of
  /// their own. Needs `config` (synth's Llama config cannot say so). Empty: none.
  std::vector<bool> parallel;
  /// What the family's RMSNorm adds to the stored q/k norm weights (qk_norm_offset: 1 for
  /// Gemma 2/3's 1 + w): they are written as 1 − offset, so every family's γ is 1.
  double qk_norm_offset = 0.0;
  /// DeepSeek-V4 layers among layer_shapes: each entry's compress ratio (0: window only; 4: CSA,
  /// its compressor's two overlapping halves; 128: HCA), whose compressor is written
  /// (attn.compressor.wkv, wgate, ape, norm) with each half of wkv planted at compressor_rank
  /// (nominal head_dim). Empty: none.
  std::vector<int64_t> compress_ratios;
  RankPattern compressor_rank;
  /// config.json to write instead of synth's own (`gmha synth --config`: the user's, so the audit
  /// reads the folder as that family; its torch_dtype is set and any quantization_config replaced
  /// by the one the dtype needs); null: synth's. Not with a GGUF dtype.
  nlohmann::ordered_json config;
  uint64_t seed = 0;
  /// F32, BF16, or a quantized storage (docs/formats.md "Writing"): Q8_0, Q4_K, Q4_K_M (one
  /// model.gguf, llama layout only), MXFP4, NVFP4, FP8_BLOCK (safetensors, 2-D weights
  /// quantized, norms BF16).
  std::string dtype = "BF16";
  uint64_t max_shard_bytes = 0;     // 0: one model.safetensors
  /// Called after each tensor is generated with (tensors done, tensors); may be empty.
  std::function<void(int64_t, int64_t)> progress;
};

/// What was written.
struct SynthResult {
  std::vector<std::string> files;  // config.json, shards, index
  uint64_t tensor_bytes = 0;
  int64_t tensors = 0;
};

/// What write_synth_checkpoint would write, computed without generating or writing anything
/// (so a command can check free space and memory first). Throws as write_synth_checkpoint does
/// for a bad shape, and InputError when a size overflows 64 bits.
struct SynthSize {
  uint64_t tensor_bytes = 0;        // stored bytes of every tensor
  uint64_t largest_fill_bytes = 0;  // the float buffer of the largest tensor (the writer's peak)
  int64_t tensors = 0;
};
SynthSize synth_checkpoint_size(const SynthOptions& options);

/// Writes config.json and the attention weights (plus input RMSNorms) of every layer into `dir`
/// (a GGUF dtype: model.gguf alone, its metadata standing in for config.json)
/// (created when missing; files replaced atomically). Deterministic in `seed`. Throws InputError
/// for an impossible shape, a planted rank above the nominal one or below 0, or a layout whose
/// construction does not apply (MLA needs q_lora ≥ nope and C ≥ nope, v; MFA needs C_q ≥ C).
SynthResult write_synth_checkpoint(const std::string& dir, const SynthOptions& options);

}  // namespace gmha
