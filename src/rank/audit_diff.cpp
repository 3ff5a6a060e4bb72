#include "gmha/rank/audit_diff.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <map>
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

// The shape fields that decide the circuits' sizes, for naming what differs.
std::vector<std::pair<const char*, int64_t>> circuit_fields(const LayerLayout& l) {
  const AttentionShape& s = l.shape;
  return {{"hidden size", s.d_model},        {"query heads", s.heads},
          {"KV heads", s.kv_heads},          {"head dim", s.head_dim},
          {"V head dim", s.v_head_dim},      {"q_lora rank", s.q_lora_rank},
          {"kv_lora rank", s.kv_lora_rank},  {"nope dim", s.qk_nope_dim},
          {"rope dim", s.qk_rope_dim},       {"shared query dim", s.q_share_dim},
          {"tied K=V", s.kv_tied ? 1 : 0},   {"v_proj", l.v_proj.empty() ? 0 : 1},
          {"gated q_proj", l.q_proj_gated ? 1 : 0},
          {"o_lora rank", s.o_lora_rank},    {"output groups", s.o_groups},
          // V4's RoPE width splits its latent (other families' rotary_dim does not enter a circuit).
          {"RoPE dim", s.o_lora_rank > 0 ? s.rotary_dim : 0}, {"recurrent heads", l.recurrent_heads},
          {"compressor halves", l.compressor_halves},
          {"recurrent d_k", l.recurrent_dk}, {"recurrent kind", s.variant == Variant::kLinear ?
                                                                    static_cast<int64_t>(s.recurrent) : -1}};
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

// A factor W (d × w) of A and of B compared as the circuit W·I: the angles of its column space
// (left) and of its row space in the w coordinates (right).
CircuitDiff diff_factor(const MatrixXd& wa, const MatrixXd& wb, double energy) {
  const MatrixXd id = MatrixXd::Identity(wa.cols(), wa.cols());
  return diff_circuit(wa, id, wb, id, energy);
}

// One layer's attention tensors of one checkpoint, in float (exact for every stored type), and
// each head's circuit factors as d×w matrices in double (docs/audit.md, "audit diff"): a chain
// through a down-projection (MLA's q_a·diag(γ)·q_b, a latent head's map, MFA's S_Q·diag(γ)·W_q)
// is formed in d-space, so A's and B's factors live in one space whatever their down-projections.
class LayerFactors {
 public:
  LayerFactors(const TensorSource& src, const LayerLayout& l) : l_(l), s_(l.shape) {
    for (const std::string* name : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.wo_a, &l.kv_proj,
                                    &l.k_rope_proj, &l.q_a_proj, &l.q_b_proj, &l.kv_a_proj_with_mqa,
                                    &l.kv_b_proj, &l.wq, &l.kr_n})
      if (!name->empty()) m_.emplace(*name, src.read_matrix_f(*name));
    for (const auto& name : l.kv_b_projs) m_.emplace(name, src.read_matrix_f(name));
    for (const std::string* name : {&l.q_a_layernorm, &l.kv_a_layernorm, &l.inter_norm, &l.kr_alpha})
      if (!name->empty()) v_.emplace(*name, src.read_matrix_d(*name).reshaped());
    // q/k norms as the family applies them: 1 + w for Gemma 2/3 (qk_norm_offset).
    if (!l.compressor_wkv.empty()) {
      m_.emplace(l.compressor_wkv, src.read_matrix_f(l.compressor_wkv));
      v_.emplace(l.compressor_norm, src.read_matrix_d(l.compressor_norm).reshaped());
    }
    for (const std::string* name : {&l.q_norm, &l.k_norm})
      if (!name->empty()) v_.emplace(*name, (src.read_matrix_d(*name).reshaped().array() + l.qk_norm_offset).matrix());
    for (const auto& name : l.kv_a_layernorms) v_.emplace(name, src.read_matrix_d(name).reshaped());
  }
  MatrixXd query(Index c) const {
    switch (l_.kind) {
      case LayoutKind::kGqa: {
        if (v4()) return latent_query(c * s_.head_dim, s_.head_dim - s_.rotary_dim);
        const Index h = s_.head_dim, stride = l_.q_proj_gated ? 2 * h : h;
        return rows(l_.q_proj, c * stride, h) * norm(l_.q_norm, c, h).asDiagonal();
      }
      case LayoutKind::kGta: return rows(l_.q_proj, c * s_.head_dim, s_.head_dim - s_.qk_rope_dim);
      case LayoutKind::kMla: case LayoutKind::kGla:
        return latent_query(c * (s_.qk_nope_dim + s_.qk_rope_dim), s_.qk_nope_dim);
      case LayoutKind::kMfa: case LayoutKind::kMfaKr: {
        const Index C = s_.head_dim, cq = s_.q_share_dim > 0 ? s_.q_share_dim : C;
        return rows(l_.q_proj, 0, cq) * vec(l_.inter_norm).asDiagonal() * rows(l_.wq, c * C, C);
      }
      case LayoutKind::kLinear: case LayoutKind::kNone: break;
    }
    return MatrixXd();
  }
  // The key factor of head c (its group's, MLA/GLA: its own up-projection's).
  MatrixXd key(Index c) const {
    const Index j = c / (s_.heads / s_.kv_heads);
    switch (l_.kind) {
      case LayoutKind::kGqa:
        if (v4()) {  // the latent's first c − d_R dims, through kv_norm's γ
          const Index nope = s_.head_dim - s_.rotary_dim;
          return rows(l_.k_proj, 0, nope) * vec(l_.k_norm).head(nope).asDiagonal();
        }
        return rows(l_.k_proj, j * s_.head_dim, s_.head_dim) * norm(l_.k_norm, j, s_.head_dim).asDiagonal();
      case LayoutKind::kGta: return rows(l_.kv_proj, j * s_.head_dim, s_.head_dim - s_.qk_rope_dim);
      case LayoutKind::kMla: case LayoutKind::kGla: return latent_map(c, 0, s_.qk_nope_dim);
      case LayoutKind::kMfa: case LayoutKind::kMfaKr: return rows(l_.k_proj, 0, s_.head_dim);
      case LayoutKind::kLinear: case LayoutKind::kNone: break;
    }
    return MatrixXd();
  }
  MatrixXd value(Index c) const {
    const Index j = c / (s_.heads / s_.kv_heads);
    switch (l_.kind) {
      case LayoutKind::kGqa: {
        if (v4()) return rows(l_.k_proj, 0, s_.head_dim) * vec(l_.k_norm).asDiagonal();  // the whole latent
        const Index hv = vo_width();
        return rows(l_.v_proj.empty() ? l_.k_proj : l_.v_proj, j * hv, hv);  // K = V: the key rows
      }
      case LayoutKind::kGta: return rows(l_.kv_proj, j * s_.head_dim, s_.head_dim);
      case LayoutKind::kMla: case LayoutKind::kGla: return latent_map(c, s_.qk_nope_dim, s_.v_head_dim);
      case LayoutKind::kMfa: return rows(l_.v_proj, 0, s_.head_dim);
      case LayoutKind::kMfaKr: {
        // Key reuse: the value projection is (I + diag(α)·N)·S_K.
        const Index C = s_.head_dim;
        const MatrixXd n = m_.at(l_.kr_n).cast<double>();
        return rows(l_.k_proj, 0, C) * (MatrixXd::Identity(C, C) + vec(l_.kr_alpha).asDiagonal() * n).transpose();
      }
      case LayoutKind::kLinear: case LayoutKind::kNone: break;
    }
    return MatrixXd();
  }
  // Head c's RoPE circuit, query and key (empty when the layout has none): the rotated rows of
  // each query after the nope rows, against the one shared RoPE key.
  bool has_rope() const {
    if (v4()) return s_.rotary_dim > 0;
    return (l_.kind == LayoutKind::kGta || l_.kind == LayoutKind::kMla || l_.kind == LayoutKind::kGla) &&
           s_.qk_rope_dim > 0;
  }
  MatrixXd query_rope(Index c) const {
    if (v4()) return latent_query(c * s_.head_dim + s_.head_dim - s_.rotary_dim, s_.rotary_dim);
    if (l_.kind == LayoutKind::kGta) return rows(l_.q_proj, (c + 1) * s_.head_dim - s_.qk_rope_dim, s_.qk_rope_dim);
    return latent_query(c * (s_.qk_nope_dim + s_.qk_rope_dim) + s_.qk_nope_dim, s_.qk_rope_dim);
  }
  MatrixXd key_rope() const {
    if (v4()) {  // the latent's last d_R dims, through kv_norm's γ
      const Index rope = s_.rotary_dim;
      return rows(l_.k_proj, s_.head_dim - rope, rope) * vec(l_.k_norm).tail(rope).asDiagonal();
    }
    if (l_.kind == LayoutKind::kGta) return rows(l_.k_rope_proj, 0, s_.qk_rope_dim);
    return rows(l_.kv_a_proj_with_mqa, s_.kv_heads * s_.kv_lora_rank, s_.qk_rope_dim);  // after the latents
  }
  // DeepSeek-V4's output group g as X·Yᵀ: wo_b's group columns (d × R), wo_a's group rows
  // transposed ((heads per group · c) × R).
  Index output_groups() const { return v4() ? s_.o_groups : 0; }
  MatrixXd group_out(Index g) const { return m_.at(l_.o_proj).middleCols(g * s_.o_lora_rank, s_.o_lora_rank).cast<double>(); }
  MatrixXd group_in(Index g) const { return rows(l_.wo_a, g * s_.o_lora_rank, s_.o_lora_rank); }
  // A recurrent layer's query or key factor of head i (d × d_k, through a norm on its rows:
  // Mamba-1's c/b_layernorm), as the audit reads it (bridge/layout.hpp).
  MatrixXd recurrent(Index i, bool query) const {
    const Index dk = l_.recurrent_dk;
    const std::string& name = query ? l_.q_proj : l_.k_proj;
    const std::string& gamma = query ? l_.q_norm : l_.k_norm;
    const MatrixXd f = rows(name, (query ? l_.q_row0 : l_.k_row0) + i * l_.row_stride, dk);
    return gamma.empty() ? f : MatrixXd(f * vec(gamma).asDiagonal());
  }
  // DeepSeek-V4's compressor half h: wkv rows [h·c, (h+1)·c) through the norm's γ (d × c).
  Index compressor_halves() const { return l_.compressor_halves; }
  MatrixXd compressor(Index h) const {
    return rows(l_.compressor_wkv, h * s_.head_dim, s_.head_dim) * vec(l_.compressor_norm).asDiagonal();
  }
  MatrixXd output(Index c) const {
    if (v4()) {
      // Grouped output LoRA: head c (j-th of group g) maps by wo_b's group columns times its
      // block of wo_a (group g's o_lora rows, head j's columns): d × c.
      const Index R = s_.o_lora_rank, per = s_.heads / s_.o_groups, g = c / per, j = c - g * per;
      const MatrixF& wo_a = m_.at(l_.wo_a);
      return m_.at(l_.o_proj).middleCols(g * R, R).cast<double>() *
             wo_a.block(g * R, j * s_.head_dim, R, s_.head_dim).cast<double>();
    }
    const Index w = vo_width();
    return m_.at(l_.o_proj).middleCols(c * w, w).cast<double>();
  }

 private:
  bool v4() const { return !l_.wo_a.empty(); }
  Index vo_width() const {
    if (l_.kind == LayoutKind::kMla || l_.kind == LayoutKind::kGla) return s_.v_head_dim;
    if (l_.kind == LayoutKind::kGqa && s_.v_head_dim > 0) return s_.v_head_dim;
    return s_.head_dim;
  }
  // Rows [r0, r0 + n) of a weight as the d×n (or in×n) factor.
  MatrixXd rows(const std::string& name, Index r0, Index n) const {
    return m_.at(name).middleRows(r0, n).transpose().cast<double>();
  }
  VectorXd vec(const std::string& name) const { return v_.at(name); }
  // Norm weights of head/group i (h wide): per head [h], per layer [n·h] (segment i), or ones.
  VectorXd norm(const std::string& name, Index i, Index h) const {
    if (name.empty()) return VectorXd::Ones(h);
    const VectorXd& g = v_.at(name);
    return g.size() == h ? g : VectorXd(g.segment(i * h, h));
  }
  // MLA/GLA query rows [r0, r0 + n) of q_b_proj through q_a·diag(γ_q), or of q_proj.
  MatrixXd latent_query(Index r0, Index n) const {
    if (s_.q_lora_rank == 0) return rows(l_.q_proj, r0, n);
    return rows(l_.q_a_proj, 0, s_.q_lora_rank) * vec(l_.q_a_layernorm).asDiagonal() * rows(l_.q_b_proj, r0, n);
  }
  // Head c's map through its latent head g: W_dKV rows of g, diag(γ_g), its up-projection rows.
  MatrixXd latent_map(Index c, Index offset, Index width) const {
    const Index C = s_.kv_lora_rank, per = s_.heads / s_.kv_heads, g = c / per,
                up = s_.qk_nope_dim + s_.v_head_dim;
    VectorXd gamma;
    MatrixXd upr;
    if (l_.kv_b_projs.empty()) {
      gamma = vec(l_.kv_a_layernorm).segment(g * C, C);
      upr = rows(l_.kv_b_proj, c * up + offset, width);
    } else {
      gamma = vec(l_.kv_a_layernorms[static_cast<size_t>(g)]);
      upr = rows(l_.kv_b_projs[static_cast<size_t>(g)], (c - g * per) * up + offset, width);
    }
    return rows(l_.kv_a_proj_with_mqa, g * C, C) * gamma.asDiagonal() * upr;
  }
  const LayerLayout& l_;
  const AttentionShape& s_;
  std::map<std::string, MatrixF> m_;
  std::map<std::string, VectorXd> v_;
};

LayerDiff diff_layer(const TensorSource& a, const LayerLayout& la, const TensorSource& b,
                     const LayerLayout& lb, double energy, int threads) {
  LayerDiff out;
  out.layer = la.layer;
  out.parallel = la.parallel;
  out.variant = std::string(variant_name(la.shape.variant));
  if (la.kind == LayoutKind::kNone) {
    out.audited = false;
    return out;
  }
  if (la.kind == LayoutKind::kLinear) {
    out.audited = false;
    out.mixer = std::string(recurrent_name(la.shape.recurrent));
    if (la.q_proj.empty()) return out;  // a mixer without factors (short conv)
    const LayerFactors ta(a, la), tb(b, lb);
    const Index heads = la.recurrent_heads;
    out.recurrent_q.resize(static_cast<size_t>(heads));
    out.recurrent_k.resize(static_cast<size_t>(heads));
    parallel_for(heads, threads, [&](int64_t i) {
      out.recurrent_q[static_cast<size_t>(i)] = diff_factor(ta.recurrent(i, true), tb.recurrent(i, true), energy);
      out.recurrent_k[static_cast<size_t>(i)] = diff_factor(ta.recurrent(i, false), tb.recurrent(i, false), energy);
    });
    return out;
  }
  const AttentionShape& s = la.shape;
  const Index n = s.heads, per_group = s.heads / s.kv_heads;
  const LayerFactors ta(a, la), tb(b, lb);  // the two layers held at once; freed on return
  out.heads.resize(static_cast<size_t>(n));
  parallel_for(n, threads, [&](int64_t c) {
    HeadDiff& hd = out.heads[static_cast<size_t>(c)];
    hd.head = c;
    hd.kv_head = c / per_group;
    hd.qk = diff_circuit(ta.query(c), ta.key(c), tb.query(c), tb.key(c), energy);
    hd.vo = diff_circuit(ta.value(c), ta.output(c), tb.value(c), tb.output(c), energy);
    if (ta.has_rope())
      hd.qk_rope = diff_circuit(ta.query_rope(c), ta.key_rope(), tb.query_rope(c), tb.key_rope(), energy);
  });
  out.compressor.resize(static_cast<size_t>(ta.compressor_halves()));
  for (Index h = 0; h < ta.compressor_halves(); ++h)
    out.compressor[static_cast<size_t>(h)] = diff_factor(ta.compressor(h), tb.compressor(h), energy);
  out.output_groups.resize(static_cast<size_t>(ta.output_groups()));
  parallel_for(ta.output_groups(), threads, [&](int64_t g) {
    out.output_groups[static_cast<size_t>(g)] =
        diff_circuit(ta.group_out(g), ta.group_in(g), tb.group_out(g), tb.group_in(g), energy);
  });
  return out;
}

}  // namespace

std::string LayerDiff::kind_label() const {
  const std::string v = mixer.empty() ? variant : variant + ": " + mixer;
  return parallel ? v + " (parallel)" : v;
}

double CircuitDiff::distance() const { return std::sin(max_angle_deg() / kDegrees); }

double HeadDiff::max_angle_deg() const {
  if (!finite()) return 0.0;
  return std::max({qk.max_angle_deg(), vo.max_angle_deg(), qk_rope ? qk_rope->max_angle_deg() : 0.0});
}

LayerDiffSummary summarize_layer(const LayerDiff& l) {
  LayerDiffSummary s;
  s.heads = static_cast<int64_t>(l.heads.size());
  // One finite circuit into the maxima and counts.
  auto add = [&s](const CircuitDiff& c) {
    s.max_angle_deg = std::max(s.max_angle_deg, c.max_angle_deg());
    if (c.a.sigma_1 > 0)
      s.max_rel_sigma_1_change = std::max(s.max_rel_sigma_1_change, std::abs(c.b.sigma_1 - c.a.sigma_1) / c.a.sigma_1);
    s.max_change_rel = std::max(s.max_change_rel, c.change_rel);
    s.max_abs_entropy_change = std::max(s.max_abs_entropy_change, std::abs(c.b.entropy_rank - c.a.entropy_rank));
    if (c.a.energy_rank != c.b.energy_rank) ++s.energy_rank_changes;
  };
  double qk_sum = 0.0, vo_sum = 0.0;
  for (const HeadDiff& h : l.heads) {
    if (!h.finite()) {
      ++s.nonfinite_heads;
      continue;
    }
    qk_sum += h.qk.max_angle_deg();
    vo_sum += h.vo.max_angle_deg();
    add(h.qk);
    add(h.vo);
    if (h.qk_rope) add(*h.qk_rope);
  }
  for (const auto* list : {&l.output_groups, &l.recurrent_q, &l.recurrent_k, &l.compressor}) {
    for (const CircuitDiff& c : *list) {
      ++s.factors;
      if (c.finite) add(c);
      else ++s.nonfinite_factors;
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
    if (x.kind != y.kind || x.parallel != y.parallel || x.layer != y.layer) {
      auto what = [](const LayerLayout& l) {
        return fmt::format("{}{}", layout_kind_name(l.kind), l.parallel ? " (parallel)" : "");
      };
      throw InputError(fmt::format(
          "audit diff: {} and {} are not one architecture: layer {} is {} in the first and {} in "
          "the second", an, bn, x.layer, what(x), what(y)));
    }
    const auto fx = circuit_fields(x), fy = circuit_fields(y);
    for (size_t f = 0; f < fx.size(); ++f) {
      if (fx[f].second != fy[f].second) {
        throw InputError(fmt::format(
            "audit diff: {} and {} are not one architecture: layer {} has {} {} in the first and {} "
            "in the second", an, bn, x.layer, fx[f].first, fx[f].second, fy[f].second));
      }
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
  r.model_layers = la.decoder_layers();
  r.energy = opt.energy;
  const std::vector<size_t> todo = la.entries_of(opt.layers, "layers");
  const int threads = resolve_threads(opt.threads);
  blas::available();  // loads OpenBLAS before any worker starts (as the audit does)
  int64_t done = 0;
  for (const size_t l : todo) {
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
