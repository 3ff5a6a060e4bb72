#pragma once
// The four rank metrics of docs/audit.md, computed from a spectrum (σ sorted descending), and the
// default numerical-rank tolerance τ of a storage dtype.
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace gmha {

/// Metrics of one matrix. Names as docs/audit.md defines them; output keys are the snake_case names.
struct RankMetrics {
  double sigma_1 = 0.0;        // largest singular value σ₁
  int64_t numerical_rank = 0;  // #σ > τ·σ₁
  int64_t energy_rank = 0;     // smallest k with Σ_{i≤k} σᵢ² ≥ p·Σσ²
  double entropy_rank = 0.0;   // entropy effective rank (Roy & Vetterli 2007): exp(−Σ pᵢ ln pᵢ)
  double stable_rank = 0.0;    // Σσ² / σ₁²
};

/// Metrics of `sigma` (descending, non-negative) at tolerance `tol` and energy level `energy`.
/// A zero matrix has every metric 0. Throws InputError when tol is not in (0, 1), energy not in
/// (0, 1], or a σ is negative or not finite.
RankMetrics rank_metrics(std::span<const double> sigma, double tol, double energy);

/// Default τ for weights stored as `storage_dtype` (a safetensors/GGUF type name: F64, F32, F16,
/// BF16, F8_E4M3, F8_E5M2, Q8_0): 4·u of the dtype (F32 2⁻²², F16 2⁻⁹, BF16 2⁻⁶, F64 2⁻⁵¹),
/// 2⁻⁴ for fp8 and 8-bit block quantisation. nullopt for a type with no sensible roundoff.
std::optional<double> default_rank_tolerance(std::string_view storage_dtype);

}  // namespace gmha
