#include "gmha/kernels/reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "gmha/core/error.hpp"
#include "compress_reference.hpp"
#include "gqa_projection.hpp"
#include "mtla_reference.hpp"
#include "nsa_reference.hpp"
#include "row_rules.hpp"

namespace gmha {

std::string_view form_name(AttentionForm f) {
  switch (f) {
    case AttentionForm::kBilinear: return "bilinear";
    case AttentionForm::kPrefill: return "prefill";
    case AttentionForm::kDecode: return "decode";
  }
  return "?";
}

std::optional<AttentionForm> find_form(std::string_view name) {
  for (AttentionForm f : {AttentionForm::kBilinear, AttentionForm::kPrefill, AttentionForm::kDecode}) {
    if (form_name(f) == name) return f;
  }
  return std::nullopt;
}

namespace {

using Vec = Eigen::VectorXd;

// x W^T for an [out, in] weight: [T, in] -> [T, out].
MatrixRM project(const MatrixRM& x, const MatrixRM& w) { return x * w.transpose(); }

// HF RMSNorm on each row: r / sqrt(mean(r^2) + eps) * gamma. `inv_rms` gets the per-row factor.
MatrixRM rms_norm(const MatrixRM& x, const MatrixRM& gamma, double eps, Vec* inv_rms = nullptr) {
  MatrixRM y(x.rows(), x.cols());
  if (inv_rms) inv_rms->resize(x.rows());
  const Eigen::Map<const Eigen::RowVectorXd> g(gamma.data(), gamma.size());
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    const double f = 1.0 / std::sqrt(x.row(t).squaredNorm() / static_cast<double>(x.cols()) + eps);
    y.row(t) = x.row(t).cwiseProduct(g) * f;
    if (inv_rms) (*inv_rms)(t) = f;
  }
  return y;
}

// True when key j lies outside query i's sliding window (HF: attend iff i - W < j <= i).
bool outside_window(int64_t i, int64_t j, int64_t window) { return window > 0 && i - j >= window; }

constexpr double kMasked = -std::numeric_limits<double>::infinity();  // exp(-inf) = 0 exactly

void rope_rows(const RopeTable& t, MatrixRM& m, Eigen::Index col0, Eigen::Index width) {
  if (!t.enabled) return;
  for (Eigen::Index r = 0; r < m.rows(); ++r) {
    Eigen::VectorXd v = m.row(r).segment(col0, width).transpose();
    apply_rope(t, r, v.data());
    m.row(r).segment(col0, width) = v.transpose();
  }
}

// The per-head Q, K, V of a prefill: head c reads q[c], k[kv_of[c]], v[kv_of[c]]; its output
// [T, dv] is multiplied by out[c] ([dv, d]) and summed over heads.
struct Heads {
  std::vector<MatrixRM> q, k, v, out;
  std::vector<int64_t> kv_of;
};

// Softmax (with the layer's sparse rules and sinks, detail::RowRules) and the head's output gate.
MatrixRM causal_attention(const Heads& h, double scale, int64_t window, int64_t tokens, int64_t d,
                          const detail::RowRules& rr) {
  MatrixRM y = MatrixRM::Zero(tokens, d);
  std::vector<double> s;
  for (size_t c = 0; c < h.q.size(); ++c) {
    const MatrixRM& k = h.k[static_cast<size_t>(h.kv_of[c])];
    const MatrixRM& v = h.v[static_cast<size_t>(h.kv_of[c])];
    MatrixRM o(tokens, v.cols());
    for (int64_t i = 0; i < tokens; ++i) {
      s.assign(static_cast<size_t>(i + 1), 0.0);
      for (int64_t j = 0; j <= i; ++j) {
        s[static_cast<size_t>(j)] = outside_window(i, j, window) ? kMasked : h.q[c].row(i).dot(k.row(j)) * scale;
      }
      rr.weights(static_cast<int64_t>(c), i, s);
      o.row(i).setZero();
      for (int64_t j = 0; j <= i; ++j) o.row(i) += s[static_cast<size_t>(j)] * v.row(j);
      rr.apply_gate(static_cast<int64_t>(c), i, o.row(i).data(), o.cols());
    }
    y += o * h.out[c];
  }
  return y;
}

// Columns [c*w, c*w + w) of an [out, in] o_proj, as the [w, d] map from a head's output to d.
MatrixRM out_slice(const MatrixRM& o_proj, int64_t c, int64_t w) {
  return o_proj.middleCols(c * w, w).transpose();
}

// --- TPA (Zhang et al. 2025; docs/designs.md) ---
// Head factors a: [T, R h], head-major (column i R + r), from W_A_* x (contextual) or the
// learned constant A_* (non-contextual) on every row. Feature factors b: [T, R d_h], r-major.
MatrixRM tpa_a(const LayerWeights& w, const MatrixRM& x, const char* part) {
  const std::string n(part);
  if (!w.shape.tpa_noncontextual) return project(x, w.at("W_A_" + n));
  const MatrixRM& a = w.at("A_" + n);
  return Eigen::Map<const Eigen::RowVectorXd>(a.data(), a.size()).replicate(x.rows(), 1);
}

// Rotates each of the R feature factors of width d_h in every row (RoPE acts on b_Q and b_K).
void tpa_rope(const RopeTable& rt, MatrixRM& b, int64_t rank, int64_t dh) {
  for (int64_t r = 0; r < rank; ++r) rope_rows(rt, b, r * dh, dh);
}

// Head i of token t: (1/R) sum_r a[t, i R + r] b[t, r d_h : (r + 1) d_h]  ->  [T, h d_h].
MatrixRM tpa_products(const MatrixRM& a, const MatrixRM& b, int64_t rank, int64_t heads, int64_t dh) {
  MatrixRM out = MatrixRM::Zero(a.rows(), heads * dh);
  for (Eigen::Index t = 0; t < a.rows(); ++t) {
    for (int64_t i = 0; i < heads; ++i) {
      for (int64_t r = 0; r < rank; ++r) {
        out.row(t).segment(i * dh, dh) += a(t, i * rank + r) * b.row(t).segment(r * dh, dh);
      }
    }
  }
  return out / static_cast<double>(rank);
}

// Non-contextual TPA's per-head map (1/R) sum_r A[i R + r] W_B.rows(r d_h, d_h): [d_h, d].
MatrixRM tpa_head_map(const LayerWeights& w, const char* part, int64_t rank, int64_t i) {
  const std::string n(part);
  const MatrixRM& a = w.at("A_" + n);
  const MatrixRM& b = w.at("W_B_" + n);
  const int64_t dh = w.shape.head_dim;
  MatrixRM m = MatrixRM::Zero(dh, b.cols());
  for (int64_t r = 0; r < rank; ++r) m += a.reshaped()(i * rank + r) * b.middleRows(r * dh, dh);
  return m / static_cast<double>(rank);
}

// GLA: group g's RMSNorm weight, the g-th d_c slice of kv_a_layernorm.
MatrixRM gla_gamma(const LayerWeights& w, int64_t g) {
  return w.at("kv_a_layernorm").middleRows(g * w.shape.kv_lora_rank, w.shape.kv_lora_rank);
}

// ---------------------------------------------------------------- prefill
MatrixRM prefill(const LayerWeights& w, const MatrixRM& x, const LayerOptions& o, const RopeTable& rt,
                 const detail::RowRules& rr) {
  const AttentionShape& s = w.shape;
  const int64_t T = x.rows(), d = s.d_model;
  Heads h;
  switch (s.variant) {
    case Variant::kFpba: {
      // Query is x itself; head c keys/values are M_c x_j, N_c x_j (blocks of w_qk, u_vo).
      const MatrixRM ks = project(x, w.at("w_qk")), vs = project(x, w.at("u_vo"));
      for (int64_t c = 0; c < d; ++c) {
        h.q.push_back(x);
        h.k.push_back(ks.middleCols(c * d, d));
        h.v.push_back(vs.middleCols(c * d, d));
        h.out.push_back(MatrixRM::Identity(d, d));
        h.kv_of.push_back(c);
      }
      break;
    }
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa: {
      const int64_t hd = s.head_dim, g = s.kv_heads, per = s.heads / g;
      const int64_t vd = s.v_head_dim > 0 ? s.v_head_dim : hd;  // MiMo-V2: V heads narrower than K
      MatrixRM q = project(x, w.at("q_proj")), k = project(x, w.at("k_proj"));
      if (s.qkv_bias) {
        q.rowwise() += w.at("q_proj.bias").reshaped().transpose();
        k.rowwise() += w.at("k_proj.bias").reshaped().transpose();
      }
      // K = V tied (Gemma 4 attention_k_eq_v): the value is the raw key projection, before the
      // key's norm and RoPE.
      MatrixRM v = s.kv_tied ? k : project(x, w.at("v_proj"));
      if (s.qkv_bias && !s.kv_tied) v.rowwise() += w.at("v_proj.bias").reshaped().transpose();
      // MiniMax-M2 / OLMo 2: one RMSNorm over the whole q and k projections, before RoPE.
      const bool pl = s.qk_norm_per_layer;
      if (pl && w.has("q_norm")) q = rms_norm(q, w.at("q_norm"), o.norm_eps);
      if (pl && w.has("k_norm")) k = rms_norm(k, w.at("k_norm"), o.norm_eps);
      for (int64_t c = 0; c < g; ++c) {
        MatrixRM kc = k.middleCols(c * hd, hd);
        if (!pl && w.has("k_norm")) kc = rms_norm(kc, w.at("k_norm"), o.norm_eps);  // Qwen3, before RoPE
        rope_rows(rt, kc, 0, hd);
        h.k.push_back(kc);
        h.v.push_back(v.middleCols(c * vd, vd));
      }
      for (int64_t c = 0; c < s.heads; ++c) {
        MatrixRM qc = q.middleCols(c * hd, hd);
        if (!pl && w.has("q_norm")) qc = rms_norm(qc, w.at("q_norm"), o.norm_eps);
        rope_rows(rt, qc, 0, hd);
        h.q.push_back(qc);
        h.out.push_back(out_slice(w.at("o_proj"), c, vd));
        h.kv_of.push_back(c / per);
      }
      break;
    }
    case Variant::kMfa:
    case Variant::kMfaKr: {
      const int64_t C = s.head_dim;
      const MatrixRM q = project(rms_norm(project(x, w.at("q_proj")), w.at("inter_norm"), o.norm_eps), w.at("wq"));
      const MatrixRM k_pre = project(x, w.at("k_proj"));
      MatrixRM v;
      if (s.variant == Variant::kMfa) {
        v = project(x, w.at("v_proj"));
      } else {
        // Key reuse: v_j = k_j + alpha . (N k_j), from the pre-RoPE key.
        const Eigen::Map<const Eigen::RowVectorXd> alpha(w.at("kr_alpha").data(), C);
        v = k_pre + (project(k_pre, w.at("kr_n")).array().rowwise() * alpha.array()).matrix();
      }
      MatrixRM k = k_pre;
      rope_rows(rt, k, 0, C);
      h.k.push_back(k);
      h.v.push_back(v);
      for (int64_t c = 0; c < s.heads; ++c) {
        MatrixRM qc = q.middleCols(c * C, C);
        rope_rows(rt, qc, 0, C);
        h.q.push_back(qc);
        h.out.push_back(out_slice(w.at("o_proj"), c, C));
        h.kv_of.push_back(0);
      }
      break;
    }
    case Variant::kGta: {
      // K of group g = [its tied state's first d_h - d_R dims, the shared RoPE key]; V = the state.
      const int64_t hd = s.head_dim, rope = s.qk_rope_dim, nope = hd - rope, per = s.heads / s.kv_heads;
      const MatrixRM q = project(x, w.at("q_proj")), kv = project(x, w.at("kv_proj"));
      MatrixRM k_rope(T, rope);
      if (rope > 0) {
        k_rope = project(x, w.at("k_rope_proj"));
        rope_rows(rt, k_rope, 0, rope);
      }
      for (int64_t g = 0; g < s.kv_heads; ++g) {
        MatrixRM kc(T, hd);
        kc << kv.middleCols(g * hd, nope), k_rope;
        h.k.push_back(kc);
        h.v.push_back(kv.middleCols(g * hd, hd));
      }
      for (int64_t c = 0; c < s.heads; ++c) {
        MatrixRM qc = q.middleCols(c * hd, hd);
        if (rope > 0) rope_rows(rt, qc, nope, rope);
        h.q.push_back(qc);
        h.out.push_back(out_slice(w.at("o_proj"), c, hd));
        h.kv_of.push_back(c / per);
      }
      break;
    }
    case Variant::kMla:
    case Variant::kGla: {
      // GLA: MLA per latent group, head c reading latent c / (heads / h_c), each normalised on
      // its own. MLA is the one-group case (h_c = kv_heads = 1, the same tensors).
      const int64_t nope = s.qk_nope_dim, rope = s.qk_rope_dim, vd = s.v_head_dim, C = s.kv_lora_rank;
      const int64_t per = s.heads / s.kv_heads;
      const MatrixRM q = s.q_lora_rank > 0
          ? project(rms_norm(project(x, w.at("q_a_proj")), w.at("q_a_layernorm"), o.norm_eps), w.at("q_b_proj"))
          : project(x, w.at("q_proj"));
      const MatrixRM kv_a = project(x, w.at("kv_a_proj_with_mqa"));
      MatrixRM k_rope = kv_a.rightCols(rope);
      rope_rows(rt, k_rope, 0, rope);
      std::vector<MatrixRM> lat;
      for (int64_t g = 0; g < s.kv_heads; ++g) lat.push_back(rms_norm(kv_a.middleCols(g * C, C), gla_gamma(w, g), o.norm_eps));
      const MatrixRM& kvb = w.at("kv_b_proj");
      for (int64_t c = 0; c < s.heads; ++c) {
        const MatrixRM& lg = lat[static_cast<size_t>(c / per)];
        MatrixRM qc = q.middleCols(c * (nope + rope), nope + rope);
        rope_rows(rt, qc, nope, rope);
        MatrixRM kc(T, nope + rope);
        kc << project(lg, kvb.middleRows(c * (nope + vd), nope)), k_rope;
        h.q.push_back(qc);
        h.k.push_back(kc);
        h.v.push_back(project(lg, kvb.middleRows(c * (nope + vd) + nope, vd)));
        h.out.push_back(out_slice(w.at("o_proj"), c, vd));
        h.kv_of.push_back(c);
      }
      break;
    }
    case Variant::kTpa: {
      // Materialised Q, K, V: each head's vector is the mean of R tensor products a_r b_r.
      const int64_t hd = s.head_dim, n = s.heads;
      MatrixRM bq = project(x, w.at("W_B_q")), bk = project(x, w.at("W_B_k"));
      tpa_rope(rt, bq, s.tpa_rank_q, hd);
      tpa_rope(rt, bk, s.tpa_rank_k, hd);
      const MatrixRM q = tpa_products(tpa_a(w, x, "q"), bq, s.tpa_rank_q, n, hd);
      const MatrixRM k = tpa_products(tpa_a(w, x, "k"), bk, s.tpa_rank_k, n, hd);
      const MatrixRM v = tpa_products(tpa_a(w, x, "v"), project(x, w.at("W_B_v")), s.tpa_rank_v, n, hd);
      for (int64_t c = 0; c < n; ++c) {
        h.q.push_back(q.middleCols(c * hd, hd));
        h.k.push_back(k.middleCols(c * hd, hd));
        h.v.push_back(v.middleCols(c * hd, hd));
        h.out.push_back(out_slice(w.at("o_proj"), c, hd));
        h.kv_of.push_back(c);
      }
      break;
    }
    case Variant::kMtla:
      throw InternalError("reference attention: MTLA runs through mtla_forward");
    case Variant::kLinear:
      throw InputError("reference attention: linear attention is not a softmax variant");
  }
  return causal_attention(h, softmax_scale(s, o), o.window, T, d, rr);
}

// ---------------------------------------------------------------- decode
// Token by token with the minimal cache; the cache is a list of per-token vectors per stream.
MatrixRM decode(const LayerWeights& w, const MatrixRM& x, const LayerOptions& o, const RopeTable& rt,
                const detail::RowRules& rr, DecodeCacheStats* stats) {
  const AttentionShape& s = w.shape;
  const int64_t T = x.rows(), d = s.d_model;
  const double scale = softmax_scale(s, o);
  MatrixRM y(T, d);
  int64_t per_token = 0;
  std::vector<double> p;
  auto weights_over = [&](int64_t head, int64_t t, auto&& score) {
    p.assign(static_cast<size_t>(t + 1), 0.0);
    for (int64_t j = 0; j <= t; ++j) {
      p[static_cast<size_t>(j)] = outside_window(t, j, o.window) ? kMasked : score(j) * scale;
    }
    rr.weights(head, t, p);
  };
  switch (s.variant) {
    case Variant::kFpba: {
      // Cache per token: d keys and d values of width d (2 d^2 elements).
      per_token = 2 * d * d;
      std::vector<MatrixRM> kc(static_cast<size_t>(d), MatrixRM(T, d)), vc = kc;
      const MatrixRM& wqk = w.at("w_qk");
      const MatrixRM& uvo = w.at("u_vo");
      for (int64_t t = 0; t < T; ++t) {
        const Vec xt = x.row(t).transpose();
        const Vec kt = wqk * xt, vt = uvo * xt;
        Vec out = Vec::Zero(d);
        for (int64_t c = 0; c < d; ++c) {
          auto cu = static_cast<size_t>(c);
          kc[cu].row(t) = kt.segment(c * d, d).transpose();
          vc[cu].row(t) = vt.segment(c * d, d).transpose();
          weights_over(c, t, [&](int64_t j) { return kc[cu].row(j).dot(xt); });
          for (int64_t j = 0; j <= t; ++j) out += p[static_cast<size_t>(j)] * vc[cu].row(j).transpose();
        }
        y.row(t) = out.transpose();
      }
      break;
    }
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa: {
      const int64_t hd = s.head_dim, g = s.kv_heads, per = s.heads / g;
      const int64_t vd = s.v_head_dim > 0 ? s.v_head_dim : hd;
      const bool tied = s.kv_tied;
      // The cache: K and V of g heads, post-RoPE K. K = V tied: the raw key projection only
      // (g h per token, kv_bytes_per_token_minimal); each read re-derives the key (norm, RoPE at
      // its own position), as MFA-KR re-rotates its cached pre-RoPE key.
      per_token = tied ? g * hd : g * (hd + vd);
      MatrixRM kc(T, g * hd), vc(tied ? 0 : T, g * vd);
      MatrixRM keys(tied ? T : 0, g * hd);  // tied: the keys re-derived from the cache, per step
      const MatrixRM& wo = w.at("o_proj");
      for (int64_t t = 0; t < T; ++t) {
        const detail::GqaToken tok = detail::gqa_token(w, x.row(t).transpose(), t, o, rt);
        const Vec& q = tok.q;
        if (tied) {
          kc.row(t) = tok.k_raw.transpose();
          for (int64_t j = 0; j <= t; ++j) keys.row(j) = detail::gqa_key(w, kc.row(j).transpose(), j, o, rt).transpose();
        } else {
          kc.row(t) = tok.k.transpose();
          vc.row(t) = tok.v.transpose();
        }
        const MatrixRM& kread = tied ? keys : kc;
        const MatrixRM& vread = tied ? kc : vc;
        Vec heads_out(s.heads * vd);
        for (int64_t c = 0; c < s.heads; ++c) {
          const int64_t grp = c / per;
          const auto qc = q.segment(c * hd, hd);
          weights_over(c, t, [&](int64_t j) { return kread.row(j).segment(grp * hd, hd).dot(qc.transpose()); });
          Vec oc = Vec::Zero(vd);
          for (int64_t j = 0; j <= t; ++j) oc += p[static_cast<size_t>(j)] * vread.row(j).segment(grp * vd, vd).transpose();
          rr.apply_gate(c, t, oc.data(), vd);
          heads_out.segment(c * vd, vd) = oc;
        }
        y.row(t) = (wo * heads_out).transpose();
      }
      break;
    }
    case Variant::kMfa:
    case Variant::kMfaKr: {
      const int64_t C = s.head_dim;
      const bool kr = s.variant == Variant::kMfaKr;
      per_token = kr ? C : 2 * C;
      MatrixRM kc(T, C), vc(kr ? 0 : T, C);  // MFA: post-RoPE K and V; MFA-KR: pre-RoPE K only
      const MatrixRM& wo = w.at("o_proj");
      for (int64_t t = 0; t < T; ++t) {
        const MatrixRM xt = x.row(t);
        const MatrixRM q = project(rms_norm(project(xt, w.at("q_proj")), w.at("inter_norm"), o.norm_eps), w.at("wq"));
        Vec k = w.at("k_proj") * xt.transpose();
        if (kr) {
          kc.row(t) = k.transpose();
        } else {
          apply_rope(rt, t, k.data());
          kc.row(t) = k.transpose();
          vc.row(t) = (w.at("v_proj") * xt.transpose()).transpose();
        }
        // MFA-KR re-rotates the cached pre-RoPE keys for the scores.
        MatrixRM k_rot = kc.topRows(t + 1);
        if (kr) rope_rows(rt, k_rot, 0, C);
        Vec heads_out(s.heads * C);
        for (int64_t c = 0; c < s.heads; ++c) {
          Vec qc = q.row(0).segment(c * C, C).transpose();
          apply_rope(rt, t, qc.data());
          weights_over(c, t, [&](int64_t j) { return k_rot.row(j).dot(qc.transpose()); });
          Vec oc = Vec::Zero(C);
          const MatrixRM& src = kr ? kc : vc;
          for (int64_t j = 0; j <= t; ++j) oc += p[static_cast<size_t>(j)] * src.row(j).transpose();
          if (kr) {
            // sum_j p_j (k_j + alpha.(N k_j)) = o + alpha.(N o): N applied once per head.
            const Eigen::Map<const Vec> alpha(w.at("kr_alpha").data(), C);
            oc += alpha.cwiseProduct(w.at("kr_n") * oc);
          }
          heads_out.segment(c * C, C) = oc;
        }
        y.row(t) = (wo * heads_out).transpose();
      }
      break;
    }
    case Variant::kGta: {
      const int64_t hd = s.head_dim, rope = s.qk_rope_dim, nope = hd - rope, per = s.heads / s.kv_heads;
      per_token = s.kv_heads * hd + rope;
      MatrixRM kv(T, s.kv_heads * hd), k_rope(T, rope);  // the cache: tied states + shared RoPE key
      const MatrixRM& wo = w.at("o_proj");
      for (int64_t t = 0; t < T; ++t) {
        const Vec xt = x.row(t).transpose();
        Vec q = w.at("q_proj") * xt;
        kv.row(t) = (w.at("kv_proj") * xt).transpose();
        if (rope > 0) {
          Vec kr = w.at("k_rope_proj") * xt;
          apply_rope(rt, t, kr.data());
          k_rope.row(t) = kr.transpose();
        }
        Vec heads_out(s.heads * hd);
        for (int64_t c = 0; c < s.heads; ++c) {
          const int64_t g = c / per;
          if (rope > 0) apply_rope(rt, t, q.data() + c * hd + nope);
          const Vec qc = q.segment(c * hd, hd);
          weights_over(c, t, [&](int64_t j) {
            return kv.row(j).segment(g * hd, nope).dot(qc.head(nope).transpose()) +
                   k_rope.row(j).dot(qc.tail(rope).transpose());
          });
          Vec oc = Vec::Zero(hd);  // V is the whole tied state
          for (int64_t j = 0; j <= t; ++j) oc += p[static_cast<size_t>(j)] * kv.row(j).segment(g * hd, hd).transpose();
          heads_out.segment(c * hd, hd) = oc;
        }
        y.row(t) = (wo * heads_out).transpose();
      }
      break;
    }
    case Variant::kMla:
    case Variant::kGla: {
      // The cache: h_c normalised latents + the shared RoPE key (MLA: h_c = 1). W_UK is absorbed
      // into the query (q_lat = W_UK,c^T q_nope), so scores read the latent directly; W_UV is
      // applied to the weighted latent sum on the output side.
      const int64_t nope = s.qk_nope_dim, rope = s.qk_rope_dim, vd = s.v_head_dim, C = s.kv_lora_rank;
      const int64_t per = s.heads / s.kv_heads;
      per_token = s.kv_heads * C + rope;
      MatrixRM latent(T, s.kv_heads * C), k_rope(T, rope);
      const MatrixRM& kvb = w.at("kv_b_proj");
      const MatrixRM& wo = w.at("o_proj");
      for (int64_t t = 0; t < T; ++t) {
        const MatrixRM xt = x.row(t);
        const MatrixRM q = s.q_lora_rank > 0
            ? project(rms_norm(project(xt, w.at("q_a_proj")), w.at("q_a_layernorm"), o.norm_eps), w.at("q_b_proj"))
            : project(xt, w.at("q_proj"));
        const MatrixRM kv_a = project(xt, w.at("kv_a_proj_with_mqa"));
        for (int64_t g = 0; g < s.kv_heads; ++g) {
          latent.row(t).segment(g * C, C) = rms_norm(kv_a.middleCols(g * C, C), gla_gamma(w, g), o.norm_eps);
        }
        Vec kr = kv_a.rightCols(rope).transpose();
        apply_rope(rt, t, kr.data());
        k_rope.row(t) = kr.transpose();
        Vec heads_out(s.heads * vd);
        for (int64_t c = 0; c < s.heads; ++c) {
          const int64_t base = c * (nope + vd), g = c / per;
          const Vec q_nope = q.row(0).segment(c * (nope + rope), nope).transpose();
          Vec q_rope = q.row(0).segment(c * (nope + rope) + nope, rope).transpose();
          apply_rope(rt, t, q_rope.data());
          const Vec q_lat = kvb.middleRows(base, nope).transpose() * q_nope;
          weights_over(c, t, [&](int64_t j) {
            return latent.row(j).segment(g * C, C).dot(q_lat.transpose()) + k_rope.row(j).dot(q_rope.transpose());
          });
          Vec o_lat = Vec::Zero(C);
          for (int64_t j = 0; j <= t; ++j) o_lat += p[static_cast<size_t>(j)] * latent.row(j).segment(g * C, C).transpose();
          heads_out.segment(c * vd, vd) = kvb.middleRows(base + nope, vd) * o_lat;
        }
        y.row(t) = (wo * heads_out).transpose();
      }
      break;
    }
    case Variant::kTpa: {
      // Factored decode: the cache holds the factors (a_K, b_K, a_V, b_V; non-contextual only
      // the b), never K or V. score_j = (1/R_K) sum_r a_K[j](i, r) (q_i . b_K[j](r));
      // o_i = sum_j p_j (1/R_V) sum_r a_V[j](i, r) b_V[j](r).
      const int64_t hd = s.head_dim, n = s.heads, rq = s.tpa_rank_q, rk = s.tpa_rank_k, rv = s.tpa_rank_v;
      const bool ctx = !s.tpa_noncontextual;
      per_token = (ctx ? (rk + rv) * n : 0) + (rk + rv) * hd;
      MatrixRM ak(T, rk * n), bk(T, rk * hd), av(T, rv * n), bv(T, rv * hd);
      const MatrixRM& wo = w.at("o_proj");
      for (int64_t t = 0; t < T; ++t) {
        const MatrixRM xt = x.row(t);
        MatrixRM bq = project(xt, w.at("W_B_q")), bkt = project(xt, w.at("W_B_k"));
        for (int64_t r = 0; r < rq; ++r) apply_rope(rt, t, bq.data() + r * hd);
        for (int64_t r = 0; r < rk; ++r) apply_rope(rt, t, bkt.data() + r * hd);
        const MatrixRM q = tpa_products(tpa_a(w, xt, "q"), bq, rq, n, hd);
        ak.row(t) = tpa_a(w, xt, "k");  // constant rows when non-contextual (weights, not cache)
        bk.row(t) = bkt;
        av.row(t) = tpa_a(w, xt, "v");
        bv.row(t) = project(xt, w.at("W_B_v"));
        Vec heads_out(n * hd);
        for (int64_t i = 0; i < n; ++i) {
          const auto qi = q.row(0).segment(i * hd, hd);
          weights_over(i, t, [&](int64_t j) {
            double sc = 0;
            for (int64_t r = 0; r < rk; ++r) sc += ak(j, i * rk + r) * bk.row(j).segment(r * hd, hd).dot(qi);
            return sc / static_cast<double>(rk);
          });
          Vec oi = Vec::Zero(hd);
          for (int64_t j = 0; j <= t; ++j) {
            for (int64_t r = 0; r < rv; ++r) {
              oi += (p[static_cast<size_t>(j)] * av(j, i * rv + r) / static_cast<double>(rv)) *
                    bv.row(j).segment(r * hd, hd).transpose();
            }
          }
          heads_out.segment(i * hd, hd) = oi;
        }
        y.row(t) = (wo * heads_out).transpose();
      }
      break;
    }
    case Variant::kMtla:
      throw InternalError("reference attention: MTLA runs through mtla_forward");
    case Variant::kLinear:
      throw InputError("reference attention: linear attention is not a softmax variant");
  }
  if (stats) {
    stats->tokens = T;
    stats->elements_per_token = per_token;
    // A sliding-window cache holds the last W tokens: older rows above are masked, never read.
    stats->elements = per_token * (o.window > 0 ? std::min(T, o.window) : T);
  }
  return y;
}

// ---------------------------------------------------------------- bilinear
// One head's circuits in the (possibly bias-augmented) input space of width e:
//   score_ij = a_i * (b_j * x_i W1 x_j^T + x_i W2(j - i) x_j^T),  W2(D) = L^T Rot(D) R
//   value_j  = e_j * x_j U
struct Circuit {
  MatrixRM w1;       // [e, e] position-free part (zero when absent)
  MatrixRM left;     // [r, e] rotary part, query side (r = 0 when absent)
  MatrixRM right;    // [r, e] rotary part, key side
  MatrixRM u;        // [e, d]
  MatrixRM uv, uo;   // U = uv uo split at the head's value ([e, h], [h, d]): an output gate goes between
  int which_a = 0;   // 0: a_i = 1, 1: query-norm scale
  int which_b = 0;   // 0: b_j = 1, 1: kv-norm scale
  int which_e = 0;   // 0: e_j = 1, 1: kv-norm scale
  Vec head_a, head_b;  // Qwen3 per-head q/k RMSNorm scalars per token (empty: 1), whole score
  Vec kv_scale;        // this head's kv-norm scalars when not the layer's (GLA: per latent group)
};

MatrixRM bilinear(const LayerWeights& w, const MatrixRM& x_in, const LayerOptions& o, const RopeTable& rt,
                  const detail::RowRules& rr) {
  const AttentionShape& s = w.shape;
  const int64_t T = x_in.rows(), d = s.d_model;
  if (d > 512 || T > 4096) {
    throw InputError(fmt::format("bilinear form: d = {} and T = {} too large (limits 512, 4096)", d, T));
  }
  const bool aug = s.qkv_bias;
  const int64_t e = aug ? d + 1 : d;
  MatrixRM x(T, e);
  x.leftCols(d) = x_in;
  if (aug) x.col(d).setOnes();
  // Weight with its bias as an extra input column (the constant-1 coordinate).
  auto with_bias = [&](const std::string& name) {
    const MatrixRM& m = w.at(name);
    MatrixRM r(m.rows(), e);
    r.leftCols(d) = m;
    if (aug) r.col(d) = w.at(name + ".bias").reshaped();
    return r;
  };
  Vec qscale = Vec::Ones(T), kvscale = Vec::Ones(T);
  std::vector<Circuit> heads;
  auto diag = [&](const std::string& name) {
    return Eigen::Map<const Vec>(w.at(name).data(), w.at(name).size()).asDiagonal();
  };
  switch (s.variant) {
    case Variant::kFpba: {
      const MatrixRM& wqk = w.at("w_qk");
      const MatrixRM& uvo = w.at("u_vo");
      for (int64_t c = 0; c < d; ++c) {
        Circuit h;
        h.w1 = wqk.middleRows(c * d, d);  // score = x_i M_c x_j^T
        h.u = uvo.middleRows(c * d, d).transpose();
        heads.push_back(std::move(h));
      }
      break;
    }
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa: {
      const int64_t hd = s.head_dim, per = s.heads / s.kv_heads;
      const int64_t vd = s.v_head_dim > 0 ? s.v_head_dim : hd;
      const MatrixRM wq = with_bias("q_proj"), wk = with_bias("k_proj");
      const MatrixRM wv = s.kv_tied ? wk : with_bias("v_proj");  // K = V: the raw key projection
      // Qwen3 q/k norms: 1/rms of each head's projection is a per-token scalar of that head and
      // its gamma folds into the head's rows (RoPE rotates gamma . q / rms).
      const bool qn = w.has("q_norm"), kn = w.has("k_norm");
      const MatrixRM q_all = qn ? project(x, wq) : MatrixRM(), k_all = kn ? project(x, wk) : MatrixRM();
      // Per-layer norms (MiniMax-M2): one scalar per token for all heads, gamma sliced per head.
      const bool pl = s.qk_norm_per_layer;
      auto head_scale = [&](const MatrixRM& all, int64_t c, const char* norm) {
        Vec inv;
        if (pl) {
          rms_norm(all, w.at(norm), o.norm_eps, &inv);
        } else {
          rms_norm(all.middleCols(c * hd, hd), w.at(norm), o.norm_eps, &inv);
        }
        return inv;
      };
      auto gamma = [&](const char* norm, int64_t head) {
        const MatrixRM& gm = w.at(norm);
        return Eigen::Map<const Vec>(gm.data() + (pl ? head * hd : 0), hd).asDiagonal();
      };
      for (int64_t c = 0; c < s.heads; ++c) {
        Circuit h;
        h.w1 = MatrixRM::Zero(e, e);
        h.left = wq.middleRows(c * hd, hd);
        h.right = wk.middleRows((c / per) * hd, hd);
        if (qn) {
          h.head_a = head_scale(q_all, c, "q_norm");
          h.left = gamma("q_norm", c) * h.left;
        }
        if (kn) {
          h.head_b = head_scale(k_all, c / per, "k_norm");
          h.right = gamma("k_norm", c / per) * h.right;
        }
        h.uv = wv.middleRows((c / per) * vd, vd).transpose();
        h.uo = out_slice(w.at("o_proj"), c, vd);
        h.u = h.uv * h.uo;
        heads.push_back(std::move(h));
      }
      break;
    }
    case Variant::kMfa:
    case Variant::kMfaKr: {
      const int64_t C = s.head_dim;
      Vec inv;
      rms_norm(project(x_in, w.at("q_proj")), w.at("inter_norm"), o.norm_eps, &inv);
      qscale = inv;
      const MatrixRM qmap = w.at("wq") * diag("inter_norm") * w.at("q_proj");  // [m C, d]
      MatrixRM vmap;
      if (s.variant == Variant::kMfa) {
        vmap = w.at("v_proj");
      } else {
        const MatrixRM m = MatrixRM::Identity(C, C) + MatrixRM(diag("kr_alpha") * w.at("kr_n"));
        vmap = m * w.at("k_proj");
      }
      for (int64_t c = 0; c < s.heads; ++c) {
        Circuit h;
        h.w1 = MatrixRM::Zero(e, e);
        h.left = qmap.middleRows(c * C, C);
        h.right = w.at("k_proj");
        h.u = vmap.transpose() * out_slice(w.at("o_proj"), c, C);
        h.which_a = 1;
        heads.push_back(std::move(h));
      }
      break;
    }
    case Variant::kGta: {
      const int64_t hd = s.head_dim, rope = s.qk_rope_dim, nope = hd - rope, per = s.heads / s.kv_heads;
      const MatrixRM& wq = w.at("q_proj");
      const MatrixRM& wkv = w.at("kv_proj");
      for (int64_t c = 0; c < s.heads; ++c) {
        const int64_t g = c / per;
        Circuit h;
        // Position-free part: the query's first d_h - d_R dims against the tied state's.
        h.w1 = wq.middleRows(c * hd, nope).transpose() * wkv.middleRows(g * hd, nope);
        if (rope > 0) {
          h.left = wq.middleRows(c * hd + nope, rope);
          h.right = w.at("k_rope_proj");
        }
        h.u = wkv.middleRows(g * hd, hd).transpose() * out_slice(w.at("o_proj"), c, hd);
        heads.push_back(std::move(h));
      }
      break;
    }
    case Variant::kMla:
    case Variant::kGla: {
      // Query map [n (nope+rope), d] with the q norm's gamma folded in (its 1/rms is a_i); each
      // latent group's map [C, d] with its norm's gamma folded in (its 1/rms is b_j = e_j).
      const int64_t nope = s.qk_nope_dim, rope = s.qk_rope_dim, vd = s.v_head_dim, C = s.kv_lora_rank;
      const int64_t per = s.heads / s.kv_heads;
      MatrixRM qmap;
      if (s.q_lora_rank > 0) {
        Vec inv;
        rms_norm(project(x_in, w.at("q_a_proj")), w.at("q_a_layernorm"), o.norm_eps, &inv);
        qscale = inv;
        qmap = w.at("q_b_proj") * diag("q_a_layernorm") * w.at("q_a_proj");
      } else {
        qmap = w.at("q_proj");
      }
      const MatrixRM& kva = w.at("kv_a_proj_with_mqa");
      const MatrixRM& kvb = w.at("kv_b_proj");
      std::vector<Vec> inv_g;
      std::vector<MatrixRM> lat_g;  // [C, d] per group, its norm's gamma folded in
      for (int64_t g = 0; g < s.kv_heads; ++g) {
        const MatrixRM gamma = gla_gamma(w, g);
        Vec inv;
        rms_norm(project(x_in, kva.middleRows(g * C, C)), gamma, o.norm_eps, &inv);
        inv_g.push_back(inv);
        lat_g.push_back(Eigen::Map<const Vec>(gamma.data(), C).asDiagonal() * kva.middleRows(g * C, C));
      }
      for (int64_t c = 0; c < s.heads; ++c) {
        const auto g = static_cast<size_t>(c / per);
        Circuit h;
        const int64_t qb = c * (nope + rope), kb = c * (nope + vd);
        h.w1 = qmap.middleRows(qb, nope).transpose() * (kvb.middleRows(kb, nope) * lat_g[g]);
        h.left = qmap.middleRows(qb + nope, rope);
        h.right = kva.bottomRows(rope);
        h.u = (kvb.middleRows(kb + nope, vd) * lat_g[g]).transpose() * out_slice(w.at("o_proj"), c, vd);
        h.which_a = s.q_lora_rank > 0 ? 1 : 0;
        h.which_b = 1;
        h.which_e = 1;
        h.kv_scale = inv_g[g];
        heads.push_back(std::move(h));
      }
      break;
    }
    case Variant::kTpa: {
      // Only non-contextual TPA is bilinear: W_Q,i = (1/R_Q) sum_r A_q(i, r) W_B_q,r and likewise
      // for K and V; RoPE rotates every b_r alike, so it rotates their mean (docs/designs.md).
      if (!s.tpa_noncontextual) {
        throw InputError("bilinear form: contextual TPA is quadratic in x, outside the bilinear GMHA "
                         "form (use prefill or decode, or noncontextual=1)");
      }
      const int64_t hd = s.head_dim;
      for (int64_t c = 0; c < s.heads; ++c) {
        Circuit h;
        h.w1 = MatrixRM::Zero(e, e);
        h.left = tpa_head_map(w, "q", s.tpa_rank_q, c);
        h.right = tpa_head_map(w, "k", s.tpa_rank_k, c);
        h.u = tpa_head_map(w, "v", s.tpa_rank_v, c).transpose() * out_slice(w.at("o_proj"), c, hd);
        heads.push_back(std::move(h));
      }
      break;
    }
    case Variant::kMtla:
      throw InternalError("reference attention: MTLA runs through mtla_forward");
    case Variant::kLinear:
      throw InputError("reference attention: linear attention is not a softmax variant");
  }
  const double scale = softmax_scale(s, o);
  // Rot(D) = a^2 R(D): the product of the query's and the key's scaled rotations.
  RopeTable unit = rt;
  unit.attention_factor = 1.0;
  const double a2 = rt.enabled ? rt.attention_factor * rt.attention_factor : 1.0;
  MatrixRM y = MatrixRM::Zero(T, d);
  std::vector<double> p;
  for (size_t hi = 0; hi < heads.size(); ++hi) {
    const Circuit& h = heads[hi];
    const auto c = static_cast<int64_t>(hi);
    // W_c(D) for every offset D = j - i in [-(T-1), 0], formed explicitly as d x d matrices.
    std::vector<MatrixRM> w2(static_cast<size_t>(T));
    if (h.left.rows() > 0) {
      for (int64_t off = 0; off < T; ++off) {
        MatrixRM rotated = h.right;  // rotate each input column's r-vector by -off
        for (Eigen::Index col = 0; col < e; ++col) {
          Vec v = rotated.col(col);
          apply_rope(unit, -off, v.data());
          rotated.col(col) = v;
        }
        w2[static_cast<size_t>(off)] = a2 * (h.left.transpose() * rotated);
      }
    }
    const Vec& kvs = h.kv_scale.size() > 0 ? h.kv_scale : kvscale;
    const auto coef = [&](int which, const Vec& norm_scale, int64_t t) { return which ? norm_scale(t) : 1.0; };
    for (int64_t i = 0; i < T; ++i) {
      p.assign(static_cast<size_t>(i + 1), 0.0);
      for (int64_t j = 0; j <= i; ++j) {
        if (outside_window(i, j, o.window)) {
          p[static_cast<size_t>(j)] = kMasked;
          continue;
        }
        double sc = coef(h.which_b, kvs, j) * x.row(i).dot(x.row(j) * h.w1.transpose());
        if (h.left.rows() > 0) sc += x.row(i).dot(x.row(j) * w2[static_cast<size_t>(i - j)].transpose());
        if (h.head_a.size() > 0) sc *= h.head_a(i);
        if (h.head_b.size() > 0) sc *= h.head_b(j);
        p[static_cast<size_t>(j)] = coef(h.which_a, qscale, i) * sc * scale;
      }
      rr.weights(c, i, p);
      if (rr.gate_width > 0) {
        // The gate multiplies the head's value output before o_proj: sum_j p_j x_j uv, gated, uo.
        Eigen::RowVectorXd acc = Eigen::RowVectorXd::Zero(h.uv.cols());
        for (int64_t j = 0; j <= i; ++j) acc += p[static_cast<size_t>(j)] * coef(h.which_e, kvs, j) * (x.row(j) * h.uv);
        rr.apply_gate(c, i, acc.data(), acc.size());
        y.row(i) += acc * h.uo;
        continue;
      }
      for (int64_t j = 0; j <= i; ++j) {
        y.row(i) += p[static_cast<size_t>(j)] * coef(h.which_e, kvs, j) * (x.row(j) * h.u);
      }
    }
  }
  return y;
}

}  // namespace

namespace {

// Shape fields the reference does not compute: refuse rather than compute another layer.
void check_modelled(const AttentionShape& s) {
  const char* what = nullptr;
  const bool gqa = s.variant == Variant::kMha || s.variant == Variant::kMqa || s.variant == Variant::kGqa;
  // DeepSeek-V4's K = V latent (kv_norm, RoPE on its last dims, the output de-rotated) is another
  // tying than the GQA family's raw key projection, computed below.
  if (s.kv_latent) what = "DeepSeek-V4's shared K = V latent (kv_latent)";
  if (s.kv_tied && !gqa) what = "K = V tying (kv_tied) outside MHA/MQA/GQA";
  if (gqa && s.v_head_dim > 0 && s.v_head_dim != s.head_dim && s.gate == OutputGate::kElementwise) {
    what = "an element-wise gate with a V head width other than the K head's";
  }
  if (gqa && s.rotary_dim > s.head_dim) what = "a rotary width above the head width";
  if (what) throw InputError(fmt::format("reference attention: {} is not modelled", what));
}

}  // namespace

MatrixRM reference_forward(const LayerWeights& w, const MatrixRM& x, const LayerOptions& o,
                           AttentionForm form, DecodeCacheStats* stats) {
  check_modelled(w.shape);  // first: an unmodelled field is named before its tensors are checked
  check_layer_weights(w, "attention weights");
  if (x.cols() != w.shape.d_model || x.rows() < 1) {
    throw InputError(fmt::format("attention input: x is [{}, {}], expected [T >= 1, {}]", x.rows(),
                                 x.cols(), w.shape.d_model));
  }
  if (!x.allFinite()) throw InputError("attention input: x has non-finite values");
  if (o.window < 0) throw InputError(fmt::format("attention options: window {} is negative", o.window));
  LayerOptions opts = o;
  if (w.shape.variant == Variant::kFpba) opts.rope.enabled = false;
  if (w.shape.variant == Variant::kGta && w.shape.qk_rope_dim == 0) opts.rope.enabled = false;  // no RoPE key
  const RopeTable rt = resolve_rope(opts.rope, rotary_dim(w.shape), x.rows());
  // Sparse rules, sinks and gates (sparse.cpp), shared by the three forms; `qw` is `w` with an
  // element-wise gate's rows taken out of q_proj.
  LayerWeights qw;
  const detail::RowRules rr = detail::make_row_rules(w, x, opts, &qw);
  if (w.shape.variant == Variant::kMtla) return detail::mtla_forward(w, x, opts, rt, form, stats);
  MatrixRM y;
  if (opts.sparse.nsa.enabled() && detail::has_nsa_branches(w)) {
    // NSA with its branch weights (nsa_reference.cpp); without them, the pooled frame of RowRules.
    y = detail::nsa_forward(w, x, opts, rt, rr, form, stats);
  } else if (opts.sparse.compress.stride > 0 && has_v4_compressor(w)) {
    // DeepSeek-V4's compressor computes the entries (compress_reference.cpp).
    y = detail::compress_forward(qw, x, opts, rt, rr, form, stats);
  } else {
    switch (form) {
      case AttentionForm::kBilinear: y = bilinear(qw, x, opts, rt, rr); break;
      case AttentionForm::kPrefill: y = prefill(qw, x, opts, rt, rr); break;
      case AttentionForm::kDecode: y = decode(qw, x, opts, rt, rr, stats); break;
    }
  }
  // gpt-oss's o_proj bias (attention_bias): added once to every output row.
  if (w.shape.o_bias) y.rowwise() += w.at("o_proj.bias").reshaped().transpose();
  return y;
}

}  // namespace gmha
