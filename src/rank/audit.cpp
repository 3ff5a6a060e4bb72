#include "gmha/rank/audit.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <cstring>

#include <Eigen/Core>
#include <fmt/format.h>

#include "gmha/core/blas.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parse.hpp"
#include "gmha/core/parallel.hpp"
#include "gmha/rank/spectrum.hpp"
#include "gmha/bridge/synth.hpp"

namespace gmha {
namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

// Runs every task on `threads` workers; the first exception is rethrown after all have stopped.
void run_tasks(std::vector<std::function<void()>>& tasks, int threads) {
  parallel_for(static_cast<int64_t>(tasks.size()), std::max(threads, 1),
               [&](int64_t i) { tasks[static_cast<size_t>(i)](); });
}

// Whether every value is finite, from the exponent bits alone: a branch-free loop the compiler
// vectorises (Eigen's allFinite walks a row-major matrix column by column, scalar, and cost a
// fifth of the audit's time).
bool all_finite(const float* v, Index n) {
  uint32_t bad = 0;
  for (Index i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, v + i, sizeof bits);
    bad |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}
bool all_finite(const double* v, Index n) {
  uint64_t bad = 0;
  for (Index i = 0; i < n; ++i) {
    uint64_t bits;
    std::memcpy(&bits, v + i, sizeof bits);
    bad |= static_cast<uint64_t>((bits & 0x7ff0000000000000ull) == 0x7ff0000000000000ull);
  }
  return bad == 0;
}

// Conversion buffers reused from layer to layer. A fresh allocation per layer came from mmap
// (tens of MB, above malloc's threshold), and faulting in and zeroing its pages took a sixth of
// the audit's time. Layers load their tensors in the same order, so slot i serves the same
// tensor of every layer and is allocated once (it grows only if a later layer's tensor is larger).
class TensorArena {
 public:
  void next_layer() { next_f_ = next_d_ = 0; }
  float* floats(size_t n) { return take(f_, next_f_, n); }
  double* doubles(size_t n) { return take(d_, next_d_, n); }

 private:
  template <typename T>
  static T* take(std::vector<std::vector<T>>& slots, size_t& next, size_t n) {
    if (next == slots.size()) slots.emplace_back();
    std::vector<T>& v = slots[next++];
    if (v.size() < n) v.resize(n);
    return v.data();
  }
  std::vector<std::vector<float>> f_;
  std::vector<std::vector<double>> d_;
  size_t next_f_ = 0, next_d_ = 0;
};

// One tensor of a layer, converted once into arena storage: float for every storage type (exact:
// bf16, f16, fp8 and f32 are floats), double for F64 so nothing is rounded.
class LayerTensor {
 public:
  using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using RowMajorD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  LayerTensor() = default;
  /// With `group_width` > 0 (o_proj: the head's value width) a float tensor is stored in column
  /// groups, group-major: [cols / width][rows][width]. A group is then one contiguous block (Xᵀ,
  /// column-major) and columns_transposed of a group is a sequential copy; read in the row-major
  /// layout it was a gather of `rows` short segments a row apart (16 KiB at Llama-3-8B's o_proj),
  /// repeated for every head, and cost more than the head's Gram matrix. Rows are regrouped as
  /// they are converted, so the layout costs no second copy of the tensor.
  LayerTensor(const TensorSource& src, const std::string& name, int threads, TensorArena& arena,
              Index group_width = 0)
      : name_(name) {
    const TensorInfo& info = src.info(name);
    rows_ = info.rows();
    cols_ = info.cols();
    is_double_ = info.dtype == "F64";
    const size_t n = static_cast<size_t>(rows_ * cols_);
    if (is_double_) {
      double* buf = arena.doubles(n);
      read_parallel<double>(src, {buf, n}, threads);
      d_ = buf;
      finite_ = all_finite(d_, rows_ * cols_);
    } else {
      float* buf = arena.floats(n);
      if (group_width > 0 && cols_ % group_width == 0 && cols_ > group_width) group_width_ = group_width;
      read_parallel<float>(src, {buf, n}, threads);
      f_ = buf;
      finite_ = all_finite(f_, rows_ * cols_);
    }
  }
  const std::string& name() const { return name_; }
  bool finite() const { return finite_; }
  Index rows() const { return rows_; }
  Index cols() const { return cols_; }
  /// Rows [r0, r0+n) transposed: the cols×n factor whose columns are those rows.
  MatrixXd rows_transposed(Index r0, Index n) const {
    MatrixXd out;
    rows_transposed(r0, n, out);
    return out;
  }
  /// The same into `out` (resized; its storage is reused when the size is unchanged).
  void rows_transposed(Index r0, Index n, MatrixXd& out) const {
    if (is_double_) {
      out = Eigen::Map<const RowMajorD>(d_, rows_, cols_).middleRows(r0, n).transpose();
    } else {
      out = Eigen::Map<const RowMajorF>(f_, rows_, cols_).middleRows(r0, n).transpose().cast<double>();
    }
  }
  /// Columns [c0, c0+n) transposed into `out`: the n×rows matrix Xᵀ of the rows×n factor X,
  /// copied in contiguous row segments (a column gather of the row-major weight would be a slow
  /// transpose; a grouped tensor, see the constructor, gives each group contiguously).
  void columns_transposed(Index c0, Index n, MatrixXd& out) const {
    using Strided = Eigen::OuterStride<>;
    if (group_width_ > 0) {
      if (n != group_width_ || c0 % n != 0) {
        throw InternalError(fmt::format("audit: columns [{}, {}) of '{}' cross its groups of {}", c0, c0 + n,
                                        name_, group_width_));
      }
      out = Eigen::Map<const Eigen::MatrixXf>(f_ + (c0 / n) * rows_ * n, n, rows_).cast<double>();
    } else if (is_double_) {
      out = Eigen::Map<const MatrixXd, 0, Strided>(d_ + c0, n, rows_, Strided(cols_));
    } else {
      out = Eigen::Map<const Eigen::MatrixXf, 0, Strided>(f_ + c0, n, rows_, Strided(cols_)).cast<double>();
    }
  }
  /// A vector tensor as doubles.
  VectorXd vector() const {
    if (is_double_) return Eigen::Map<const VectorXd>(d_, rows_ * cols_);
    return Eigen::Map<const Eigen::VectorXf>(f_, rows_ * cols_).cast<double>();
  }

 private:
  template <typename T>
  void read_parallel(const TensorSource& src, std::span<T> out, int threads) {
    // Row blocks converted concurrently (decoding bf16 is a large share of the time).
    const int parts = static_cast<int>(std::clamp<Index>(rows_ / 64, 1, threads));
    std::vector<std::function<void()>> tasks;
    for (int p = 0; p < parts; ++p) {
      tasks.push_back([&, p] {
        const Index b = rows_ * p / parts, e = rows_ * (p + 1) / parts;
        if (group_width_ == 0) {
          src.read_rows(name_, b, e,
                        out.subspan(static_cast<size_t>(b * cols_), static_cast<size_t>((e - b) * cols_)));
        } else {
          read_rows_grouped(src, b, e, out);
        }
      });
    }
    run_tasks(tasks, threads);
  }
  // Rows [b, e) converted a few at a time into a small buffer, then scattered to their groups.
  template <typename T>
  void read_rows_grouped(const TensorSource& src, Index b, Index e, std::span<T> out) {
    constexpr Index kRows = 16;
    const Index w = group_width_, groups = cols_ / w;
    std::vector<T> chunk(static_cast<size_t>(kRows * cols_));
    for (Index r0 = b; r0 < e; r0 += kRows) {
      const Index r1 = std::min(e, r0 + kRows);
      src.read_rows(name_, r0, r1, std::span<T>(chunk.data(), static_cast<size_t>((r1 - r0) * cols_)));
      for (Index r = r0; r < r1; ++r)
        for (Index g = 0; g < groups; ++g)
          std::memcpy(out.data() + (g * rows_ + r) * w, chunk.data() + (r - r0) * cols_ + g * w,
                      static_cast<size_t>(w) * sizeof(T));
    }
  }
  std::string name_;
  Index rows_ = 0, cols_ = 0;
  Index group_width_ = 0;  // > 0: float storage in column groups of this width (see constructor)
  bool is_double_ = false, finite_ = true;
  const float* f_ = nullptr;   // arena storage, valid for the layer being audited
  const double* d_ = nullptr;
};

// The R of a factor, or empty when the factor held a non-finite value, with what its rounding
// noise is estimated from (docs/audit.md, "Rank tolerance"): the noise of a factor X whose
// entries carry independent errors of rms η·|x_ij| has spectral norm about η·spread, spread =
// (largest row norm + largest column norm) × the number of stored tensors chained into X.
struct Factor {
  MatrixXd r;
  bool finite = true;
  double sigma_1 = 0.0;    // σ₁(X) = σ₁(R)
  double sigma_min = 0.0;  // σ_r(X): 0 when X has fewer rows than columns or R a zero pivot
  double spread = 0.0;
};

// σ₁ of a small square R by power iteration on RᵀR. It converges from below; the noise estimate
// it feeds has a safety factor of 2 and a conservative η, so a few % low is harmless.
double largest_singular_value(const MatrixXd& r) {
  if (r.size() == 0) return 0.0;
  Index start = 0;
  const double col = r.colwise().norm().maxCoeff(&start);
  if (col == 0.0) return 0.0;
  VectorXd v = VectorXd::Unit(r.cols(), start) + VectorXd::Constant(r.cols(), 1e-3);
  double sigma = col;  // σ₁ ≥ the largest column norm
  for (int it = 0; it < 60; ++it) {
    const VectorXd rv = r * v;
    const VectorXd w = r.transpose() * rv;
    const double wn = w.norm();
    if (wn == 0.0) break;
    const double next = std::sqrt(wn / v.norm());
    v = w / wn;
    const bool settled = std::abs(next - sigma) <= 1e-6 * next;
    sigma = std::max(sigma, next);
    if (settled) break;
  }
  return sigma;
}

// σ_min of an upper-triangular R (r×r) by inverse iteration on RᵀR, two triangular solves per
// step. It converges from above; a factor whose small singular values are rounding noise has
// them clustered far below the rest, where it converges in a few steps (docs/audit.md).
double smallest_singular_value(const MatrixXd& r) {
  if (r.rows() < r.cols() || r.cols() == 0) return 0.0;
  const auto upper = r.topRows(r.cols()).triangularView<Eigen::Upper>();
  for (Index i = 0; i < r.cols(); ++i)
    if (r(i, i) == 0.0) return 0.0;
  VectorXd v = VectorXd::Constant(r.cols(), 1.0 / std::sqrt(static_cast<double>(r.cols())));
  double sigma = std::numeric_limits<double>::infinity();
  for (int it = 0; it < 40; ++it) {
    VectorXd z = upper.transpose().solve(v);
    z = upper.solve(z);
    const double zn = z.norm();
    if (!std::isfinite(zn)) return 0.0;  // (RᵀR)⁻¹ overflows: numerically singular
    if (zn == 0.0) break;
    const double next = 1.0 / std::sqrt(zn);  // ‖v‖ = 1: σ_min² ≤ 1/‖(RᵀR)⁻¹v‖
    v = z / zn;
    const bool settled = std::abs(next - sigma) <= 1e-4 * next;
    sigma = std::min(sigma, next);
    if (settled) break;
  }
  return std::isfinite(sigma) ? sigma : 0.0;
}

// Largest row norm + largest column norm of x (rows × cols).
double spread_of(const Eigen::Ref<const MatrixXd>& x) {
  if (x.size() == 0) return 0.0;
  return x.rowwise().norm().maxCoeff() + x.colwise().norm().maxCoeff();
}

Factor finish(MatrixXd r, double spread, int tensors) {
  Factor f{std::move(r), true, 0.0, 0.0, spread * tensors};
  f.sigma_1 = largest_singular_value(f.r);
  f.sigma_min = smallest_singular_value(f.r);
  return f;
}

// `tensors`: how many stored tensors are multiplied into x (1, or 2 for a chain such as MLA's
// q_a·diag(γ)·q_b block); their noises add to first order.
Factor reduce(const MatrixXd& x, int threads = 1, int tensors = 1) {
  if (!all_finite(x.data(), x.size())) return {MatrixXd(), false};
  return finish(triangular_factor(x, threads), spread_of(x), tensors);
}

// The same for a factor given as its transpose (see columns_transposed).
Factor reduce_transposed(const MatrixXd& xt) {
  if (!all_finite(xt.data(), xt.size())) return {MatrixXd(), false};
  return finish(triangular_factor_of_transpose(xt), spread_of(xt), 1);
}

// How numerical ranks are cut: a fixed τ (--rank-tol), or per matrix c × its rounding noise
// over its σ₁ (the default; docs/audit.md, "Rank tolerance").
struct Tolerance {
  double fixed = 0.0;  // > 0: --rank-tol
  double eta = 0.0;    // the storage dtype's rounding_noise
  double relative(double noise, double sigma_1) const {
    if (fixed > 0.0) return fixed;
    if (!(sigma_1 > 0.0)) return kSpectrumFloor;
    return std::max(kSpectrumFloor, kNoiseFactor * noise / sigma_1);
  }
  // The noise of a factor that can raise spurious singular values: none when every σ of the
  // factor stands clear of its own noise (a full-rank factor only moves the circuit's σ, it
  // cannot add one), else its whole estimated noise η·spread.
  double null_noise(const Factor& f) const {
    const double noise = eta * f.spread;
    return f.sigma_min > kNoiseFactor * noise ? 0.0 : noise;
  }
  // The QK/VO circuit A·Bᵀ: to first order its error is E_A·Bᵀ + A·E_Bᵀ, and spurious σ come
  // only from the part of E_A (E_B) outside A's (B's) column space, which is empty when A (B)
  // has full column rank (rank A·Bᵀ = rank B then).
  double circuit(const Factor& a, const Factor& b, double sigma_1) const {
    return relative(null_noise(a) * b.sigma_1 + a.sigma_1 * null_noise(b), sigma_1);
  }
};

CircuitAudit circuit(const Factor& a, const Factor& b, int64_t nominal, const Tolerance& tol,
                     double energy) {
  CircuitAudit c;
  c.nominal_rank = nominal;
  if (!a.finite || !b.finite) {
    c.finite = false;
    return c;
  }
  c.sigma = product_singular_values(a.r, b.r);
  c.sigma.resize(static_cast<size_t>(nominal), 0.0);  // exactly as many σ as the bound
  for (double& s : c.sigma) s = std::max(s, 0.0);
  c.rank_tol = tol.circuit(a, b, c.sigma.empty() ? 0.0 : c.sigma[0]);
  c.metrics = rank_metrics(c.sigma, c.rank_tol, energy);
  return c;
}

// m·diag(γ) in place; an empty γ (no per-head norm) leaves m as it is, without a pass over it.
MatrixXd& scale_columns(MatrixXd& m, const VectorXd& gamma) {
  if (gamma.size() > 0) m *= gamma.asDiagonal();
  return m;
}

// A factor-sized scratch matrix per worker thread, reused across heads and layers: a fresh d×h
// double matrix per head (4 MiB at Llama-3-8B's shape) came from mmap, and faulting in its pages
// cost more than the copy into it.
MatrixXd& thread_scratch() {
  thread_local MatrixXd m;
  return m;
}

// The factor of head/group rows [r0, r0 + n) of `t`, columns scaled by γ (see scale_columns).
// A tensor found finite when it was loaded needs no second scan of each head's double copy:
// float values times a finite float-derived γ cannot overflow a double. Only a tensor with a
// non-finite value is scanned per head, to flag exactly the heads it reaches.
Factor reduce_rows(const LayerTensor& t, Index r0, Index n, const VectorXd& gamma = VectorXd()) {
  MatrixXd& x = thread_scratch();
  t.rows_transposed(r0, n, x);
  scale_columns(x, gamma);
  if (t.finite() && gamma.allFinite()) return finish(triangular_factor(x), spread_of(x), 1);
  return reduce(x);
}

// The factor whose transpose is columns [c0, c0 + n) of `t` (an o_proj head).
Factor reduce_columns(const LayerTensor& t, Index c0, Index n) {
  MatrixXd& xt = thread_scratch();
  t.columns_transposed(c0, n, xt);
  if (t.finite()) return finish(triangular_factor_of_transpose(xt), spread_of(xt), 1);
  return reduce_transposed(xt);
}

// Per-layer work shared by all layouts: tasks fill these, then circuits are formed.
struct LayerWork {
  std::vector<Factor> q, k, v, o, q_rope;
  Factor k_rope;
  std::vector<double> key_sigma;
  double key_noise = 0.0;  // η × spread of the stacked keys (see Factor)
  bool key_finite = true;
  // SLSD_head: per KV group / latent head, the spectrum of the keys its heads reach and its noise
  // (empty: one group, the layer's keys above).
  std::vector<std::vector<double>> group_key_sigma;
  std::vector<double> group_key_noise;
  std::vector<Factor> index_q;  // DSA indexer heads' query factors
  Factor index_k;               // the indexer's centred key factor
  std::vector<Factor> o_group;  // DeepSeek-V4: each output group's map wo_b_g·wo_a_g
};

std::string coarsest_dtype(const TensorSource& src, const std::vector<std::string>& names) {
  // Coarsest = largest rounding noise η.
  std::string worst;
  double worst_eta = -1.0;
  for (const auto& n : names) {
    if (n.empty()) continue;
    const std::string& dt = src.info(n).dtype;
    const auto eta = rounding_noise(dt);
    if (!eta) {
      throw InputError(fmt::format("{}: tensor '{}' is stored as {}, which has no rounding-noise "
                                   "model for the default rank tolerance; pass --rank-tol",
                                   src.where(), n, dt));
    }
    if (*eta > worst_eta) worst_eta = *eta, worst = dt;
  }
  return worst;
}

std::vector<std::string> factor_names(const LayerLayout& l) {
  std::vector<std::string> names = {l.q_proj, l.k_proj, l.v_proj, l.o_proj, l.wo_a, l.q_a_proj, l.q_b_proj,
                                    l.kv_a_proj_with_mqa, l.kv_b_proj, l.wq, l.kr_n,
                                    l.kv_proj, l.k_rope_proj, l.indexer_wq_b, l.indexer_wk};
  names.insert(names.end(), l.kv_b_projs.begin(), l.kv_b_projs.end());
  return names;
}

// The sentences of LayerAudit::notes: what a layer computes that its circuits do not show.
std::vector<std::string> layer_notes(const LayerLayout& l) {
  std::vector<std::string> notes;
  const AttentionShape& s = l.shape;
  if (l.parallel)
    notes.push_back("a parallel mixer: it reads the same normed input as the layer's attention and "
                    "its output is added to the attention's (Falcon-H1)");
  if (s.gate == OutputGate::kElementwise)
    notes.push_back("output-gated heads (element-wise, gate rows in q_proj): VO rank bounds the "
                    "linear map, not the gated one");
  if (s.gate == OutputGate::kHeadwise)
    notes.push_back("output-gated heads (head-wise, g_proj): VO rank bounds the linear map, not "
                    "the gated one");
  if (!l.sinks.empty() || s.sinks)
    notes.push_back("attention sinks: one learned logit per head, no circuit of its own");
  if (!l.wo_a.empty()) {
    notes.push_back("DeepSeek-V4: one K = V latent (wkv, kv_norm); QK is its first d_h - d_R dims, "
                    "qk_rope its last d_R (rotated), VO the whole latent with the rotated dims at "
                    "relative distance 0 (the output is de-rotated)");
    notes.push_back("grouped output LoRA: head i's output map is wo_b's group columns times its wo_a "
                    "block; output_groups is each group's whole map (rank <= o_lora_rank)");
    if (l.compressor_halves == 2) notes.push_back("the V4 indexer of this CSA layer is not audited");
  } else if (l.kind == LayoutKind::kGqa && l.v_proj.empty()) {
    notes.push_back("K = V tied: the VO circuit reads the key projection (no v_proj)");
  }
  if (l.kind == LayoutKind::kGta)
    notes.push_back("GTA: QK is the tied state's first d_h - d_R dims, VO the whole state; the "
                    "RoPE circuit is qk_rope");
  if (!l.indexer_wq_b.empty())
    notes.push_back("DSA indexer: scoring circuits audited apart (not in TER); its per-head "
                    "weights_proj and ReLU are not part of them");
  notes.insert(notes.end(), l.notes.begin(), l.notes.end());
  return notes;
}

// The singular values of an r×r triangular factor (a group's key block).
std::vector<double> factor_sigma(const Factor& f) {
  if (!f.finite || f.r.size() == 0) return {};
  return singular_values(f.r);
}

// The spectrum of one factor: rows [row0, row0 + width) of `t` through γ on those rows (empty:
// none), nominal `width`. A circuit against the identity, which adds no noise: σ(R·I) = σ(R).
CircuitAudit factor_audit(const LayerTensor& t, int64_t row0, int64_t width, const VectorXd& gamma,
                          const Tolerance& tol, double energy) {
  const Factor identity{MatrixXd::Identity(width, width), true, 1.0, 1.0, 0.0};
  return circuit(reduce_rows(t, row0, width, gamma), identity, width, tol, energy);
}

// A recurrent layer's query and key factors (KDA: q_proj, k_proj [H·d_k, d]): per head the
// spectrum of W_Q,iᵀ and W_K,iᵀ (d × d_k) alone, nominal d_k. They are not softmax circuits: the
// state is written by rank-1 updates k·vᵀ and read by q, through a short convolution, L2 norms
// and decays, so every lag's query-key form W_Q,iᵀ·D·W_K,i has rank ≤ min(rank W_Q,i, rank W_K,i).
void audit_recurrent_factors(const TensorSource& src, const LayerLayout& lay, const Tolerance& tol,
                             double energy, int threads, TensorArena& arena, LayerAudit& out) {
  const int64_t heads = lay.recurrent_heads, dk = lay.recurrent_dk;
  // A fused projection (Gated DeltaNet) is read once and serves both factors.
  const LayerTensor q(src, lay.q_proj, threads, arena);
  const std::optional<LayerTensor> k_own =
      lay.k_proj == lay.q_proj ? std::nullopt : std::optional<LayerTensor>(std::in_place, src, lay.k_proj, threads, arena);
  const LayerTensor& k = k_own ? *k_own : q;
  if (!q.finite()) out.nonfinite_tensors.push_back(q.name());
  if (k_own && !k_own->finite()) out.nonfinite_tensors.push_back(k_own->name());
  // Norm weights on the factors' rows (Mamba-1's c_layernorm / b_layernorm): diag(γ)·W.
  auto gamma = [&](const std::string& name) -> VectorXd {
    if (name.empty()) return VectorXd();
    return LayerTensor(src, name, threads, arena).vector();
  };
  const VectorXd gq = gamma(lay.q_norm), gk = gamma(lay.k_norm);
  out.recurrent_q.resize(static_cast<size_t>(heads));
  out.recurrent_k.resize(static_cast<size_t>(heads));
  parallel_for(heads, threads, [&](int64_t i) {
    const int64_t row = i * lay.row_stride;
    out.recurrent_q[static_cast<size_t>(i)] = factor_audit(q, lay.q_row0 + row, dk, gq, tol, energy);
    out.recurrent_k[static_cast<size_t>(i)] = factor_audit(k, lay.k_row0 + row, dk, gk, tol, energy);
  });
  if (lay.shape.recurrent == RecurrentKind::kMamba) {
    out.notes.push_back(fmt::format("Mamba-1 layer: query C and key B factors of x_proj (rank <= d_state = {}; "
                                    "in the inner space, after the conv and SiLU; with b/c_layernorm's weights), "
                                    "not softmax circuits; not in TER", dk));
  } else if (lay.shape.recurrent == RecurrentKind::kMamba2) {
    out.notes.push_back(fmt::format("Mamba2 layer: per-group query C and key B factors (rank <= d_state = {}; "
                                    "before the conv and SiLU), not softmax circuits; not in TER", dk));
  } else if (lay.shape.recurrent == RecurrentKind::kLightning) {
    out.notes.push_back(fmt::format("lightning layer: per-head query and key factors of qkv_proj (rank <= d_k = {}; "
                                    "before the SiLU), not softmax circuits; not in TER; the value, the norm and "
                                    "the sigmoid output gate are outside them", dk));
  } else {
    out.notes.push_back(fmt::format("{} recurrent layer: per-head query and key factors (rank <= d_k = {}), "
                                    "not softmax circuits; not in TER",
                                    recurrent_name(lay.shape.recurrent), dk));
  }
}

// DeepSeek-V4's compressor (bridge/layout.hpp): half h of wkv through the norm's γ. The entry of
// a block is RMSNorm(Σ_j softmax-gate_j ⊙ (wkv_h·x_j)), so every compressed key and value lies in
// the row space of diag(γ)·wkv_h (the RMS is one scalar per entry; the gates act per channel).
void audit_compressor_factors(const TensorSource& src, const LayerLayout& lay, const Tolerance& tol,
                              double energy, int threads, TensorArena& arena, LayerAudit& out) {
  const int64_t c = lay.shape.head_dim;
  const LayerTensor wkv(src, lay.compressor_wkv, threads, arena);
  if (!wkv.finite()) out.nonfinite_tensors.push_back(wkv.name());
  const VectorXd gamma = LayerTensor(src, lay.compressor_norm, threads, arena).vector();
  out.compressor.resize(static_cast<size_t>(lay.compressor_halves));
  parallel_for(lay.compressor_halves, threads, [&](int64_t h) {
    out.compressor[static_cast<size_t>(h)] = factor_audit(wkv, h * c, c, gamma, tol, energy);
  });
  out.notes.push_back(fmt::format(
      "DeepSeek-V4 compressor: the factor diag(norm)·wkv{} of every compressed entry's key and value "
      "(rank <= c = {}; its softmax gates act per channel and per token, so a factor, not a circuit); "
      "not in TER", lay.compressor_halves == 2 ? " (two overlapping halves)" : "", c));
}

// One factor's own spectrum, nominal `nominal` (a circuit against the identity, which adds no
// noise): DeepSeek-V4's output groups.
CircuitAudit spectrum(const Factor& f, int64_t nominal, const Tolerance& tol, double energy) {
  CircuitAudit c;
  c.nominal_rank = nominal;
  if (!f.finite) {
    c.finite = false;
    return c;
  }
  c.sigma = factor_sigma(f);
  c.sigma.resize(static_cast<size_t>(nominal), 0.0);
  c.rank_tol = tol.relative(tol.null_noise(f), c.sigma.empty() ? 0.0 : c.sigma[0]);
  c.metrics = rank_metrics(c.sigma, c.rank_tol, energy);
  return c;
}

// DeepSeek-V4's factors (docs/audit.md): head i's query W_Q,i = wq_b_i·diag(γ_q)·wq_a; the one
// latent L = diag(γ_kv)·wkv [c, d], whose first c − d_R rows are every head's key, its last d_R
// the RoPE key and all c the value; head i (j-th of group g)'s output wo_b_g·A_ij, A_ij the
// block of wo_a at group g's o_lora rows and head j's columns. In the basis of each reduced
// first factor (wq_a's, wo_b_g's) the products are small: R_a·diag(γ)·(wq_b rows)ᵀ, R_g·A_ij.
void audit_v4_factors(const LayerTensor& wq_a, const VectorXd& gq, const LayerTensor& wq_b,
                      const LayerTensor& wkv, const VectorXd& gkv, const LayerTensor& wo_a,
                      const LayerTensor& wo_b, const AttentionShape& s, const Tolerance& tol, int threads,
                      LayerWork& w) {
  const int64_t n = s.heads, c = s.head_dim, rope = s.rotary_dim, nope = c - rope, ql = s.q_lora_rank;
  const int64_t groups = s.o_groups, R = s.o_lora_rank, per = n / groups;
  const Factor qa = reduce(wq_a.rows_transposed(0, ql), threads);
  w.k = {reduce_rows(wkv, 0, nope, VectorXd(gkv.head(nope)))};
  w.v = {reduce_rows(wkv, 0, c, gkv)};
  if (rope > 0) w.k_rope = reduce_rows(wkv, nope, rope, VectorXd(gkv.tail(rope)));
  w.key_finite = w.k[0].finite;
  if (w.key_finite) {  // measured SLSD: the one key's own spectrum
    w.key_sigma = factor_sigma(w.k[0]);
    w.key_noise = tol.eta * w.k[0].spread;
  }
  w.q.resize(static_cast<size_t>(n)), w.q_rope.resize(static_cast<size_t>(n));
  parallel_for(n, threads, [&](int64_t i) {
    auto query = [&](int64_t offset, int64_t width) -> Factor {
      if (!qa.finite) return {MatrixXd(), false};
      return reduce(qa.r * gq.asDiagonal() * wq_b.rows_transposed(i * c + offset, width), 1, 2);
    };
    w.q[static_cast<size_t>(i)] = query(0, nope);
    if (rope > 0) w.q_rope[static_cast<size_t>(i)] = query(nope, rope);
  });
  w.o.resize(static_cast<size_t>(n)), w.o_group.resize(static_cast<size_t>(groups));
  parallel_for(groups, threads, [&](int64_t g) {
    MatrixXd xt;  // wo_b's group columns, transposed (R × d)
    wo_b.columns_transposed(g * R, R, xt);
    const Factor ob = reduce_transposed(xt);
    const MatrixXd a = wo_a.rows_transposed(g * R, R);  // (per·c) × R: the group's wo_a rows
    for (int64_t j = 0; j < per; ++j) {
      w.o[static_cast<size_t>(g * per + j)] =
          ob.finite ? reduce(ob.r * a.middleRows(j * c, c).transpose(), 1, 2) : Factor{MatrixXd(), false};
    }
    w.o_group[static_cast<size_t>(g)] = ob.finite ? reduce(ob.r * a.transpose(), 1, 2) : Factor{MatrixXd(), false};
  });
}

LayerAudit audit_layer(const TensorSource& src, const LayerLayout& lay, const Tolerance& tol,
                       double energy, int threads, TensorArena& arena) {
  arena.next_layer();
  LayerAudit out;
  out.layer = lay.layer;
  out.parallel = lay.parallel;
  if (lay.kind == LayoutKind::kLinear) out.mixer = std::string(recurrent_name(lay.shape.recurrent));
  out.layout = std::string(layout_kind_name(lay.kind));
  out.variant = std::string(variant_name(lay.shape.variant));
  out.nominal = capacity_ranks(lay.shape);
  if (lay.kind == LayoutKind::kNone) {
    out.audited = false;
    out.notes.push_back("no token mixer (an MLP or MoE block): nothing to audit");
    return out;
  }
  out.notes = layer_notes(lay);
  if (lay.kind == LayoutKind::kLinear) {
    out.audited = false;
    if (!lay.q_proj.empty()) audit_recurrent_factors(src, lay, tol, energy, threads, arena, out);
    return out;
  }
  const AttentionShape& s = lay.shape;
  const int64_t n = s.heads;
  // Load the layer's tensors (the reader drops their file pages as it converts).
  std::map<std::string, LayerTensor> t;
  // o_proj is read one head's columns at a time: stored head-major (see LayerTensor).
  const bool latent = lay.kind == LayoutKind::kMla || lay.kind == LayoutKind::kGla;
  // DeepSeek-V4's o_proj is wo_b: read in groups of o_lora_rank columns.
  const bool v4 = !lay.wo_a.empty();
  const int64_t vo_width = v4 ? s.o_lora_rank
                           : latent || (lay.kind == LayoutKind::kGqa && s.v_head_dim > 0) ? s.v_head_dim
                                                                                         : s.head_dim;
  auto load = [&](const std::string& name) -> const LayerTensor* {
    if (name.empty()) return nullptr;
    auto [it, inserted] = t.try_emplace(name);
    if (inserted) {
      it->second = LayerTensor(src, name, threads, arena, name == lay.o_proj ? vo_width : 0);
      if (!it->second.finite()) out.nonfinite_tensors.push_back(name);
    }
    return &it->second;
  };
  for (const auto& name : factor_names(lay)) load(name);
  for (const auto& name : {lay.q_a_layernorm, lay.kv_a_layernorm, lay.inter_norm, lay.kr_alpha,
                           lay.q_norm, lay.k_norm, lay.indexer_k_norm})
    load(name);
  for (const auto& name : lay.kv_a_layernorms) load(name);
  auto vec = [&](const std::string& name, Index size) -> VectorXd {
    if (name.empty()) return VectorXd::Ones(size);
    return t.at(name).vector();
  };

  LayerWork w;
  std::vector<std::function<void()>> tasks;
  const CapacityRanks nominal = capacity_ranks(s);
  const int64_t qk_nom = nominal.frh, vo_nom = nominal.vo_rank;
  // A head's KV group (GQA, GTA) or latent head (GLA); MLA and MFA have one stream (kv_heads 1).
  auto group_of = [&](int64_t c) { return c / (n / s.kv_heads); };

  switch (lay.kind) {
    case LayoutKind::kGqa: {
      if (v4) {
        audit_v4_factors(t.at(lay.q_a_proj), vec(lay.q_a_layernorm, s.q_lora_rank), t.at(lay.q_b_proj),
                         t.at(lay.k_proj), vec(lay.k_norm, s.head_dim), t.at(lay.wo_a), t.at(lay.o_proj), s, tol,
                         threads, w);
        break;
      }
      const int64_t h = s.head_dim, g = s.kv_heads;
      const LayerTensor &q = t.at(lay.q_proj), &k = t.at(lay.k_proj), &o = t.at(lay.o_proj);
      // K = V tied (no v_proj): the value is the key projection, without k_norm's γ (Gemma 4
      // normalises the value with a scale-free RMSNorm).
      const LayerTensor& v = lay.v_proj.empty() ? k : t.at(lay.v_proj);
      const int64_t hv = vo_width;
      // Per-head q/k RMSNorm weights (Qwen3, Gemma): diag(γ) per head; one norm over all heads
      // (MiniMax-M2, OLMo 2): head c's segment of it. Empty when the model has none.
      // Gemma 2/3 scale by 1 + w (qk_norm_offset).
      auto norm_gamma = [&](const std::string& name) -> VectorXd {
        if (name.empty()) return VectorXd();
        return (vec(name, h).array() + lay.qk_norm_offset).matrix();
      };
      const VectorXd qn = norm_gamma(lay.q_norm), kn = norm_gamma(lay.k_norm);
      auto segment = [h](const VectorXd& gamma, int64_t i) -> VectorXd {
        if (gamma.size() <= h) return gamma;
        return gamma.segment(i * h, h);
      };
      // An element-wise gate interleaves each head's h query rows with its h gate rows.
      const int64_t q_stride = lay.q_proj_gated ? 2 * h : h;
      w.q.resize(n), w.o.resize(n), w.k.resize(g), w.v.resize(g);
      // Measured SLSD: the stacked key factors, k_projᵀ (d × g·h), largest task first.
      tasks.push_back([&] {
        thread_local MatrixXd kt;  // d × g·h, reused across layers (see thread_scratch)
        k.rows_transposed(0, g * h, kt);
        if (kn.size() > 0)
          for (int64_t j = 0; j < g; ++j) kt.middleCols(j * h, h) *= segment(kn, j).asDiagonal();
        if (!all_finite(kt.data(), kt.size())) return void(w.key_finite = false);
        w.key_sigma = tall_singular_values(kt);
        w.key_noise = tol.eta * spread_of(kt);
      });
      for (int64_t c = 0; c < n; ++c) {
        tasks.push_back([&, c] { w.q[c] = reduce_rows(q, c * q_stride, h, segment(qn, c)); });
        tasks.push_back([&, c] { w.o[c] = reduce_columns(o, c * hv, hv); });
      }
      for (int64_t j = 0; j < g; ++j) {
        tasks.push_back([&, j] { w.k[j] = reduce_rows(k, j * h, h, segment(kn, j)); });
        tasks.push_back([&, j] { w.v[j] = reduce_rows(v, j * hv, hv); });
      }
      run_tasks(tasks, threads);  // the tasks refer to this block's locals
      tasks.clear();
      break;
    }
    case LayoutKind::kGta: {
      // GTA (docs/designs.md): head c's key is its group's tied state's first d_h − d_R dims
      // (then the shared RoPE key), its value the whole state. QK: q rows [c·d_h, +d_h − d_R)
      // against kv_proj rows [j·d_h, +d_h − d_R); VO: kv_proj rows [j·d_h, +d_h) against o_proj.
      const int64_t h = s.head_dim, g = s.kv_heads, rope = s.qk_rope_dim, tied = h - rope;
      const LayerTensor &q = t.at(lay.q_proj), &kv = t.at(lay.kv_proj), &o = t.at(lay.o_proj);
      w.q.resize(n), w.o.resize(n), w.k.resize(g), w.v.resize(g), w.q_rope.resize(n);
      if (rope > 0) w.k_rope = reduce(t.at(lay.k_rope_proj).rows_transposed(0, rope), threads);
      tasks.push_back([&] {
        // Measured SLSD: the key parts of every group's state, stacked (d × g·(d_h − d_R)).
        MatrixXd kt(s.d_model, g * tied);
        for (int64_t j = 0; j < g; ++j) kt.middleCols(j * tied, tied) = kv.rows_transposed(j * h, tied);
        if (!all_finite(kt.data(), kt.size())) return void(w.key_finite = false);
        w.key_sigma = tall_singular_values(kt);
        w.key_noise = tol.eta * spread_of(kt);
      });
      for (int64_t c = 0; c < n; ++c) {
        tasks.push_back([&, c] {
          w.q[c] = reduce_rows(q, c * h, tied);
          if (rope > 0) w.q_rope[c] = reduce_rows(q, c * h + tied, rope);
        });
        tasks.push_back([&, c] { w.o[c] = reduce_columns(o, c * h, h); });
      }
      for (int64_t j = 0; j < g; ++j) {
        tasks.push_back([&, j] { w.k[j] = reduce_rows(kv, j * h, tied); });
        tasks.push_back([&, j] { w.v[j] = reduce_rows(kv, j * h, h); });
      }
      run_tasks(tasks, threads);
      tasks.clear();
      break;
    }
    case LayoutKind::kMla: case LayoutKind::kGla: {
      // MLA is GLA with one latent head (h_c = 1). The latent rows of kv_a_proj_with_mqa
      // (W_dKV) are reduced together, L = Q·R (d × h_c·d_c); latent head g's map is then
      // Q·R[:, g·d_c : (g+1)·d_c], so every key and value factor is an r×width block
      // R_g·diag(γ_g)·(up rows)ᵀ in the one basis Q.
      const int64_t C = s.kv_lora_rank, nope = s.qk_nope_dim, rope = s.qk_rope_dim,
                    hv = s.v_head_dim, qk = nope + rope, ql = s.q_lora_rank, hc = s.kv_heads,
                    per = n / hc, up = nope + hv;
      const LayerTensor &kva = t.at(lay.kv_a_proj_with_mqa), &o = t.at(lay.o_proj);
      // Latent head g's norm weights: kv_norm_{g+1} (GLA's reference names) or segment g of the
      // one kv_a_layernorm.
      std::vector<VectorXd> gkv(static_cast<size_t>(hc));
      for (int64_t gi = 0; gi < hc; ++gi) {
        gkv[static_cast<size_t>(gi)] =
            lay.kv_a_layernorms.empty() ? VectorXd(vec(lay.kv_a_layernorm, hc * C).segment(gi * C, C))
                                        : vec(lay.kv_a_layernorms[static_cast<size_t>(gi)], C);
      }
      // Head c's up-projection rows (key nope rows, then value rows) and their tensor.
      auto up_rows = [&](int64_t c, int64_t offset, int64_t width) -> MatrixXd {
        if (lay.kv_b_projs.empty()) return t.at(lay.kv_b_proj).rows_transposed(c * up + offset, width);
        const int64_t gi = c / per;
        return t.at(lay.kv_b_projs[static_cast<size_t>(gi)]).rows_transposed((c - gi * per) * up + offset, width);
      };
      // Shared factors once per layer, each with all threads: the query down-projection, the
      // latent rows and the RoPE key rows of kv_a_proj_with_mqa.
      Factor qa, lat = reduce(kva.rows_transposed(0, hc * C), threads);
      if (rope > 0) w.k_rope = reduce(kva.rows_transposed(hc * C, rope), threads);
      VectorXd gq;
      if (ql > 0) {
        qa = reduce(t.at(lay.q_a_proj).rows_transposed(0, ql), threads);
        gq = vec(lay.q_a_layernorm, ql);
      }
      const LayerTensor& qsrc = ql > 0 ? t.at(lay.q_b_proj) : t.at(lay.q_proj);
      // A query factor: with q_lora, R_qa·diag(γ_q)·block (ql × width); else the block itself.
      auto query = [&, ql](const LayerTensor& src_rows, int64_t row0, int64_t width) -> Factor {
        MatrixXd blk = src_rows.rows_transposed(row0, width);
        if (ql == 0) return reduce(blk);
        if (!qa.finite) return {MatrixXd(), false};
        return reduce(qa.r * gq.asDiagonal() * blk, 1, 2);
      };
      // Head c's key map in the latent basis: R_g·diag(γ_g)·(its key rows)ᵀ (h_c·C × nope).
      auto key_map = [&](int64_t c) -> MatrixXd {
        const int64_t gi = c / per;
        return lat.r.middleCols(gi * C, C) * gkv[static_cast<size_t>(gi)].asDiagonal() * up_rows(c, 0, nope);
      };
      auto latent_factor = [&](int64_t c, int64_t offset, int64_t width) -> Factor {
        if (!lat.finite) return {MatrixXd(), false};
        const int64_t gi = c / per;
        return reduce(lat.r.middleCols(gi * C, C) * gkv[static_cast<size_t>(gi)].asDiagonal() *
                          up_rows(c, offset, width), 1, 2);
      };
      w.q.resize(n), w.k.resize(n), w.v.resize(n), w.o.resize(n), w.q_rope.resize(n);
      // Measured SLSD: the per-head key maps through the latent, stacked: σ of
      // [R_0·diag(γ_0)·Wk_b,1ᵀ … ] (h_c·C × n·nope), via its transpose (tall). SLSD_head: the
      // same over each latent head's own heads.
      tasks.push_back([&] {
        if (!lat.finite) return void(w.key_finite = false);
        MatrixXd stacked(n * nope, hc * C);
        for (int64_t c = 0; c < n; ++c) stacked.middleRows(c * nope, nope) = key_map(c).transpose();
        if (!stacked.allFinite()) return void(w.key_finite = false);
        w.key_sigma = tall_singular_values(stacked);
        w.key_noise = 2.0 * tol.eta * spread_of(stacked);  // kv_a latent rows × kv_b rows
        if (hc > 1) {
          for (int64_t gi = 0; gi < hc; ++gi) {
            const auto rows = stacked.middleRows(gi * per * nope, per * nope);
            w.group_key_sigma.push_back(singular_values(rows));
            w.group_key_noise.push_back(2.0 * tol.eta * spread_of(rows));
          }
        }
      });
      for (int64_t c = 0; c < n; ++c) {
        tasks.push_back([&, c] {
          w.q[c] = query(qsrc, c * qk, nope);
          if (rope > 0) w.q_rope[c] = query(qsrc, c * qk + nope, rope);
        });
        tasks.push_back([&, c] {
          w.k[c] = latent_factor(c, 0, nope);
          w.v[c] = latent_factor(c, nope, hv);
        });
        tasks.push_back([&, c] { w.o[c] = reduce_columns(o, c * hv, hv); });
      }
      // DSA indexer: head j's query R_qa·diag(γ_q)·(wq_b rows)ᵀ against the index key
      // W_kᵀ·P·diag(γ_k), P = I − 11ᵀ/d_I the LayerNorm's centring (its bias is no circuit).
      const int64_t hi = s.index_heads, di = s.index_head_dim;
      if (!lay.indexer_wq_b.empty()) {
        w.index_q.resize(static_cast<size_t>(hi));
        for (int64_t j = 0; j < hi; ++j)
          tasks.push_back([&, j] { w.index_q[static_cast<size_t>(j)] = query(t.at(lay.indexer_wq_b), j * di, di); });
        tasks.push_back([&] {
          const MatrixXd centre = MatrixXd::Identity(di, di) - MatrixXd::Constant(di, di, 1.0 / di);
          w.index_k = reduce(t.at(lay.indexer_wk).rows_transposed(0, di) * centre *
                             vec(lay.indexer_k_norm, di).asDiagonal());
        });
      }
      run_tasks(tasks, threads);
      tasks.clear();
      break;
    }
    case LayoutKind::kMfa: case LayoutKind::kMfaKr: {
      const int64_t C = s.head_dim, cq = s.q_share_dim > 0 ? s.q_share_dim : C;
      const LayerTensor &sq = t.at(lay.q_proj), &wq = t.at(lay.wq), &k = t.at(lay.k_proj),
                        &o = t.at(lay.o_proj);
      const VectorXd gamma = vec(lay.inter_norm, cq);
      const Factor rsq = reduce(sq.rows_transposed(0, cq), threads);
      w.k.resize(1), w.v.resize(1), w.q.resize(n), w.o.resize(n);
      const MatrixXd kt = k.rows_transposed(0, C);
      w.k[0] = reduce(kt, threads);
      if (kt.allFinite()) {
        w.key_sigma = tall_singular_values(kt, threads);
        w.key_noise = tol.eta * spread_of(kt);
      } else {
        w.key_finite = false;
      }
      if (lay.kind == LayoutKind::kMfa) {
        w.v[0] = reduce(t.at(lay.v_proj).rows_transposed(0, C), threads);
      } else if (w.k[0].finite) {
        // Key reuse: V-projection = (I + diag(α)·N)·S_K, so its factor is Q_k·R_k·Mᵀ.
        const LayerTensor& nmat = t.at(lay.kr_n);
        const MatrixXd m = MatrixXd::Identity(C, C) +
                           vec(lay.kr_alpha, C).asDiagonal() * nmat.rows_transposed(0, C).transpose();
        w.v[0] = reduce(w.k[0].r * m.transpose(), 1, 2);
      } else {
        w.v[0] = {MatrixXd(), false};
      }
      for (int64_t c = 0; c < n; ++c) {
        tasks.push_back([&, c] {
          if (!rsq.finite) return void(w.q[c] = {MatrixXd(), false});
          w.q[c] = reduce(rsq.r * gamma.asDiagonal() * wq.rows_transposed(c * C, C), 1, 2);
        });
        tasks.push_back([&, c] { w.o[c] = reduce_columns(o, c * C, C); });
      }
      run_tasks(tasks, threads);
      tasks.clear();
      break;
    }
    case LayoutKind::kLinear: case LayoutKind::kNone:
      break;
  }

  // Circuits: r×r products per head, in parallel.
  out.heads.resize(static_cast<size_t>(n));
  std::vector<std::function<void()>> products;
  for (int64_t c = 0; c < n; ++c) {
    products.push_back([&, c] {
      HeadAudit& h = out.heads[static_cast<size_t>(c)];
      const int64_t grp = group_of(c);
      h.head = c;
      h.kv_head = grp;
      // MLA and GLA keep one key and value factor per head (its up-projection), the others one
      // per group.
      const size_t kg = latent ? static_cast<size_t>(c) : static_cast<size_t>(grp);
      h.qk = circuit(w.q[c], w.k[kg], qk_nom, tol, energy);
      h.vo = circuit(w.v[kg], w.o[c], vo_nom, tol, energy);
      if ((latent || lay.kind == LayoutKind::kGta) && s.qk_rope_dim > 0)
        h.qk_rope = circuit(w.q_rope[c], w.k_rope, s.qk_rope_dim, tol, energy);
      if (v4 && s.rotary_dim > 0) h.qk_rope = circuit(w.q_rope[c], w.k_rope, s.rotary_dim, tol, energy);
    });
  }
  // The DSA indexer's scoring circuits: rank ≤ d_I − 1 (the centring removes one direction).
  const int64_t index_nom = std::min(s.index_head_dim - 1, s.q_lora_rank);
  out.indexer.resize(w.index_q.size());
  for (size_t j = 0; j < w.index_q.size(); ++j) {
    products.push_back([&, j] { out.indexer[j] = circuit(w.index_q[j], w.index_k, index_nom, tol, energy); });
  }
  // DeepSeek-V4: each output group's whole map wo_b_g·wo_a_g, rank <= o_lora_rank.
  out.output_groups.resize(w.o_group.size());
  for (size_t j = 0; j < w.o_group.size(); ++j) {
    products.push_back([&, j] {
      out.output_groups[j] = spectrum(w.o_group[j], nominal.vo_group_rank, tol, energy);
    });
  }
  run_tasks(products, threads);
  if (!lay.compressor_wkv.empty()) audit_compressor_factors(src, lay, tol, energy, threads, arena, out);

  // Per-layer figures and flags.
  double max_qk = 0.0, max_vo = 0.0;
  for (const auto& h : out.heads) {
    max_qk = std::max(max_qk, h.qk.metrics.sigma_1);
    max_vo = std::max(max_vo, h.vo.metrics.sigma_1);
  }
  for (auto& h : out.heads) {
    // A head with a NaN/Inf factor has no metrics: counting its zeros would understate TER.
    if (h.finite()) {
      out.measured_ter += h.qk.metrics.numerical_rank;
      out.measured_ter_entropy += h.qk.metrics.entropy_rank;
    } else {
      ++out.nonfinite_heads;
    }
    h.qk_below_nominal = h.qk.finite && h.qk.metrics.numerical_rank < h.qk.nominal_rank;
    h.vo_below_nominal = h.vo.finite && h.vo.metrics.numerical_rank < h.vo.nominal_rank;
    auto dead = [&](const CircuitAudit& c, double layer_max) {
      if (!c.finite) return false;
      if (tol.fixed > 0.0) return c.metrics.sigma_1 <= tol.fixed * layer_max;
      return c.metrics.numerical_rank == 0;  // nothing above its own noise
    };
    h.qk_dead = dead(h.qk, max_qk);
    h.vo_dead = dead(h.vo, max_vo);
    if (h.qk_below_nominal || h.vo_below_nominal) ++out.heads_below_nominal;
    if (h.qk_dead || h.vo_dead) ++out.dead_heads;
  }
  out.key_finite = w.key_finite;
  if (w.key_finite && !w.key_sigma.empty()) {
    out.key_sigma = w.key_sigma;
    out.key_rank_tol = tol.relative(w.key_noise, w.key_sigma.front());
    out.measured_slsd = rank_metrics(w.key_sigma, out.key_rank_tol, energy).numerical_rank;
  }
  // SLSD_head: the largest rank over the groups a head can reach. GQA and GTA: each group's key
  // factor (its σ are those of R); GLA: each latent head's stacked keys (above); one group
  // (MHA, MLA, MFA): the layer's measured SLSD.
  if ((lay.kind == LayoutKind::kGqa || lay.kind == LayoutKind::kGta) && s.kv_heads > 1) {
    for (const Factor& f : w.k) {
      w.group_key_sigma.push_back(factor_sigma(f));
      w.group_key_noise.push_back(tol.eta * f.spread);
    }
  }
  out.measured_slsd_head = out.measured_slsd;
  if (out.key_finite && !w.group_key_sigma.empty()) {
    out.measured_slsd_head = 0;
    for (size_t gi = 0; gi < w.group_key_sigma.size(); ++gi) {
      const auto& sig = w.group_key_sigma[gi];
      if (sig.empty()) continue;
      const double rt = tol.relative(w.group_key_noise[gi], sig.front());
      out.measured_slsd_head = std::max(out.measured_slsd_head, rank_metrics(sig, rt, energy).numerical_rank);
    }
  }
  return out;
}

}  // namespace

std::vector<int64_t> parse_layer_list(std::string_view text, int64_t layers, const std::string& flag) {
  std::vector<int64_t> out = parse_int_ranges(text, flag, 0, INT64_MAX);
  for (int64_t v : out) {
    if (v >= layers) {
      throw InputError(fmt::format("{}: layer {} is out of range (the model has {} layers)", flag,
                                   v, layers));
    }
  }
  return out;
}

AuditReport audit_checkpoint(const Checkpoint& ck, const Layout& layout, const AuditOptions& opt) {
  AuditReport r;
  r.checkpoint = ck.path;
  r.format = ck.format;
  r.architecture = layout.architecture.empty() ? ck.architecture : layout.architecture;
  r.model_layers = layout.decoder_layers();
  r.energy = opt.energy;
  if (!(opt.energy > 0.0 && opt.energy <= 1.0)) {
    throw errors::bad_option("energy", fmt::format("{} is not in (0, 1]", opt.energy));
  }
  const std::vector<size_t> todo = layout.entries_of(opt.layers, "layers");
  const TensorSource& src = *ck.tensors;
  if (opt.rank_tol) {
    if (!(*opt.rank_tol > 0.0 && *opt.rank_tol < 1.0)) {
      throw errors::bad_option("rank-tol", fmt::format("{} is not in (0, 1)", *opt.rank_tol));
    }
    r.rank_tol_mode = "fixed";
    r.rank_tol = *opt.rank_tol;
    r.rank_tol_source = "--rank-tol";
  } else {
    std::vector<std::string> names;
    for (const size_t i : todo)
      for (auto& n : factor_names(layout.layers[i])) names.push_back(n);
    const std::string dt = coarsest_dtype(src, names);
    r.rank_tol_mode = "noise";
    if (dt.empty()) {
      r.rounding_noise = *rounding_noise("F32");
      r.rank_tol_source = "noise of F32 (no attention tensors)";
    } else {
      r.rounding_noise = *rounding_noise(dt);
      r.rank_tol_source = fmt::format("noise of {} (coarsest attention-weight dtype)", dt);
    }
  }
  const Tolerance tol{r.rank_tol_mode == "fixed" ? r.rank_tol : 0.0, r.rounding_noise};
  const int threads = opt.threads > 0 ? opt.threads
                                      : resolve_threads(0);
  blas::available();  // loads OpenBLAS (it may set OPENBLAS_CORETYPE) before any worker starts
  int64_t done = 0;
  TensorArena arena;  // conversion buffers shared by every layer
  for (const size_t i : todo) {
    r.layers.push_back(audit_layer(src, layout.layers[i], tol, r.energy, threads, arena));
    ++done;
    if (opt.progress) opt.progress(done, static_cast<int64_t>(todo.size()));
  }
  return r;
}

AuditReport audit_path(const std::string& path, const AuditOptions& options) {
  const Checkpoint ck = open_checkpoint(path);
  const Layout layout = detect_layout(ck);
  return audit_checkpoint(ck, layout, options);
}

std::string describe_rank_tolerance(const AuditReport& r) {
  if (r.rank_tol_mode == "fixed") {
    return fmt::format("numerical rank tolerance τ = {:.4g} ({})", r.rank_tol, r.rank_tol_source);
  }
  return fmt::format("numerical rank: σ above {} × each matrix's estimated rounding noise ({}, "
                     "η = {:.3g}; docs/audit.md)",
                     kNoiseFactor, r.rank_tol_source, r.rounding_noise);
}

AuditSummary summarize(const AuditReport& r) {
  AuditSummary s;
  double entropy_sum = 0.0;
  bool first = true;
  for (const auto& l : r.layers) {
    if (!l.audited) continue;
    ++s.layers;
    s.heads += static_cast<int64_t>(l.heads.size());
    s.nominal_ter += l.nominal.ter;
    s.measured_ter += l.measured_ter;
    s.measured_ter_entropy += l.measured_ter_entropy;
    s.heads_below_nominal += l.heads_below_nominal;
    s.dead_heads += l.dead_heads;
    if (l.slsd_below_nominal()) ++s.layers_slsd_below_nominal;
    if (!l.nonfinite_tensors.empty() || !l.key_finite || l.nonfinite_heads > 0)
      ++s.layers_with_nonfinite;
    s.nonfinite_heads += l.nonfinite_heads;
    for (const auto& h : l.heads) {
      if (!h.finite()) continue;
      entropy_sum += h.qk.metrics.entropy_rank;
      if (first || h.qk.metrics.entropy_rank < s.min_qk_entropy_rank)
        s.min_qk_entropy_rank = h.qk.metrics.entropy_rank;
      first = false;
    }
  }
  const int64_t finite_heads = s.heads - s.nonfinite_heads;
  if (finite_heads > 0) s.mean_qk_entropy_rank = entropy_sum / static_cast<double>(finite_heads);
  return s;
}

}  // namespace gmha
