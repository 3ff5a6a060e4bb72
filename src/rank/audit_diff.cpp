#include "gmha/rank/audit_diff.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <optional>
#include <utility>

#include <Eigen/Core>
#include <fmt/format.h>

#include "gmha/core/blas.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parallel.hpp"
#include "gmha/rank/audit.hpp"
#include "gmha/rank/metrics.hpp"
#include "gmha/rank/subspace.hpp"

namespace gmha {
namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

constexpr double kDegrees = 180.0 / std::numbers::pi;
// rank_metrics wants a numerical-rank tolerance; the diff reports no numerical rank (its figures,
// σ₁, energy and entropy rank, need none), so any value in (0, 1) serves.
constexpr double kUnusedTolerance = 0.5;

// Why diff cannot read a layer, or nullopt. The circuits below are the GQA family's: q/k/v/o
// projections of one head width, each head's VO circuit through its own group's v_proj.
std::optional<std::string> unsupported(const LayerLayout& l) {
  const AttentionShape& s = l.shape;
  if (l.kind == LayoutKind::kLinear) return std::nullopt;  // no circuits: listed as not audited
  if (l.kind != LayoutKind::kGqa)
    return fmt::format("its layout is {}; audit diff reads the MHA/GQA/MQA family only",
                       layout_kind_name(l.kind));
  if (s.kv_tied || l.v_proj.empty()) return std::string("it ties K = V (no v_proj), which audit diff does not model");
  if (s.v_head_dim != 0 && s.v_head_dim != s.head_dim)
    return fmt::format("its V heads are {} wide, not {}, which audit diff does not model", s.v_head_dim,
                       s.head_dim);
  if (s.gate != OutputGate::kNone) return std::string("it has an output gate, which audit diff does not model");
  return std::nullopt;
}

// The shape fields that decide the circuits' sizes, for naming what differs.
std::vector<std::pair<const char*, int64_t>> circuit_fields(const LayerLayout& l) {
  const AttentionShape& s = l.shape;
  return {{"hidden size", s.d_model},        {"query heads", s.heads},
          {"KV heads", s.kv_heads},          {"head dim", s.head_dim},
          {"V head dim", s.v_head_dim},      {"q_lora rank", s.q_lora_rank},
          {"kv_lora rank", s.kv_lora_rank},  {"nope dim", s.qk_nope_dim},
          {"rope dim", s.qk_rope_dim},       {"shared query dim", s.q_share_dim},
          {"tied K=V", s.kv_tied ? 1 : 0}};
}

CircuitFigures figures(const std::vector<double>& sigma, double energy) {
  std::vector<double> s(sigma);
  for (double& v : s) v = std::max(v, 0.0);
  const RankMetrics m = rank_metrics(s, kUnusedTolerance, energy);
  return {m.sigma_1, m.energy_rank, m.entropy_rank};
}

bool finite(const MatrixXd& m) { return m.allFinite(); }

// One circuit W = X·Yᵀ in A (xa, ya) and in B (xb, yb): figures of both, angles at A's energy rank.
CircuitDiff diff_circuit(const MatrixXd& xa, const MatrixXd& ya, const MatrixXd& xb,
                         const MatrixXd& yb, double energy) {
  CircuitDiff d;
  if (!finite(xa) || !finite(ya) || !finite(xb) || !finite(yb)) {
    d.finite = false;
    return d;
  }
  const CircuitSvd sa = circuit_svd(xa, ya), sb = circuit_svd(xb, yb);
  d.a = figures(sa.sigma, energy);
  d.b = figures(sb.sigma, energy);
  d.r = d.a.energy_rank;
  const Index r = static_cast<Index>(d.r);
  d.sigma_a = sa.sigma;
  d.sigma_b = sb.sigma;
  if (d.a.sigma_1 > 0) {
    d.change_rel = difference_norm(xa, ya, xb, yb) / d.a.sigma_1;
    const double next = r < static_cast<Index>(sa.sigma.size()) ? sa.sigma[static_cast<size_t>(r)] : 0.0;
    if (r > 0) d.gap_rel = (sa.sigma[static_cast<size_t>(r - 1)] - next) / d.a.sigma_1;
  }
  if (!sb.spans(d.r)) {
    // B has no r-dimensional range: some direction of A's subspace is missed entirely.
    d.b_rank_short = true;
    d.left_angle_deg = d.right_angle_deg = 90.0;
    return d;
  }
  d.left_angle_deg = kDegrees * largest_principal_angle(left_basis(sa, xa, d.r), left_basis(sb, xb, d.r));
  d.right_angle_deg = kDegrees * largest_principal_angle(right_basis(sa, ya, d.r), right_basis(sb, yb, d.r));
  return d;
}

// One layer's attention tensors of one checkpoint, in float (exact for every stored type).
struct GqaTensors {
  MatrixF q, k, v, o;
  VectorXd q_norm, k_norm;  // empty, [h] per head, or [n·h] / [g·h] per layer

  GqaTensors(const TensorSource& src, const LayerLayout& l)
      : q(src.read_matrix_f(l.q_proj)), k(src.read_matrix_f(l.k_proj)),
        v(src.read_matrix_f(l.v_proj)), o(src.read_matrix_f(l.o_proj)) {
    if (!l.q_norm.empty()) q_norm = src.read_matrix_d(l.q_norm).reshaped();
    if (!l.k_norm.empty()) k_norm = src.read_matrix_d(l.k_norm).reshaped();
  }
  // Rows [r0, r0 + h) as the d×h factor, columns scaled by the norm weights of those rows.
  static MatrixXd rows_factor(const MatrixF& t, const VectorXd& gamma, Index r0, Index h) {
    MatrixXd x = t.middleRows(r0, h).transpose().cast<double>();
    if (gamma.size() == h) x *= gamma.asDiagonal();
    else if (gamma.size() > 0) x *= gamma.segment(r0, h).asDiagonal();
    return x;
  }
  MatrixXd query(Index c, Index h) const { return rows_factor(q, q_norm, c * h, h); }
  MatrixXd key(Index j, Index h) const { return rows_factor(k, k_norm, j * h, h); }
  MatrixXd value(Index j, Index h) const { return rows_factor(v, VectorXd(), j * h, h); }
  MatrixXd output(Index c, Index h) const { return o.middleCols(c * h, h).cast<double>(); }
};

LayerDiff diff_layer(const TensorSource& a, const LayerLayout& la, const TensorSource& b,
                     const LayerLayout& lb, double energy, int threads) {
  LayerDiff out;
  out.layer = la.layer;
  out.variant = std::string(variant_name(la.shape.variant));
  if (la.kind == LayoutKind::kLinear) {
    out.audited = false;
    return out;
  }
  const AttentionShape& s = la.shape;
  const Index n = s.heads, h = s.head_dim, per_group = s.heads / s.kv_heads;
  const GqaTensors ta(a, la), tb(b, lb);  // the two layers held at once; freed on return
  out.heads.resize(static_cast<size_t>(n));
  parallel_for(n, threads, [&](int64_t c) {
    HeadDiff& hd = out.heads[static_cast<size_t>(c)];
    const Index j = c / per_group;
    hd.head = c;
    hd.kv_head = j;
    hd.qk = diff_circuit(ta.query(c, h), ta.key(j, h), tb.query(c, h), tb.key(j, h), energy);
    hd.vo = diff_circuit(ta.value(j, h), ta.output(c, h), tb.value(j, h), tb.output(c, h), energy);
  });
  return out;
}

}  // namespace

double CircuitDiff::distance() const { return std::sin(max_angle_deg() / kDegrees); }

double HeadDiff::max_angle_deg() const {
  if (!finite()) return 0.0;
  return std::max(qk.max_angle_deg(), vo.max_angle_deg());
}

LayerDiffSummary summarize_layer(const LayerDiff& l) {
  LayerDiffSummary s;
  s.heads = static_cast<int64_t>(l.heads.size());
  double qk_sum = 0.0, vo_sum = 0.0;
  for (const HeadDiff& h : l.heads) {
    if (!h.finite()) {
      ++s.nonfinite_heads;
      continue;
    }
    s.max_angle_deg = std::max(s.max_angle_deg, h.max_angle_deg());
    qk_sum += h.qk.max_angle_deg();
    vo_sum += h.vo.max_angle_deg();
    for (const CircuitDiff* c : {&h.qk, &h.vo}) {
      if (c->a.sigma_1 > 0)
        s.max_rel_sigma_1_change =
            std::max(s.max_rel_sigma_1_change, std::abs(c->b.sigma_1 - c->a.sigma_1) / c->a.sigma_1);
      s.max_change_rel = std::max(s.max_change_rel, c->change_rel);
      s.max_abs_entropy_change =
          std::max(s.max_abs_entropy_change, std::abs(c->b.entropy_rank - c->a.entropy_rank));
      if (c->a.energy_rank != c->b.energy_rank) ++s.energy_rank_changes;
    }
  }
  const int64_t finite_heads = s.heads - s.nonfinite_heads;
  if (finite_heads > 0) {
    s.mean_qk_angle_deg = qk_sum / static_cast<double>(finite_heads);
    s.mean_vo_angle_deg = vo_sum / static_cast<double>(finite_heads);
  }
  return s;
}

void check_same_architecture(const Layout& a, const std::string& an, const Layout& b,
                             const std::string& bn) {
  if (a.layers.size() != b.layers.size()) {
    throw InputError(fmt::format("audit diff: {} and {} are not one architecture: {} layers against {}",
                                 an, bn, a.layers.size(), b.layers.size()));
  }
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const LayerLayout &x = a.layers[i], &y = b.layers[i];
    if (x.kind != y.kind) {
      throw InputError(fmt::format(
          "audit diff: {} and {} are not one architecture: layer {} is {} in the first and {} in "
          "the second", an, bn, i, layout_kind_name(x.kind), layout_kind_name(y.kind)));
    }
    const auto fx = circuit_fields(x), fy = circuit_fields(y);
    for (size_t f = 0; f < fx.size(); ++f) {
      if (fx[f].second != fy[f].second) {
        throw InputError(fmt::format(
            "audit diff: {} and {} are not one architecture: layer {} has {} {} in the first and {} "
            "in the second", an, bn, i, fx[f].first, fx[f].second, fy[f].second));
      }
    }
    if (const auto why = unsupported(x)) {
      throw InputError(fmt::format("audit diff: {}: layer {} cannot be compared: {}", an, i, *why));
    }
  }
}

AuditDiffReport diff_checkpoints(const Checkpoint& a, const Layout& la, const Checkpoint& b,
                                 const Layout& lb, const AuditDiffOptions& opt) {
  check_same_architecture(la, a.path, lb, b.path);
  if (!(opt.energy > 0.0 && opt.energy <= 1.0)) {
    throw errors::bad_option("energy", fmt::format("{} is not in (0, 1]", opt.energy));
  }
  if (opt.threads < 0) throw errors::bad_option("threads", "must be positive (0: all cores)");
  AuditDiffReport r;
  r.a = a.path, r.b = b.path;
  r.a_format = a.format, r.b_format = b.format;
  r.a_architecture = la.architecture.empty() ? a.architecture : la.architecture;
  r.b_architecture = lb.architecture.empty() ? b.architecture : lb.architecture;
  r.model_layers = static_cast<int64_t>(la.layers.size());
  r.energy = opt.energy;
  std::vector<int64_t> todo = opt.layers;
  if (todo.empty())
    for (int64_t i = 0; i < r.model_layers; ++i) todo.push_back(i);
  for (int64_t i : todo) {
    if (i < 0 || i >= r.model_layers) {
      throw errors::bad_option(
          "layers", fmt::format("layer {} is out of range (the model has {} layers)", i, r.model_layers));
    }
  }
  const int threads = resolve_threads(opt.threads);
  blas::available();  // loads OpenBLAS before any worker starts (as the audit does)
  int64_t done = 0;
  for (int64_t i : todo) {
    const auto l = static_cast<size_t>(i);
    r.layers.push_back(diff_layer(*a.tensors, la.layers[l], *b.tensors, lb.layers[l], r.energy, threads));
    if (opt.progress) opt.progress(++done, static_cast<int64_t>(todo.size()));
  }
  return r;
}

AuditDiffReport diff_paths(const std::string& a, const std::string& b, const AuditDiffOptions& options) {
  const Checkpoint ca = open_checkpoint(a), cb = open_checkpoint(b);
  return diff_checkpoints(ca, detect_layout(ca), cb, detect_layout(cb), options);
}

}  // namespace gmha
