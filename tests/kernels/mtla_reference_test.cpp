// MTLA in the reference (docs/kernels.md, "MTLA"): the training-form prefill (stride-aware mask
// over partial merges) equals the decode over ceil(T/s) merged entries, the cache holds the
// capacity code's bytes, and one token's output is the hand-worked hyper-network product.
#include <cmath>

#include <fmt/format.h>

#include <catch2/catch.hpp>

#include "gmha/attention/design_spec.hpp"
#include "gmha/capacity/figures.hpp"
#include "gmha/core/error.hpp"
#include "gmha/kernels/compare.hpp"
#include "gmha/kernels/reference.hpp"
#include "kernels/inputs.hpp"

using namespace gmha;
using gmha::test::random_input;
using gmha::test::shape_of;

namespace {

LayerOptions opts(bool rope) {
  LayerOptions o;
  o.rope.enabled = rope;
  o.rope.theta = 100.0;
  o.rope.style = RopeStyle::kInterleaved;  // MTLA.py rotates complex pairs (2i, 2i + 1)
  o.norm_eps = 1e-5;                       // nn.LayerNorm's default
  return o;
}

double rel(const MatrixRM& a, const MatrixRM& b) { return compare(a, b).rel_error; }

}  // namespace

TEST_CASE("mtla reference: prefill over partial merges equals decode over merged entries", "[kernels][mtla]") {
  for (int64_t s : {1, 2, 3, 5, 16}) {
    for (int64_t qlora : {0, 9}) {
      const std::string spec = fmt::format("mtla:d=20,heads=3,c=8,qlora={},nope=5,rope=4,v=3,stride={}", qlora, s);
      const LayerWeights w = random_layer_weights(shape_of(spec.c_str()), 3 + static_cast<uint64_t>(s));
      const MatrixRM x = random_input(11, 20, 4);
      for (bool rope : {false, true}) {
        INFO(spec << " rope " << rope);
        const MatrixRM pre = reference_forward(w, x, opts(rope), AttentionForm::kPrefill);
        CHECK(rel(reference_forward(w, x, opts(rope), AttentionForm::kDecode), pre) < 1e-12);
      }
    }
  }
}

TEST_CASE("mtla reference: one token is o_proj . W_UV . (w_0 c_0) with the hyper-network's w_0", "[kernels][mtla]") {
  // T = 1: the query reads one entry, softmax weight 1. pe(0) = [sin 0, cos 0, ...] = [0, 1, 0, 1, ...];
  // w_0 = sigmoid((fc_c pe(0) + b_c) . (fc_p c_0 + b_p)), c_0 = LayerNorm(kv_a x_0).
  const AttentionShape s = shape_of("mtla:d=12,heads=2,c=8,qlora=0,nope=3,rope=2,v=4,stride=2");
  const LayerWeights w = random_layer_weights(s, 7);
  const MatrixRM x = random_input(1, 12, 8);
  const Eigen::VectorXd kv = w.at("kv_a_proj_with_mqa") * x.row(0).transpose();
  Eigen::VectorXd c = kv.head(8).array() - kv.head(8).mean();
  c = c / std::sqrt(c.squaredNorm() / 8 + 1e-5);
  c = c.cwiseProduct(w.at("kv_a_layernorm").reshaped()) + w.at("kv_a_layernorm.bias").reshaped();
  Eigen::VectorXd pe(8);
  pe << 0, 1, 0, 1, 0, 1, 0, 1;
  const double z = (w.at("hypernet.fc_c") * pe + w.at("hypernet.fc_c.bias").reshaped())
                       .dot(w.at("hypernet.fc_p") * c + w.at("hypernet.fc_p.bias").reshaped());
  const double w0 = 1.0 / (1.0 + std::exp(-z));
  Eigen::VectorXd heads(8);
  for (int h = 0; h < 2; ++h) heads.segment(h * 4, 4) = w.at("kv_b_proj").middleRows(h * 7 + 3, 4) * (w0 * c);
  const Eigen::RowVectorXd expect = (w.at("o_proj") * heads).transpose();
  for (AttentionForm f : {AttentionForm::kPrefill, AttentionForm::kDecode}) {
    INFO(form_name(f));
    CHECK((reference_forward(w, x, opts(true), f).row(0) - expect).norm() < 1e-13 * expect.norm());
  }
}

TEST_CASE("mtla reference: the decode cache holds ceil(T/s) entries, the capacity code's bytes", "[kernels][mtla]") {
  for (int64_t T : {1, 6, 7, 11}) {
    const std::string spec = "mtla:d=20,heads=3,c=8,qlora=0,nope=5,rope=4,v=3,stride=3";
    const ModelDesign m = parse_design_spec(spec);
    const LayerSpec& layer = m.layers.at(0);
    DecodeCacheStats st;
    reference_forward(random_layer_weights(layer.attention, 1), random_input(T, 20, 2), opts(true),
                      AttentionForm::kDecode, &st);
    CHECK(st.elements == (T + 2) / 3 * 12);
    CapacityOptions co;
    co.context = T;
    INFO("T = " << T);
    CHECK(static_cast<double>(st.elements) * dtype_bits(layer.kv_dtype) / 8 == compute_figures(m, co).kv_bytes);
  }
}

TEST_CASE("mtla reference: no bilinear form, and a changed first token moves the last row", "[kernels][mtla]") {
  const AttentionShape s = shape_of("mtla:d=20,heads=3,c=8,qlora=9,nope=5,rope=4,v=3,stride=3");
  const LayerWeights w = random_layer_weights(s, 9);
  const MatrixRM x = random_input(8, 20, 10);
  CHECK_THROWS_WITH(reference_forward(w, x, opts(true), AttentionForm::kBilinear),
                    Catch::Contains("outside the bilinear GMHA form"));
  const MatrixRM pre = reference_forward(w, x, opts(true), AttentionForm::kPrefill);
  MatrixRM shifted = x;
  shifted.row(0).setZero();
  CHECK(rel(reference_forward(w, shifted, opts(true), AttentionForm::kDecode).bottomRows(1), pre.bottomRows(1)) > 1e-6);
  LayerOptions win = opts(true);
  win.window = 4;
  CHECK_THROWS_AS(reference_forward(w, x, win, AttentionForm::kPrefill), InputError);
}
