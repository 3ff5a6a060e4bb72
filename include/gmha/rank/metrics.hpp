#pragma once
// The four rank metrics of docs/audit.md, computed from a spectrum (σ sorted descending), and the
// rounding noise of a storage dtype that the default (noise-aware) rank tolerance is built from.
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
/// A zero matrix has every metric 0; tol ≥ 1 counts no σ (a matrix entirely below its noise).
/// Throws InputError when tol is not a positive number, energy not in (0, 1], or a σ is negative
/// or not finite.
RankMetrics rank_metrics(std::span<const double> sigma, double tol, double energy);

/// η of weights stored as `storage_dtype` (a safetensors/GGUF type name): the rms of the storage
/// rounding error of an element relative to the element (float types, u/√3 with u the unit
/// roundoff: F64 2⁻⁵³, F32 2⁻²⁴, F16 2⁻¹¹, BF16 2⁻⁸, F8_E4M3 2⁻⁴, F8_E5M2 2⁻³) or to the rms of its
/// block (Q8_0: 3/(127·√12), a step of absmax/127 with absmax ≈ 3 rms). docs/audit.md derives
/// the tolerance from it. nullopt for a type with no such model (integer and 2–6-bit codes).
std::optional<double> rounding_noise(std::string_view storage_dtype);

/// The noise-aware tolerance's safety factor c: a singular value counts when it exceeds c times
/// the estimated spectral norm of the rounding error (docs/audit.md, "Rank tolerance").
inline constexpr double kNoiseFactor = 2.0;
/// Below this relative τ the spectra themselves are not accurate (docs/audit.md: σ error ≤
/// 1e-10·σ₁), so no tolerance is smaller.
inline constexpr double kSpectrumFloor = 1e-9;

}  // namespace gmha
