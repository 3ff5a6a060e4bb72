#pragma once
// The batch-aware decode step and prefill on a card group of TP devices (docs/capacity.md,
// "Serving"): the one place these formulas live. Unlike the Step-3 large-batch model
// (capacity/cost.hpp), which amortises weight reads away, a decode step here reads the active
// weights once and every sequence's cache:
//
//   step(B) = max(B Q F_token / (N peak), (W_read(B Q) + B KV_read) / bandwidth)
//
// with F_token the FLOPs of one query token (attention + projections + FFN + output head), N the
// TP degree, W_read one rank's weights a step touches and KV_read one rank's share of a sequence's
// cache read (replicated streams read on every rank that holds them).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gmha/attention/model.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/capacity/fit.hpp"
#include "gmha/capacity/hardware.hpp"
#include "gmha/capacity/weight_format.hpp"

namespace gmha {

/// `requested` (a --weight-dtype value, "" for none), else the model's own weights
/// (default_weight_format of its quantization_config and torch_dtype).
WeightFormat weights_of(const ModelDesign& m, const std::string& requested);

struct ServingOptions {
  int64_t tp = 1;             // N: tensor-parallel devices of one card group
  int64_t ep = 1;             // M: expert groups over those N devices (capacity/fit.hpp)
  int64_t decode_tokens = 1;  // Q: query tokens per sequence and step sharing one KV read (MTP,
                              // speculative decoding; all assumed accepted)
  ComputeDType compute_dtype = ComputeDType::kBf16;
  WeightFormat weights = read_weight_format("bf16", "weights");
};

/// The batch-independent part of the serving figures of one model at one context, per rank.
struct ServingModel {
  int64_t tp = 1;
  int64_t ep = 1;
  int64_t decode_tokens = 1;
  int64_t context = 0;
  ComputeDType compute_dtype = ComputeDType::kBf16;
  std::string weight_format;  // the format's name (JSON weight_dtype)
  std::string weight_label;   // with the parts it covers when mixed (WeightFormat::label)
  double flops_per_token = 0;       // one query token, whole model: attn + linear + FFN + head
  double head_flops_per_token = 0;  // the output head, 2 V d (not in ModelFigures' FLOPs)
  double weight_bytes_per_device = 0;         // stored on one rank
  double input_embedding_bytes_per_device = 0;  // stored, not read (row lookup)
  std::vector<GroupShard> shards;             // per layer group: experts, replication
  double kv_bytes_per_token_per_device = 0;   // one token of context, all layers, one rank
  double kv_read_bytes_per_sequence_per_device = 0;  // one decode step of one sequence
  double state_bytes_per_sequence_per_device = 0;    // recurrent states, one rank
  double kv_bytes_per_sequence_per_device = 0;       // whole cache + states of one sequence at T
  int64_t kv_replication = 1;        // of the softmax layers: the largest over layer kinds
  double arithmetic_intensity_per_device = 0;  // core attention FLOPs / KV bytes, one rank, x Q
  double prefill_flops = 0;          // a prompt of `context` tokens, whole model (causal)
};

/// Throws InputError (naming --tp or --decode-tokens) when N does not shard the model or Q < 1.
ServingModel serving_model(const ModelDesign& m, const ModelFigures& f, const ServingOptions& o);

/// Expected distinct experts B tokens touch when each picks k of E uniformly: E (1 - (1 - k/E)^B).
double expected_experts_touched(int64_t routed, int64_t top_k, double tokens);
/// Expert parallelism's load: the expected largest number of touched experts in any one of M
/// equal groups of E/M, when `touched` of E experts are touched and the touched set is uniform
/// given its size (uniform routing; docs/capacity.md "Expert parallelism"). A fractional count
/// interpolates between its neighbours. M = 1: `touched` itself.
double expected_busiest_group_experts(int64_t routed, int64_t groups, double touched);
/// Weight bytes the busiest rank reads in a step that routes `tokens` tokens (every expert a
/// token picks, all other weights except the input embedding). Without EP every rank reads the
/// same; with EP the step waits for the rank whose experts the tokens picked most.
double weight_bytes_read_per_device(const ServingModel& s, double tokens);

/// Causal prefill FLOPs of a prompt of T tokens (docs/capacity.md): T x the per-token projection,
/// FFN and head FLOPs, plus attention over the query-key pairs of the causal mask, T (T + 1) / 2
/// for a full layer (half the T x T score matrix, the diagonal included; windows, chunks and
/// top-k cap each row), at decode's per-pair cost; recurrent layers T x their per-token update.
double prefill_flops(const ModelDesign& m, const ModelFigures& f, int64_t prompt, Convention c);

/// One decode step of a batch on one card group.
struct ServingPoint {
  std::string card;
  int64_t batch = 1;
  int64_t tp = 1;
  int64_t ep = 1;
  ComputeDType compute_dtype = ComputeDType::kBf16;  // charged on this card (after fallback)
  double peak_flops_charged = 0;
  double flops_per_step_per_device = 0;
  double weight_bytes_per_device = 0;
  double weight_bytes_read_per_step_per_device = 0;
  double kv_bytes_read_per_step_per_device = 0;
  double bytes_read_per_step_per_device = 0;
  double compute_seconds = 0;
  double memory_seconds = 0;
  double step_seconds = 0;
  double tokens_per_second_per_device = 0;
  double usd_per_mtok = 0;   // output tokens, the whole group's price
  std::string bound;         // "memory" or "compute"
  std::optional<int64_t> batch_weights_amortised;  // least B with weight reads < 10 % of the step
  double ttft_seconds = 0;         // prefill of one prompt of the context's length
  double prefill_usd_per_mtok = 0;
};

/// The step at batch B on `card`. Throws InputError when B < 1.
ServingPoint serving_point(const ServingModel& s, const Hardware& card, int64_t batch);

/// Bytes one rank holds serving `batch` sequences at the context: its weights, caches and states.
double memory_per_device(const ServingModel& s, int64_t batch);
/// The largest batch with memory_per_device <= usable_bytes; 0 when not even one sequence fits.
int64_t largest_batch(const ServingModel& s, double usable_bytes);

}  // namespace gmha
