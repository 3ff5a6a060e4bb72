// synth's planted factors and per-tensor generators (synth_layers.hpp).
#include <algorithm>
#include <cmath>

#include <Eigen/Cholesky>
#include <Eigen/QR>
#include <fmt/format.h>

#include "gmha/core/error.hpp"
#include "gmha/core/parallel.hpp"
#include "synth_layers.hpp"  // internal, beside this file

namespace gmha::synth_detail {
namespace {

constexpr double kSigmaMin = 0.3;  // planted σ run linearly from 1 down to 0.3·σ₁

// splitmix64: decorrelates the seeds of the per-tensor generators.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

// One generator per (seed, layer, role, index), so every tensor is reproducible on its own and
// the order in which tensors are generated does not matter.
std::mt19937_64 rng_for(uint64_t seed, int64_t layer, int role, int64_t index) {
  return std::mt19937_64(mix(mix(mix(seed) ^ static_cast<uint64_t>(layer)) ^
                             (static_cast<uint64_t>(role) << 32) ^ static_cast<uint64_t>(index)));
}

// rows×cols with orthonormal columns (rows ≥ cols), from a Gaussian matrix.
MatrixXd orthonormal(Index rows, Index cols, std::mt19937_64& rng) {
  std::normal_distribution<double> n(0.0, 1.0);
  MatrixXd g(rows, cols);
  for (Index i = 0; i < g.size(); ++i) g.data()[i] = n(rng);
  if (rows >= 4 * cols) {
    // Tall Gaussian matrices have κ close to 1: Cholesky-QR is exact to rounding and fast.
    Eigen::LLT<MatrixXd> llt(g.transpose() * g);
    return llt.matrixU().solve<Eigen::OnTheRight>(g);
  }
  Eigen::HouseholderQR<MatrixXd> qr(g);
  return qr.householderQ() * MatrixXd::Identity(rows, cols);
}

// σ of a circuit of width `width` planted at `rank`: linear from 1 to 0.3, then zeros.
VectorXd planted_sigma(Index width, int64_t rank) {
  VectorXd s = VectorXd::Zero(width);
  for (Index i = 0; i < rank; ++i) s(i) = rank == 1 ? 1.0 : 1.0 - (1.0 - kSigmaMin) * i / (rank - 1);
  return s;
}

// A rows×width factor U·diag(σ)·Vᵀ with the planted spectrum.
MatrixXd planted_factor(Index rows, Index width, int64_t rank, std::mt19937_64& rng) {
  const MatrixXd u = orthonormal(rows, width, rng);
  const MatrixXd v = orthonormal(width, width, rng);
  return u * planted_sigma(width, rank).asDiagonal() * v.transpose();
}

// RMSNorm weights γ in [0.5, 2] (log-uniform).
VectorXd norm_weights(Index n, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(std::log(0.5), std::log(2.0));
  VectorXd g(n);
  for (Index i = 0; i < n; ++i) g(i) = std::exp(u(rng));
  return g;
}

// Copies `m` (rows×cols, any storage) into the row-major float block at (r0, c0) of `out`
// (out_cols wide).
void put(std::span<float> out, Index out_cols, Index r0, Index c0, const MatrixXd& m) {
  for (Index i = 0; i < m.rows(); ++i)
    for (Index j = 0; j < m.cols(); ++j)
      out[static_cast<size_t>((r0 + i) * out_cols + c0 + j)] = static_cast<float>(m(i, j));
}

void check_rank(const RankPattern& p, int64_t layers, int64_t heads, int64_t nominal,
                const char* flag) {
  for (int64_t r : p.ranks) {
    if (r < -1 || r > nominal) {
      throw errors::bad_option(
          flag, fmt::format("planted rank {} is outside 0..{} (the nominal rank)", r, nominal));
    }
  }
  (void)layers;
  (void)heads;
}


void LayerPlan::add(const std::string& name, std::vector<int64_t> shape, std::function<void(std::span<float>)> fill) {
  tensors.push_back({name, dtype, std::move(shape), std::move(fill)});
}

void LayerPlan::add_input_norm(int64_t layer) {
  add(fmt::format("model.layers.{}.input_layernorm.weight", layer), {d},
      [](std::span<float> v) { std::fill(v.begin(), v.end(), 1.0f); });
}

void LayerPlan::add_planted_output(const std::string& name, int64_t l, int64_t heads, int64_t width,
                                   int64_t nominal) {
  const RankPattern ranks = o.vo_rank;
  const uint64_t seed = o.seed;
  const int64_t rows = d;
  add(name, {rows, heads * width}, [=](std::span<float> v) {
    parallel_for(heads, 0, [&](int64_t c) {
      auto rng = rng_for(seed, l, kOHead, c);
      put(v, heads * width, 0, c * width, planted_factor(rows, width, ranks.rank_of(l, c, heads, nominal), rng));
    });
  });
}

void LayerPlan::add_orthonormal_rows(const std::string& name, int64_t rows, int64_t cols, int64_t l, Role role) {
  const uint64_t seed = o.seed;
  add(name, {rows, cols}, [=](std::span<float> v) {
    auto rng = rng_for(seed, l, role, 0);
    put(v, cols, 0, 0, orthonormal(cols, rows, rng).transpose());
  });
}

void LayerPlan::add_norm_weights(const std::string& name, int64_t size, int64_t l, Role role) {
  const uint64_t seed = o.seed;
  add(name, {size}, [=](std::span<float> v) {
    auto rng = rng_for(seed, l, role, 0);
    put(v, 1, 0, 0, norm_weights(size, rng));
  });
}

}  // namespace gmha::synth_detail
