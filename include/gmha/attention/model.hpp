#pragma once
// A model is a stack of layers (docs/capacity.md, "Layer kinds"). Each layer has
// - a mixer: softmax attention with its own geometry (AttentionShape), a recurrent mixer with a
//   fixed per-sequence state (Variant::kLinear + RecurrentKind), or none (has_mixer = false);
// - a fill rule (AttentionSpan): full, sliding window W, chunk C, top-k selection, temporal
//   compression (CSA/HCA), or block selection (NSA, MoBA);
// - a cache source: its own, or the cache of an earlier layer (cross-layer sharing);
// - a KV (or state) dtype and an FFN.
// Identical layers are reported together as layer groups; groups with the same mixer, fill rule
// and cache source (FFN aside) form a layer kind.
#include <cstdint>
#include <string>
#include <vector>

#include "gmha/attention/variant.hpp"
#include "gmha/core/dtype.hpp"

namespace gmha {

enum class SpanKind { kFull, kSlidingWindow, kChunked, kTopK, kCompressed, kNsa, kMoba };

/// Which past tokens a layer keeps and reads (docs/capacity.md, docs/designs.md "Modifiers"):
/// - kSlidingWindow W keeps and reads min(T, W); kChunked C reads ((T-1) mod C) + 1 (exact) or
///   min(T, C) (step3-paper convention);
/// - kTopK k (DSA `index_topk`) keeps all T tokens and reads min(T, k) of them;
/// - kCompressed (DeepSeek-V4 CSA/HCA): `ratio` s tokens merge into one entry (complete blocks
///   only), plus the last `window` raw tokens; `tokens` k > 0 reads the top-k entries (CSA),
///   0 reads all (HCA);
/// - kNsa (NSA): compressed blocks of `block` l every `ratio` d tokens, `blocks` n selected
///   blocks of `select_block` l' tokens, and a `window` w, each branch with its own K/V;
/// - kMoba: blocks of `block` B with their mean keys; reads the `blocks` k best blocks.
struct AttentionSpan {
  SpanKind kind = SpanKind::kFull;
  int64_t tokens = 0;        // W, C or k (kCompressed: top-k entries, 0 = all); 0 for full
  int64_t ratio = 0;         // kCompressed: s; kNsa: compression stride d
  int64_t window = 0;        // kCompressed, kNsa: raw window w (0: none)
  int64_t block = 0;         // kNsa: compression block l; kMoba: block B
  int64_t select_block = 0;  // kNsa: selection block l'
  int64_t blocks = 0;        // kNsa: n selected blocks; kMoba: k selected blocks
  bool operator==(const AttentionSpan&) const = default;
};

/// The fill rule in words, for tables: "full", "window 4096", "chunk 8192", "top-2048",
/// "compressed 1/4 + window 128, top-512", "nsa 32/16 16x64 + window 512", "moba 4096 x3".
std::string fill_rule_label(const AttentionSpan& s);

enum class FfnKind { kNone, kDense, kMoe };

/// Feed-forward block of a layer. GLU experts have 3 matrices (gate, up, down) of d x I.
struct FfnShape {
  FfnKind kind = FfnKind::kNone;
  int64_t intermediate = 0;         // dense: intermediate size
  int64_t routed_experts = 0;       // MoE: routed experts
  int64_t top_k = 0;                // MoE: routed experts active per token
  int64_t expert_intermediate = 0;  // MoE: intermediate size of one routed expert
  int64_t shared_experts = 0;       // MoE: always-active shared experts
  int64_t shared_intermediate = 0;  // MoE: intermediate size of ONE shared expert
  int64_t matrices = 3;             // 3 for GLU (gate, up, down), 2 for a plain MLP
  bool operator==(const FfnShape&) const = default;
};

struct LayerSpec {
  AttentionShape attention;
  AttentionSpan span;
  DType kv_dtype = DType::kBF16;
  KvLayout kv_layout = KvLayout::kElements;  // kFp8DsMla: vLLM's 656 B MLA row (check_kv_layout)
  FfnShape ffn;
  bool rope = true;  // false on NoPE layers (Llama 4 global layers); informational
  bool has_mixer = true;  // false: no token mixer at all (Nemotron-H MLP-only blocks)
  int kv_source = -1;     // -1: own cache; j: reads layer j's cache and stores none (CLA, Gemma 3n)
  // A layer reading another's cache (kv_source >= 0) with no K/V projections of its own: CLA
  // (Brandon et al. 2024) and Hunyuan's cross-layer attention drop them; Gemma 3n's shared
  // layers keep theirs in the checkpoint (true). Ignored when kv_source is -1.
  bool kv_projections = true;
  DType conv_dtype = DType::kBF16;  // recurrent layers' convolution state (the model dtype)
  // A second mixer of the previous entry's decoder layer (Falcon-H1 runs attention and Mamba2
  // side by side on one normalised input and adds their outputs): its weights, cache or state and
  // FLOPs count, but it is not a layer of its own (no FFN, no norms, no layer index: it takes
  // the index of the decoder layer it belongs to). docs/capacity.md, "Parallel mixers".
  bool parallel = false;
  bool operator==(const LayerSpec&) const = default;
};

enum class MixerKind { kSoftmax, kRecurrent, kNone };
MixerKind mixer_kind(const LayerSpec& l);
/// True when the layer keeps a per-token cache of its own (a softmax layer not reading another's).
bool owns_cache(const LayerSpec& l);
/// The same layer kind: mixer, fill rule, cache source and dtypes equal; the FFN may differ.
bool same_kind(const LayerSpec& a, const LayerSpec& b);

bool same_layer(const LayerSpec& a, const LayerSpec& b);

/// Layers sharing one LayerSpec, with their indices (0-based).
struct LayerGroup {
  LayerSpec spec;
  std::vector<int> layers;
  std::string label() const;  // e.g. "GQA sliding 4096, MoE" for display
  std::string layer_list() const;  // compact "0-2,60"
};

struct ModelDesign {
  std::string name;      // preset name, config path or design label
  std::string source;    // citation: where the numbers come from
  std::string spec;      // a --design string that reproduces the model, when one exists
  int64_t d_model = 0;
  int64_t vocab_size = 0;          // 0 when unknown; embeddings then not counted
  bool tied_embeddings = false;
  std::vector<LayerSpec> layers;  // one per layer, in order
  int64_t max_context = 0;        // max_position_embeddings; 0 when unknown
  // The config's quantization_config, as written (capacity/weight_format.hpp maps it to a
  // weight format): quant_method, and its fmt / format / quant_algo. Empty when none.
  std::string quant_method;
  std::string quant_format;
  // What the method leaves out, as written: compressed-tensors `ignore`, transformers'
  // `modules_to_not_convert`, ModelOpt `exclude_modules` (names, "re:" regexes, '*' globs).
  std::vector<std::string> quant_not_converted;
  // The weights' scheme where the config states one (compressed-tensors config_groups' weights,
  // GPTQ/AWQ bits/group_size/sym): bits per element (0 unstated, -1 when config groups
  // disagree), elements per scale group (0 unstated, -1 per channel), symmetric (no zero point),
  // "int" or "float"; quant_lm_head: GPTQ's `lm_head` flag (the output head quantized too).
  int quant_bits = 0;
  int quant_group_size = 0;
  bool quant_symmetric = true;
  std::string quant_type;
  bool quant_lm_head = false;
  std::string torch_dtype;  // the config's torch_dtype / dtype as written ("" when absent)
  // A checkpoint file read as the model (GGUF): its tensors' stored bits per weight, block scales
  // included (8 x bytes / elements over every tensor), and their types by elements, e.g.
  // "Q4_K 61%, Q6_K 30%, F32 9%". The weights are then priced at that average. 0 / "" otherwise.
  double stored_bits_per_weight = 0;
  std::string stored_types;
  /// Parameters of the vision tower beside the text stack (not in the layer list or its
  /// counts): 0 without one, kVisionNotCounted when the config has one gmha does not count.
  int64_t vision_params = 0;
  static constexpr int64_t kVisionNotCounted = -1;
  /// Per-layer embeddings (Gemma 4 E2B/E4B, Gemma 3n: hidden_size_per_layer_input p > 0): a
  /// lookup table [per_layer_input_vocab, L·p] beside the token embedding, mixed into each layer
  /// (docs/capacity.md, "Per-layer embeddings"). 0: none.
  int64_t per_layer_input_dim = 0;
  int64_t per_layer_input_vocab = 0;
  /// Gemma 3n's residual-stream extras (docs/capacity.md, "Per-layer embeddings"): AltUp over
  /// `altup_inputs` streams (> 1: its projections and per-layer coefficients) and a LAuReL block
  /// of rank `laurel_rank` per layer. 0: none.
  int64_t altup_inputs = 0;
  int64_t laurel_rank = 0;

  /// Layers grouped by identical spec, ordered by first layer; a group's indices are decoder
  /// layers (a parallel mixer takes the index of the layer it belongs to).
  std::vector<LayerGroup> groups() const;
  /// Decoder layers: the entries that are not a parallel mixer of the one before.
  int64_t decoder_layers() const;
  /// The decoder layer entry i belongs to (its own index less the parallel mixers before it).
  int decoder_layer_of(size_t entry) const;
  bool has_parallel_mixers() const;
  bool is_hybrid() const;  // more than one distinct attention kind/span
  /// Sets the KV dtype of every softmax layer (linear-attention states keep theirs), in the
  /// plain layout (one dtype per element).
  void set_kv_dtype(DType t);
  /// Sets the KV cache type of every softmax layer; throws InputError naming `where` when a
  /// layer cannot take the layout (check_kv_layout).
  void set_kv_cache_type(KvCacheType t, const std::string& where);
};

/// Throws InputError naming `where` unless the layer can hold its KV layout: fp8_ds_mla needs a
/// softmax MLA or MTLA layer (an MTLA entry is an MLA row) whose row is a 512 latent + 64 RoPE
/// key, the only row vLLM's layout is defined for (FlashMLA's head size 576), in fp8.
void check_kv_layout(const LayerSpec& l, const std::string& where);

/// Throws InputError naming `where` when the model is impossible (no layers, bad shapes, bad spans).
void validate_model(const ModelDesign& m, const std::string& where);

}  // namespace gmha
