// NSA with its branch weights in the bilinear form (docs/kernels.md, "NSA with its branch
// weights"): phi is linear, so a compressed key is a fixed linear map of its block's tokens plus
// a bias, k~_e = sum_p K_p x^_{e d + p} with x^ = [x, 1] and K_p = phi_k,p [W_cmp | phi_pos_p]
// (phi_k,p: columns p hd .. p hd + hd of phi_k). RoPE rotates k~_e at e d, so an entry's score is
//   a^2 sum_p x^_i L^T R(e d - i) K_p x^_{e d + p}^T
// with one explicit (d + 1) x (d + 1) circuit per offset and position p; its value is
// sum_p x^_{e d + p} U_p, U_p = (phi_v,p [V_cmp | phi_pos_p])^T W_O,h. Selected and window
// branches are the GQA circuits over k_proj/v_proj and nsa.k_win/v_win. The block selection is
// data-dependent but acts on the scores, as every sparse rule does: nsa_group_weights, shared
// with the other forms.
#include <vector>

#include <fmt/format.h>

#include "gmha/core/error.hpp"
#include "nsa_reference.hpp"

namespace gmha::detail {

namespace {

using Vec = Eigen::VectorXd;

// [rows, d + 1]: `m` with `bias` (or zeros) as the constant-1 column.
MatrixRM augmented(const MatrixRM& m, const Vec* bias) {
  MatrixRM r(m.rows(), m.cols() + 1);
  r.leftCols(m.cols()) = m;
  r.col(m.cols()) = bias ? *bias : Vec::Zero(m.rows());
  return r;
}

// a^2 L^T R(-off) K for off = 0 .. T-1 (the key rotated back by the query's lead), [e, e] each.
std::vector<MatrixRM> offset_circuits(const MatrixRM& left, const MatrixRM& key, const RopeTable& rt, int64_t T) {
  RopeTable unit = rt;
  unit.attention_factor = 1.0;
  const double a2 = rt.enabled ? rt.attention_factor * rt.attention_factor : 1.0;
  std::vector<MatrixRM> w(static_cast<size_t>(T));
  for (int64_t off = 0; off < T; ++off) {
    MatrixRM rotated = key;
    for (Eigen::Index col = 0; col < key.cols(); ++col) {
      Vec v = rotated.col(col);
      apply_rope(unit, -off, v.data());
      rotated.col(col) = v;
    }
    w[static_cast<size_t>(off)] = a2 * (left.transpose() * rotated);
  }
  return w;
}

// One query head's circuits.
struct HeadCircuits {
  std::vector<MatrixRM> sel, win;             // [offset]
  std::vector<std::vector<MatrixRM>> cmp;     // [p][offset]
  MatrixRM u_sel, u_win;                      // [e, d]
  std::vector<MatrixRM> u_cmp;                // [p] -> [e, d]
};

}  // namespace

MatrixRM nsa_bilinear(const LayerWeights& w, const MatrixRM& x_in, const LayerOptions& o, const RopeTable& rt,
                      const RowRules& rr) {
  const AttentionShape& s = w.shape;
  const NsaOptions& n = o.sparse.nsa;
  const int64_t T = x_in.rows(), d = s.d_model, hd = s.head_dim, per = s.heads / s.kv_heads, l = n.cmp_block;
  if (d > 512 || T > 4096) {
    throw InputError(fmt::format("bilinear form: d = {} and T = {} too large (limits 512, 4096)", d, T));
  }
  MatrixRM x(T, d + 1);
  x.leftCols(d) = x_in;
  x.col(d).setOnes();
  const Eigen::Map<const Vec> pos(w.at("nsa.phi_pos").data(), l * hd);
  const auto bias = [&](const char* name, int64_t row0, int64_t rows) -> Vec {
    return s.qkv_bias ? Vec(w.at(name).reshaped().segment(row0, rows)) : Vec::Zero(rows);
  };
  std::vector<HeadCircuits> heads(static_cast<size_t>(s.heads));
  for (int64_t h = 0; h < s.heads; ++h) {
    const int64_t c = h / per;
    HeadCircuits& hc = heads[static_cast<size_t>(h)];
    const Vec bq = bias("q_proj.bias", h * hd, hd), bk = bias("k_proj.bias", c * hd, hd), bv = bias("v_proj.bias", c * hd, hd);
    const MatrixRM left = augmented(w.at("q_proj").middleRows(h * hd, hd), &bq);
    const MatrixRM out = w.at("o_proj").middleCols(h * hd, hd).transpose();  // [hd, d]
    hc.sel = offset_circuits(left, augmented(w.at("k_proj").middleRows(c * hd, hd), &bk), rt, T);
    hc.win = offset_circuits(left, augmented(w.at("nsa.k_win").middleRows(c * hd, hd), nullptr), rt, T);
    hc.u_sel = augmented(w.at("v_proj").middleRows(c * hd, hd), &bv).transpose() * out;
    hc.u_win = augmented(w.at("nsa.v_win").middleRows(c * hd, hd), nullptr).transpose() * out;
    for (int64_t p = 0; p < l; ++p) {
      const Vec pp = pos.segment(p * hd, hd);
      const MatrixRM kp = w.at("nsa.phi_k").middleCols(p * hd, hd) * augmented(w.at("nsa.k_cmp").middleRows(c * hd, hd), &pp);
      const MatrixRM vp = w.at("nsa.phi_v").middleCols(p * hd, hd) * augmented(w.at("nsa.v_cmp").middleRows(c * hd, hd), &pp);
      hc.cmp.push_back(offset_circuits(left, kp, rt, T));
      hc.u_cmp.push_back(vp.transpose() * out);
    }
  }
  const double scale = softmax_scale(s, o);
  const int64_t stride = n.cmp_stride;
  MatrixRM y = MatrixRM::Zero(T, d);
  for (int64_t i = 0; i < T; ++i) {
    const int64_t entries = i + 1 >= l ? (i + 1 - l) / stride + 1 : 0;
    for (int64_t c = 0; c < s.kv_heads; ++c) {
      std::vector<NsaRow> rows(static_cast<size_t>(per));
      for (int64_t a = 0; a < per; ++a) {
        const HeadCircuits& hc = heads[static_cast<size_t>(c * per + a)];
        NsaRow& r = rows[static_cast<size_t>(a)];
        r.cmp.assign(static_cast<size_t>(entries), 0.0);
        for (int64_t e = 0; e < entries; ++e) {
          double v = 0;
          for (int64_t p = 0; p < l; ++p) {
            v += x.row(i).dot(x.row(e * stride + p) * hc.cmp[static_cast<size_t>(p)][static_cast<size_t>(i - e * stride)].transpose());
          }
          r.cmp[static_cast<size_t>(e)] = scale * v;
        }
        r.slc.assign(static_cast<size_t>(i + 1), 0.0);
        r.win.assign(static_cast<size_t>(i + 1), 0.0);
        for (int64_t j = 0; j <= i; ++j) {
          r.slc[static_cast<size_t>(j)] = scale * x.row(i).dot(x.row(j) * hc.sel[static_cast<size_t>(i - j)].transpose());
          if (n.window > 0 && i - j < n.window) {
            r.win[static_cast<size_t>(j)] = scale * x.row(i).dot(x.row(j) * hc.win[static_cast<size_t>(i - j)].transpose());
          }
        }
      }
      nsa_group_weights(n, rr, i, c * per, rows);
      for (int64_t a = 0; a < per; ++a) {
        const HeadCircuits& hc = heads[static_cast<size_t>(c * per + a)];
        const NsaRow& r = rows[static_cast<size_t>(a)];
        for (int64_t e = 0; e < entries; ++e) {
          for (int64_t p = 0; p < l; ++p) {
            y.row(i) += r.cmp[static_cast<size_t>(e)] * (x.row(e * stride + p) * hc.u_cmp[static_cast<size_t>(p)]);
          }
        }
        for (int64_t j = 0; j <= i; ++j) {
          y.row(i) += r.slc[static_cast<size_t>(j)] * (x.row(j) * hc.u_sel) + r.win[static_cast<size_t>(j)] * (x.row(j) * hc.u_win);
        }
      }
    }
  }
  return y;
}

}  // namespace gmha::detail
