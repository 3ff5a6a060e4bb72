#include "gmha/kernels/layer_weights.hpp"

#include <cmath>
#include <limits>
#include <random>

#include <fmt/format.h>

#include "gmha/attention/weights.hpp"
#include "gmha/core/error.hpp"

namespace gmha {

const MatrixRM& LayerWeights::at(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw InputError(fmt::format("attention weights: missing tensor '{}'", name));
  return it->second;
}

namespace {

// One tensor of random weights: norm weights 1 + U(-0.25, 0.25), MFA-KR alpha U(-0.5, 0.5),
// biases N(0, 0.1), everything else N(0, 1/fan_in), which keeps activations O(1) through each
// projection.
MatrixRM random_tensor(const WeightTensor& t, std::mt19937_64& rng) {
  MatrixRM m(t.rows, t.cols);
  const bool is_norm = !t.is_matrix && t.name.find("norm") != std::string::npos;
  const bool is_bias = t.name.find(".bias") != std::string::npos;
  if (is_norm) {
    std::uniform_real_distribution<double> u(0.75, 1.25);
    for (auto& v : m.reshaped()) v = u(rng);
  } else if (t.name == "kr_alpha") {
    std::uniform_real_distribution<double> u(-0.5, 0.5);
    for (auto& v : m.reshaped()) v = u(rng);
  } else {
    const double sd = is_bias ? 0.1 : 1.0 / std::sqrt(static_cast<double>(t.cols));
    std::normal_distribution<double> n(0.0, sd);
    for (auto& v : m.reshaped()) v = n(rng);
  }
  return m;
}

LayerWeights random_weights_of(const AttentionShape& shape, const std::vector<WeightTensor>& list, uint64_t seed) {
  LayerWeights w;
  w.shape = shape;
  std::mt19937_64 rng(seed);
  for (const WeightTensor& t : list) w.tensors.emplace(t.name, random_tensor(t, rng));
  return w;
}

}  // namespace

LayerWeights random_layer_weights(const AttentionShape& shape, uint64_t seed) {
  validate_shape(shape, "random weights");
  return random_weights_of(shape, attention_weights(shape), seed);
}

LayerWeights random_layer_weights(const LayerSpec& layer, uint64_t seed) {
  validate_shape(layer.attention, "random weights");
  return random_weights_of(layer.attention, layer_weights(layer), seed);
}

void check_layer_weights(const LayerWeights& w, const std::string& where) {
  validate_shape(w.shape, where);
  // Under compression CSA's indexer has its own compressor in place of wk and k_norm
  // (visit_layer_weights): weights holding it may lack those.
  const bool indexer_compressor = w.has("indexer.compressor.wkv");
  for (const WeightTensor& t : attention_weights(w.shape)) {
    auto it = w.tensors.find(t.name);
    if (it == w.tensors.end() && indexer_compressor &&
        (t.name == "indexer.wk" || t.name == "indexer.k_norm" || t.name == "indexer.k_norm.bias")) {
      continue;
    }
    if (it == w.tensors.end()) throw InputError(fmt::format("{}: missing tensor '{}'", where, t.name));
    const MatrixRM& m = it->second;
    // Vectors may arrive as [n, 1] or [1, n].
    const bool ok = (m.rows() == t.rows && m.cols() == t.cols) ||
                    (!t.is_matrix && m.rows() == 1 && m.cols() == t.rows);
    if (!ok) {
      throw InputError(fmt::format("{}: tensor '{}' is [{}, {}], expected [{}, {}]", where, t.name,
                                   m.rows(), m.cols(), t.rows, t.cols));
    }
    // A sink logit of -inf is a sink that never takes weight (plain attention); NaN and +inf are errors.
    const bool finite = t.name == "sinks" ? !(m.array().isNaN() || m.array() == std::numeric_limits<double>::infinity()).any()
                                          : m.allFinite();
    if (!finite) throw InputError(fmt::format("{}: tensor '{}' has non-finite values", where, t.name));
  }
  // Qwen3's optional per-head q/k norms: one gamma of width h shared by every head (per layer:
  // one gamma over the whole projection).
  for (const char* name : {"q_norm", "k_norm"}) {
    if (!w.has(name)) continue;
    const MatrixRM& m = w.at(name);
    const bool gqa = w.shape.variant == Variant::kMha || w.shape.variant == Variant::kMqa ||
                     w.shape.variant == Variant::kGqa;
    if (!gqa) throw InputError(fmt::format("{}: tensor '{}' applies to the MHA/GQA/MQA family only", where, name));
    // Per-layer norms (MiniMax-M2, OLMo 2) span the whole projection: q n*h, k g*h.
    const int64_t want = !w.shape.qk_norm_per_layer ? w.shape.head_dim
                         : w.shape.head_dim * (name[0] == 'q' ? w.shape.heads : w.shape.kv_heads);
    if (m.size() != want || (m.rows() != 1 && m.cols() != 1)) {
      throw InputError(fmt::format("{}: tensor '{}' is [{}, {}], expected [{}, 1]", where, name, m.rows(),
                                   m.cols(), want));
    }
    if (!m.allFinite()) throw InputError(fmt::format("{}: tensor '{}' has non-finite values", where, name));
  }
}

int64_t rotary_dim(const AttentionShape& s) {
  switch (s.variant) {
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa:
      // Partial rotary (Qwen3-Next, partial_rotary_factor): the first rotary_dim dims of each head.
      return s.rotary_dim > 0 ? s.rotary_dim : s.head_dim;
    case Variant::kMfa:
    case Variant::kMfaKr:
    case Variant::kTpa:  // RoPE rotates the feature factors b_Q, b_K (Zhang et al. 2025, §3.2)
      return s.head_dim;
    case Variant::kMla:
    case Variant::kGla:
    case Variant::kMtla:
    case Variant::kGta:  // the shared RoPE key and each query head's last d_R dims
      return s.qk_rope_dim;
    case Variant::kFpba:
    case Variant::kLinear:
      return 0;
  }
  return 0;
}

double softmax_scale(const AttentionShape& s, const LayerOptions& o) {
  if (o.scale > 0) return o.scale;
  double width = 0;
  switch (s.variant) {
    case Variant::kGla:
    case Variant::kMtla:
      width = static_cast<double>(s.qk_nope_dim + s.qk_rope_dim);
      break;
    case Variant::kMla: {
      width = static_cast<double>(s.qk_nope_dim + s.qk_rope_dim);
      double scale = 1.0 / std::sqrt(width);
      // DeepSeek (HF DeepseekV3Attention): under yarn with mscale_all_dim the scale gains mscale^2.
      if (o.rope.enabled && o.rope.scaling == RopeScalingKind::kYarn && o.rope.mscale_all_dim > 0) {
        const double m = yarn_get_mscale(o.rope.factor, o.rope.mscale_all_dim);
        scale *= m * m;
      }
      return scale;
    }
    case Variant::kFpba:
      width = static_cast<double>(s.d_model);
      break;
    default:
      width = static_cast<double>(s.head_dim);
      break;
  }
  return 1.0 / std::sqrt(width);
}

}  // namespace gmha
