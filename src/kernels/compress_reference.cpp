// CSA / HCA with DeepSeek-V4's compressor (V4 report §2.3; the published inference/model.py,
// class Compressor and Attention.forward) in the reference's prefill and decode forms, for
// MHA/MQA/GQA layers (docs/kernels.md, "CSA/HCA: V4's compressor").
//
// Entry b of a layer with cache width W (K of every KV head, then V of every KV head) and c = 1
// (HCA) or 2 (CSA, overlapping blocks), from the tokens' projections kv_j = wkv x_j [c W] and
// logits z_j = wgate x_j + ape[j mod s] [c W]:
//   candidates: c = 1: tokens j of block b, channel k from kv_j[k], z_j[k];
//               c = 2: tokens of block b from the second half (kv_j[W + k], z_j[W + k]) and,
//               for b >= 1, tokens of block b - 1 from the first half (kv_j[k], z_j[k])
//               (V4's overlap_transform; block 0's missing half is V4's -inf padding);
//   pooled_k  = sum over candidates of softmax(z)[k] kv[k]          (per channel k)
//   entry     = RoPE_{b s}(RMSNorm(pooled; compressor.norm))        (RoPE on each head's K part,
//               at the block's first position, V4's freqs_cis[b * ratio]).
// Query i reads, in one softmax with the head's sink, its completed entries b < (i + 1) / s
// (CSA: the entry_topk best) and the last `window` raw tokens (the layer's own K/V).
#include "compress_reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "gmha/attention/weights.hpp"
#include "gmha/core/error.hpp"
#include "gqa_projection.hpp"

namespace gmha {

bool has_v4_compressor(const LayerWeights& w) {
  const Variant v = w.shape.variant;
  if (v != Variant::kMha && v != Variant::kMqa && v != Variant::kGqa) return false;
  for (const char* n : {"compressor.wkv", "compressor.wgate", "compressor.ape", "compressor.norm"}) {
    if (w.has(n)) return true;
  }
  return false;
}

namespace detail {

namespace {

using Vec = Eigen::VectorXd;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// The compressor of one layer, checked against it.
struct Compressor {
  int64_t s = 0;      // block (compress ratio)
  int64_t c = 1;      // 2: overlapping blocks (wkv/wgate project 2 W)
  int64_t width = 0;  // W, the layer's cache vector
  MatrixRM wkv, wgate;  // [c W, d]
  MatrixRM ape;         // [s, c W]
  Vec norm;             // [W]
};

const MatrixRM& finite_tensor(const LayerWeights& w, const char* name) {
  const MatrixRM& m = w.at(name);
  if (!m.allFinite()) throw InputError(fmt::format("attention weights: tensor '{}' has non-finite values", name));
  return m;
}

Compressor read_compressor(const LayerWeights& w, const CompressOptions& opt) {
  if (opt.gate.size() > 0 || !opt.ape.empty()) {
    throw errors::bad_option("compress", "gate and ape options are the pooled frame's; the layer's compressor.* "
                                         "weights give V4's (leave them empty)");
  }
  const AttentionShape& s = w.shape;
  Compressor k;
  k.s = opt.stride;
  k.width = stream_widths(s).all;
  const int64_t W = k.width, d = s.d_model;
  k.wkv = finite_tensor(w, "compressor.wkv");
  if (k.wkv.cols() != d || (k.wkv.rows() != W && k.wkv.rows() != 2 * W)) {
    throw InputError(fmt::format("attention weights: tensor 'compressor.wkv' is [{}, {}], expected [{} or {}, {}]",
                                 k.wkv.rows(), k.wkv.cols(), W, 2 * W, d));
  }
  k.c = k.wkv.rows() / W;
  const int64_t cw = k.c * W;
  k.wgate = finite_tensor(w, "compressor.wgate");
  if (k.wgate.rows() != cw || k.wgate.cols() != d) {
    throw InputError(fmt::format("attention weights: tensor 'compressor.wgate' is [{}, {}], expected [{}, {}]",
                                 k.wgate.rows(), k.wgate.cols(), cw, d));
  }
  // ape is listed as the vector [s c W, 1]; V4 holds it as [s, c W] (the same row-major data).
  const MatrixRM& ape = finite_tensor(w, "compressor.ape");
  const bool vec = ape.size() == k.s * cw && (ape.rows() == 1 || ape.cols() == 1);
  if (!vec && !(ape.rows() == k.s && ape.cols() == cw)) {
    throw InputError(fmt::format("attention weights: tensor 'compressor.ape' is [{}, {}], expected [{}, 1] "
                                 "(s = {} rows of {})", ape.rows(), ape.cols(), k.s * cw, k.s, cw));
  }
  k.ape = Eigen::Map<const MatrixRM>(ape.data(), k.s, cw);
  const MatrixRM& norm = finite_tensor(w, "compressor.norm");
  if (norm.size() != W || (norm.rows() != 1 && norm.cols() != 1)) {
    throw InputError(fmt::format("attention weights: tensor 'compressor.norm' is [{}, {}], expected [{}, 1]",
                                 norm.rows(), norm.cols(), W));
  }
  k.norm = Eigen::Map<const Vec>(norm.data(), W);
  return k;
}

// Token j's compressor projection [c W] and logits [c W] (ape by its place in the block).
void project(const Compressor& k, const Vec& x, int64_t j, Vec& kv, Vec& z) {
  kv = k.wkv * x;
  z = k.wgate * x + k.ape.row(j % k.s).transpose();
}

// Entry `block` from its candidate rows ([n, W] values and logits): the per-channel softmax
// over the rows, the RMSNorm of the W elements (compressor.norm, eps), RoPE on each KV head's K
// part at the block's first position.
Vec make_entry(const Compressor& k, const MatrixRM& vals, const MatrixRM& logits, int64_t block,
               const AttentionShape& s, const RopeTable& rt, double eps) {
  Vec e(k.width);
  std::vector<double> col(static_cast<size_t>(vals.rows()));
  for (int64_t ch = 0; ch < k.width; ++ch) {
    for (Eigen::Index r = 0; r < vals.rows(); ++r) col[static_cast<size_t>(r)] = logits(r, ch);
    softmax_row(col, kNegInf);
    double v = 0;
    for (Eigen::Index r = 0; r < vals.rows(); ++r) v += col[static_cast<size_t>(r)] * vals(r, ch);
    e(ch) = v;
  }
  const double f = 1.0 / std::sqrt(e.squaredNorm() / static_cast<double>(k.width) + eps);
  e = e.cwiseProduct(k.norm) * f;
  for (int64_t g = 0; g < s.kv_heads; ++g) apply_rope(rt, block * k.s, e.data() + g * s.head_dim);
  return e;
}

// The K part of KV head g in an entry or a raw token's [K | V] row, and its V part.
struct Layout {
  int64_t hd = 0, vd = 0, groups = 0;
  auto key(const Vec& e, int64_t g) const { return e.segment(g * hd, hd); }
  auto value(const Vec& e, int64_t g) const { return e.segment(groups * hd + g * vd, vd); }
};

Layout layout_of(const AttentionShape& s) {
  return {s.head_dim, s.v_head_dim > 0 ? s.v_head_dim : s.head_dim, s.kv_heads};
}

// A raw token as a cache row: [K of every KV head | V of every KV head].
Vec raw_row(const GqaToken& t) {
  Vec r(t.k.size() + t.v.size());
  r << t.k, t.v;
  return r;
}

// Query i's weights, head `head`: `es` the scores of its completed entries (CSA: only the
// entry_topk best by entry_scores row i, else by es, are read), `ws` those of its window tokens;
// one softmax with the head's sink over both, in place.
void row_weights(const CompressOptions& c, const RowRules& rr, int64_t head, int64_t i, std::vector<double>& es,
                 std::vector<double>& ws) {
  const auto n = static_cast<int64_t>(es.size());
  if (c.entry_topk > 0 && n > c.entry_topk) {
    std::vector<double> by(es);
    if (c.entry_scores.size() > 0) {
      for (int64_t b = 0; b < n; ++b) by[static_cast<size_t>(b)] = c.entry_scores(i, b);
    }
    std::vector<double> kept(es.size(), kNegInf);
    for (int64_t b : top_indices(by, c.entry_topk)) kept[static_cast<size_t>(b)] = es[static_cast<size_t>(b)];
    es.swap(kept);
  }
  std::vector<double> all(es);
  all.insert(all.end(), ws.begin(), ws.end());
  softmax_row(all, rr.sinks.empty() ? kNegInf : rr.sinks[static_cast<size_t>(head)]);
  std::copy(all.begin(), all.begin() + n, es.begin());
  std::copy(all.begin() + n, all.end(), ws.begin());
}

// Query t over the first `n` of `entries` (its completed ones) and the window rows `win`
// (oldest first): the heads' gated outputs, through o_proj.
Vec attend(const LayerWeights& w, const CompressOptions& c, const RowRules& rr, double scale, int64_t t,
           const Vec& q, const std::vector<Vec>& entries, size_t n, const std::vector<const Vec*>& win) {
  const AttentionShape& s = w.shape;
  const Layout L = layout_of(s);
  const int64_t per = s.heads / s.kv_heads;
  Vec heads_out(s.heads * L.vd);
  std::vector<double> es, ws;
  for (int64_t h = 0; h < s.heads; ++h) {
    const int64_t g = h / per;
    const auto qh = q.segment(h * L.hd, L.hd);
    es.clear();
    ws.clear();
    for (size_t b = 0; b < n; ++b) es.push_back(scale * qh.dot(L.key(entries[b], g)));
    for (const Vec* r : win) ws.push_back(scale * qh.dot(L.key(*r, g)));
    row_weights(c, rr, h, t, es, ws);
    Vec o = Vec::Zero(L.vd);
    for (size_t b = 0; b < n; ++b) o += es[b] * L.value(entries[b], g);
    for (size_t j = 0; j < win.size(); ++j) o += ws[j] * L.value(*win[j], g);
    rr.apply_gate(h, t, o.data(), L.vd);
    heads_out.segment(h * L.vd, L.vd) = o;
  }
  return w.at("o_proj") * heads_out;
}

// Prefill: every entry from the whole input's projections, block by block.
MatrixRM prefill(const LayerWeights& w, const Compressor& k, const MatrixRM& x, const LayerOptions& o,
                 const RopeTable& rt, const RowRules& rr) {
  const AttentionShape& s = w.shape;
  const CompressOptions& c = o.sparse.compress;
  const int64_t T = x.rows(), W = k.width, st = k.s;
  std::vector<Vec> rows;
  std::vector<GqaToken> tok;
  MatrixRM kv(T, k.c * W), z(T, k.c * W);
  for (int64_t j = 0; j < T; ++j) {
    const Vec xj = x.row(j).transpose();
    tok.push_back(gqa_token(w, xj, j, o, rt));
    rows.push_back(raw_row(tok.back()));
    Vec a, b;
    project(k, xj, j, a, b);
    kv.row(j) = a.transpose();
    z.row(j) = b.transpose();
  }
  std::vector<Vec> entries;
  for (int64_t b = 0; (b + 1) * st <= T; ++b) {
    // c = 2: the previous block's first halves (none for block 0), then this block's second halves.
    const int64_t prev = k.c == 2 && b > 0 ? st : 0;
    MatrixRM vals(prev + st, W), logits(prev + st, W);
    if (prev > 0) {
      vals.topRows(st) = kv.block((b - 1) * st, 0, st, W);
      logits.topRows(st) = z.block((b - 1) * st, 0, st, W);
    }
    vals.bottomRows(st) = kv.block(b * st, (k.c - 1) * W, st, W);
    logits.bottomRows(st) = z.block(b * st, (k.c - 1) * W, st, W);
    entries.push_back(make_entry(k, vals, logits, b, s, rt, o.norm_eps));
  }
  const double scale = softmax_scale(s, o);
  MatrixRM y(T, s.d_model);
  for (int64_t i = 0; i < T; ++i) {
    std::vector<const Vec*> win;
    for (int64_t j = std::max<int64_t>(0, i - c.window + 1); j <= i && c.window > 0; ++j) {
      win.push_back(&rows[static_cast<size_t>(j)]);
    }
    y.row(i) = attend(w, c, rr, scale, i, tok[static_cast<size_t>(i)].q, entries, static_cast<size_t>((i + 1) / st), win).transpose();
  }
  return y;
}

// Decode: token by token with V4's caches: a ring of the last `window` raw rows, the completed
// entries, and the running block state (this block's projections and logits; with overlap also
// the previous block's first halves), at most 2 s rows of c W.
MatrixRM decode(const LayerWeights& w, const Compressor& k, const MatrixRM& x, const LayerOptions& o,
                const RopeTable& rt, const RowRules& rr, DecodeCacheStats* stats) {
  const AttentionShape& s = w.shape;
  const CompressOptions& c = o.sparse.compress;
  const int64_t T = x.rows(), W = k.width, st = k.s, win = c.window;
  std::vector<Vec> ring(static_cast<size_t>(std::min(T, win)));
  std::vector<Vec> entries;
  MatrixRM cur_kv(st, k.c * W), cur_z(st, k.c * W), prev_kv(st, W), prev_z(st, W);
  bool have_prev = false;
  const double scale = softmax_scale(s, o);
  MatrixRM y(T, s.d_model);
  for (int64_t t = 0; t < T; ++t) {
    const Vec xt = x.row(t).transpose();
    const GqaToken tok = gqa_token(w, xt, t, o, rt);
    if (win > 0) ring[static_cast<size_t>(t % win)] = raw_row(tok);
    Vec a, b;
    project(k, xt, t, a, b);
    cur_kv.row(t % st) = a.transpose();
    cur_z.row(t % st) = b.transpose();
    if (t % st == st - 1) {
      // The block completes: compress it, then (overlap) keep its first halves for the next.
      const int64_t n = have_prev ? 2 * st : st;
      MatrixRM vals(n, W), logits(n, W);
      if (have_prev) {
        vals.topRows(st) = prev_kv;
        logits.topRows(st) = prev_z;
      }
      vals.bottomRows(st) = cur_kv.rightCols(W);
      logits.bottomRows(st) = cur_z.rightCols(W);
      entries.push_back(make_entry(k, vals, logits, t / st, s, rt, o.norm_eps));
      if (k.c == 2) {
        prev_kv = cur_kv.leftCols(W);
        prev_z = cur_z.leftCols(W);
        have_prev = true;
      }
    }
    std::vector<const Vec*> rows;
    for (int64_t j = std::max<int64_t>(0, t - win + 1); j <= t && win > 0; ++j) {
      rows.push_back(&ring[static_cast<size_t>(j % win)]);
    }
    y.row(t) = attend(w, c, rr, scale, t, tok.q, entries, entries.size(), rows).transpose();
  }
  if (stats) {
    stats->tokens = T;
    stats->elements_per_token = W;  // per cache entry, raw or compressed
    stats->elements = (std::min(T, win) + static_cast<int64_t>(entries.size())) * W;
  }
  return y;
}

}  // namespace

MatrixRM compress_forward(const LayerWeights& w, const MatrixRM& x, const LayerOptions& o, const RopeTable& rt,
                          const RowRules& rr, AttentionForm form, DecodeCacheStats* stats) {
  if (form == AttentionForm::kBilinear) {
    throw InputError("bilinear form: DeepSeek-V4's compressor (per-channel softmax gates over a block, an RMSNorm "
                     "of each entry) is a non-linear function of the block's tokens, outside the bilinear GMHA form "
                     "(use prefill or decode)");
  }
  const Compressor k = read_compressor(w, o.sparse.compress);
  return form == AttentionForm::kPrefill ? prefill(w, k, x, o, rt, rr) : decode(w, k, x, o, rt, rr, stats);
}

}  // namespace detail

}  // namespace gmha
