#pragma once
// Singular subspaces of a factored circuit W = X·Yᵀ and the principal angles between two of them
// (docs/audit.md, "audit diff"). Used by `gmha audit diff` to say how far a head's circuit moved
// between two checkpoints, beyond what its singular values show.
#include <cstdint>
#include <vector>

#include <Eigen/Core>

namespace gmha {

/// The SVD of W = X·Yᵀ from its thin factors X (d_x×w) and Y (d_y×w), without forming W:
/// X = Q_x·R_x, Y = Q_y·R_y (spectrum.hpp) and P = R_x·R_yᵀ = U·diag(σ)·Vᵀ, so that
/// W = (Q_x·U)·diag(σ)·(Q_y·V)ᵀ. σ descending, min(rows R_x, rows R_y) of them.
struct CircuitSvd {
  std::vector<double> sigma;
  Eigen::MatrixXd rx, ry, u, v;
  /// Whether W has at least r singular values above 1e-13·σ₁ (nonzero in double): otherwise no
  /// top-r subspace exists.
  bool spans(int64_t r) const;
};
/// Throws InputError when the inner widths differ.
CircuitSvd circuit_svd(const Eigen::Ref<const Eigen::MatrixXd>& x, const Eigen::Ref<const Eigen::MatrixXd>& y);

/// Orthonormal bases (d×r) of the top-r left singular subspace of W = X·Yᵀ (Q_x·U_r, from
/// X·R_yᵀ·V_r·diag(σ)⁻¹, since Q_x·P·V_i = X·R_yᵀ·V_i) and of the right one (Q_y·V_r, from
/// Y·R_xᵀ·U_r·diag(σ)⁻¹). The subspace is unique when σ_r > σ_{r+1}. Throws InputError unless
/// svd.spans(r).
Eigen::MatrixXd left_basis(const CircuitSvd& svd, const Eigen::Ref<const Eigen::MatrixXd>& x, int64_t r);
Eigen::MatrixXd right_basis(const CircuitSvd& svd, const Eigen::Ref<const Eigen::MatrixXd>& y, int64_t r);

/// The largest principal angle, in radians, between span(X) and span(Y) for X, Y with
/// orthonormal columns of the same shape (d×r): atan2(sin θ_max, cos θ_max) with cos θ_max the
/// smallest singular value of XᵀY and sin θ_max the largest of Y − X·XᵀY, so small and near-right
/// angles are both accurate. sin θ_max is the subspace distance ‖X·Xᵀ − Y·Yᵀ‖₂. 0 when r = 0.
double largest_principal_angle(const Eigen::Ref<const Eigen::MatrixXd>& x,
                               const Eigen::Ref<const Eigen::MatrixXd>& y);

/// ‖X_B·Y_Bᵀ − X_A·Y_Aᵀ‖₂ from the factors (all d×w, X's and Y's of one height each): the
/// difference is [X_B − X_A, X_A]·[Y_B, Y_B − Y_A]ᵀ, whose pairs of columns are rescaled by powers
/// of two to equal norms (the product is unchanged, exactly) and whose zero pairs are dropped, so
/// identical factors give exactly 0 and a small change stays well conditioned.
double difference_norm(const Eigen::Ref<const Eigen::MatrixXd>& xa, const Eigen::Ref<const Eigen::MatrixXd>& ya,
                       const Eigen::Ref<const Eigen::MatrixXd>& xb, const Eigen::Ref<const Eigen::MatrixXd>& yb);

}  // namespace gmha
