#pragma once
// Singular values of a circuit W = A·Bᵀ from its thin factors, never forming W (docs/audit.md).
// A is m_a×r and B is m_b×r (in the audit m is the model width d, r a head width). Each factor is
// reduced to a small triangular R with RᵀR = XᵀX, so X = Q·R with Q orthonormal, and
// σ(A·Bᵀ) = σ(R_a·R_bᵀ): an r×r problem. Everything is double precision.
//
// Accuracy: R comes from a Cholesky of the Gram matrix XᵀX when X is well conditioned
// (κ(X) ≤ 100: loss of orthogonality ≤ r·u·κ² ≈ 1e-12), else from Householder QR of X; the
// small SVD uses the eigenvalues of PᵀP when P is well conditioned (κ(P) ≤ 1e4: absolute σ error
// ≤ 1e-10·σ₁) and a divide-and-conquer SVD otherwise. Either way singular values agree with a
// dense SVD of the formed matrix to ~1e-12·σ₁, including the zero ones of rank-deficient factors.
#include <vector>

#include <Eigen/Core>

namespace gmha {

/// Upper-trapezoidal R (min(m, r)×r) with RᵀR = XᵀX for an m×r matrix X. Shared factors (a GQA
/// group's key, MLA's latent, MFA's S_K) are reduced once and reused. Cost: m·r² FLOPs (Gram)
/// when X is well conditioned, 2·m·r² (Householder QR) otherwise; `threads` > 1 splits the Gram
/// over row blocks of X (worth it for one big factor, not for many small ones).
Eigen::MatrixXd triangular_factor(const Eigen::Ref<const Eigen::MatrixXd>& x, int threads = 1);

/// The same R for X given as its transpose Xᵀ (r×m, column-major): what a row-major m×r block of
/// a weight (an o_proj head's columns) is in memory, so no transposed copy is made.
Eigen::MatrixXd triangular_factor_of_transpose(const Eigen::Ref<const Eigen::MatrixXd>& xt);

/// Singular values of a tall m×r matrix X (m ≥ r), descending: the square roots of the
/// eigenvalues of XᵀX when X is well conditioned, else via Householder QR. Used for the stacked key
/// factors of a layer (measured SLSD). `threads` splits the Gram as in triangular_factor.
std::vector<double> tall_singular_values(const Eigen::Ref<const Eigen::MatrixXd>& x, int threads = 1);

/// Singular values of a (small) matrix, in descending order, min(rows, cols) of them.
std::vector<double> singular_values(const Eigen::Ref<const Eigen::MatrixXd>& m);

/// Singular values of R_a·R_bᵀ given the triangular factors of A and B (same column count r):
/// the spectrum of A·Bᵀ, min(rows(R_a), rows(R_b)) values, descending.
std::vector<double> product_singular_values(const Eigen::Ref<const Eigen::MatrixXd>& ra,
                                            const Eigen::Ref<const Eigen::MatrixXd>& rb);

/// Convenience: σ(A·Bᵀ) for thin factors A (m_a×r) and B (m_b×r). Throws InputError when the
/// column counts differ.
std::vector<double> circuit_singular_values(const Eigen::Ref<const Eigen::MatrixXd>& a,
                                            const Eigen::Ref<const Eigen::MatrixXd>& b);

}  // namespace gmha
