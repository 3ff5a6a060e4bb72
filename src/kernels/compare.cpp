#include "gmha/kernels/compare.hpp"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "gmha/core/error.hpp"

namespace gmha {

std::string Comparison::summary() const {
  std::string s = fmt::format("rel {:.2e}, worst |out-ref| {:.2e} at [{}, {}] (out {:.6g}, ref {:.6g})",
                              rel_error, max_abs_error, worst_row, worst_col, worst_out, worst_ref);
  if (non_finite > 0) s += fmt::format(", {} non-finite", non_finite);
  return s;
}

Comparison compare(const MatrixRM& out, const MatrixRM& ref) {
  if (out.rows() != ref.rows() || out.cols() != ref.cols()) {
    throw InputError(fmt::format("compare: shapes differ ([{}, {}] vs reference [{}, {}])", out.rows(),
                                 out.cols(), ref.rows(), ref.cols()));
  }
  Comparison c;
  double diff2 = 0, ref2 = 0;
  for (Eigen::Index r = 0; r < ref.rows(); ++r) {
    for (Eigen::Index k = 0; k < ref.cols(); ++k) {
      const double o = out(r, k), e = ref(r, k);
      ref2 += e * e;
      if (!std::isfinite(o)) {
        ++c.non_finite;
        if (c.non_finite == 1) {
          c.worst_row = r;
          c.worst_col = k;
          c.worst_out = o;
          c.worst_ref = e;
          c.max_abs_error = std::numeric_limits<double>::infinity();
        }
        continue;
      }
      const double a = std::abs(o - e);
      diff2 += a * a;
      if (c.non_finite == 0 && (a > c.max_abs_error || c.worst_row < 0)) {
        c.max_abs_error = a;
        c.worst_row = r;
        c.worst_col = k;
        c.worst_out = o;
        c.worst_ref = e;
      }
    }
  }
  if (!(ref2 > 0) || !std::isfinite(ref2)) {
    throw InputError("compare: the reference is all zeros or non-finite; the check would prove nothing");
  }
  c.rel_error = c.non_finite > 0 ? std::numeric_limits<double>::infinity() : std::sqrt(diff2 / ref2);
  return c;
}

}  // namespace gmha
