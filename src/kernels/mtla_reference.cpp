// MTLA (Deng & Woodland 2025, arXiv 2505.13544; reference MTLA.py in D-Keqi/mtla) in the
// reference's prefill and decode forms (docs/kernels.md, "MTLA"). MLA whose cache merges each run
// of s tokens into one entry:
//   c_t  = LayerNorm(W_DKV x_t)                     the latent, width C (weight and bias)
//   w_t  = sigmoid((fc_c pe(t div s) + b_c) . (fc_p c_t + b_p))   the hyper-network's merge weight
//   entry e = sum over its tokens t so far of w_t c_t; its RoPE key is that of its latest token.
// Prefill is MTLA.py's training form: query i reads, for every a <= i that ends a block
// ((a + 1) mod s = 0) and for a = i itself, the partial merge up to a with a's RoPE key, per head
// expanded through kv_b_proj. Decode keeps ceil(T/s) entries and scores them absorbed, as MTLA.py's
// incremental path. The merge weights are a non-linear function of each token, so there is no
// bilinear form (outside the fixed GMHA circuits, like contextual TPA).
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "gmha/core/error.hpp"
#include "mtla_reference.hpp"

namespace gmha::detail {

namespace {

using Vec = Eigen::VectorXd;

// nn.LayerNorm over one row: (r - mean) / sqrt(var + eps) * gamma + beta.
Vec layer_norm(const Vec& r, const MatrixRM& gamma, const MatrixRM& beta, double eps) {
  const double mean = r.mean();
  const Vec c = r.array() - mean;
  const double f = 1.0 / std::sqrt(c.squaredNorm() / static_cast<double>(r.size()) + eps);
  return (c * f).cwiseProduct(gamma.reshaped()) + beta.reshaped();
}

// HyperNetwork.positional_encoding: pe[2k] = sin(j div_k), pe[2k + 1] = cos(j div_k),
// div_k = exp(-2k ln(10000) / C), for entry index j.
Vec entry_encoding(int64_t j, int64_t C) {
  Vec pe(C);
  for (int64_t m = 0; m < C; ++m) {
    const double div = std::exp(-static_cast<double>(2 * (m / 2)) * std::log(10000.0) / static_cast<double>(C));
    pe(m) = m % 2 == 0 ? std::sin(static_cast<double>(j) * div) : std::cos(static_cast<double>(j) * div);
  }
  return pe;
}

struct Token {
  Vec q;       // [heads (nope + rope)], RoPE applied
  Vec latent;  // c_t
  Vec k_rope;  // after RoPE
  double merge = 0;  // w_t
};

Token project_token(const LayerWeights& w, const Vec& x, int64_t t, const LayerOptions& o, const RopeTable& rt) {
  const AttentionShape& s = w.shape;
  const int64_t nope = s.qk_nope_dim, rope = s.qk_rope_dim, C = s.kv_lora_rank;
  Token k;
  k.q = s.q_lora_rank > 0 ? Vec(w.at("q_b_proj") * layer_norm(w.at("q_a_proj") * x, w.at("q_a_layernorm"),
                                                                 w.at("q_a_layernorm.bias"), o.norm_eps))
                          : Vec(w.at("q_proj") * x);
  for (int64_t c = 0; c < s.heads; ++c) apply_rope(rt, t, k.q.data() + c * (nope + rope) + nope);
  const Vec kv = w.at("kv_a_proj_with_mqa") * x;
  k.latent = layer_norm(kv.head(C), w.at("kv_a_layernorm"), w.at("kv_a_layernorm.bias"), o.norm_eps);
  k.k_rope = kv.tail(rope);
  apply_rope(rt, t, k.k_rope.data());
  const Vec pc = w.at("hypernet.fc_c") * entry_encoding(t / s.temporal_stride, C) + w.at("hypernet.fc_c.bias").reshaped();
  const Vec pp = w.at("hypernet.fc_p") * k.latent + w.at("hypernet.fc_p.bias").reshaped();
  k.merge = 1.0 / (1.0 + std::exp(-pc.dot(pp)));
  return k;
}

void softmax(std::vector<double>& s) {
  double m = s[0];
  for (double v : s) m = std::max(m, v);
  double sum = 0;
  for (double& v : s) sum += (v = std::exp(v - m));
  for (double& v : s) v /= sum;
}

}  // namespace

MatrixRM mtla_forward(const LayerWeights& w, const MatrixRM& x, const LayerOptions& o, const RopeTable& rt,
                      AttentionForm form, DecodeCacheStats* stats) {
  const AttentionShape& s = w.shape;
  if (form == AttentionForm::kBilinear) {
    throw InputError("bilinear form: MTLA's merge weights are a non-linear function of each token, outside the "
                     "bilinear GMHA form (use prefill or decode)");
  }
  if (o.window > 0) throw InputError("attention options: MTLA with a sliding window is not modelled");
  const int64_t T = x.rows(), st = s.temporal_stride, nope = s.qk_nope_dim, rope = s.qk_rope_dim;
  const int64_t vd = s.v_head_dim, C = s.kv_lora_rank;
  const double scale = softmax_scale(s, o);
  const MatrixRM& kvb = w.at("kv_b_proj");
  const MatrixRM& wo = w.at("o_proj");
  std::vector<Token> tok;
  for (int64_t t = 0; t < T; ++t) tok.push_back(project_token(w, x.row(t).transpose(), t, o, rt));
  MatrixRM y(T, s.d_model);
  std::vector<double> p;
  if (form == AttentionForm::kPrefill) {
    // Partial merges: merged.row(a) = sum of w_b c_b over a's block up to a.
    MatrixRM merged(T, C);
    for (int64_t a = 0; a < T; ++a) {
      Vec m = tok[static_cast<size_t>(a)].merge * tok[static_cast<size_t>(a)].latent;
      if (a % st != 0) m += merged.row(a - 1).transpose();
      merged.row(a) = m.transpose();
    }
    for (int64_t i = 0; i < T; ++i) {
      std::vector<int64_t> keys;
      for (int64_t a = 0; a <= i; ++a) {
        if ((a + 1) % st == 0 || a == i) keys.push_back(a);
      }
      Vec heads_out(s.heads * vd);
      for (int64_t c = 0; c < s.heads; ++c) {
        const int64_t base = c * (nope + vd);
        const Vec qc = tok[static_cast<size_t>(i)].q.segment(c * (nope + rope), nope + rope);
        p.assign(keys.size(), 0.0);
        for (size_t n = 0; n < keys.size(); ++n) {
          const auto a = static_cast<size_t>(keys[n]);
          Vec k(nope + rope);  // expanded key of the partial entry, as a head sees it
          k << kvb.middleRows(base, nope) * merged.row(keys[n]).transpose(), tok[a].k_rope;
          p[n] = qc.dot(k) * scale;
        }
        softmax(p);
        Vec o_c = Vec::Zero(vd);
        for (size_t n = 0; n < keys.size(); ++n) {
          o_c += p[n] * (kvb.middleRows(base + nope, vd) * merged.row(keys[n]).transpose());
        }
        heads_out.segment(c * vd, vd) = o_c;
      }
      y.row(i) = (wo * heads_out).transpose();
    }
    return y;
  }
  // Decode: the cache holds entries (merged latent, RoPE key of the entry's latest token).
  std::vector<Vec> lat, kr;
  for (int64_t t = 0; t < T; ++t) {
    const Token& k = tok[static_cast<size_t>(t)];
    if (t % st == 0) {
      lat.push_back(k.merge * k.latent);
      kr.push_back(k.k_rope);
    } else {
      lat.back() += k.merge * k.latent;
      kr.back() = k.k_rope;
    }
    Vec heads_out(s.heads * vd);
    for (int64_t c = 0; c < s.heads; ++c) {
      const int64_t base = c * (nope + vd);
      const Vec q_lat = kvb.middleRows(base, nope).transpose() * k.q.segment(c * (nope + rope), nope);
      const Vec q_rope = k.q.segment(c * (nope + rope) + nope, rope);
      p.assign(lat.size(), 0.0);
      for (size_t e = 0; e < lat.size(); ++e) p[e] = (lat[e].dot(q_lat) + kr[e].dot(q_rope)) * scale;
      softmax(p);
      Vec o_lat = Vec::Zero(C);
      for (size_t e = 0; e < lat.size(); ++e) o_lat += p[e] * lat[e];
      heads_out.segment(c * vd, vd) = kvb.middleRows(base + nope, vd) * o_lat;
    }
    y.row(t) = (wo * heads_out).transpose();
  }
  if (stats) {
    stats->tokens = T;
    stats->elements_per_token = C + rope;  // per entry of s tokens
    stats->elements = static_cast<int64_t>(lat.size()) * (C + rope);
  }
  return y;
}

}  // namespace gmha::detail
