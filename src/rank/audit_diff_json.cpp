#include "gmha/rank/audit_diff_json.hpp"

#include <algorithm>

namespace gmha {
namespace {

using nlohmann::ordered_json;

ordered_json figures_json(const CircuitFigures& f) {
  return {{"sigma_1", f.sigma_1}, {"energy_rank", f.energy_rank}, {"entropy_rank", f.entropy_rank}};
}

ordered_json circuit_json(const CircuitDiff& c) {
  ordered_json j;
  j["finite"] = c.finite;
  if (!c.finite) {
    for (const char* k : {"r", "a", "b", "delta", "left_angle_deg", "right_angle_deg", "distance"})
      j[k] = nullptr;
    j["b_rank_short"] = false;
    j["change_rel"] = j["gap_rel"] = nullptr;
    return j;
  }
  j["r"] = c.r;
  j["a"] = figures_json(c.a);
  j["b"] = figures_json(c.b);
  // B − A; sigma_1_rel divides by A's σ₁ (null for a zero circuit in A).
  j["delta"] = {{"sigma_1", c.b.sigma_1 - c.a.sigma_1},
                {"sigma_1_rel", c.a.sigma_1 > 0 ? ordered_json((c.b.sigma_1 - c.a.sigma_1) / c.a.sigma_1)
                                                : ordered_json(nullptr)},
                {"energy_rank", c.b.energy_rank - c.a.energy_rank},
                {"entropy_rank", c.b.entropy_rank - c.a.entropy_rank}};
  j["left_angle_deg"] = c.left_angle_deg;
  j["right_angle_deg"] = c.right_angle_deg;
  j["distance"] = c.distance();
  j["b_rank_short"] = c.b_rank_short;
  j["change_rel"] = c.change_rel;
  j["gap_rel"] = c.gap_rel;
  return j;
}

ordered_json summary_json(const LayerDiffSummary& s) {
  return {{"heads", s.heads},
          {"nonfinite_heads", s.nonfinite_heads},
          {"factors", s.factors},
          {"nonfinite_factors", s.nonfinite_factors},
          {"max_angle_deg", s.max_angle_deg},
          {"mean_qk_angle_deg", s.mean_qk_angle_deg},
          {"mean_vo_angle_deg", s.mean_vo_angle_deg},
          {"max_rel_sigma_1_change", s.max_rel_sigma_1_change},
          {"max_change_rel", s.max_change_rel},
          {"max_abs_entropy_rank_change", s.max_abs_entropy_change},
          {"energy_rank_changes", s.energy_rank_changes}};
}

}  // namespace

std::vector<MovedHead> most_moved_heads(const AuditDiffReport& r, int64_t count) {
  std::vector<MovedHead> moved, nonfinite;
  for (const auto& l : r.layers)
    for (const auto& h : l.heads) (h.finite() ? moved : nonfinite).push_back({&l, &h});
  std::stable_sort(moved.begin(), moved.end(), [](const MovedHead& x, const MovedHead& y) {
    return x.head->max_angle_deg() > y.head->max_angle_deg();
  });
  if (static_cast<int64_t>(moved.size()) > count) moved.resize(static_cast<size_t>(std::max<int64_t>(count, 0)));
  moved.insert(moved.end(), nonfinite.begin(), nonfinite.end());
  return moved;
}

ordered_json audit_diff_to_json(const AuditDiffReport& r, int64_t worst) {
  ordered_json j;
  j["a"] = {{"checkpoint", r.a}, {"format", r.a_format}, {"architecture", r.a_architecture}};
  j["b"] = {{"checkpoint", r.b}, {"format", r.b_format}, {"architecture", r.b_architecture}};
  j["model_layers"] = r.model_layers;
  j["energy"] = r.energy;
  j["convention"] = "delta = B - A; r = A's energy rank at p; angles are the largest principal angle "
                    "between A's and B's top-r singular subspaces (left: the circuit's row/query side, "
                    "right: its column side), degrees; distance = sin of the larger angle";
  ordered_json layers = ordered_json::array();
  for (const auto& l : r.layers) {
    ordered_json lj;
    lj["layer"] = l.layer;
    if (l.parallel) lj["parallel"] = true;
    lj["variant"] = l.variant;
    if (!l.mixer.empty()) lj["mixer"] = l.mixer;
    lj["audited"] = l.audited;
    lj["summary"] = summary_json(summarize_layer(l));
    ordered_json heads = ordered_json::array();
    for (const auto& h : l.heads) {
      ordered_json hj = {{"head", h.head}, {"kv_head", h.kv_head}, {"qk", circuit_json(h.qk)},
                         {"vo", circuit_json(h.vo)}};
      if (h.qk_rope) hj["qk_rope"] = circuit_json(*h.qk_rope);
      heads.push_back(std::move(hj));
    }
    lj["heads"] = std::move(heads);
    if (!l.output_groups.empty()) {
      ordered_json groups = ordered_json::array();
      for (size_t g = 0; g < l.output_groups.size(); ++g)
        groups.push_back({{"group", g}, {"vo_group", circuit_json(l.output_groups[g])}});
      lj["output_groups"] = std::move(groups);
    }
    if (!l.compressor.empty()) {
      ordered_json comp = ordered_json::array();
      for (size_t h = 0; h < l.compressor.size(); ++h) comp.push_back({{"half", h}, {"factor", circuit_json(l.compressor[h])}});
      lj["compressor"] = std::move(comp);
    }
    if (!l.recurrent_q.empty()) {
      // Per query/key head (Mamba2: group): its query and key factor, each against the identity.
      ordered_json rec = ordered_json::array();
      for (size_t i = 0; i < l.recurrent_q.size(); ++i)
        rec.push_back({{"head", i}, {"q", circuit_json(l.recurrent_q[i])}, {"k", circuit_json(l.recurrent_k[i])}});
      lj["recurrent"] = std::move(rec);
    }
    layers.push_back(std::move(lj));
  }
  j["layers"] = std::move(layers);
  ordered_json moved = ordered_json::array();
  for (const MovedHead& m : most_moved_heads(r, worst)) {
    moved.push_back({{"layer", m.layer->layer}, {"head", m.head->head},
                     {"max_angle_deg", m.head->finite() ? ordered_json(m.head->max_angle_deg()) : ordered_json(nullptr)}});
  }
  j["most_moved"] = std::move(moved);
  return j;
}

}  // namespace gmha
