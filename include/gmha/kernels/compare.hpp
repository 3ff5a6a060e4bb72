#pragma once
// One comparison for every kernel check (reference vs hand-worked values, identities between
// variants, float32/bf16/CUDA kernels vs the double reference): the relative Frobenius error
// ||out - ref|| / ||ref|| and the worst element.
#include <cstdint>
#include <string>

#include "gmha/kernels/layer_weights.hpp"

namespace gmha {

struct Comparison {
  double rel_error = 0;    // ||out - ref||_F / ||ref||_F; +inf when out has a NaN/Inf
  double max_abs_error = 0;
  int64_t worst_row = -1;  // position of the largest |out - ref|
  int64_t worst_col = -1;
  double worst_out = 0;
  double worst_ref = 0;
  int64_t non_finite = 0;  // elements of out that are NaN or Inf
  bool passed(double tol) const { return non_finite == 0 && rel_error <= tol; }
  /// "rel 3.1e-07, worst |out-ref| 2.2e-06 at [3, 17] (out 0.51, ref 0.51)"
  std::string summary() const;
};

/// Compares `out` with `ref` (same shape). Throws InputError when the shapes differ or `ref` is
/// all zeros (a test on zeros proves nothing).
Comparison compare(const MatrixRM& out, const MatrixRM& ref);

}  // namespace gmha
