#pragma once
// What the audit-layout tests share: planted-rank synth options for a shape, a model of given
// layer shapes, and hand-written folders (a config.json and F32 tensors from float64 matrices)
// for layouts gmha's synth does not write (Nemotron-H, Falcon-H1, Jamba).
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "gmha/attention/model.hpp"
#include "gmha/bridge/synth.hpp"
#include "gmha/checkpoint/safetensors_writer.hpp"

namespace gmha::test {

/// Two F32 layers of `s` (seed 11) with the planted QK and VO rank patterns `qk`, `vo`.
inline SynthOptions planted_synth(SynthLayout layout, const AttentionShape& s, const char* qk, const char* vo) {
  SynthOptions o;
  o.layout = layout;
  o.shape = s;
  o.layers = 2;
  o.dtype = "F32";
  o.seed = 11;
  o.qk_rank = parse_rank_pattern(qk, "--qk-rank");
  o.vo_rank = parse_rank_pattern(vo, "--vo-rank");
  return o;
}

/// GQA of d = 96 with `heads` query heads, `kv` KV heads of width `h`.
inline AttentionShape gqa_96(int64_t heads, int64_t kv, int64_t h) {
  AttentionShape s;
  s.variant = Variant::kGqa;
  s.d_model = 96, s.heads = heads, s.kv_heads = kv, s.head_dim = h;
  return s;
}

/// A model whose layers have the given attention shapes (nothing else).
inline ModelDesign model_of(const std::vector<AttentionShape>& shapes) {
  ModelDesign m;
  m.name = "planted";
  m.d_model = shapes[0].d_model;
  for (const auto& s : shapes) {
    LayerSpec l;
    l.attention = s;
    m.layers.push_back(l);
  }
  return m;
}

/// Standard-normal r × c matrices from one seeded stream.
class Gaussian {
 public:
  explicit Gaussian(uint64_t seed) : rng_(seed) {}
  Eigen::MatrixXd operator()(Eigen::Index r, Eigen::Index c) {
    Eigen::MatrixXd m(r, c);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = gauss_(rng_);
    return m;
  }

 private:
  std::mt19937_64 rng_;
  std::normal_distribution<double> gauss_;
};

/// `m` as an F32 safetensors tensor named `name` (row-major, as torch stores [out, in]).
inline TensorToWrite f32_tensor(const std::string& name, const Eigen::MatrixXd& m) {
  return TensorToWrite{name, "F32", {m.rows(), m.cols()}, [m](std::span<float> v) {
    for (Eigen::Index i = 0; i < m.rows(); ++i)
      for (Eigen::Index j = 0; j < m.cols(); ++j) v[static_cast<size_t>(i * m.cols() + j)] = static_cast<float>(m(i, j));
  }};
}

/// A vector [n] as an F32 tensor.
inline TensorToWrite f32_vector(const std::string& name, const Eigen::VectorXd& v) {
  return TensorToWrite{name, "F32", {v.size()}, [v](std::span<float> out) {
    for (Eigen::Index i = 0; i < v.size(); ++i) out[static_cast<size_t>(i)] = static_cast<float>(v(i));
  }};
}

}  // namespace gmha::test
