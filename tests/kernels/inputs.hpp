#pragma once
// Inputs the kernel tests share: a seeded Gaussian token matrix and a layer shape from a design.
#include <cstdint>
#include <random>

#include "gmha/attention/design_spec.hpp"
#include "gmha/kernels/layer_weights.hpp"

namespace gmha::test {

/// t×d tokens with entries N(0, 1), the same for the same seed.
inline MatrixRM random_input(int64_t t, int64_t d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n(0.0, 1.0);
  MatrixRM x(t, d);
  for (auto& v : x.reshaped()) v = n(rng);
  return x;
}

/// The attention shape of the first layer of a --design spec.
inline AttentionShape shape_of(const char* spec) {
  return parse_design_spec(spec).layers.at(0).attention;
}

}  // namespace gmha::test
