// NSA (Yuan et al. 2025, arXiv 2502.11089 §3) in the paper's frame, for MHA/MQA/GQA layers that
// hold the branch weights the design counts (docs/designs.md "nsa=l/d/n/l'/w"; docs/kernels.md
// "NSA with its branch weights"). Per KV group c and query head h of that group, at token i:
//   compressed  entries e (tokens [e d, e d + l), complete when e d + l - 1 <= i) with
//               k~_e = RoPE_{e d}(phi_k vec(k_cmp rows of the block + phi_pos)),
//               v~_e = phi_v vec(v_cmp rows of the block + phi_pos)          (eq. 7)
//   selected    the layer's own k_proj/v_proj over the query's block and the n - 1 complete past
//               blocks of l' tokens with the highest importance: p_cmp of every head of the group
//               summed (eq. 10), mapped to blocks by eq. 9 (entry e credits block b with
//               |tokens(e) ∩ tokens(b)| / d)
//   window      nsa.k_win/nsa.v_win over the last w tokens
//   o_h(i) = g_cmp o_cmp + g_slc o_slc + g_win o_win,  g = sigmoid(nsa.gate x_i)   (eq. 5)
// each branch with its own softmax at scale 1/sqrt(d_h). The prefill form projects every token
// and compresses every block at once; the decode form keeps the selection cache (all tokens), a
// ring of the last w window tokens, the last l raw compressed-branch rows and the completed
// entries, and forms an entry as its block completes. The bilinear form is nsa_bilinear.cpp. All
// three score their keys their own way and share nsa_group_weights (softmaxes, selection, gates).
#include "nsa_reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "gmha/core/error.hpp"

namespace gmha::detail {

namespace {

using Vec = Eigen::VectorXd;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

const char* const kBranchTensors[] = {"nsa.k_cmp", "nsa.v_cmp", "nsa.k_win", "nsa.v_win",
                                      "nsa.phi_k", "nsa.phi_v", "nsa.phi_pos", "nsa.gate"};

// The keys and values of one KV group in a per-token (or per-entry) matrix: row r, columns
// [group hd, group hd + hd). ring > 0: item j lives in row j mod ring (the decode window cache).
struct Stream {
  const MatrixRM* k = nullptr;
  const MatrixRM* v = nullptr;
  int64_t group = 0, hd = 0, ring = 0;
  int64_t row(int64_t j) const { return ring > 0 ? j % ring : j; }
  auto key(int64_t j) const { return k->row(row(j)).segment(group * hd, hd); }
  auto value(int64_t j) const { return v->row(row(j)).segment(group * hd, hd); }
};

}  // namespace

void check_nsa_branches(const LayerWeights& w, const NsaOptions& n) {
  const AttentionShape& s = w.shape;
  if (s.variant != Variant::kMha && s.variant != Variant::kMqa && s.variant != Variant::kGqa) {
    throw InputError("nsa: branch weights (nsa.*) are modelled for MHA/MQA/GQA layers only");
  }
  const int64_t hd = s.head_dim, kv = s.kv_heads * hd, d = s.d_model, l = n.cmp_block;
  if (s.v_head_dim > 0 && s.v_head_dim != hd) throw InputError("nsa: V heads of another width than K heads are not modelled");
  if (w.has("q_norm") || w.has("k_norm") || s.gate != OutputGate::kNone) {
    throw InputError("nsa: q/k norms and output gates with the branch weights are not modelled");
  }
  if (l < 1) throw errors::bad_option("nsa", "the branch weights need compression blocks l >= 1");
  if (!n.cmp_weights.empty()) {
    throw errors::bad_option("nsa", "pooling weights apply to the pooled frame only (the layer has nsa.phi_k/phi_v)");
  }
  const struct {
    const char* name;
    int64_t rows, cols;
  } want[] = {{"nsa.k_cmp", kv, d},        {"nsa.v_cmp", kv, d},        {"nsa.k_win", kv, d},
              {"nsa.v_win", kv, d},        {"nsa.phi_k", hd, l * hd},   {"nsa.phi_v", hd, l * hd},
              {"nsa.phi_pos", l * hd, 1},  {"nsa.gate", 3 * s.heads, d}};
  for (const auto& t : want) {
    const MatrixRM& m = w.at(t.name);
    const bool vec = t.cols == 1 && m.size() == t.rows && (m.rows() == 1 || m.cols() == 1);
    if (!vec && (m.rows() != t.rows || m.cols() != t.cols)) {
      throw InputError(fmt::format("nsa: tensor '{}' is [{}, {}], expected [{}, {}]", t.name, m.rows(), m.cols(),
                                   t.rows, t.cols));
    }
    if (!m.allFinite()) throw InputError(fmt::format("nsa: tensor '{}' has non-finite values", t.name));
  }
}

namespace {

// phi of one block (eq. 7): phi [hd, l hd] times the block's l raw rows of group c, row p plus
// phi_pos row p (the intra-block position embedding, [l hd] as l rows of hd). Raw token j is row
// j of `raw` (ring > 0: row j mod ring).
Vec compress_block(const MatrixRM& raw, int64_t first, int64_t ring, int64_t c, int64_t hd, int64_t l,
                   const MatrixRM& phi, const MatrixRM& pos) {
  const Eigen::Map<const Vec> pe(pos.data(), pos.size());
  Vec blk(l * hd);
  for (int64_t p = 0; p < l; ++p) {
    const int64_t r = ring > 0 ? (first + p) % ring : first + p;
    blk.segment(p * hd, hd) = raw.row(r).segment(c * hd, hd).transpose() + pe.segment(p * hd, hd);
  }
  return phi * blk;
}

// Completed compressed entries after `tokens` tokens: floor((T - l)/d) + 1, 0 while T < l.
int64_t entries_at(const NsaOptions& n, int64_t tokens) {
  return tokens >= n.cmp_block ? (tokens - n.cmp_block) / n.cmp_stride + 1 : 0;
}

// Sum of weights p[a] times the values of items first + a.
Vec weighted_values(const std::vector<double>& p, const Stream& st, int64_t first) {
  Vec o = Vec::Zero(st.hd);
  for (size_t a = 0; a < p.size(); ++a) {
    if (p[a] != 0.0) o += p[a] * st.value(first + static_cast<int64_t>(a)).transpose();
  }
  return o;
}

// The heads h0 .. h0 + per - 1 of one KV group at token i (queries in qi [heads hd], after
// RoPE): scores from the streams, nsa_group_weights, each head's weighted values written to
// out.segment(h hd, hd).
void attend_group(const NsaOptions& n, const RowRules& rr, double scale, int64_t i, int64_t h0, int64_t per,
                  const Vec& qi, const Stream& cmp, int64_t entries, const Stream& sel, const Stream& win, Vec& out) {
  const int64_t hd = sel.hd, j0 = n.window > 0 ? std::max<int64_t>(0, i - n.window + 1) : i + 1;
  std::vector<NsaRow> rows(static_cast<size_t>(per));
  for (int64_t a = 0; a < per; ++a) {
    const auto q = qi.segment((h0 + a) * hd, hd);
    NsaRow& r = rows[static_cast<size_t>(a)];
    r.cmp.resize(static_cast<size_t>(entries));
    for (int64_t e = 0; e < entries; ++e) r.cmp[static_cast<size_t>(e)] = scale * q.dot(cmp.key(e));
    r.slc.resize(static_cast<size_t>(i + 1));
    for (int64_t j = 0; j <= i; ++j) r.slc[static_cast<size_t>(j)] = scale * q.dot(sel.key(j));
    r.win.assign(static_cast<size_t>(i + 1), 0.0);  // the ring holds only the window's tokens
    for (int64_t j = j0; j <= i; ++j) r.win[static_cast<size_t>(j)] = scale * q.dot(win.key(j));
  }
  nsa_group_weights(n, rr, i, h0, rows);
  for (int64_t a = 0; a < per; ++a) {
    const NsaRow& r = rows[static_cast<size_t>(a)];
    const std::vector<double> pw(r.win.begin() + std::min(j0, i + 1), r.win.end());
    out.segment((h0 + a) * hd, hd) = weighted_values(r.cmp, cmp, 0) + weighted_values(r.slc, sel, 0) +
                                     weighted_values(pw, win, std::min(j0, i + 1));
  }
}

// One token's projections: the query of every head and the six per-group streams.
struct Projections {
  Vec q, k, v, k_win, v_win, k_cmp, v_cmp;
};

Projections project_token(const LayerWeights& w, const Vec& x, int64_t t, const RopeTable& rt) {
  const AttentionShape& s = w.shape;
  const int64_t hd = s.head_dim;
  Projections p;
  p.q = w.at("q_proj") * x;
  p.k = w.at("k_proj") * x;
  p.v = w.at("v_proj") * x;
  if (s.qkv_bias) {
    p.q += w.at("q_proj.bias").reshaped();
    p.k += w.at("k_proj.bias").reshaped();
    p.v += w.at("v_proj.bias").reshaped();
  }
  p.k_win = w.at("nsa.k_win") * x;
  p.v_win = w.at("nsa.v_win") * x;
  p.k_cmp = w.at("nsa.k_cmp") * x;  // rotated only after phi, at the entry's position
  p.v_cmp = w.at("nsa.v_cmp") * x;
  for (int64_t c = 0; c < s.heads; ++c) apply_rope(rt, t, p.q.data() + c * hd);
  for (int64_t c = 0; c < s.kv_heads; ++c) {
    apply_rope(rt, t, p.k.data() + c * hd);
    apply_rope(rt, t, p.k_win.data() + c * hd);
  }
  return p;
}

// Entry e of every group into row e of ck, cv, from raw rows (ring as compress_block).
void form_entry(const LayerWeights& w, const NsaOptions& n, const RopeTable& rt, const MatrixRM& rk,
                const MatrixRM& rv, int64_t ring, int64_t e, MatrixRM& ck, MatrixRM& cv) {
  const int64_t hd = w.shape.head_dim, l = n.cmp_block, first = e * n.cmp_stride;
  for (int64_t c = 0; c < w.shape.kv_heads; ++c) {
    Vec k = compress_block(rk, first, ring, c, hd, l, w.at("nsa.phi_k"), w.at("nsa.phi_pos"));
    apply_rope(rt, first, k.data());  // the compressed key sits at its block's first token
    ck.row(e).segment(c * hd, hd) = k.transpose();
    cv.row(e).segment(c * hd, hd) = compress_block(rv, first, ring, c, hd, l, w.at("nsa.phi_v"), w.at("nsa.phi_pos")).transpose();
  }
}

}  // namespace

bool has_nsa_branches(const LayerWeights& w) {
  for (const char* name : kBranchTensors) {
    if (w.has(name)) return true;
  }
  return false;
}

void nsa_group_weights(const NsaOptions& n, const RowRules& rr, int64_t i, int64_t h0, std::vector<NsaRow>& rows) {
  const int64_t l = n.cmp_block, d = n.cmp_stride, L = n.select_block;
  // Compressed attention probabilities, per head (eq. 8).
  for (NsaRow& r : rows) softmax_row(r.cmp, kNegInf);
  const auto entries = static_cast<int64_t>(rows.empty() ? 0 : rows.front().cmp.size());
  // The group's selection (eqs. 9-11): importance of each complete past block b < cur, summed
  // over the group's heads; the query's own block is always read.
  std::vector<char> keep;
  if (L > 0) {
    const int64_t cur = i / L;
    std::vector<double> imp(static_cast<size_t>(cur), 0.0);
    for (int64_t e = 0; e < entries; ++e) {
      const int64_t first = e * d, last = e * d + l;  // tokens [first, last)
      double pe = 0;
      for (const NsaRow& r : rows) pe += r.cmp[static_cast<size_t>(e)];
      for (int64_t b = first / L; b <= (last - 1) / L && b < cur; ++b) {
        const int64_t shared = std::min(last, (b + 1) * L) - std::max(first, b * L);
        imp[static_cast<size_t>(b)] += pe * static_cast<double>(shared) / static_cast<double>(d);
      }
    }
    keep.assign(static_cast<size_t>(cur + 1), 0);
    keep[static_cast<size_t>(cur)] = 1;
    for (int64_t b : top_indices(imp, n.select_blocks - 1)) keep[static_cast<size_t>(b)] = 1;
  }
  for (size_t a = 0; a < rows.size(); ++a) {
    NsaRow& r = rows[a];
    const int64_t h = h0 + static_cast<int64_t>(a);
    const auto gate = [&](int b) {
      const bool on = (n.branches >> b) & 1u;
      return !on ? 0.0 : rr.nsa_gates.size() > 0 ? rr.nsa_gates(i, b * rr.heads + h) : 1.0;
    };
    for (double& p : r.cmp) p *= gate(0);
    for (int64_t j = 0; j <= i; ++j) {
      if (L == 0 || !keep[static_cast<size_t>(j / L)]) r.slc[static_cast<size_t>(j)] = kNegInf;
      if (n.window == 0 || i - j >= n.window) r.win[static_cast<size_t>(j)] = kNegInf;
    }
    softmax_row(r.slc, kNegInf);
    softmax_row(r.win, kNegInf);
    for (double& p : r.slc) p *= gate(1);
    for (double& p : r.win) p *= gate(2);
  }
}

MatrixRM nsa_forward(const LayerWeights& w, const MatrixRM& x, const LayerOptions& o, const RopeTable& rt,
                     const RowRules& rr, AttentionForm form, DecodeCacheStats* stats) {
  const NsaOptions& n = o.sparse.nsa;
  check_nsa_branches(w, n);
  if (form == AttentionForm::kBilinear) return nsa_bilinear(w, x, o, rt, rr);
  const AttentionShape& s = w.shape;
  const int64_t T = x.rows(), hd = s.head_dim, g = s.kv_heads, per = s.heads / g, kv = g * hd;
  const double scale = softmax_scale(s, o);
  const MatrixRM& wo = w.at("o_proj");
  const int64_t total = entries_at(n, T);
  Vec heads_out(s.heads * hd);
  if (form == AttentionForm::kPrefill) {
    // Batched as a model's prefill: every projection at once, every block compressed by one
    // product [entries, l hd] phi^T per group, one o_proj at the end.
    const auto proj = [&](const char* name) { return MatrixRM(x * w.at(name).transpose()); };
    MatrixRM q = proj("q_proj"), k = proj("k_proj"), v = proj("v_proj"), kw = proj("nsa.k_win");
    const MatrixRM vw = proj("nsa.v_win"), kc = proj("nsa.k_cmp"), vc = proj("nsa.v_cmp");
    if (s.qkv_bias) {
      q.rowwise() += w.at("q_proj.bias").reshaped().transpose();
      k.rowwise() += w.at("k_proj.bias").reshaped().transpose();
      v.rowwise() += w.at("v_proj.bias").reshaped().transpose();
    }
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t c = 0; c < s.heads; ++c) apply_rope(rt, t, q.row(t).data() + c * hd);
      for (int64_t c = 0; c < g; ++c) {
        apply_rope(rt, t, k.row(t).data() + c * hd);
        apply_rope(rt, t, kw.row(t).data() + c * hd);
      }
    }
    const int64_t l = n.cmp_block;
    const Eigen::Map<const Eigen::RowVectorXd> pe(w.at("nsa.phi_pos").data(), l * hd);
    MatrixRM ck(total, kv), cv(total, kv);
    for (int64_t c = 0; c < g; ++c) {
      MatrixRM bk(total, l * hd), bv(total, l * hd);  // row e: the block's l rows of group c, + phi_pos
      for (int64_t e = 0; e < total; ++e) {
        for (int64_t p = 0; p < l; ++p) {
          bk.row(e).segment(p * hd, hd) = kc.row(e * n.cmp_stride + p).segment(c * hd, hd);
          bv.row(e).segment(p * hd, hd) = vc.row(e * n.cmp_stride + p).segment(c * hd, hd);
        }
      }
      bk.rowwise() += pe;
      bv.rowwise() += pe;
      MatrixRM kg = bk * w.at("nsa.phi_k").transpose();
      for (int64_t e = 0; e < total; ++e) apply_rope(rt, e * n.cmp_stride, kg.row(e).data());
      ck.middleCols(c * hd, hd) = kg;
      cv.middleCols(c * hd, hd) = bv * w.at("nsa.phi_v").transpose();
    }
    MatrixRM heads(T, s.heads * hd);
    for (int64_t i = 0; i < T; ++i) {
      const Vec qi = q.row(i).transpose();
      for (int64_t c = 0; c < g; ++c) {
        attend_group(n, rr, scale, i, c * per, per, qi, {&ck, &cv, c, hd, 0}, entries_at(n, i + 1), {&k, &v, c, hd, 0},
                     {&kw, &vw, c, hd, 0}, heads_out);
      }
      heads.row(i) = heads_out.transpose();
    }
    return heads * wo.transpose();
  }
  // Decode: selection cache (every token), window ring (last w), raw compressed-branch ring
  // (last l, for the block in progress), completed entries.
  const int64_t W = std::max<int64_t>(n.window, 1), l = n.cmp_block;
  MatrixRM ks(T, kv), vs(T, kv), kw(W, kv), vw(W, kv), rk(l, kv), rv(l, kv), ck(total, kv), cv(total, kv);
  int64_t entries = 0;
  MatrixRM y(T, s.d_model);
  for (int64_t t = 0; t < T; ++t) {
    const Projections p = project_token(w, x.row(t).transpose(), t, rt);
    ks.row(t) = p.k.transpose();
    vs.row(t) = p.v.transpose();
    kw.row(t % W) = p.k_win.transpose();
    vw.row(t % W) = p.v_win.transpose();
    rk.row(t % l) = p.k_cmp.transpose();
    rv.row(t % l) = p.v_cmp.transpose();
    if (entries_at(n, t + 1) > entries) form_entry(w, n, rt, rk, rv, l, entries++, ck, cv);
    for (int64_t c = 0; c < g; ++c) {
      attend_group(n, rr, scale, t, c * per, per, p.q, {&ck, &cv, c, hd, 0}, entries, {&ks, &vs, c, hd, 0},
                   {&kw, &vw, c, hd, W}, heads_out);
    }
    y.row(t) = (wo * heads_out).transpose();
  }
  if (stats) {
    stats->tokens = T;
    stats->elements_per_token = 2 * kv;  // one entry of any of the three caches: K and V of g heads
    stats->elements = (T + (n.window > 0 ? std::min(T, n.window) : 0) + entries) * 2 * kv;
  }
  return y;
}

}  // namespace gmha::detail
