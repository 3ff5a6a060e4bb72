// Sparse fill rules, sinks and output gates of the reference (docs/kernels.md, "Sparse,
// compressed and gated attention"), and the DSA lightning indexer's scores.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "gmha/core/error.hpp"
#include "gmha/kernels/layer_weights.hpp"
#include "row_rules.hpp"

namespace gmha {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// softmax over the finite entries of s and (when finite) one sink logit, in place; a row with
// nothing to read stays all zero.
void softmax_sink(std::vector<double>& s, double sink) {
  double m = sink;
  for (double v : s) m = std::max(m, v);
  if (m == kNegInf) {
    std::fill(s.begin(), s.end(), 0.0);
    return;
  }
  double sum = sink == kNegInf ? 0.0 : std::exp(sink - m);
  for (double& v : s) sum += (v = std::exp(v - m));
  for (double& v : s) v /= sum;
}

// Indices of the `k` largest of score[0..n), ties to the lower index.
std::vector<int64_t> best(const std::vector<double>& score, int64_t k) {
  std::vector<int64_t> idx(score.size());
  std::iota(idx.begin(), idx.end(), int64_t{0});
  k = std::min<int64_t>(k, static_cast<int64_t>(idx.size()));
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int64_t a, int64_t b) {
    const double sa = score[static_cast<size_t>(a)], sb = score[static_cast<size_t>(b)];
    return sa != sb ? sa > sb : a < b;
  });
  idx.resize(static_cast<size_t>(k));
  return idx;
}

MatrixRM row_layer_norm(const MatrixRM& x, const MatrixRM& gamma, const MatrixRM& beta, double eps) {
  MatrixRM y(x.rows(), x.cols());
  const auto n = static_cast<double>(x.cols());
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    const double mean = x.row(t).sum() / n;
    const Eigen::RowVectorXd c = x.row(t).array() - mean;
    const double f = 1.0 / std::sqrt(c.squaredNorm() / n + eps);
    y.row(t) = (c * f).cwiseProduct(gamma.reshaped().transpose()) + beta.reshaped().transpose();
  }
  return y;
}

MatrixRM row_rms_norm(const MatrixRM& x, const MatrixRM& gamma, double eps) {
  MatrixRM y(x.rows(), x.cols());
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    const double f = 1.0 / std::sqrt(x.row(t).squaredNorm() / static_cast<double>(x.cols()) + eps);
    y.row(t) = x.row(t).cwiseProduct(gamma.reshaped().transpose()) * f;
  }
  return y;
}

}  // namespace

std::vector<std::vector<int64_t>> top_k_selection(const MatrixRM& scores, int64_t k) {
  if (k < 1) throw errors::bad_option("topk", fmt::format("must be positive (got {})", k));
  if (scores.rows() != scores.cols()) {
    throw InputError(fmt::format("top-k selection: scores are [{}, {}], expected [T, T]", scores.rows(), scores.cols()));
  }
  std::vector<std::vector<int64_t>> sel(static_cast<size_t>(scores.rows()));
  std::vector<double> row;
  for (Eigen::Index i = 0; i < scores.rows(); ++i) {
    row.assign(scores.row(i).data(), scores.row(i).data() + i + 1);
    std::vector<int64_t> b = best(row, k);
    std::sort(b.begin(), b.end());
    sel[static_cast<size_t>(i)] = std::move(b);
  }
  return sel;
}

MatrixRM dsa_index_scores(const LayerWeights& w, const MatrixRM& x, const LayerOptions& o) {
  const AttentionShape& s = w.shape;
  if (s.variant != Variant::kMla || s.index_heads <= 0 || s.index_head_dim <= 0) {
    throw InputError("DSA indexer: needs an MLA layer with index heads (index_heads, index_dim)");
  }
  check_layer_weights(w, "DSA indexer weights");
  if (x.cols() != s.d_model || x.rows() < 1 || !x.allFinite()) {
    throw InputError(fmt::format("DSA indexer: x is [{}, {}], expected finite [T >= 1, {}]", x.rows(), x.cols(), s.d_model));
  }
  const int64_t T = x.rows(), H = s.index_heads, dI = s.index_head_dim, rope = std::min(s.qk_rope_dim, dI);
  // The indexer reads the normalised compressed query (HF q_resid), or x without q_lora.
  const MatrixRM qin = s.q_lora_rank > 0
      ? row_rms_norm(x * w.at("q_a_proj").transpose(), w.at("q_a_layernorm"), o.norm_eps)
      : x;
  MatrixRM q = qin * w.at("indexer.wq_b").transpose();  // [T, H dI]
  MatrixRM k = row_layer_norm(x * w.at("indexer.wk").transpose(), w.at("indexer.k_norm"),
                              w.at("indexer.k_norm.bias"), 1e-6);  // [T, dI]
  const MatrixRM wts = (x * w.at("indexer.weights_proj").transpose()) / std::sqrt(static_cast<double>(H));
  if (o.rope.enabled && rope > 0) {
    RopeConfig rc = o.rope;
    rc.style = RopeStyle::kHalves;  // the indexer rotates halves, the MLA attention interleaved pairs
    const RopeTable rt = resolve_rope(rc, rope, T);
    for (int64_t t = 0; t < T; ++t) {
      apply_rope(rt, t, k.row(t).data());
      for (int64_t h = 0; h < H; ++h) apply_rope(rt, t, q.row(t).data() + h * dI);
    }
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(dI));
  MatrixRM out = MatrixRM::Constant(T, T, kNegInf);
  for (int64_t i = 0; i < T; ++i) {
    for (int64_t j = 0; j <= i; ++j) {
      double v = 0;
      for (int64_t h = 0; h < H; ++h) {
        v += wts(i, h) * std::max(0.0, q.row(i).segment(h * dI, dI).dot(k.row(j)) * scale);
      }
      out(i, j) = v;
    }
  }
  return out;
}

namespace detail {

void softmax_with_sink(std::vector<double>& s, double sink) { softmax_sink(s, sink); }
std::vector<int64_t> best_indices(const std::vector<double>& score, int64_t k) { return best(score, k); }

void RowRules::weights(int64_t head, int64_t i, std::vector<double>& s) const {
  const double sink = sinks.empty() ? kNegInf : sinks[static_cast<size_t>(head)];
  const auto at = [](int64_t j) { return static_cast<size_t>(j); };
  if (!sp.topk.empty()) {
    // DSA: only the indexer's tokens.
    std::vector<double> kept(s.size(), kNegInf);
    for (int64_t j : sp.topk[at(i)]) kept[at(j)] = s[at(j)];
    s.swap(kept);
    softmax_sink(s, sink);
    return;
  }
  if (sp.moba.block > 0) {
    // MoBA: the query's block, plus the k - 1 complete past blocks of highest mean score
    // (the mean of q . k_j over a block is q . its mean key).
    const int64_t B = sp.moba.block, cur = i / B;
    std::vector<double> gate(static_cast<size_t>(cur));
    for (int64_t b = 0; b < cur; ++b) {
      double m = 0;
      for (int64_t j = b * B; j < (b + 1) * B; ++j) m += s[at(j)];
      gate[at(b)] = m / static_cast<double>(B);
    }
    std::vector<char> keep(static_cast<size_t>(cur + 1), 0);
    keep[at(cur)] = 1;
    for (int64_t b : best(gate, sp.moba.topk - 1)) keep[at(b)] = 1;
    for (int64_t j = 0; j <= i; ++j) {
      if (!keep[at(j / B)]) s[at(j)] = kNegInf;
    }
    softmax_sink(s, sink);
    return;
  }
  if (sp.compress.stride > 0) {
    // CSA/HCA: complete blocks of s tokens as pooled entries, the last w raw tokens, one softmax.
    const CompressOptions& c = sp.compress;
    const int64_t st = c.stride, entries = (i + 1) / st;
    std::vector<double> e(static_cast<size_t>(entries));
    for (int64_t b = 0; b < entries; ++b) {
      double v = 0;
      for (int64_t j = b * st; j < (b + 1) * st; ++j) v += cmp_alpha[at(j)] * s[at(j)];
      e[at(b)] = v;
    }
    if (c.entry_topk > 0 && entries > c.entry_topk) {
      std::vector<double> by(e);
      if (c.entry_scores.size() > 0) {
        for (int64_t b = 0; b < entries; ++b) by[at(b)] = c.entry_scores(i, b);
      }
      std::vector<double> kept(e.size(), kNegInf);
      for (int64_t b : best(by, c.entry_topk)) kept[at(b)] = e[at(b)];
      e.swap(kept);
    }
    std::vector<double> all(e);
    for (int64_t j = 0; j <= i; ++j) all.push_back(i - j < c.window ? s[at(j)] : kNegInf);
    softmax_sink(all, sink);
    std::fill(s.begin(), s.end(), 0.0);
    for (int64_t b = 0; b < entries; ++b) {
      for (int64_t j = b * st; j < (b + 1) * st; ++j) s[at(j)] += all[at(b)] * cmp_alpha[at(j)];
    }
    for (int64_t j = 0; j <= i; ++j) s[at(j)] += all[at(entries + j)];
    return;
  }
  if (sp.nsa.enabled()) {
    const NsaOptions& n = sp.nsa;
    const std::vector<double> raw(s);
    std::fill(s.begin(), s.end(), 0.0);
    const auto gate = [&](int b) { return nsa_gates.size() > 0 ? nsa_gates(i, b * heads + head) : 1.0; };
    const auto pool = [&](int64_t p) {
      return n.cmp_weights.empty() ? 1.0 / static_cast<double>(n.cmp_block) : n.cmp_weights[at(p)];
    };
    // Compressed: entries e cover [e d, e d + l), complete when e d + l - 1 <= i.
    const int64_t l = n.cmp_block, d = n.cmp_stride;
    const int64_t entries = l > 0 && i + 1 >= l ? (i + 1 - l) / d + 1 : 0;
    std::vector<double> pc(static_cast<size_t>(entries));
    for (int64_t e = 0; e < entries; ++e) {
      double v = 0;
      for (int64_t p = 0; p < l; ++p) v += pool(p) * raw[at(e * d + p)];
      pc[at(e)] = v;
    }
    softmax_sink(pc, kNegInf);
    if (n.branches & 1u) {
      for (int64_t e = 0; e < entries; ++e) {
        for (int64_t p = 0; p < l; ++p) s[at(e * d + p)] += gate(0) * pc[at(e)] * pool(p);
      }
    }
    if ((n.branches & 2u) && n.select_block > 0) {
      // Selected: block importance = compressed weight of every entry overlapping the block.
      const int64_t L = n.select_block, cur = i / L;
      std::vector<double> imp(static_cast<size_t>(cur), 0.0);
      for (int64_t e = 0; e < entries; ++e) {
        for (int64_t b = (e * d) / L; b <= (e * d + l - 1) / L && b < cur; ++b) imp[at(b)] += pc[at(e)];
      }
      std::vector<char> keep(static_cast<size_t>(cur + 1), 0);
      keep[at(cur)] = 1;
      for (int64_t b : best(imp, n.select_blocks - 1)) keep[at(b)] = 1;
      std::vector<double> ps(raw);
      for (int64_t j = 0; j <= i; ++j) {
        if (!keep[at(j / L)]) ps[at(j)] = kNegInf;
      }
      softmax_sink(ps, kNegInf);
      for (int64_t j = 0; j <= i; ++j) s[at(j)] += gate(1) * ps[at(j)];
    }
    if ((n.branches & 4u) && n.window > 0) {
      std::vector<double> pw(raw);
      for (int64_t j = 0; j <= i; ++j) {
        if (i - j >= n.window) pw[at(j)] = kNegInf;
      }
      softmax_sink(pw, kNegInf);
      for (int64_t j = 0; j <= i; ++j) s[at(j)] += gate(2) * pw[at(j)];
    }
    return;
  }
  softmax_sink(s, sink);
}

void RowRules::apply_gate(int64_t head, int64_t i, double* out, int64_t n) const {
  if (gate_width == 0) return;
  if (gate_width == 1) {
    const double g = gate(i, head);
    for (int64_t k = 0; k < n; ++k) out[k] *= g;
    return;
  }
  for (int64_t k = 0; k < n; ++k) out[k] *= gate(i, head * gate_width + k);
}

RowRules make_row_rules(const LayerWeights& w, const MatrixRM& x, const LayerOptions& o, LayerWeights* query_weights) {
  const AttentionShape& s = w.shape;
  const int64_t T = x.rows(), d = s.d_model;
  RowRules r;
  r.sp = o.sparse;
  r.heads = s.heads;
  *query_weights = w;
  const SparseOptions& sp = o.sparse;
  const int rules = (!sp.topk.empty()) + (sp.moba.block > 0) + sp.nsa.enabled() + (sp.compress.stride > 0);
  if (rules > 1) throw InputError("attention options: top-k, MoBA, NSA and compression are exclusive (give one)");
  if (rules == 1 && o.window > 0) {
    throw InputError("attention options: a sliding window does not compose with top-k, MoBA, NSA or compression");
  }
  if (rules == 1 && s.variant == Variant::kMtla) {
    throw InputError("attention options: MTLA's temporal merge does not compose with sparse rules");
  }
  const bool gqa = s.variant == Variant::kMha || s.variant == Variant::kMqa || s.variant == Variant::kGqa;
  // Sinks and gates are GQA-family fields of AttentionShape (the shapes elsewhere have none).
  if ((s.sinks || s.gate != OutputGate::kNone || s.o_bias) && !gqa) {
    throw InputError("attention weights: sinks, output gates and o_proj bias are modelled for MHA/MQA/GQA only");
  }
  if (s.sinks) {
    const MatrixRM& k = w.at("sinks");
    r.sinks.assign(k.data(), k.data() + k.size());
    if (sp.nsa.enabled()) throw InputError("attention options: NSA's three softmaxes take no sink");
  }
  if (!sp.topk.empty()) {
    if (static_cast<int64_t>(sp.topk.size()) != T) {
      throw errors::bad_option("topk", fmt::format("selection has {} rows, expected one per token ({})", sp.topk.size(), T));
    }
    for (int64_t i = 0; i < T; ++i) {
      const auto& row = sp.topk[static_cast<size_t>(i)];
      if (row.empty()) throw errors::bad_option("topk", fmt::format("selection of token {} is empty", i));
      std::vector<char> seen(static_cast<size_t>(i + 1), 0);
      for (int64_t j : row) {
        if (j < 0 || j > i) throw errors::bad_option("topk", fmt::format("token {} selects {} (not in 0..{})", i, j, i));
        if (seen[static_cast<size_t>(j)]++) throw errors::bad_option("topk", fmt::format("token {} selects {} twice", i, j));
      }
    }
  }
  if (sp.moba.block > 0 && sp.moba.topk < 1) throw errors::bad_option("moba", "needs k >= 1 blocks");
  if (sp.moba.block < 0) throw errors::bad_option("moba", "block must be positive");
  if (sp.nsa.enabled()) {
    const NsaOptions& n = sp.nsa;
    if (n.cmp_block < 0 || n.cmp_stride < 0 || n.select_block < 0 || n.window < 0 || n.select_blocks < 0) {
      throw errors::bad_option("nsa", "sizes must not be negative");
    }
    if (n.cmp_block > 0 && (n.cmp_stride < 1 || n.cmp_stride > n.cmp_block)) {
      throw errors::bad_option("nsa", fmt::format("stride d must be in 1..l (l = {}, d = {})", n.cmp_block, n.cmp_stride));
    }
    if (n.select_block > 0 && n.select_blocks < 1) throw errors::bad_option("nsa", "needs n >= 1 selected blocks");
    if (!n.cmp_weights.empty() && static_cast<int64_t>(n.cmp_weights.size()) != n.cmp_block) {
      throw errors::bad_option("nsa", fmt::format("{} pooling weights for blocks of {}", n.cmp_weights.size(), n.cmp_block));
    }
    if (n.gate.size() > 0) {
      if (n.gate.rows() != 3 * s.heads || n.gate.cols() != d) {
        throw errors::bad_option("nsa", fmt::format("gate is [{}, {}], expected [{}, {}]", n.gate.rows(), n.gate.cols(),
                                                    3 * s.heads, d));
      }
      r.nsa_gates = (x * n.gate.transpose()).unaryExpr([](double v) { return sigmoid(v); });
    }
  }
  if (sp.compress.stride > 0) {
    const CompressOptions& c = sp.compress;
    if (c.window < 0 || c.entry_topk < 0) throw errors::bad_option("compress", "window and top-k must not be negative");
    if (c.gate.size() > 0 && (c.gate.rows() != 1 || c.gate.cols() != d)) {
      throw errors::bad_option("compress", fmt::format("gate is [{}, {}], expected [1, {}]", c.gate.rows(), c.gate.cols(), d));
    }
    if (!c.ape.empty() && static_cast<int64_t>(c.ape.size()) != c.stride) {
      throw errors::bad_option("compress", fmt::format("ape has {} values, expected s = {}", c.ape.size(), c.stride));
    }
    if (c.entry_scores.size() > 0 && (c.entry_scores.rows() != T || c.entry_scores.cols() < T / c.stride)) {
      throw errors::bad_option("compress", "entry scores must be [T, >= T/s]");
    }
    // Per-token logits z_j = gate . x_j + ape[j mod s]; weights softmax over each block.
    std::vector<double> z(static_cast<size_t>(T));
    for (int64_t j = 0; j < T; ++j) {
      z[static_cast<size_t>(j)] = (c.gate.size() > 0 ? c.gate.row(0).dot(x.row(j)) : 0.0) +
                                  (c.ape.empty() ? 0.0 : c.ape[static_cast<size_t>(j % c.stride)]);
    }
    r.cmp_alpha.assign(static_cast<size_t>(T), 0.0);
    for (int64_t b = 0; (b + 1) * c.stride <= T; ++b) {
      std::vector<double> blk(z.begin() + b * c.stride, z.begin() + (b + 1) * c.stride);
      softmax_sink(blk, kNegInf);
      std::copy(blk.begin(), blk.end(), r.cmp_alpha.begin() + b * c.stride);
    }
  }
  if (s.gate == OutputGate::kHeadwise) {
    r.gate = (x * w.at("g_proj").transpose()).unaryExpr([](double v) { return sigmoid(v); });
    r.gate_width = 1;
  } else if (s.gate == OutputGate::kElementwise) {
    // Qwen3-Next: q_proj(x) viewed as [heads, 2 h]: each head's query, then its gate.
    const int64_t hd = s.head_dim;
    const MatrixRM& qp = w.at("q_proj");
    MatrixRM qw(s.heads * hd, qp.cols()), gw(s.heads * hd, qp.cols());
    MatrixRM qb(s.heads * hd, 1), gb(s.heads * hd, 1);
    for (int64_t c = 0; c < s.heads; ++c) {
      qw.middleRows(c * hd, hd) = qp.middleRows(c * 2 * hd, hd);
      gw.middleRows(c * hd, hd) = qp.middleRows(c * 2 * hd + hd, hd);
      if (s.qkv_bias) {
        const MatrixRM& b = w.at("q_proj.bias");
        qb.middleRows(c * hd, hd) = b.reshaped().segment(c * 2 * hd, hd);
        gb.middleRows(c * hd, hd) = b.reshaped().segment(c * 2 * hd + hd, hd);
      }
    }
    MatrixRM g = x * gw.transpose();
    if (s.qkv_bias) g.rowwise() += gb.reshaped().transpose();
    r.gate = g.unaryExpr([](double v) { return sigmoid(v); });
    r.gate_width = hd;
    query_weights->shape.gate = OutputGate::kNone;
    query_weights->tensors["q_proj"] = qw;
    if (s.qkv_bias) query_weights->tensors["q_proj.bias"] = qb;
  }
  return r;
}

}  // namespace detail

}  // namespace gmha
