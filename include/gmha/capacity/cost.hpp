#pragma once
// Decoding cost per 1M tokens on accelerators (docs/capacity.md, Step-3 paper): attention is bound by the
// larger of compute and KV reads plus its linear FLOPs; the FFN is compute-bound under AFD. This is
// the Step-3 paper's large-batch model: weight reads are amortised away. The batch-aware decode
// step, which charges them, is capacity/serving.hpp.
//
// Every function charges the peak of a ComputeDType; the default, FP8 where the card has it, is
// the Step-3 paper's (the CLI's default under --convention exact is BF16).
#include <string>
#include <vector>

#include "gmha/capacity/figures.hpp"
#include "gmha/capacity/hardware.hpp"

namespace gmha {

/// Attention's cost on `card` for one decoded token (docs/capacity.md, cost): the larger of the
/// core FLOPs at the card's peak and the KV bytes read at its bandwidth, plus the projections'
/// FLOPs at the peak. The one place the formula lives; compute_cost and the sweep call it.
struct AttentionCost {
  double usd_per_token = 0;
  bool memory_bound = false;  // the KV read term is the larger one
};
AttentionCost attention_cost(const Hardware& card, double attn_flops, double kv_bytes_read,
                             double linear_flops, ComputeDType dtype = ComputeDType::kFp8);

struct CardCost {
  std::string card;
  double attn_usd_per_mtok = 0;
  double ffn_usd_per_mtok = 0;
  double total_usd_per_mtok = 0;  // single card: attention + FFN on this card
  std::string bound;              // "memory" or "compute": which term of attention's max binds
  ComputeDType compute_dtype = ComputeDType::kFp8;  // the precision charged on this card
  double peak_flops_charged = 0;                    // its dense peak, FLOP/s
};

struct CostFigures {
  ComputeDType compute_dtype = ComputeDType::kFp8;  // requested; each card says what it charged
  std::vector<CardCost> cards;
  double afd_usd_per_mtok = 0;  // cheapest attention card + cheapest FFN card
  std::string afd_attn_card;
  std::string afd_ffn_card;
};

CostFigures compute_cost(const ModelFigures& f, const std::vector<Hardware>& cards,
                         ComputeDType dtype = ComputeDType::kFp8);

/// MoE sparsity floor for a card (docs/capacity.md): H * FLOPs * L / (Net * Bandwidth * 11.1 ms),
/// FLOPs the peak at `dtype`. Throws InputError when the card has no network bandwidth.
double moe_sparsity_floor(const Hardware& card, int64_t hidden, int64_t layers,
                          ComputeDType dtype = ComputeDType::kFp8);

}  // namespace gmha
