#include "gmha/capacity/cost.hpp"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "gmha/core/error.hpp"

namespace gmha {

AttentionCost attention_cost(const Hardware& h, double attn_flops, double kv_bytes_read,
                             double linear_flops, ComputeDType dtype) {
  // Unit costs, unrounded: dollars per FLOP and per byte moved.
  const double u_flop = h.usd_per_hour / 3600.0 / h.peak_flops(dtype);
  const double u_byte = h.usd_per_hour / 3600.0 / h.bandwidth;
  const double compute = attn_flops * u_flop;
  const double memory = kv_bytes_read * u_byte;
  return {std::max(compute, memory) + linear_flops * u_flop, memory > compute};
}

CostFigures compute_cost(const ModelFigures& f, const std::vector<Hardware>& cards,
                         ComputeDType dtype) {
  CostFigures c;
  c.compute_dtype = dtype;
  double best_attn = std::numeric_limits<double>::infinity();
  double best_ffn = best_attn;
  for (const Hardware& h : cards) {
    const double u_flop = h.usd_per_hour / 3600.0 / h.peak_flops(dtype);
    const AttentionCost a =
        attention_cost(h, static_cast<double>(f.attn_flops), f.decode_kv_bytes_read,
                       static_cast<double>(f.linear_flops), dtype);
    CardCost cc;
    cc.card = h.name;
    cc.compute_dtype = h.charged_dtype(dtype);
    cc.peak_flops_charged = h.peak_flops(dtype);
    cc.bound = a.memory_bound ? "memory" : "compute";
    cc.attn_usd_per_mtok = a.usd_per_token * 1e6;
    cc.ffn_usd_per_mtok = static_cast<double>(f.ffn_flops) * u_flop * 1e6;
    cc.total_usd_per_mtok = cc.attn_usd_per_mtok + cc.ffn_usd_per_mtok;
    if (cc.attn_usd_per_mtok < best_attn) {
      best_attn = cc.attn_usd_per_mtok;
      c.afd_attn_card = h.name;
    }
    if (cc.ffn_usd_per_mtok < best_ffn) {
      best_ffn = cc.ffn_usd_per_mtok;
      c.afd_ffn_card = h.name;
    }
    c.cards.push_back(cc);
  }
  if (!cards.empty()) c.afd_usd_per_mtok = best_attn + best_ffn;
  return c;
}

double moe_sparsity_floor(const Hardware& card, int64_t hidden, int64_t layers,
                          ComputeDType dtype) {
  if (card.network_bandwidth <= 0) {
    throw InputError(fmt::format("card {}: no network bandwidth (net=) for the sparsity floor", card.name));
  }
  // Step-3 paper §5: 8-bit dispatch, 16-bit combine, 50 ms TPOT over three stages -> 11.1 ms.
  constexpr double kStageSeconds = 0.0111;
  return static_cast<double>(hidden) * card.peak_flops(dtype) * static_cast<double>(layers) /
         (card.network_bandwidth * card.bandwidth * kStageSeconds);
}

}  // namespace gmha
