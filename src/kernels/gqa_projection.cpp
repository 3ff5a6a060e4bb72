#include "gqa_projection.hpp"

#include <cmath>

namespace gmha::detail {

namespace {

// HF RMSNorm on n elements in place (gamma [n, 1]): Qwen3's per-head norm, or one over the whole
// projection (MiniMax-M2, OLMo 2).
void norm_span(double* v, int64_t n, const MatrixRM& gamma, double eps) {
  Eigen::Map<Eigen::VectorXd> m(v, n);
  const double f = 1.0 / std::sqrt(m.squaredNorm() / static_cast<double>(n) + eps);
  m = m.cwiseProduct(Eigen::Map<const Eigen::VectorXd>(gamma.data(), n)) * f;
}

}  // namespace

Eigen::VectorXd gqa_key(const LayerWeights& w, Eigen::VectorXd k, int64_t t, const LayerOptions& o,
                        const RopeTable& rt) {
  const AttentionShape& s = w.shape;
  const int64_t hd = s.head_dim;
  const bool pl = s.qk_norm_per_layer;  // one norm over the whole projection
  if (pl && w.has("k_norm")) norm_span(k.data(), k.size(), w.at("k_norm"), o.norm_eps);
  for (int64_t c = 0; c < s.kv_heads; ++c) {
    if (!pl && w.has("k_norm")) norm_span(k.data() + c * hd, hd, w.at("k_norm"), o.norm_eps);
    apply_rope(rt, t, k.data() + c * hd);
  }
  return k;
}

GqaToken gqa_token(const LayerWeights& w, const Eigen::VectorXd& x, int64_t t, const LayerOptions& o,
                   const RopeTable& rt) {
  const AttentionShape& s = w.shape;
  const int64_t hd = s.head_dim;
  GqaToken p;
  p.q = w.at("q_proj") * x;
  p.k_raw = w.at("k_proj") * x;
  if (s.qkv_bias) {
    p.q += w.at("q_proj.bias").reshaped();
    p.k_raw += w.at("k_proj.bias").reshaped();
  }
  if (s.kv_tied) {
    p.v = p.k_raw;  // K = V: the value is the raw key projection
  } else {
    p.v = w.at("v_proj") * x;
    if (s.qkv_bias) p.v += w.at("v_proj.bias").reshaped();
  }
  p.k = gqa_key(w, p.k_raw, t, o, rt);
  const bool pl = s.qk_norm_per_layer;
  if (pl && w.has("q_norm")) norm_span(p.q.data(), p.q.size(), w.at("q_norm"), o.norm_eps);
  for (int64_t c = 0; c < s.heads; ++c) {
    if (!pl && w.has("q_norm")) norm_span(p.q.data() + c * hd, hd, w.at("q_norm"), o.norm_eps);
    apply_rope(rt, t, p.q.data() + c * hd);
  }
  return p;
}

}  // namespace gmha::detail
