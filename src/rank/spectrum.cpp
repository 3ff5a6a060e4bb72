#include "gmha/rank/spectrum.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>

#include "gmha/core/blas.hpp"
#include "gmha/core/error.hpp"
#include "gmha/core/parallel.hpp"

namespace gmha {
namespace {

// Cholesky of the Gram matrix is used when the estimated λ_min(XᵀX) ≥ kGramRatio·λ_max, i.e.
// κ_est(X) ≤ 31.6. The estimate (inverse_condition_squared_estimate) can fall short of the true κ,
// so this keeps a factor 3 of room below κ = 100, where Cholesky-QR loses ~r·u·κ² ≈ 1e-12 of
// orthogonality. Even a miss by 30x (κ = 3000) keeps R's error near r·u·κ² ≈ 1e-10 of σ₁, inside
// what the tests demand (1e-9).
constexpr double kGramRatio = 1e-3;
// Power and inverse iteration steps of the κ estimate: ~4·r² FLOPs each, against the r³/3 of the
// Cholesky and the ~10·r³ of the symmetric eigenvalue solve this estimate replaced (a sixth of the
// audit's time went to those eigenvalue checks).
constexpr int kConditionIterations = 12;
// The small SVD goes through eig(PᵀP) when κ(P) ≤ 1e4; the absolute error of σ_i is then about
// r·u·σ₁²/(2σ_i) ≤ 1e-10·σ₁ for r ≤ 128.
constexpr double kEigRatio = 1e-8;
// Below this many rows per thread a split Gram costs more in thread start-up than it saves.
constexpr Eigen::Index kMinRowsPerThread = 2048;

// Lower triangle of XᵀX into g (r×r, zeroed by the caller): OpenBLAS dsyrk when it was found at
// run time (gmha/core/blas.hpp), Eigen's rankUpdate otherwise. Both compute the same sums in double.
void gram_block(const Eigen::Ref<const Eigen::MatrixXd>& x, Eigen::MatrixXd& g) {
  if (!blas::gram_lower(x.rows(), x.cols(), x.data(), x.outerStride(), g.data(), g.outerStride())) {
    g.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose());
  }
}

// Lower triangle of XᵀX (the upper one is left undefined), optionally over row blocks in parallel.
Eigen::MatrixXd gram(const Eigen::Ref<const Eigen::MatrixXd>& x, int threads) {
  const Eigen::Index m = x.rows(), r = x.cols();
  Eigen::MatrixXd g = Eigen::MatrixXd::Zero(r, r);
  const int parts =
      static_cast<int>(std::clamp<Eigen::Index>(m / kMinRowsPerThread, 1, std::max(threads, 1)));
  if (parts == 1) {
    gram_block(x, g);
    return g;
  }
  std::vector<Eigen::MatrixXd> partial(static_cast<size_t>(parts), Eigen::MatrixXd::Zero(r, r));
  run_on_threads(parts, [&](int p) {
    const Eigen::Index begin = m * p / parts, end = m * (p + 1) / parts;
    gram_block(x.middleRows(begin, end - begin), partial[static_cast<size_t>(p)]);
  });
  for (const auto& part : partial) g.triangularView<Eigen::Lower>() += part;
  return g;
}

std::vector<double> sorted_descending(const Eigen::VectorXd& v) {
  std::vector<double> s(v.data(), v.data() + v.size());
  std::sort(s.begin(), s.end(), [](double a, double b) { return a > b; });
  return s;
}

// Ascending eigenvalues of the symmetric matrix whose lower triangle `g` holds: LAPACK's blocked
// dsyevd when OpenBLAS was found (4-8x faster than Eigen's unblocked tridiagonalisation at the
// sizes of a stacked key, 1024 and up), Eigen otherwise. nullopt when the solver fails.
std::optional<Eigen::VectorXd> eigenvalues_lower(const Eigen::MatrixXd& g) {
  Eigen::VectorXd w(g.rows());
  Eigen::MatrixXd work = g;
  if (blas::symmetric_eigenvalues(work.rows(), work.data(), work.outerStride(), w.data())) return w;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(g, Eigen::EigenvaluesOnly);
  if (eig.info() != Eigen::Success) return std::nullopt;
  return eig.eigenvalues();
}

// λ_min / λ_max of RᵀR (= 1/κ(X)² for the X whose Gram was factored) estimated by power
// iteration for λ_max and inverse iteration (two triangular solves a step) for λ_min, from a fixed
// start vector spread over every direction. Both Rayleigh quotients lie inside [λ_min, λ_max], so
// the estimated ratio is never below the true one; 0 when R is singular or not finite.
double inverse_condition_squared_estimate(const Eigen::MatrixXd& r) {
  const Eigen::Index n = r.rows();
  const auto upper = r.triangularView<Eigen::Upper>();
  Eigen::VectorXd start(n);
  for (Eigen::Index i = 0; i < n; ++i) start(i) = 1.0 + 0.5 * std::sin(1.7 * static_cast<double>(i + 1));
  start.normalize();
  Eigen::VectorXd v = start;
  double lambda_max = 0.0;
  for (int it = 0; it < kConditionIterations; ++it) {
    const Eigen::VectorXd rv = upper * v;
    lambda_max = rv.squaredNorm();  // Rayleigh quotient vᵀRᵀRv, ‖v‖ = 1
    v = upper.transpose() * rv;
    const double norm = v.norm();
    if (!(norm > 0) || !std::isfinite(norm)) return 0.0;
    v /= norm;
  }
  v = start;
  double lambda_min = 0.0;
  for (int it = 0; it < kConditionIterations; ++it) {
    Eigen::VectorXd z = upper.transpose().solve(v);  // (RᵀR)⁻¹ v = R⁻¹ R⁻ᵀ v
    upper.solveInPlace(z);
    const double norm = z.norm();
    if (!(norm > 0) || !std::isfinite(norm)) return 0.0;
    v = z / norm;
    lambda_min = (upper * v).squaredNorm();
  }
  return lambda_max > 0 && std::isfinite(lambda_min) ? lambda_min / lambda_max : 0.0;
}

// R = chol(G) when the Gram G = XᵀX (lower triangle) is well conditioned; nullopt otherwise.
std::optional<Eigen::MatrixXd> cholesky_factor(const Eigen::MatrixXd& g) {
  Eigen::LLT<Eigen::MatrixXd, Eigen::Lower> llt(g);
  if (llt.info() != Eigen::Success) return std::nullopt;
  Eigen::MatrixXd r = llt.matrixU();
  if (!r.allFinite() || r.diagonal().minCoeff() <= 0) return std::nullopt;
  if (inverse_condition_squared_estimate(r) < kGramRatio) return std::nullopt;
  return r;
}

// Ill-conditioned, rank-deficient, wide or empty: Householder QR is backward stable.
Eigen::MatrixXd householder_factor(const Eigen::Ref<const Eigen::MatrixXd>& x) {
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(x);
  const Eigen::Index k = std::min(x.rows(), x.cols());
  Eigen::MatrixXd rr = qr.matrixQR().topRows(k).triangularView<Eigen::Upper>();
  return rr;
}

}  // namespace

Eigen::MatrixXd triangular_factor(const Eigen::Ref<const Eigen::MatrixXd>& x, int threads) {
  if (x.rows() >= x.cols() && x.cols() > 0) {
    if (auto r = cholesky_factor(gram(x, threads))) return *r;
  }
  return householder_factor(x);
}

Eigen::MatrixXd triangular_factor_of_transpose(const Eigen::Ref<const Eigen::MatrixXd>& xt) {
  const Eigen::Index r = xt.rows(), m = xt.cols();
  if (m >= r && r > 0) {
    Eigen::MatrixXd g = Eigen::MatrixXd::Zero(r, r);
    if (!blas::gram_lower_rows(r, m, xt.data(), xt.outerStride(), g.data(), g.outerStride())) {
      g.selfadjointView<Eigen::Lower>().rankUpdate(xt);
    }
    if (auto f = cholesky_factor(g)) return *f;
  }
  return householder_factor(xt.transpose());
}

std::vector<double> tall_singular_values(const Eigen::Ref<const Eigen::MatrixXd>& x, int threads) {
  const Eigen::Index r = x.cols();
  if (r == 0 || x.rows() == 0) return {};
  if (x.rows() >= r) {
    const auto lambda = eigenvalues_lower(gram(x, threads));  // ascending
    if (lambda && (*lambda)(r - 1) > 0 && (*lambda)(0) >= kEigRatio * (*lambda)(r - 1)) {
      return sorted_descending(lambda->cwiseSqrt());
    }
  }
  return singular_values(triangular_factor(x, threads));
}

std::vector<double> singular_values(const Eigen::Ref<const Eigen::MatrixXd>& m) {
  const Eigen::Index k = std::min(m.rows(), m.cols());
  if (k == 0) return {};
  // Gram of the smaller side: k×k (lower triangle; OpenBLAS dsyrk when found).
  Eigen::MatrixXd g = Eigen::MatrixXd::Zero(k, k);
  if (m.rows() <= m.cols()) {
    if (!blas::gram_lower_rows(k, m.cols(), m.data(), m.outerStride(), g.data(), g.outerStride())) {
      g.selfadjointView<Eigen::Lower>().rankUpdate(m);
    }
  } else {
    gram_block(m, g);
  }
  const auto lambda = eigenvalues_lower(g);  // ascending
  if (lambda && (*lambda)(k - 1) > 0 && (*lambda)(0) >= kEigRatio * (*lambda)(k - 1)) {
    return sorted_descending(lambda->cwiseSqrt());
  }
  Eigen::BDCSVD<Eigen::MatrixXd> svd(m);
  return sorted_descending(svd.singularValues());
}

std::vector<double> product_singular_values(const Eigen::Ref<const Eigen::MatrixXd>& ra,
                                            const Eigen::Ref<const Eigen::MatrixXd>& rb) {
  if (ra.cols() != rb.cols()) {
    throw InputError("spectrum: factors have different inner widths (" +
                     std::to_string(ra.cols()) + " and " + std::to_string(rb.cols()) + ")");
  }
  Eigen::MatrixXd p(ra.rows(), rb.rows());
  if (!blas::gemm_nt(ra.rows(), rb.rows(), ra.cols(), ra.data(), ra.outerStride(), rb.data(), rb.outerStride(),
                     p.data(), p.outerStride())) {
    p.noalias() = ra * rb.transpose();
  }
  return singular_values(p);
}

std::vector<double> circuit_singular_values(const Eigen::Ref<const Eigen::MatrixXd>& a,
                                            const Eigen::Ref<const Eigen::MatrixXd>& b) {
  if (a.cols() != b.cols()) {
    throw InputError("spectrum: factors have different inner widths (" +
                     std::to_string(a.cols()) + " and " + std::to_string(b.cols()) + ")");
  }
  return product_singular_values(triangular_factor(a), triangular_factor(b));
}

}  // namespace gmha
