#include "gmha/rank/subspace.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>
#include <fmt/format.h>

#include "gmha/core/blas.hpp"
#include "gmha/core/error.hpp"
#include "gmha/rank/spectrum.hpp"

namespace gmha {
namespace {

using Eigen::Index;
using Eigen::MatrixXd;

// σ_r ≤ this × σ₁ is zero in double: the factored SVD's own rounding is ~w·u·σ₁ ≈ 1e-14·σ₁.
constexpr double kZeroSigma = 1e-13;

// op(a)·op(b) through OpenBLAS when it was found (core/blas.hpp; 3-4x Eigen's baseline-x86-64
// GEMM, which was most of the diff's time), Eigen otherwise: the same sums in double.
MatrixXd product(const Eigen::Ref<const MatrixXd>& a, bool ta, const Eigen::Ref<const MatrixXd>& b, bool tb) {
  const Index m = ta ? a.cols() : a.rows(), k = ta ? a.rows() : a.cols(), n = tb ? b.rows() : b.cols();
  MatrixXd c(m, n);
  if (blas::dgemm(ta, tb, m, n, k, 1.0, a.data(), a.outerStride(), b.data(), b.outerStride(), 0.0, c.data(),
                  c.outerStride()))
    return c;
  if (ta && tb) c.noalias() = a.transpose() * b.transpose();
  else if (ta) c.noalias() = a.transpose() * b;
  else if (tb) c.noalias() = a * b.transpose();
  else c.noalias() = a * b;
  return c;
}

// An orthonormal basis of span(c) for c of full column rank whose columns are nearly
// orthonormal already (the bases below are, in exact arithmetic): two passes of Cholesky QR,
// c ← c·R⁻¹ with RᵀR = cᵀc (triangular_factor: a Gram and a Cholesky when c is well conditioned,
// Householder's R otherwise). One pass leaves ~u·κ(c)² of non-orthogonality, the second ~u.
// Each pass keeps the order: the first j columns still span the first j inputs.
// A c whose R is singular (σ_r of the circuit barely above zero, its column all rounding) falls
// back to Householder's Q, which is orthonormal whatever c is.
MatrixXd orthonormalised(MatrixXd c) {
  for (int pass = 0; pass < 2; ++pass) {
    const MatrixXd r = triangular_factor(c);
    if (r.rows() < c.cols() || !(r.diagonal().cwiseAbs().minCoeff() > 0) || !r.allFinite()) {
      Eigen::HouseholderQR<MatrixXd> qr(c);
      return qr.householderQ() * MatrixXd::Identity(c.rows(), c.cols());
    }
    r.triangularView<Eigen::Upper>().solveInPlace<Eigen::OnTheRight>(c);
  }
  return c;
}

// f·(r₂ᵀ·w_r)·diag(σ_r)⁻¹: σ_i·(the i-th singular vector) scaled back to unit length.
MatrixXd basis(const CircuitSvd& s, const Eigen::Ref<const MatrixXd>& f, const MatrixXd& r_other,
               const MatrixXd& w, int64_t r) {
  if (!s.spans(r) || r > w.cols()) {
    throw InputError(fmt::format("subspace: the circuit has no top-{} subspace ({} nonzero singular values)",
                                 r, s.sigma.size()));
  }
  const Index k = static_cast<Index>(r);
  if (k == 0) return MatrixXd(f.rows(), 0);
  Eigen::VectorXd inv(k);
  for (Index i = 0; i < k; ++i) inv(i) = 1.0 / s.sigma[static_cast<size_t>(i)];
  const MatrixXd m = (r_other.transpose() * w.leftCols(k)) * inv.asDiagonal();
  return orthonormalised(product(f, false, m, false));
}

}  // namespace

bool CircuitSvd::spans(int64_t r) const {
  if (r <= 0) return true;
  if (r > static_cast<int64_t>(sigma.size())) return false;
  return sigma[static_cast<size_t>(r - 1)] > kZeroSigma * sigma[0];
}

CircuitSvd circuit_svd(const Eigen::Ref<const Eigen::MatrixXd>& x, const Eigen::Ref<const Eigen::MatrixXd>& y) {
  if (x.cols() != y.cols()) {
    throw InputError(fmt::format("subspace: factors have different inner widths ({} and {})",
                                 x.cols(), y.cols()));
  }
  CircuitSvd out;
  out.rx = triangular_factor(x);
  out.ry = triangular_factor(y);
  Eigen::BDCSVD<MatrixXd> svd(out.rx * out.ry.transpose(), Eigen::ComputeThinU | Eigen::ComputeThinV);
  const auto& s = svd.singularValues();
  out.sigma.assign(s.data(), s.data() + s.size());
  out.u = svd.matrixU();
  out.v = svd.matrixV();
  return out;
}

Eigen::MatrixXd left_basis(const CircuitSvd& svd, const Eigen::Ref<const Eigen::MatrixXd>& x, int64_t r) {
  return basis(svd, x, svd.ry, svd.v, r);
}

Eigen::MatrixXd right_basis(const CircuitSvd& svd, const Eigen::Ref<const Eigen::MatrixXd>& y, int64_t r) {
  return basis(svd, y, svd.rx, svd.u, r);
}

double largest_principal_angle(const Eigen::Ref<const Eigen::MatrixXd>& x,
                               const Eigen::Ref<const Eigen::MatrixXd>& y) {
  if (x.rows() != y.rows() || x.cols() != y.cols()) {
    throw InputError(fmt::format("subspace: bases of different shapes ({}×{} and {}×{})", x.rows(),
                                 x.cols(), y.rows(), y.cols()));
  }
  if (x.cols() == 0) return 0.0;
  // cos θ_i are the singular values of XᵀY (Björck & Golub 1973); sin θ_i those of the part of Y
  // outside span(X). Taking each from where it is well conditioned keeps both ends accurate.
  const MatrixXd m = product(x, true, y, false);
  const double cos_min = std::clamp(singular_values(m).back(), 0.0, 1.0);
  const MatrixXd e = y - product(x, false, m, false);
  const MatrixXd g = product(e, true, e, false);
  Eigen::SelfAdjointEigenSolver<MatrixXd> eig(g, Eigen::EigenvaluesOnly);
  const double sin_max = std::sqrt(std::clamp(eig.eigenvalues().maxCoeff(), 0.0, 1.0));
  return std::atan2(sin_max, cos_min);
}

double difference_norm(const Eigen::Ref<const Eigen::MatrixXd>& xa, const Eigen::Ref<const Eigen::MatrixXd>& ya,
                       const Eigen::Ref<const Eigen::MatrixXd>& xb, const Eigen::Ref<const Eigen::MatrixXd>& yb) {
  const Index w = xa.cols();
  if (ya.cols() != w || xb.cols() != w || yb.cols() != w || xa.rows() != xb.rows() || ya.rows() != yb.rows()) {
    throw InputError("subspace: the two circuits' factors differ in shape");
  }
  // Column pairs (f_k, g_k) of [X_B − X_A, X_A] and [Y_B, Y_B − Y_A]: W_B − W_A = Σ f_k·g_kᵀ.
  // A pair with a zero side adds nothing and is dropped; the others get f_k·s, g_k/s with s a
  // power of two making ‖f_k‖ ≈ ‖g_k‖ (exact), else a small Δ column beside a full one would make
  // both factors ill conditioned and send their reduction to the slower Householder path.
  MatrixXd f(xa.rows(), 2 * w), g(ya.rows(), 2 * w);
  Index kept = 0;
  auto add = [&](const Eigen::VectorXd& fk, const Eigen::VectorXd& gk) {
    const double nf = fk.norm(), ng = gk.norm();
    if (!(nf > 0) || !(ng > 0)) return;
    const double s = std::exp2(std::round(0.5 * std::log2(ng / nf)));
    f.col(kept) = fk * s;
    g.col(kept) = gk / s;
    ++kept;
  };
  for (Index k = 0; k < w; ++k) add(xb.col(k) - xa.col(k), yb.col(k));
  for (Index k = 0; k < w; ++k) add(xa.col(k), yb.col(k) - ya.col(k));
  if (kept == 0) return 0.0;
  return circuit_singular_values(f.leftCols(kept), g.leftCols(kept)).front();
}

}  // namespace gmha
