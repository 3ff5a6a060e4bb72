#pragma once
// Which past tokens one query reads, and how its softmax weights become weights of the cached
// values: the sparse and compressed fill rules of reference attention (docs/kernels.md, "Sparse,
// compressed and gated attention"). Independent of the --design grammar: the options are plain
// numbers and matrices, filled by a caller (tests, gmha validate, a future spec bridge).
//
// Every rule here acts on one head's row of scaled scores S_j = scale * q_i . k_j (j <= i), which
// each form of reference_forward computes its own way (bilinear circuits, prefill projections,
// decode caches), and returns weights P_j of the values v_j. Pooling a block of keys into one
// entry by fixed per-token weights a_j is exact in this frame: q . (sum_j a_j k_j) = sum_j a_j S_j
// and sum_j a_j v_j is a mix of the values, so compressed entries need no separate vectors.
#include <cstdint>
#include <vector>

#include <Eigen/Core>

namespace gmha {

/// Row-major double matrix; rows are tokens for activations ([T, d]).
using MatrixRM = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// MoBA (Lu et al. 2025, arXiv 2502.13189): blocks of `block` tokens; the query reads the `topk`
/// blocks with the highest mean-key score q . mean(k_block) (the block holding the query always,
/// counted among the k; only complete past blocks compete). 0 = off.
struct MobaOptions {
  int64_t block = 0;
  int64_t topk = 0;
};

/// NSA (Yuan et al. 2025, arXiv 2502.11089 §3): three branches, each with its own softmax, mixed
/// by per-head sigmoid gates. When an MHA/MQA/GQA layer's weights hold NSA's branch tensors
/// (nsa.k_cmp, ..., nsa.gate) the reference computes the paper's NSA with them (per-branch K/V,
/// learned phi, group-shared selection; docs/kernels.md "NSA with its branch weights": the sizes
/// and `branches` below apply, `cmp_weights` must be empty, `gate` empty means nsa.gate).
/// Otherwise this pooled frame over the layer's own keys and values:
///   compressed: blocks of `cmp_block` (l) tokens every `cmp_stride` (d) tokens, pooled with
///               weights `cmp_weights` [l] (empty: the mean, 1/l each);
///   selected:   the `select_blocks` (n) blocks of `select_block` (l') tokens with the highest
///               importance (the compressed branch's weights credited to every selection block an
///               entry's tokens overlap), the query's own block always among them;
///   window:     the last `window` (w) tokens.
/// `gate` [3 * heads, d] gives g_b,c(i) = sigmoid(gate.row(b * heads + c) . x_i) for branch b =
/// 0 compressed, 1 selected, 2 window; empty: every gate is 1. `branches` switches branches off
/// (bit b), so a test can run one alone.
struct NsaOptions {
  int64_t cmp_block = 0;
  int64_t cmp_stride = 0;
  int64_t select_blocks = 0;
  int64_t select_block = 0;
  int64_t window = 0;
  std::vector<double> cmp_weights;
  MatrixRM gate;
  unsigned branches = 7;
  bool enabled() const { return cmp_block > 0 || select_block > 0 || window > 0; }
};

/// CSA / HCA temporal compression (DeepSeek-V4 style): every complete block of `stride` (s)
/// tokens becomes one entry; the query also reads the last `window` raw tokens, all in one
/// softmax. With `entry_topk` > 0 (CSA) it reads only the entry_topk entries with the highest
/// `entry_scores` (an indexer's scores [T, entries], row i for query i; empty: the entries'
/// own attention scores, per head). 0 = off. Two frames (docs/kernels.md):
///   V4's compressor, when has_v4_compressor(weights): the entry is the layer's compressor.*
///     output (per-channel softmax gates, RMSNorm, RoPE; `gate` and `ape` must be empty);
///   pooled, otherwise: the entry is the softmax-gated sum of the block's own keys and values
///     with weights softmax_j(gate . x_j + ape[j mod s]) (`gate` [1, d]; empty: 0; `ape` [s];
///     empty: 0).
struct CompressOptions {
  int64_t stride = 0;
  int64_t window = 0;
  MatrixRM gate;
  std::vector<double> ape;
  int64_t entry_topk = 0;
  MatrixRM entry_scores;
};

/// The sparse fill rules of one layer; at most one of topk / moba / nsa / compress is set
/// (LayerOptions::window composes with none of them). Sinks and output gates come from the
/// layer's weights (AttentionShape::sinks, ::gate) and compose with every rule but NSA.
struct SparseOptions {
  // DSA: the indexer's selection, for each query i the key tokens (each <= i) it reads. Empty =
  // dense. reference_forward checks it (T rows, indices in range, no duplicates).
  std::vector<std::vector<int64_t>> topk;
  MobaOptions moba;
  NsaOptions nsa;
  CompressOptions compress;
  bool any() const { return !topk.empty() || moba.block > 0 || nsa.enabled() || compress.stride > 0; }
};

struct LayerWeights;
/// True when `w` is an MHA/MQA/GQA layer holding a DeepSeek-V4 compressor (`compressor.wkv`,
/// `.wgate`, `.ape`, `.norm`, as visit_layer_weights lists them for compress=): then compression
/// computes V4's entries from those weights rather than pooling the layer's own keys.
bool has_v4_compressor(const LayerWeights& w);

/// The DSA lightning indexer's scores (DeepSeek-V3.2-Exp inference/model.py; HF
/// DeepseekV32Indexer), [T, T] with -inf above the diagonal:
///   I(i, j) = sum_h w_h(i) * ReLU(q_h(i) . k(j) / sqrt(d_I)),   w_h(i) = weights_proj(x_i)_h / sqrt(H_I)
/// q_h = indexer.wq_b applied to the normalised compressed query (q_a_layernorm(q_a_proj x); x
/// itself without q_lora), k = LayerNorm(indexer.wk x) (weight and bias, eps 1e-6), RoPE (halves,
/// as the indexer uses, whatever the layer's style) on the first qk_rope_dim dims of both. The
/// Hadamard rotation of the reference code is orthogonal and drops out of q . k. MLA shapes with
/// index heads only (InputError otherwise).
struct LayerOptions;
MatrixRM dsa_index_scores(const LayerWeights& w, const MatrixRM& x, const LayerOptions& o);

/// For each row i of `scores` ([T, T]), the min(k, i + 1) columns j <= i with the highest scores
/// (ties to the lower index), ascending: the selection SparseOptions::topk takes.
std::vector<std::vector<int64_t>> top_k_selection(const MatrixRM& scores, int64_t k);

}  // namespace gmha
