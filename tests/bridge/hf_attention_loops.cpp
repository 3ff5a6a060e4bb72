#include "bridge/hf_attention_loops.hpp"

#include <algorithm>
#include <cmath>

namespace gmha::test {

namespace {

using Vec = std::vector<double>;

// out[t][r] = sum_k in[t][k] * w[r][k] (+ b[r]): nn.Linear on every token.
Vec linear(const Vec& in, int64_t tokens, int64_t n_in, const Vec& w, int64_t n_out, const Vec& b) {
  Vec out(static_cast<size_t>(tokens * n_out), 0.0);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t r = 0; r < n_out; ++r) {
      double acc = b.empty() ? 0.0 : b[static_cast<size_t>(r)];
      for (int64_t k = 0; k < n_in; ++k)
        acc += in[static_cast<size_t>(t * n_in + k)] * w[static_cast<size_t>(r * n_in + k)];
      out[static_cast<size_t>(t * n_out + r)] = acc;
    }
  return out;
}

// RMSNorm over `n` consecutive values at `v`: v * rsqrt(mean(v^2) + eps) * gamma.
void rms_norm(double* v, int64_t n, const Vec& gamma, double eps) {
  double ms = 0;
  for (int64_t i = 0; i < n; ++i) ms += v[i] * v[i];
  const double r = 1.0 / std::sqrt(ms / static_cast<double>(n) + eps);
  for (int64_t i = 0; i < n; ++i) v[i] = v[i] * r * gamma[static_cast<size_t>(i)];
}

// HF apply_rotary_pos_emb on one head vector at position `pos`:
//   emb = cat(freqs, freqs); out = v * cos(emb) + rotate_half(v) * sin(emb),
//   rotate_half(v) = cat(-v[h/2:], v[:h/2]).
void rotate(double* v, int64_t h, int64_t pos, double theta) {
  const int64_t half = h / 2;
  Vec cosv(static_cast<size_t>(h)), sinv(static_cast<size_t>(h)), rot(static_cast<size_t>(h));
  for (int64_t j = 0; j < h; ++j) {
    const double inv_freq =
        1.0 / std::pow(theta, static_cast<double>(2 * (j % half)) / static_cast<double>(h));
    cosv[static_cast<size_t>(j)] = std::cos(static_cast<double>(pos) * inv_freq);
    sinv[static_cast<size_t>(j)] = std::sin(static_cast<double>(pos) * inv_freq);
    rot[static_cast<size_t>(j)] = j < half ? -v[j + half] : v[j - half];
  }
  for (int64_t j = 0; j < h; ++j)
    v[j] = v[j] * cosv[static_cast<size_t>(j)] +
           rot[static_cast<size_t>(j)] * sinv[static_cast<size_t>(j)];
}

// Causal (optionally windowed) softmax attention: q [T, n*hq], k [T, g*hq], v [T, g*hv]; head
// c reads KV head c / (n / g). Returns [T, n*hv].
Vec attend(const Vec& q, const Vec& k, const Vec& v, int64_t T, int64_t n, int64_t g, int64_t hq,
           int64_t hv, double scale, int64_t window) {
  Vec attn(static_cast<size_t>(T * n * hv), 0.0);
  for (int64_t c = 0; c < n; ++c) {
    const int64_t kv = c / (n / g);
    for (int64_t i = 0; i < T; ++i) {
      const int64_t first = window > 0 ? std::max<int64_t>(0, i - window + 1) : 0;
      Vec s;
      for (int64_t j = first; j <= i; ++j) {
        double dot = 0;
        for (int64_t e = 0; e < hq; ++e)
          dot += q[static_cast<size_t>(i * n * hq + c * hq + e)] *
                 k[static_cast<size_t>(j * g * hq + kv * hq + e)];
        s.push_back(dot * scale);
      }
      const double mx = *std::max_element(s.begin(), s.end());
      double sum = 0;
      for (double& e : s) sum += (e = std::exp(e - mx));
      for (int64_t j = first; j <= i; ++j) {
        const double p = s[static_cast<size_t>(j - first)] / sum;
        for (int64_t e = 0; e < hv; ++e)
          attn[static_cast<size_t>(i * n * hv + c * hv + e)] +=
              p * v[static_cast<size_t>(j * g * hv + kv * hv + e)];
      }
    }
  }
  return attn;
}

// DeepSeek's apply_rotary_pos_emb_interleave on one vector: view(d/2, 2).transpose ->
// [v0, v2, v4, ..., v1, v3, ...], then the rotate_half rotation above.
void rotate_interleaved(double* v, int64_t h, int64_t pos, double theta) {
  Vec t(static_cast<size_t>(h));
  for (int64_t i = 0; i < h / 2; ++i) {
    t[static_cast<size_t>(i)] = v[2 * i];
    t[static_cast<size_t>(i + h / 2)] = v[2 * i + 1];
  }
  rotate(t.data(), h, pos, theta);
  for (int64_t i = 0; i < h; ++i) v[i] = t[static_cast<size_t>(i)];
}

}  // namespace

std::vector<double> hf_llama_attention(const HfLlamaLayer& m, const std::vector<double>& x_in,
                                       int64_t T, bool input_norm) {
  const int64_t d = m.d, n = m.heads, g = m.kv_heads, h = m.head_dim;
  Vec x = x_in;
  if (input_norm)
    for (int64_t t = 0; t < T; ++t)
      rms_norm(&x[static_cast<size_t>(t * d)], d, m.input_norm, m.eps);
  Vec q = linear(x, T, d, m.wq, n * h, m.bq);
  Vec k = linear(x, T, d, m.wk, g * h, m.bk);
  const Vec v = linear(x, T, d, m.wv, g * h, m.bv);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t c = 0; c < n; ++c) {
      double* qc = &q[static_cast<size_t>(t * n * h + c * h)];
      if (!m.q_norm.empty()) rms_norm(qc, h, m.q_norm, m.eps);
      rotate(qc, h, t, m.theta);
    }
    for (int64_t c = 0; c < g; ++c) {
      double* kc = &k[static_cast<size_t>(t * g * h + c * h)];
      if (!m.k_norm.empty()) rms_norm(kc, h, m.k_norm, m.eps);
      rotate(kc, h, t, m.theta);
    }
  }
  const Vec attn =
      attend(q, k, v, T, n, g, h, h, 1.0 / std::sqrt(static_cast<double>(h)), m.window);
  return linear(attn, T, n * h, m.wo, d, m.bo);
}

std::vector<double> hf_deepseek_attention(const HfMlaLayer& m, const std::vector<double>& x,
                                          int64_t T) {
  const int64_t d = m.d, n = m.heads, nope = m.nope, rope = m.rope, hv = m.v_head, C = m.kv_lora;
  const int64_t qk = nope + rope;
  Vec q;
  if (m.q_lora > 0) {
    Vec qa = linear(x, T, d, m.wq_a, m.q_lora, {});
    for (int64_t t = 0; t < T; ++t)
      rms_norm(&qa[static_cast<size_t>(t * m.q_lora)], m.q_lora, m.q_a_norm, 1e-6);
    q = linear(qa, T, m.q_lora, m.wq_b, n * qk, {});
  } else {
    q = linear(x, T, d, m.wq, n * qk, {});
  }
  Vec ckv = linear(x, T, d, m.wkv_a, C + rope, {});  // [latent | k_rot] per token
  Vec latent(static_cast<size_t>(T * C)), k_rot(static_cast<size_t>(T * rope));
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t e = 0; e < C; ++e)
      latent[static_cast<size_t>(t * C + e)] = ckv[static_cast<size_t>(t * (C + rope) + e)];
    for (int64_t e = 0; e < rope; ++e)
      k_rot[static_cast<size_t>(t * rope + e)] = ckv[static_cast<size_t>(t * (C + rope) + C + e)];
    rms_norm(&latent[static_cast<size_t>(t * C)], C, m.kv_a_norm, 1e-6);
    rotate_interleaved(&k_rot[static_cast<size_t>(t * rope)], rope, t, m.theta);
  }
  const Vec kv = linear(latent, T, C, m.wkv_b, n * (nope + hv), {});  // per head [k_pass | value]
  // Per head keys [k_pass | k_rot (shared)] and values; queries [q_pass | rotated q_rot].
  Vec keys(static_cast<size_t>(T * n * qk)), values(static_cast<size_t>(T * n * hv));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < n; ++c) {
      double* qc = &q[static_cast<size_t>(t * n * qk + c * qk)];
      rotate_interleaved(qc + nope, rope, t, m.theta);
      for (int64_t e = 0; e < nope; ++e)
        keys[static_cast<size_t>(t * n * qk + c * qk + e)] =
            kv[static_cast<size_t>(t * n * (nope + hv) + c * (nope + hv) + e)];
      for (int64_t e = 0; e < rope; ++e)
        keys[static_cast<size_t>(t * n * qk + c * qk + nope + e)] =
            k_rot[static_cast<size_t>(t * rope + e)];
      for (int64_t e = 0; e < hv; ++e)
        values[static_cast<size_t>(t * n * hv + c * hv + e)] =
            kv[static_cast<size_t>(t * n * (nope + hv) + c * (nope + hv) + nope + e)];
    }
  const Vec attn =
      attend(q, keys, values, T, n, n, qk, hv, 1.0 / std::sqrt(static_cast<double>(qk)), 0);
  return linear(attn, T, n * hv, m.wo, d, {});
}

std::vector<double> hf_step3_attention(const HfMfaLayer& m, const std::vector<double>& x,
                                       int64_t T) {
  const int64_t d = m.d, n = m.heads, C = m.head_dim;
  Vec qs = linear(x, T, d, m.wq_share, m.q_share, {});
  for (int64_t t = 0; t < T; ++t)
    rms_norm(&qs[static_cast<size_t>(t * m.q_share)], m.q_share, m.inter_norm, m.eps);
  Vec q = linear(qs, T, m.q_share, m.wq, n * C, {});
  Vec k = linear(x, T, d, m.wk, C, {});
  const Vec v = linear(x, T, d, m.wv, C, {});
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t c = 0; c < n; ++c)
      rotate(&q[static_cast<size_t>(t * n * C + c * C)], C, t, m.theta);
    rotate(&k[static_cast<size_t>(t * C)], C, t, m.theta);
  }
  const Vec attn = attend(q, k, v, T, n, 1, C, C, 1.0 / std::sqrt(static_cast<double>(C)), 0);
  return linear(attn, T, n * C, m.wo, d, {});
}

}  // namespace gmha::test
