#pragma once
// Per-model figures at a context length T and batch B (docs/capacity.md): capacity ranks, parameters,
// KV cache, bytes read and FLOPs per decoded token, arithmetic intensity. All counts are exact
// 64-bit integers with overflow checks; byte counts are exact (int4 halves are tracked in bits).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gmha/attention/model.hpp"
#include "gmha/attention/weights.hpp"

namespace gmha {

struct CapacityOptions {
  int64_t context = 8192;  // T
  int64_t batch = 1;       // B
  Convention convention = Convention::kExact;
};

/// Cache entries a layer reads when decoding at context T (docs/capacity.md, spans;
/// docs/designs.md, "Modifiers"): top-k selection reads min(T, k); CSA/HCA the window and the
/// (top-k) compressed entries; NSA its three branches; MoBA the k selected blocks' tokens.
int64_t effective_tokens(const AttentionSpan& span, int64_t context, Convention c);
/// Cache entries a layer keeps at context T: as read, except that selection keeps every token
/// (top-k, MoBA), CSA/HCA keep the window and every compressed entry, NSA all three branches.
int64_t stored_tokens(const AttentionSpan& span, int64_t context, Convention c);

/// Everything one layer's fill rule keeps and reads at context T, in entries of its kinds
/// (docs/designs.md, "Modifiers"). Entries of the base design's streams (W elements each; MTLA's
/// merge of s tokens applied), MoBA's block-mean keys (W_K elements), index keys (DSA/CSA), and
/// the per-token rates that kv_bytes_per_token multiplies (a token adds `entries_per_token`
/// stream entries, e.g. 2 + 1/d under NSA, 1 + 1/s under CSA/HCA).
struct FillCounts {
  int64_t stored = 0;          // stream entries kept
  int64_t read = 0;            // stream entries read per decoded token
  int64_t mean_keys = 0;       // MoBA block means: kept, and all read (scores only)
  int64_t index_stored = 0;    // index keys kept
  int64_t index_read = 0;      // index keys read (all of them) and scored by the indexer
  double entries_per_token = 1;
  double mean_keys_per_token = 0;
  double index_per_token = 0;
};
FillCounts fill_counts(const LayerSpec& l, int64_t context, Convention c);
/// Cache entries that `tokens` tokens fill: ceil(tokens / s) under MTLA's temporal merge of s
/// tokens per entry (docs/designs.md), else `tokens`. Figures count stored and read entries so.
int64_t cache_entries(const AttentionShape& a, int64_t tokens);
/// Tokens one cache entry holds: s for MTLA, else 1. Per-token byte figures are the entry's
/// bytes divided by it; stored and read bytes count whole entries.
int64_t tokens_per_cache_entry(const AttentionShape& a);

/// Bits of `elements` cached elements of layer l, one cache row or part of it (docs/capacity.md,
/// "KV cache layouts"): elements x the KV dtype's bits; under fp8_ds_mla the row is the latent L
/// in fp8 with an fp32 scale per 128 values and the RoPE key R in bf16, 8L + 32*ceil(L/128) + 16R
/// bits (656 B at L = 512, R = 64), and `elements` must be the whole row L + R.
int64_t kv_row_bits(const LayerSpec& l, int64_t elements);

// --- per-layer formulas: the one implementation compute_figures, the sweep and fit share -------

/// Core attention FLOPs of one layer for one decoded token that reads `tokens` cached tokens:
/// 2 per multiply-add over QK and PV, 2 x heads x tokens x (qk_width + pv_width); linear
/// attention reads and updates its state, 4 x heads x d_k x d_v (10 under step3-paper, as that
/// paper charges MiniMax-M1's lightning layers); the delta rules (GDN, KDA) 7 and Mamba2 5 per
/// state element, plus 2 x channels x K for a causal conv (docs/capacity.md).
int64_t decode_attention_flops(const AttentionShape& a, int64_t tokens, Convention c);
/// FLOPs of the DSA indexer for one decoded token at context T: its H_I heads score every
/// cached index key, 2 x H_I x d_I x T (the ReLU and head weighting ignored). 0 without one.
int64_t indexer_flops(const AttentionShape& a, int64_t context);

/// Parameters of one layer's FFN: total and the part active for one token (router included in
/// both; it is d x E); `active_matmul` is what FFN FLOPs charge (active experts, no router).
/// GLU experts have `matrices` (3) matrices of d x I.
struct FfnParams {
  int64_t total = 0;
  int64_t active = 0;
  int64_t active_matmul = 0;
  int64_t router = 0;  // d x E, part of total and active
};
FfnParams ffn_params(const FfnShape& f, int64_t d);

/// Input embedding and, unless tied, the output head: vocab x d each (0 when vocab is unknown),
/// plus the per-layer embedding table when the model has one.
int64_t embedding_params(const ModelDesign& m);
/// The per-layer embedding table alone: per_layer_input_vocab x (L·p); a lookup, 0 without one.
int64_t per_layer_embedding_params(const ModelDesign& m);
/// The matmuls and norms that mix per-layer embeddings in (Gemma 4 / Gemma 3n): the model's
/// projection [L·p, d] and its norm [p]; per layer a gate [p, d], a projection [d, p] and a
/// norm [d]. Active on every token; 0 without per-layer embeddings.
int64_t per_layer_input_params(const ModelDesign& m);
/// Gemma 3n's AltUp and LAuReL weights (transformers' Gemma3nTextAltUp, Gemma3nTextLaurelBlock,
/// Gemma3nTextModel): with n streams, altup_projections and altup_unembed_projections, (n − 1)
/// matrices [d, d] each; per layer correct_output_scale [d], correction_coefs [n, n],
/// prediction_coefs [n², n], modality_router [n, d], router_norm [d]; LAuReL of rank r per layer
/// linear_left [r, d], linear_right [d, r], post_laurel_norm [d]. Active on every token.
int64_t altup_laurel_params(const ModelDesign& m);
/// RMSNorm weights outside attention: two per layer (input, post-attention) and the final one.
int64_t norm_params(const ModelDesign& m);

/// Figures of one layer group (all its layers together unless named per_layer).
struct GroupFigures {
  std::string label;       // e.g. "GQA chunked 8192, MoE"
  std::string layer_list;  // e.g. "0-2,4-6"
  int64_t layer_count = 0;
  LayerSpec spec;
  CapacityRanks ranks;     // zeros for recurrent layers: report softmax_ranks
  std::optional<CapacityRanks> softmax_ranks;  // FRH/SLSD/TER; nullopt ("n/a") when recurrent
  RecurrentCapacity recurrent;                 // state capacity, key rank bound (recurrent only)
  bool owns_cache = false;                     // keeps a per-token cache of its own
  int64_t attn_params_per_layer = 0;
  int64_t ffn_params_per_layer = 0;
  int64_t ffn_active_params_per_layer = 0;
  int64_t kv_elements_per_token_per_layer = 0;  // cached elements per token (0 for linear)
  int64_t state_elements_per_layer = 0;         // linear attention state
  double kv_bytes_per_token_per_layer = 0;      // exact: elements * bits / 8, incl. index keys;
                                                // 0 for a layer reading another's cache; MTLA:
                                                // an entry's bytes / s (tokens_per_cache_entry)
  double kv_bytes_per_token_minimal_per_layer = 0;  // tied V stored once
  int64_t index_key_bytes_per_layer = 0;        // DSA index key per token (fp8 + fp32 scales)
  int64_t conv_state_elements_per_layer = 0;    // recurrent conv state (conv_dtype)
  double state_bytes_per_layer = 0;             // recurrent state + conv state, per sequence
  int64_t effective_tokens = 0;                 // tokens (MTLA: cache entries) read per layer at T
  int64_t stored_tokens = 0;                    // tokens (MTLA: cache entries) kept per layer at T
  double kv_bytes = 0;               // whole cache of the group at T x B (incl. states)
  double decode_kv_bytes_read = 0;   // bytes read for one token, all layers of the group
  int64_t attn_flops = 0;            // core attention FLOPs per token, all layers of the group
  int64_t linear_flops = 0;
  int64_t ffn_flops = 0;
};

/// Groups with one mixer, fill rule and cache source (FFN aside): one line per kind.
struct LayerKindFigures {
  std::string label;       // e.g. "GatedDeltaNet", "GQA sliding 128"
  std::string layer_list;
  int64_t layer_count = 0;
  LayerSpec spec;          // of its first layer (the FFN may differ inside a kind)
  std::optional<CapacityRanks> softmax_ranks;
  RecurrentCapacity recurrent;
  double kv_bytes_per_token_per_layer = 0;
  double kv_bytes_per_token_minimal_per_layer = 0;
  int64_t index_key_bytes_per_layer = 0;
  double state_bytes_per_layer = 0;
  double kv_bytes = 0;               // all layers of the kind at T x B
  double decode_kv_bytes_read = 0;   // all layers of the kind, one token
};

struct ModelFigures {
  std::string model;
  std::string spec;     // --design string, empty for hybrids/presets without one
  std::string variant;  // e.g. "MLA"; "hybrid(linear+GQA)" for hybrids
  int64_t layers = 0;
  int64_t d_model = 0;
  // Of the model's main softmax attention (the first full-attention group, else the first group).
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  CapacityRanks ranks;
  std::optional<CapacityRanks> softmax_ranks;  // of the main softmax attention; nullopt if none
  int64_t context = 0;
  int64_t max_context = 0;          // max_position_embeddings, 0 when unknown
  bool beyond_max_context = false;  // T > max_context: marked, not silently trusted
  int64_t batch = 1;
  std::string kv_dtype;  // "fp8", or "mixed" when layers differ
  double kv_bytes_per_token = 0;    // every byte a token adds over all layers, incl. index keys
                                    // (shared-cache layers add none; recurrent states none)
  double kv_bytes_per_token_minimal = 0;  // the same with a tied V stored once
  int64_t indexer_bytes_per_token = 0;    // the index-key part of kv_bytes_per_token
  double state_bytes_per_sequence = 0;    // recurrent + conv states, all layers, one sequence
  int64_t cache_owning_layers = 0;        // distinct K/V subspaces: softmax layers with own cache
  double kv_bytes = 0;              // whole cache at T x B
  double decode_kv_bytes_read = 0;  // to decode one token (incl. 2x linear states)
  int64_t attn_flops = 0;
  int64_t linear_flops = 0;
  int64_t ffn_flops = 0;
  double arithmetic_intensity = 0;  // attn_flops / decode_kv_bytes_read
  int64_t attn_params = 0;
  int64_t ffn_params = 0;
  int64_t embedding_params = 0;  // 0 when the vocabulary is unknown; incl. per-layer embeddings
  int64_t per_layer_embedding_params = 0;  // the per-layer embedding table (Gemma 4 E2B/E4B), a lookup
  int64_t total_params = 0;
  int64_t active_params = 0;
  int64_t active_params_excl_input_embedding = 0;  // the input embedding is a lookup, not a matmul
  int64_t active_params_excl_embeddings = 0;       // neither the input embedding nor the head
  int64_t vision_params = 0;  // vision tower, outside every count above; -1: present, not counted
  bool ffn_known = false;
  std::vector<GroupFigures> groups;
  std::vector<LayerKindFigures> kinds;
};

/// Computes every figure from the concrete weights and cache streams. Throws InputError on
/// impossible inputs (context or batch not positive, overflow).
ModelFigures compute_figures(const ModelDesign& m, const CapacityOptions& o);

/// Applies the Step-3 paper's precision choices: FP8 KV everywhere, except hybrids: BF16 KV on
/// full-attention layers, FP32 linear-attention state, FP8 on chunked layers.
void apply_step3_paper_precision(ModelDesign& m);

}  // namespace gmha
