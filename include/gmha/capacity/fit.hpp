#pragma once
// What fits on a card (issue 6, `gmha fit`): the longest context at a batch, the largest batch at
// a context, and the weights/KV split of each GPU's memory, with tensor parallelism over N GPUs.
//
// Tensor parallelism (Megatron-style, as vLLM/SGLang shard attention): query heads split N ways
// (heads % N == 0). GQA's g KV heads split too while g >= N (g % N == 0); when g < N each KV head
// is replicated N/g times (N % g == 0) and every rank caches one head. MLA's latent (C + h_rope)
// and MFA's single K/V head (2C; MFA-KR: C) cannot be split: every rank caches the whole stream,
// and their down-projections (q_a_proj, kv_a_proj_with_mqa; MFA's q_proj, k_proj, v_proj) are
// replicated. Per-head up-projections and o_proj split by heads; FFN weights (dense or experts)
// and embeddings split N ways; norms are replicated. Windowed layers keep min(T, W) tokens,
// chunked layers at most min(T, C) (the most they ever hold), linear layers a fixed state.
//
// Expert parallelism (`--ep M`, docs/capacity.md "Expert parallelism"): the routed experts of
// each MoE layer form M groups of E/M whole experts, each group split N/M ways by the ranks that
// hold it (M = 1: every expert split N ways; M = N: every rank holds E/N whole experts). A rank
// stores E/N experts' worth either way; what changes is which experts a decode step makes it
// read (capacity/serving.hpp). Attention, shared experts and embeddings stay tensor-parallel.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gmha/attention/model.hpp"
#include "gmha/capacity/hardware.hpp"
#include "gmha/capacity/weight_format.hpp"

namespace gmha {

struct FitOptions {
  Hardware card;
  int64_t gpus = 1;                      // tensor-parallel ranks N
  int64_t expert_parallel = 1;           // M: expert groups over the N ranks (M divides N and E)
  std::optional<double> memory_per_gpu;  // bytes; default the card's memory_bytes
  double memory_fraction = 0.9;          // usable share of each GPU's memory (runtime, activations)
  WeightFormat weights = read_weight_format("bf16", "weights");  // storage, scales included
  int64_t batch = 1;                     // for the longest context
  int64_t context = 8192;                // for the largest batch and the split
};

/// How one layer group shards over N ranks.
struct GroupShard {
  std::string label;  // e.g. "MLA, MoE"
  int64_t layers = 0;
  int64_t kv_heads = 0;                   // cached KV streams of the layer (1 for MLA/MFA)
  int64_t kv_heads_per_gpu = 0;           // streams each rank caches
  int64_t kv_replication = 1;             // how many ranks hold each stream
  double kv_bytes_per_token_per_gpu = 0;  // one layer, one token
  double state_bytes_per_gpu = 0;         // linear attention, one layer, one sequence
  int64_t tokens_cap = 0;                 // 0: full span (grows with T); else W or C
  // Fill rules that keep other than one entry per token (top-k, CSA/HCA, NSA, MoBA;
  // docs/designs.md): the layer, whose fill_counts give the entries at T, and this rank's bytes
  // of one stream entry, one MoBA mean key and one index key. entry_bytes_per_gpu = 0 otherwise;
  // kv_bytes_per_token_per_gpu is then the per-token rate (entries a token adds).
  LayerSpec layer;
  double entry_bytes_per_gpu = 0;
  double mean_key_bytes_per_gpu = 0;
  double index_key_bytes_per_gpu = 0;
  std::string note;                       // e.g. "latent replicated on every rank"
  // MoE groups: what a decode step reads depends on which routed experts its tokens pick.
  int64_t routed_experts = 0;             // E (0: no routed experts)
  int64_t top_k = 0;                      // k
  int64_t expert_parallel = 1;            // M: the experts form M groups of E/M (EP)
  double expert_bytes_per_gpu = 0;        // one routed expert of one layer that this rank holds,
                                          // the rank's share of it (expert bytes x M / N)
};

/// How one layer's cache streams split over N ranks: a stream cached on `replication` ranks,
/// each rank caching replication / N of the layer's cache (docs/capacity.md, parallelism).
struct KvSplit {
  int64_t kv_heads = 0;         // cached streams of the layer (1 for MLA/MFA)
  int64_t kv_heads_per_gpu = 0;
  int64_t replication = 1;      // GQA max(1, N / g); MLA/MFA N; heads-split kinds 1
  std::string note;
};
/// Throws InputError naming --`option` when g and N do not divide one another (`layers` names
/// them).
KvSplit kv_split(const AttentionShape& a, int64_t n, const std::string& layers,
                 const char* option = "gpus");

/// True when kv_split(a, n) holds (it throws otherwise): GQA/GTA/GLA's streams split or
/// replicate evenly, MLA/MFA replicate, TPA and MTLA only at n = 1. The query heads must also
/// split n ways (shard_weights). For the sweep, which skips what does not shard.
bool kv_splits(const AttentionShape& a, int64_t n);
/// Cached elements of one layer and token that one rank holds under `k` = kv_split(a, n): GQA
/// family kv_heads_per_gpu of its heads' streams; GTA/GLA their tied states / latents per rank
/// plus the replicated RoPE key; MLA, MFA, TPA and MTLA (n = 1) the whole row. (FPBA and
/// recurrent layers split by heads elsewhere.)
int64_t kv_elements_per_gpu(const AttentionShape& a, const KvSplit& k);

/// One rank's weights under tensor parallelism over N ranks (the rules above).
struct TensorParallelWeights {
  double per_gpu = 0;                  // bytes this rank stores
  double total = 0;                    // all ranks, replicated parts counted once
  double input_embedding_per_gpu = 0;  // untied input embedding and per-layer embeddings: row lookups, not read per step
  std::vector<GroupShard> groups;
};
/// Throws InputError naming --`option` when N does not split the heads (see kv_split), and
/// naming --ep when M does not divide N or a layer's routed experts.
TensorParallelWeights shard_weights(const ModelDesign& m, int64_t n, const WeightFormat& w,
                                    const char* option = "gpus", int64_t expert_parallel = 1);

struct FitResult {
  int64_t gpus = 1;
  int64_t expert_parallel = 1;
  double memory_per_gpu = 0;   // bytes
  double usable_per_gpu = 0;   // memory_per_gpu x memory_fraction
  double weights_per_gpu = 0;  // bytes of this rank's weight shard
  double weights_total = 0;    // all ranks, bytes (replicated parts counted once per rank)
  double input_embedding_per_gpu = 0;  // part of weights_per_gpu
  int64_t model_max_context = 0;  // max_position_embeddings (0 unknown): caps max_context
  bool weights_fit = false;
  double kv_budget_per_gpu = 0;  // usable - weights (0 when they do not fit)
  // At (batch, context):
  double kv_per_gpu = 0;    // KV cache + states of the whole batch on one rank
  double free_per_gpu = 0;  // usable - weights - kv (negative: does not fit)
  // Longest context at `batch`, at most model_max_context: nullopt when it is unbounded (no
  // layer grows with T and the model states no limit).
  std::optional<int64_t> max_context;
  bool capped_at_model_max = false;  // memory would hold more than max_position_embeddings
  int64_t max_batch = 0;  // at `context`; 0 when even one sequence does not fit
  std::vector<GroupShard> groups;
};

/// Computes the fit. Throws InputError when the card has no memory size (give --memory), N does
/// not divide the heads, GQA's g and N do not divide one another, or a count is not positive.
FitResult compute_fit(const ModelDesign& m, const FitOptions& o);

/// Bytes of one rank's KV cache for one sequence at context T (all layers, states included).
double kv_bytes_per_sequence_per_gpu(const FitResult& f, int64_t context);

/// How one sequence's cache on one rank grows with context once every window is full
/// (docs/sweep.md, "gmha fit"): from `from_context` on, at every context T that is a multiple of
/// `period` (the least common multiple of the fill rules' strides: CSA/HCA's s, NSA's d, MoBA's
/// B, MTLA's s), kv_bytes_per_sequence_per_gpu(T) = fixed + per_token x T exactly. per_token is
/// what one more token of context costs on average: a full layer adds its row, a CSA layer
/// (row + index key) / s, an HCA layer row / s, windowed, chunked and recurrent layers nothing;
/// fixed holds the full windows, chunks and states.
struct KvGrowth {
  double per_token = 0;
  double fixed = 0;
  int64_t from_context = 0;
  int64_t period = 1;
};
/// Derived from kv_bytes_per_sequence_per_gpu itself (two contexts one period apart), so it can
/// never disagree with the longest-context search.
KvGrowth kv_growth_per_sequence_per_gpu(const FitResult& f);

/// Activated share of the experts, S = (top_k + shared) / (routed + shared), of the model's MoE
/// layers (the first MoE group); nullopt for dense models.
std::optional<double> moe_sparsity(const ModelDesign& m);

}  // namespace gmha
