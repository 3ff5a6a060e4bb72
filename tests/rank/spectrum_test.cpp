#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>

#include <Eigen/SVD>

#include "gmha/core/blas.hpp"
#include "gmha/core/error.hpp"
#include "gmha/rank/metrics.hpp"
#include "gmha/rank/spectrum.hpp"
#include "support/test_paths.hpp"

using namespace gmha;

namespace {

// A d×r matrix with orthonormal columns, from a QR of a Gaussian matrix.
Eigen::MatrixXd random_orthonormal(Eigen::Index d, Eigen::Index r, std::mt19937_64& rng) {
  std::normal_distribution<double> n(0.0, 1.0);
  Eigen::MatrixXd g(d, r);
  for (Eigen::Index i = 0; i < g.size(); ++i) g.data()[i] = n(rng);
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(g);
  return qr.householderQ() * Eigen::MatrixXd::Identity(d, r);
}

// d×r factor with the given singular values (zeros allowed: a planted rank).
Eigen::MatrixXd factor_with_spectrum(Eigen::Index d, const Eigen::VectorXd& s, std::mt19937_64& rng) {
  const Eigen::Index r = s.size();
  return random_orthonormal(d, r, rng) * s.asDiagonal() * random_orthonormal(r, r, rng).transpose();
}

// Reference: dense double SVD of the formed d×d matrix.
std::vector<double> dense_sigma(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  const Eigen::MatrixXd w = a * b.transpose();
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(w);
  const auto& s = svd.singularValues();
  return {s.data(), s.data() + s.size()};
}

// Largest |σ_factored − σ_dense| over σ₁ (the dense list is longer: its tail must be ~0).
double worst_relative_gap(const std::vector<double>& factored, const std::vector<double>& dense) {
  double worst = 0.0;
  for (size_t i = 0; i < dense.size(); ++i) {
    const double f = i < factored.size() ? factored[i] : 0.0;
    worst = std::max(worst, std::abs(f - dense[i]));
  }
  return worst / dense[0];
}

}  // namespace

TEST_CASE("spectrum: factored singular values equal a dense SVD of the formed matrix to 1e-9 σ₁",
          "[rank]") {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> n(0.0, 1.0);
  for (Eigen::Index d : {16, 64, 128}) {
    for (Eigen::Index r : {1, 4, 8, 32}) {
      if (r > d) continue;
      Eigen::MatrixXd a(d, r), b(d, r);
      for (Eigen::Index i = 0; i < a.size(); ++i) a.data()[i] = n(rng), b.data()[i] = n(rng);
      const auto f = circuit_singular_values(a, b);
      const auto ref = dense_sigma(a, b);
      REQUIRE(f.size() == static_cast<size_t>(r));
      CHECK(worst_relative_gap(f, ref) < 1e-9);
    }
  }
}

TEST_CASE("spectrum: rank-deficient and ill-conditioned factors (the QR path) agree with dense SVD",
          "[rank]") {
  std::mt19937_64 rng(11);
  const Eigen::Index d = 96, r = 16;
  // Planted rank 5 in A, and B with σ spread over seven decades (κ = 1e7).
  Eigen::VectorXd sa = Eigen::VectorXd::Zero(r), sb(r);
  sa.head(5) << 1.0, 0.8, 0.6, 0.4, 0.3;
  for (Eigen::Index i = 0; i < r; ++i) sb(i) = std::pow(10.0, -7.0 * i / (r - 1));
  const Eigen::MatrixXd a = factor_with_spectrum(d, sa, rng), b = factor_with_spectrum(d, sb, rng);
  const auto f = circuit_singular_values(a, b);
  const auto ref = dense_sigma(a, b);
  CHECK(worst_relative_gap(f, ref) < 1e-9);
  const RankMetrics m = rank_metrics(f, std::ldexp(1.0, -22), 0.99);
  CHECK(m.numerical_rank == 5);
}

TEST_CASE("spectrum: factors around the Cholesky/QR switch (κ 10 to 1e5) agree with dense SVD",
          "[rank]") {
  // The Gram path is taken on an estimated κ; whichever path a factor takes, and even where the
  // estimate falls short, σ must match the dense SVD to 1e-9 σ₁. Geometric and two-cluster
  // spectra (the latter the hardest for power iteration) on both sides of the threshold.
  std::mt19937_64 rng(19);
  const Eigen::Index d = 128, r = 24;
  for (double kappa : {10.0, 30.0, 60.0, 100.0, 300.0, 1e3, 1e5, 1e7}) {
    for (int shape = 0; shape < 2; ++shape) {
      Eigen::VectorXd s(r);
      for (Eigen::Index i = 0; i < r; ++i) {
        s(i) = shape == 0 ? std::pow(kappa, -static_cast<double>(i) / (r - 1)) : (i < r - 2 ? 1.0 : 1.0 / kappa);
      }
      const Eigen::MatrixXd a = factor_with_spectrum(d, s, rng), b = factor_with_spectrum(d, s, rng);
      INFO("kappa " << kappa << " shape " << shape);
      CHECK(worst_relative_gap(circuit_singular_values(a, b), dense_sigma(a, b)) < 1e-9);
      const Eigen::MatrixXd ra = triangular_factor(a);
      CHECK((ra.transpose() * ra - a.transpose() * a).norm() < 1e-12);
    }
  }
}

TEST_CASE("spectrum: triangular factor satisfies RᵀR = XᵀX on both paths and with threads",
          "[rank]") {
  std::mt19937_64 rng(3);
  Eigen::VectorXd good(8), bad(8);
  good << 1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3;
  bad << 1, 0.5, 0.1, 1e-3, 1e-5, 1e-7, 0, 0;
  for (const Eigen::VectorXd& s : {good, bad}) {
    const Eigen::MatrixXd x = factor_with_spectrum(5000, s, rng);
    for (int threads : {1, 2}) {
      const Eigen::MatrixXd r = triangular_factor(x, threads);
      REQUIRE(r.rows() == 8);
      CHECK((r.transpose() * r - x.transpose() * x).norm() < 1e-12);
      CHECK(r.isUpperTriangular());
    }
  }
  // Wide input (fewer rows than columns): R is rows×cols and still reproduces the Gram matrix.
  const Eigen::MatrixXd w = random_orthonormal(12, 5, rng).transpose();
  const Eigen::MatrixXd rw = triangular_factor(w);
  CHECK(rw.rows() == 5);
  CHECK((rw.transpose() * rw - w.transpose() * w).norm() < 1e-12);
}

TEST_CASE("spectrum: planted ranks 1..r come back exactly, zero matrix gives rank 0", "[rank]") {
  std::mt19937_64 rng(5);
  const Eigen::Index d = 64, r = 8;
  const Eigen::MatrixXd b = factor_with_spectrum(d, Eigen::VectorXd::Constant(r, 1.0), rng);
  for (Eigen::Index k = 0; k <= r; ++k) {
    Eigen::VectorXd s = Eigen::VectorXd::Zero(r);
    for (Eigen::Index i = 0; i < k; ++i) s(i) = 1.0 - 0.7 * i / std::max<Eigen::Index>(r - 1, 1);
    const auto sigma = circuit_singular_values(factor_with_spectrum(d, s, rng), b);
    CHECK(rank_metrics(sigma, std::ldexp(1.0, -22), 0.99).numerical_rank == k);
  }
}

TEST_CASE("spectrum: factors of different inner widths are an input error", "[rank]") {
  CHECK_THROWS_AS(circuit_singular_values(Eigen::MatrixXd::Ones(8, 2), Eigen::MatrixXd::Ones(8, 3)),
                  InputError);
}

TEST_CASE("metrics: hand-computed values for σ = (2, 1, 1, 0)", "[rank]") {
  const std::vector<double> s{2.0, 1.0, 1.0, 0.0};
  const RankMetrics m = rank_metrics(s, 0.1, 0.99);
  CHECK(m.sigma_1 == 2.0);
  CHECK(m.numerical_rank == 3);
  CHECK(m.energy_rank == 3);  // prefix σ² 4, 5, 6 of 6: 5.94 needs three
  CHECK(rank_metrics(s, 0.1, 0.6).energy_rank == 1);  // 4 ≥ 3.6
  CHECK(rank_metrics(s, 0.1, 1.0).energy_rank == 3);
  CHECK(rank_metrics(s, 0.6, 0.99).numerical_rank == 1);  // 1 > 1.2 fails
  // p = (1/2, 1/4, 1/4): H = 1.5 ln 2, exp(H) = 2^1.5.
  CHECK(m.entropy_rank == Approx(std::pow(2.0, 1.5)).epsilon(1e-14));
  CHECK(m.stable_rank == Approx(1.5).epsilon(1e-15));
}

TEST_CASE("metrics: a flat spectrum of k values has every rank equal to k", "[rank]") {
  const std::vector<double> s(7, 0.5);
  const RankMetrics m = rank_metrics(s, 1e-3, 0.99);
  CHECK(m.numerical_rank == 7);
  CHECK(m.energy_rank == 7);
  CHECK(m.entropy_rank == Approx(7.0).epsilon(1e-14));
  CHECK(m.stable_rank == Approx(7.0).epsilon(1e-14));
}

TEST_CASE("metrics: a zero matrix has all metrics 0, bad τ, p and σ are input errors", "[rank]") {
  const std::vector<double> zero(4, 0.0);
  const RankMetrics m = rank_metrics(zero, 0.01, 0.99);
  CHECK(m.sigma_1 == 0.0);
  CHECK(m.numerical_rank == 0);
  CHECK(m.energy_rank == 0);
  CHECK(m.entropy_rank == 0.0);
  CHECK(m.stable_rank == 0.0);
  const std::vector<double> s{1.0};
  CHECK_THROWS_AS(rank_metrics(s, 0.0, 0.99), InputError);
  CHECK_THROWS_AS(rank_metrics(s, std::numeric_limits<double>::infinity(), 0.99), InputError);
  CHECK(rank_metrics(s, 1.0, 0.99).numerical_rank == 0);  // τ ≥ 1: nothing above the noise
  CHECK_THROWS_AS(rank_metrics(s, 0.1, 0.0), InputError);
  CHECK_THROWS_AS(rank_metrics(s, 0.1, 1.5), InputError);
  const std::vector<double> nan{std::nan("")};
  CHECK_THROWS_AS(rank_metrics(nan, 0.1, 0.99), InputError);
}

TEST_CASE("metrics: rounding noise is u/sqrt(3) of the storage dtype, a block step for the block codes", "[rank]") {
  const double third = 1.0 / std::sqrt(3.0);
  CHECK(*rounding_noise("F32") == std::ldexp(third, -24));
  CHECK(*rounding_noise("F16") == std::ldexp(third, -11));
  CHECK(*rounding_noise("BF16") == std::ldexp(third, -8));
  CHECK(*rounding_noise("F8_E4M3") == std::ldexp(third, -4));
  CHECK(*rounding_noise("F8_E5M2") == std::ldexp(third, -3));
  CHECK(*rounding_noise("Q8_0") == Approx(0.00682).epsilon(1e-3));  // 3 / (127 √12)
  // Block codes: step / √12 over the rms, absmax ≈ 3 rms (docs/audit.md): Q6_K 3/32, Q5_K and
  // Q4_K a range of ≈ 6 rms in 31 and 15 steps; E2M1 under a block scale as a float, u = 2^-2.
  CHECK(*rounding_noise("Q6_K") == Approx(0.02706).epsilon(1e-3));
  CHECK(*rounding_noise("Q5_K") == Approx(0.05587).epsilon(1e-3));
  CHECK(*rounding_noise("Q4_K") == Approx(0.11547).epsilon(1e-3));
  CHECK(*rounding_noise("MXFP4") == std::ldexp(third, -2));
  CHECK(*rounding_noise("NVFP4") == std::ldexp(third, -2));
  CHECK(*rounding_noise("F6_E2M3") == std::ldexp(third, -4));
  CHECK_FALSE(rounding_noise("I32").has_value());
  CHECK_FALSE(rounding_noise("Q4_0").has_value());
  CHECK_FALSE(rounding_noise("Q2_K").has_value());
}

TEST_CASE("spectrum: the OpenBLAS and Eigen Gram paths give the same factors", "[rank]") {
  if (!blas::available()) {
    gmha::test::skip_missing("OpenBLAS (libopenblas.so.0) not found at run time: only the Eigen path is exercised");
    return;
  }
  std::mt19937_64 rng(11);
  // Tall enough (5000 rows) that two threads split the Gram into row blocks.
  Eigen::VectorXd s = Eigen::VectorXd::LinSpaced(24, 1.0, 0.3);
  const Eigen::MatrixXd x = factor_with_spectrum(5000, s, rng);
  const Eigen::MatrixXd r_blas = triangular_factor(x, 2);
  const std::vector<double> key_blas = tall_singular_values(x, 2);
  const bool was = blas::set_enabled(false);
  const Eigen::MatrixXd r_eigen = triangular_factor(x, 2);
  const std::vector<double> key_eigen = tall_singular_values(x, 2);
  blas::set_enabled(was);
  CHECK((r_blas - r_eigen).cwiseAbs().maxCoeff() < 1e-12);
  REQUIRE(key_blas.size() == key_eigen.size());
  for (size_t i = 0; i < key_blas.size(); ++i) CHECK(std::abs(key_blas[i] - key_eigen[i]) < 1e-12);
  CHECK(std::abs(key_blas.front() - 1.0) < 1e-12);  // the planted σ₁
}
