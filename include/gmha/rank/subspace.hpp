#pragma once
// Singular subspaces of a factored circuit W = A·Bᵀ and the principal angles between two of them
// (docs/audit.md, "audit diff"). Used by `gmha audit diff` to say how far a head's circuit moved
// between two checkpoints, beyond what its singular values show.
#include <cstdint>
#include <vector>

#include <Eigen/Core>

namespace gmha {

/// The SVD of W = A·Bᵀ from its thin factors A (d_a×w) and B (d_b×w), without forming W:
/// σ descending (k = min(rows R_a, rows R_b) of them) and orthonormal bases of the left (d_a×k)
/// and right (d_b×k) singular vectors, ordered as σ, so that the first r columns span the top-r
/// subspace (when σ_r > σ_{r+1}; with a tie the subspace itself is not unique).
struct CircuitSubspaces {
  std::vector<double> sigma;
  Eigen::MatrixXd left, right;
  /// Whether W has at least r singular values above 1e-13·σ₁ (nonzero in double): otherwise
  /// the trailing basis columns span no direction of W and no top-r subspace exists.
  bool spans(int64_t r) const;
};
/// Throws InputError when the inner widths differ.
CircuitSubspaces circuit_subspaces(const Eigen::Ref<const Eigen::MatrixXd>& a,
                                   const Eigen::Ref<const Eigen::MatrixXd>& b);

/// The largest principal angle, in radians, between span(X) and span(Y) for X, Y with
/// orthonormal columns of the same shape (d×r): atan2(sin θ_max, cos θ_max) with cos θ_max the
/// smallest singular value of XᵀY and sin θ_max the largest of Y − X·XᵀY, so small and near-right
/// angles are both accurate. sin θ_max is the subspace distance ‖X·Xᵀ − Y·Yᵀ‖₂. 0 when r = 0.
double largest_principal_angle(const Eigen::Ref<const Eigen::MatrixXd>& x,
                               const Eigen::Ref<const Eigen::MatrixXd>& y);

}  // namespace gmha
