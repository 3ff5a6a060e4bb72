#include "gmha/rank/spectrum.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <thread>

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>

#include "gmha/core/error.hpp"

namespace gmha {
namespace {

// Cholesky of the Gram matrix is used when λ_min(XᵀX) ≥ kGramRatio·λ_max, i.e. κ(X) ≤ 100;
// Cholesky-QR then loses at most ~r·u·κ² ≈ 1e-12 of orthogonality.
constexpr double kGramRatio = 1e-4;
// The small SVD goes through eig(PᵀP) when κ(P) ≤ 1e4; the absolute error of σ_i is then about
// r·u·σ₁²/(2σ_i) ≤ 1e-10·σ₁ for r ≤ 128.
constexpr double kEigRatio = 1e-8;
// Below this many rows per thread a split Gram costs more in thread start-up than it saves.
constexpr Eigen::Index kMinRowsPerThread = 2048;

// Lower triangle of XᵀX (the upper one is left undefined), optionally over row blocks in parallel.
Eigen::MatrixXd gram(const Eigen::Ref<const Eigen::MatrixXd>& x, int threads) {
  const Eigen::Index m = x.rows(), r = x.cols();
  Eigen::MatrixXd g = Eigen::MatrixXd::Zero(r, r);
  const int parts =
      static_cast<int>(std::clamp<Eigen::Index>(m / kMinRowsPerThread, 1, std::max(threads, 1)));
  if (parts == 1) {
    g.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose());
    return g;
  }
  std::vector<Eigen::MatrixXd> partial(static_cast<size_t>(parts), Eigen::MatrixXd::Zero(r, r));
  std::vector<std::thread> pool;
  for (int p = 0; p < parts; ++p) {
    pool.emplace_back([&, p] {
      const Eigen::Index begin = m * p / parts, end = m * (p + 1) / parts;
      partial[static_cast<size_t>(p)].selfadjointView<Eigen::Lower>().rankUpdate(
          x.middleRows(begin, end - begin).transpose());
    });
  }
  for (auto& t : pool) t.join();
  for (const auto& part : partial) g += part;
  return g;
}

std::vector<double> sorted_descending(const Eigen::VectorXd& v) {
  std::vector<double> s(v.data(), v.data() + v.size());
  std::sort(s.begin(), s.end(), [](double a, double b) { return a > b; });
  return s;
}

}  // namespace

Eigen::MatrixXd triangular_factor(const Eigen::Ref<const Eigen::MatrixXd>& x, int threads) {
  const Eigen::Index m = x.rows(), r = x.cols();
  if (m >= r && r > 0) {
    const Eigen::MatrixXd g = gram(x, threads);
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(g, Eigen::EigenvaluesOnly);
    const Eigen::VectorXd& lambda = eig.eigenvalues();  // ascending
    if (eig.info() == Eigen::Success && lambda(r - 1) > 0 && lambda(0) >= kGramRatio * lambda(r - 1)) {
      Eigen::LLT<Eigen::MatrixXd> llt(g);
      if (llt.info() == Eigen::Success) return llt.matrixU();
    }
  }
  // Ill-conditioned, rank-deficient, wide or empty: Householder QR is backward stable.
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(x);
  const Eigen::Index k = std::min(m, r);
  Eigen::MatrixXd rr = qr.matrixQR().topRows(k).triangularView<Eigen::Upper>();
  return rr;
}

std::vector<double> tall_singular_values(const Eigen::Ref<const Eigen::MatrixXd>& x, int threads) {
  const Eigen::Index r = x.cols();
  if (r == 0 || x.rows() == 0) return {};
  if (x.rows() >= r) {
    Eigen::MatrixXd g = gram(x, threads);
    g.triangularView<Eigen::StrictlyUpper>() = g.transpose();
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(g, Eigen::EigenvaluesOnly);
    const Eigen::VectorXd& lambda = eig.eigenvalues();  // ascending
    if (eig.info() == Eigen::Success && lambda(r - 1) > 0 && lambda(0) >= kEigRatio * lambda(r - 1)) {
      return sorted_descending(lambda.cwiseSqrt());
    }
  }
  return singular_values(triangular_factor(x, threads));
}

std::vector<double> singular_values(const Eigen::Ref<const Eigen::MatrixXd>& m) {
  const Eigen::Index k = std::min(m.rows(), m.cols());
  if (k == 0) return {};
  // Gram of the smaller side: k×k.
  Eigen::MatrixXd g = m.rows() <= m.cols() ? Eigen::MatrixXd(m * m.transpose())
                                           : Eigen::MatrixXd(m.transpose() * m);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(g, Eigen::EigenvaluesOnly);
  const Eigen::VectorXd& lambda = eig.eigenvalues();  // ascending
  if (eig.info() == Eigen::Success && lambda(k - 1) > 0 && lambda(0) >= kEigRatio * lambda(k - 1)) {
    return sorted_descending(lambda.cwiseSqrt());
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
  const Eigen::MatrixXd p = ra * rb.transpose();
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
