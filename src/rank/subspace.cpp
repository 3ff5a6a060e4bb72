#include "gmha/rank/subspace.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>
#include <fmt/format.h>

#include "gmha/core/error.hpp"
#include "gmha/rank/spectrum.hpp"

namespace gmha {
namespace {

using Eigen::Index;
using Eigen::MatrixXd;

// σ_r ≤ this × σ₁ is zero in double: the factored SVD's own rounding is ~w·u·σ₁ ≈ 1e-14·σ₁.
constexpr double kZeroSigma = 1e-13;

// An orthonormal basis of span(c) (c is n×r with r ≤ n), by Householder QR: the first j columns
// of Q span the first j columns of c, so a basis of the top-j singular vectors stays one.
MatrixXd orthonormal_basis(const MatrixXd& c) {
  if (c.cols() == 0) return MatrixXd(c.rows(), 0);
  Eigen::HouseholderQR<MatrixXd> qr(c);
  return qr.householderQ() * MatrixXd::Identity(c.rows(), c.cols());
}

}  // namespace

bool CircuitSubspaces::spans(int64_t r) const {
  if (r <= 0) return true;
  if (r > static_cast<int64_t>(sigma.size())) return false;
  return sigma[static_cast<size_t>(r - 1)] > kZeroSigma * sigma[0];
}

CircuitSubspaces circuit_subspaces(const Eigen::Ref<const Eigen::MatrixXd>& a,
                                   const Eigen::Ref<const Eigen::MatrixXd>& b) {
  if (a.cols() != b.cols()) {
    throw InputError(fmt::format("subspace: factors have different inner widths ({} and {})",
                                 a.cols(), b.cols()));
  }
  // A = Q_a·R_a and B = Q_b·R_b (spectrum.hpp), so W = Q_a·P·Q_bᵀ with P = R_a·R_bᵀ; with
  // P = U·Σ·Vᵀ the SVD of W is (Q_a·U)·Σ·(Q_b·V)ᵀ. Q_a is never formed:
  // Q_a·U_i·σ_i = Q_a·P·V_i = A·R_bᵀ·V_i and Q_b·V_i·σ_i = B·R_aᵀ·U_i.
  const MatrixXd ra = triangular_factor(a), rb = triangular_factor(b);
  const MatrixXd p = ra * rb.transpose();
  Eigen::BDCSVD<MatrixXd> svd(p, Eigen::ComputeThinU | Eigen::ComputeThinV);
  CircuitSubspaces out;
  const auto& s = svd.singularValues();
  out.sigma.assign(s.data(), s.data() + s.size());
  const Index k = s.size();
  // Columns σ_i·u_i scaled back to unit length where σ_i > 0, so the QR works on nearly
  // orthonormal columns (a column of σ_r ≪ σ₁ would otherwise carry σ₁/σ_r times the rounding).
  Eigen::VectorXd inv(k);
  for (Index i = 0; i < k; ++i) inv(i) = s(i) > 0 ? 1.0 / s(i) : 1.0;
  out.left = orthonormal_basis(a * (rb.transpose() * svd.matrixV()) * inv.asDiagonal());
  out.right = orthonormal_basis(b * (ra.transpose() * svd.matrixU()) * inv.asDiagonal());
  return out;
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
  const MatrixXd m = x.transpose() * y;
  const double cos_min = std::clamp(singular_values(m).back(), 0.0, 1.0);
  const MatrixXd e = y - x * m;
  const MatrixXd g = e.transpose() * e;
  Eigen::SelfAdjointEigenSolver<MatrixXd> eig(g, Eigen::EigenvaluesOnly);
  const double sin_max = std::sqrt(std::clamp(eig.eigenvalues().maxCoeff(), 0.0, 1.0));
  return std::atan2(sin_max, cos_min);
}

}  // namespace gmha
