#pragma once
// The audit-diff tests' dense reference: principal angles between top-r singular subspaces of
// two formed matrices, from their full SVDs.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <utility>

#include <Eigen/SVD>

namespace gmha::test {

/// The largest principal angles (degrees) between the top-r left and right singular subspaces of
/// wa and wb, by acos of the smallest cosine (accurate above ~1e-8 rad).
inline std::pair<double, double> dense_angles_deg(const Eigen::MatrixXd& wa, const Eigen::MatrixXd& wb,
                                                  Eigen::Index r) {
  if (r == 0) return {0.0, 0.0};
  Eigen::BDCSVD<Eigen::MatrixXd> sa(wa, Eigen::ComputeThinU | Eigen::ComputeThinV);
  Eigen::BDCSVD<Eigen::MatrixXd> sb(wb, Eigen::ComputeThinU | Eigen::ComputeThinV);
  auto angle = [r](const Eigen::MatrixXd& ua, const Eigen::MatrixXd& ub) {
    Eigen::JacobiSVD<Eigen::MatrixXd> c(ua.leftCols(r).transpose() * ub.leftCols(r));
    return 180.0 / std::numbers::pi * std::acos(std::min(1.0, c.singularValues().minCoeff()));
  };
  return {angle(sa.matrixU(), sb.matrixU()), angle(sa.matrixV(), sb.matrixV())};
}

}  // namespace gmha::test
