#include "gmha/rank/metrics.hpp"

#include <cmath>
#include <string>
#include <vector>

#include "gmha/core/error.hpp"

namespace gmha {

RankMetrics rank_metrics(std::span<const double> sigma, double tol, double energy) {
  if (!(tol > 0.0 && std::isfinite(tol))) {
    throw InputError("rank tolerance must be a positive number (got " + std::to_string(tol) + ")");
  }
  if (!(energy > 0.0 && energy <= 1.0)) {
    throw InputError("energy level must lie in (0, 1] (got " + std::to_string(energy) + ")");
  }
  RankMetrics m;
  for (double s : sigma) {
    if (!std::isfinite(s) || s < 0.0) {
      throw InputError("spectrum has a negative or non-finite singular value (" +
                       std::to_string(s) + ")");
    }
  }
  if (sigma.empty() || sigma[0] <= 0.0) return m;  // zero matrix: all metrics 0
  m.sigma_1 = sigma[0];
  // Prefix sums of σ² (the total is the last one, so p = 1 is reached exactly at the end).
  std::vector<double> energy_prefix(sigma.size());
  double sum_sq = 0.0, sum = 0.0;
  for (size_t i = 0; i < sigma.size(); ++i) {
    sum_sq += sigma[i] * sigma[i];
    sum += sigma[i];
    energy_prefix[i] = sum_sq;
    if (sigma[i] > tol * m.sigma_1) ++m.numerical_rank;
  }
  for (size_t i = 0; i < sigma.size(); ++i) {
    if (energy_prefix[i] >= energy * sum_sq) {
      m.energy_rank = static_cast<int64_t>(i + 1);
      break;
    }
  }
  double entropy = 0.0;
  for (double s : sigma) {
    const double p = s / sum;
    if (p > 0.0) entropy -= p * std::log(p);
  }
  m.entropy_rank = std::exp(entropy);
  m.stable_rank = sum_sq / (m.sigma_1 * m.sigma_1);
  return m;
}

std::optional<double> rounding_noise(std::string_view t) {
  const double third = 1.0 / std::sqrt(3.0);  // rms of a relative error uniform in [-u, u]
  if (t == "F64") return std::ldexp(third, -53);
  if (t == "F32") return std::ldexp(third, -24);
  if (t == "F16") return std::ldexp(third, -11);
  if (t == "BF16") return std::ldexp(third, -8);
  if (t == "F8_E4M3") return std::ldexp(third, -4);
  if (t == "F8_E5M2") return std::ldexp(third, -3);
  // Integer block codes: rms error step/√12 per weight relative to the weights' rms, the step
  // taken from a block absmax of ≈ 3 rms (docs/audit.md, "Rank tolerance"). Symmetric codes
  // span absmax with qmax steps; K-quants with a minimum span the block's range, ≤ 2·absmax.
  const double rms_step = 1.0 / std::sqrt(12.0);
  if (t == "Q8_0") return 3.0 / 127.0 * rms_step;
  if (t == "Q6_K") return 3.0 / 32.0 * rms_step;
  if (t == "Q5_K") return 6.0 / 31.0 * rms_step;
  if (t == "Q4_K") return 6.0 / 15.0 * rms_step;
  // E2M1 elements under a block scale (MXFP4, NVFP4) and the bare MX elements: floats with one
  // (E2M1), three (E2M3) and two (E3M2) mantissa bits, relative error u/√3 like F8.
  if (t == "MXFP4" || t == "NVFP4" || t == "F4") return std::ldexp(third, -2);
  if (t == "F6_E2M3") return std::ldexp(third, -4);
  if (t == "F6_E3M2") return std::ldexp(third, -3);
  return std::nullopt;
}

}  // namespace gmha
