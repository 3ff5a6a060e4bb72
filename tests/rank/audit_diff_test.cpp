// audit diff (docs/audit.md, "audit diff"): principal angles worked by hand, planted rotations
// come back, identical checkpoints give zero, a quantized copy gives small nonzero changes within
// Wedin's bound, the factored angles equal a dense float64 computation on real quantized files.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <functional>
#include <numbers>
#include <random>

#include <Eigen/QR>
#include <Eigen/SVD>

#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/checkpoint/safetensors_writer.hpp"
#include "gmha/core/atomic_file.hpp"
#include "gmha/core/error.hpp"
#include "gmha/rank/audit_diff.hpp"
#include "gmha/rank/audit_diff_json.hpp"
#include "gmha/rank/subspace.hpp"
#include "gmha/bridge/layout.hpp"
#include "gmha/bridge/synth.hpp"
#include "support/dense_subspace.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
using Eigen::MatrixXd;
using Eigen::VectorXd;

namespace {

constexpr double kDeg = 180.0 / std::numbers::pi;

SynthOptions llama(const std::string& dtype, int64_t kv_heads = 2, int64_t layers = 2) {
  SynthOptions o;
  o.layout = SynthLayout::kLlama;
  o.shape.variant = Variant::kGqa;
  o.shape.d_model = 64, o.shape.heads = 4, o.shape.kv_heads = kv_heads, o.shape.head_dim = 16;
  o.layers = layers;
  o.dtype = dtype;
  o.seed = 7;
  return o;
}

// A copy of the F32 checkpoint `dir` with `edit(name, matrix)` applied to every tensor.
std::string rewrite(const std::string& dir, const std::function<void(const std::string&, MatrixF&)>& edit) {
  const Checkpoint ck = open_checkpoint(dir);
  std::vector<TensorToWrite> tensors;
  for (const auto& info : ck.tensors->tensors()) {
    MatrixF m = ck.tensors->read_matrix_f(info.name);
    edit(info.name, m);
    tensors.push_back({info.name, "F32", info.shape, [m](std::span<float> v) {
                         std::copy(m.data(), m.data() + m.size(), v.begin());
                       }});
  }
  const std::string out = test::scratch_dir("diff-edit");
  write_safetensors(out, tensors);
  std::ofstream(out + "/config.json") << read_text_file(dir + "/config.json");
  return out;
}

// The rotation by θ in the plane of the orthonormal u, w: u → cos θ·u + sin θ·w, identity on
// the rest of the space.
MatrixXd plane_rotation(const VectorXd& u, const VectorXd& w, double theta) {
  const Eigen::Index d = u.size();
  return MatrixXd::Identity(d, d) + (std::cos(theta) - 1) * (u * u.transpose() + w * w.transpose()) +
         std::sin(theta) * (w * u.transpose() - u * w.transpose());
}

// A unit vector orthogonal to every column of x (d×h, h < d), from a fixed pseudo-random start.
VectorXd orthogonal_to(const MatrixXd& x, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> n;
  VectorXd v(x.rows());
  for (auto& e : v) e = n(gen);
  const MatrixXd q = Eigen::HouseholderQR<MatrixXd>(x).householderQ() * MatrixXd::Identity(x.rows(), x.cols());
  v -= q * (q.transpose() * v);
  return v.normalized();
}

// One head's circuit formed densely in double from a checkpoint's decoded weights (GQA layout,
// head width hd, `per_group` query heads per KV head): QK W_c = Wq_cᵀ·Wk_g, VO U_c = Wv_gᵀ·Wo_cᵀ.
// GGUF's RoPE row order permutes rows within a head, the same for q and k: W_c is unchanged.
MatrixXd dense_circuit(const Checkpoint& ck, const LayerLayout& y, int64_t head, int64_t hd, int64_t per_group,
                       bool qk) {
  const TensorSource& t = *ck.tensors;
  const int64_t g = head / per_group;
  if (qk)
    return t.read_rows_d(y.q_proj, head * hd, (head + 1) * hd).transpose() *
           t.read_rows_d(y.k_proj, g * hd, (g + 1) * hd);
  return t.read_rows_d(y.v_proj, g * hd, (g + 1) * hd).transpose() *
         t.read_matrix_d(y.o_proj).middleCols(head * hd, hd).transpose();
}

// Every head's QK and VO diff of `r` (GQA layers, 4 heads of 64 over 2 KV heads) against a dense
// float64 computation on the same decoded weights: the largest principal angles to 1e-6° (the
// two differ by rounding amplified by 1/gap, and the gaps here are >= 1e-3·σ₁) and ‖ΔW‖/σ₁ to
// 1e-10; then `more(c)` for what the test knows of its inputs. Returns the circuits checked.
int check_against_dense(const AuditDiffReport& r, const Checkpoint& ca, const Layout& la, const Checkpoint& cb,
                        const Layout& lb, const std::function<void(const CircuitDiff&)>& more) {
  int checked = 0;
  for (const auto& l : r.layers) {
    const LayerLayout& x = la.layers[static_cast<size_t>(l.layer)];
    const LayerLayout& y = lb.layers[static_cast<size_t>(l.layer)];
    for (const auto& h : l.heads) {
      for (const bool qk : {true, false}) {
        INFO("layer " << l.layer << " head " << h.head << (qk ? " qk" : " vo"));
        const CircuitDiff& c = qk ? h.qk : h.vo;
        const MatrixXd wa = dense_circuit(ca, x, h.head, 64, 2, qk), wb = dense_circuit(cb, y, h.head, 64, 2, qk);
        const auto [left, right] = test::dense_angles_deg(wa, wb, c.r);
        CHECK(std::abs(c.left_angle_deg - left) < 1e-6);
        CHECK(std::abs(c.right_angle_deg - right) < 1e-6);
        Eigen::BDCSVD<MatrixXd> e(wb - wa);
        CHECK(std::abs(c.change_rel - e.singularValues()(0) / c.a.sigma_1) < 1e-10);
        more(c);
        ++checked;
      }
    }
  }
  return checked;
}

}  // namespace

TEST_CASE("subspace: principal angles worked by hand, small and near-right ones accurate", "[rank]") {
  // X = span(e1, e2); Y = span(cos θ·e1 + sin θ·e3, e2) in R⁴: XᵀY = diag(cos θ, 1), so the
  // angles are θ and 0 and the largest is θ — for θ = 1e-9 (acos alone would give 0 or 2e-8)
  // and for θ = π/2 − 1e-9 (asin alone loses it the same way).
  for (const double theta : {1e-9, 0.3, std::numbers::pi / 2 - 1e-9}) {
    MatrixXd x = MatrixXd::Zero(4, 2), y = MatrixXd::Zero(4, 2);
    x(0, 0) = 1, x(1, 1) = 1;
    y(0, 0) = std::cos(theta), y(2, 0) = std::sin(theta), y(1, 1) = 1;
    CHECK(std::abs(largest_principal_angle(x, y) - theta) <= 1e-15 * std::max(1.0, theta));
  }
  CHECK(largest_principal_angle(MatrixXd(5, 0), MatrixXd(5, 0)) == 0.0);
  CHECK_THROWS_AS(largest_principal_angle(MatrixXd::Zero(4, 2), MatrixXd::Zero(4, 1)), InputError);
}

TEST_CASE("subspace: factored singular bases span a dense SVD's top-r subspaces", "[rank]") {
  // W = X·Yᵀ with X 40×6, Y 30×6 random: the factored top-r bases are orthonormal and span the
  // same spaces as the first r columns of the dense U, V of the formed W (angle at rounding
  // level) for every r; ‖W_B − W_A‖ from the factors equals the dense one.
  std::mt19937 gen(3);
  std::normal_distribution<double> n;
  MatrixXd x(40, 6), y(30, 6);
  for (auto* m : {&x, &y})
    for (Eigen::Index i = 0; i < m->size(); ++i) m->data()[i] = n(gen);
  const CircuitSvd s = circuit_svd(x, y);
  const MatrixXd w = x * y.transpose();
  Eigen::JacobiSVD<MatrixXd> dense(w, Eigen::ComputeThinU | Eigen::ComputeThinV);
  REQUIRE(s.sigma.size() == 6);
  for (int64_t r = 0; r <= 6; ++r) {
    const MatrixXd l = left_basis(s, x, r), rt = right_basis(s, y, r);
    CHECK((l.transpose() * l - MatrixXd::Identity(r, r)).norm() < 1e-14);
    CHECK((rt.transpose() * rt - MatrixXd::Identity(r, r)).norm() < 1e-14);
    if (r == 0) continue;
    CHECK(std::abs(s.sigma[static_cast<size_t>(r - 1)] - dense.singularValues()(r - 1)) < 1e-12 * s.sigma[0]);
    CHECK(largest_principal_angle(l, dense.matrixU().leftCols(r)) < 1e-10);
    CHECK(largest_principal_angle(rt, dense.matrixV().leftCols(r)) < 1e-10);
  }
  CHECK(s.spans(6));
  CHECK_FALSE(s.spans(7));
  CHECK_THROWS_AS(left_basis(s, x, 7), InputError);
  // A rank-2 circuit has no 3-dimensional range.
  const CircuitSvd low = circuit_svd(x.leftCols(2), y.leftCols(2));
  CHECK(low.spans(2));
  CHECK_FALSE(low.spans(3));
  // The difference of two circuits: exactly 0 for the same factors; else the dense σ₁.
  CHECK(difference_norm(x, y, x, y) == 0.0);
  MatrixXd xb = x, yb = y;
  xb(3, 1) += 1e-6, yb.col(4) *= 1.001;
  Eigen::JacobiSVD<MatrixXd> diff(xb * yb.transpose() - w);
  CHECK(std::abs(difference_norm(x, y, xb, yb) - diff.singularValues()(0)) < 1e-9 * diff.singularValues()(0));
}

TEST_CASE("audit diff: identical checkpoints give zero change and zero angles", "[rank]") {
  SynthOptions o = llama("F32");
  o.qk_rank = parse_rank_pattern("full,3,1,0", "--qk-rank");
  const std::string a = test::scratch_dir("diff-same"), b = test::scratch_dir("diff-same");
  write_synth_checkpoint(a, o);
  write_synth_checkpoint(b, o);  // same seed: the same bytes, another folder
  const AuditDiffReport r = diff_paths(a, b, {});
  REQUIRE(r.layers.size() == 2);
  for (const auto& l : r.layers) {
    REQUIRE(l.heads.size() == 4);
    for (const auto& h : l.heads) {
      for (const CircuitDiff* c : {&h.qk, &h.vo}) {
        // Same bytes, same arithmetic: the figures are equal exactly. The angles are those of a
        // basis with itself: sin θ = ‖X − X·XᵀX‖ ≈ r·u ≈ 1e-15 rad, so below 1e-12 degrees; the
        // change ‖W − W‖ has only zero column pairs (see difference_norm): exactly 0.
        CHECK(c->finite);
        CHECK(c->a.sigma_1 == c->b.sigma_1);
        CHECK(c->a.energy_rank == c->b.energy_rank);
        CHECK(c->a.entropy_rank == c->b.entropy_rank);
        CHECK(c->left_angle_deg < 1e-12);
        CHECK(c->right_angle_deg < 1e-12);
        CHECK(c->change_rel == 0.0);
        CHECK_FALSE(c->b_rank_short);
      }
    }
    const LayerDiffSummary s = summarize_layer(l);
    CHECK(s.energy_rank_changes == 0);
    CHECK(s.max_rel_sigma_1_change == 0.0);
  }
  // Planted QK ranks (layer-major over the 4 heads): full (16), 3, 1, 0. r is A's energy rank at
  // 0.99 of σ linear from 1 to 0.3: rank 3 has σ² = 1, 0.4225, 0.09 (total 1.5125; the first two
  // hold 94%, all three 100%) so r = 3; rank 1 gives r = 1; the zero circuit r = 0 (angles 0).
  CHECK(r.layers[0].heads[1].qk.r == 3);
  CHECK(r.layers[0].heads[2].qk.r == 1);
  CHECK(r.layers[0].heads[3].qk.r == 0);
}

TEST_CASE("audit diff: a planted rotation by a known angle comes back", "[rank]") {
  const std::string dir = test::scratch_dir("diff-rot");
  write_synth_checkpoint(dir, llama("F32"));
  const Checkpoint ck = open_checkpoint(dir);
  const std::string q = "model.layers.1.self_attn.q_proj.weight", o = "model.layers.0.self_attn.o_proj.weight";
  // Layer 1, head 1: the QK circuit W = Aq·Bkᵀ with Aq = (q rows 16..31)ᵀ (d×16). Rotating Aq by
  // G (θ = 20°, in the plane of W's top left singular vector u₁ and a w orthogonal to all of Aq)
  // turns u₁ into cos θ·u₁ + sin θ·w and leaves u₂… fixed and σ unchanged: the left angle is θ
  // for every r, the right one 0. Layer 0, head 2: O's columns 32..47 rotated by 35° the same
  // way moves the VO circuit's right subspace by 35° and nothing else.
  const double theta_q = 20.0 / kDeg, theta_o = 35.0 / kDeg;
  const MatrixXd aq = ck.tensors->read_rows_d(q, 16, 32).transpose();
  const MatrixXd bk = ck.tensors->read_rows_d("model.layers.1.self_attn.k_proj.weight", 0, 16).transpose();
  Eigen::JacobiSVD<MatrixXd> wq(aq * bk.transpose(), Eigen::ComputeThinU);
  const MatrixXd gq = plane_rotation(wq.matrixU().col(0), orthogonal_to(aq, 1), theta_q);
  const MatrixXd bo = ck.tensors->read_matrix_d(o).middleCols(32, 16);
  const MatrixXd av = ck.tensors->read_rows_d("model.layers.0.self_attn.v_proj.weight", 16, 32).transpose();
  Eigen::JacobiSVD<MatrixXd> wo(av * bo.transpose(), Eigen::ComputeThinV);
  const MatrixXd go = plane_rotation(wo.matrixV().col(0), orthogonal_to(bo, 2), theta_o);
  const std::string moved = rewrite(dir, [&](const std::string& name, MatrixF& m) {
    if (name == q) m.middleRows(16, 16) = (m.middleRows(16, 16).cast<double>() * gq.transpose()).cast<float>();
    if (name == o) m.middleCols(32, 16) = (go * m.middleCols(32, 16).cast<double>()).cast<float>();
  });
  const AuditDiffReport r = diff_paths(dir, moved, {});
  // The rotated weights are stored in F32 again (relative rounding 2⁻²⁴ ≈ 6e-8 per weight): by
  // Wedin the angles move by at most ~‖E‖/gap ≈ 1e-7·σ₁ / 0.3 (r = 16 of a full planted rank,
  // gap σ₁₆ − 0; see the BF16 case below) ≈ 3e-7 rad ≈ 2e-5°; 1e-3° leaves room.
  const double storage = 1e-3;
  for (const auto& l : r.layers)
    for (const auto& h : l.heads) {
      INFO("layer " << l.layer << " head " << h.head);
      const bool q_head = l.layer == 1 && h.head == 1, o_head = l.layer == 0 && h.head == 2;
      CHECK(std::abs(h.qk.left_angle_deg - (q_head ? 20.0 : 0.0)) < storage);
      CHECK(h.qk.right_angle_deg < storage);
      CHECK(h.vo.left_angle_deg < storage);
      CHECK(std::abs(h.vo.right_angle_deg - (o_head ? 35.0 : 0.0)) < storage);
      // A rotation changes no singular value: σ₁ and both ranks stay (to the F32 rounding).
      CHECK(std::abs(h.qk.b.sigma_1 - h.qk.a.sigma_1) < 1e-6);
      CHECK(h.qk.a.energy_rank == h.qk.b.energy_rank);
      CHECK(std::abs(h.vo.b.entropy_rank - h.vo.a.entropy_rank) < 1e-5);
      if (!q_head && !o_head) CHECK(h.max_angle_deg() < 1e-12);  // bit-identical weights
    }
  // Rotating u₁ by θ moves W by ‖G·W − W‖ = σ₁·‖(G − I)u₁‖ = σ₁·2 sin(θ/2): 0.347 for 20°.
  CHECK(std::abs(r.layers[1].heads[1].qk.change_rel - 2 * std::sin(theta_q / 2)) < 1e-5);
  const auto top = most_moved_heads(r, 1);
  REQUIRE(top.size() == 1);
  CHECK(top[0].layer->layer == 0);
  CHECK(top[0].head->head == 2);
}

TEST_CASE("audit diff: a BF16 copy gives small nonzero changes inside Wedin's bound", "[rank]") {
  const std::string a = test::scratch_dir("diff-f32"), b = test::scratch_dir("diff-bf16");
  write_synth_checkpoint(a, llama("F32"));
  write_synth_checkpoint(b, llama("BF16"));
  const AuditDiffReport r = diff_paths(a, b, {});
  for (const auto& l : r.layers)
    for (const auto& h : l.heads)
      for (const CircuitDiff* c : {&h.qk, &h.vo}) {
        // Every weight moves by ≤ 2⁻⁹ relative, so the circuit by a few times that (the
        // factors are orthonormal-ish: ‖ΔW‖ ≲ 2·2⁻⁹·√16·σ₁ ≈ 0.016 at worst, far less typically).
        CHECK(c->change_rel > 0);
        CHECK(c->change_rel < 0.016);
        CHECK(c->a.sigma_1 != c->b.sigma_1);
        CHECK(std::abs(c->b.sigma_1 - c->a.sigma_1) <= c->change_rel * c->a.sigma_1);  // Weyl
        CHECK(c->left_angle_deg > 0);
        // Wedin: sin θ ≤ ‖ΔW‖ / (σ_rᴬ − σ_{r+1}ᴮ), and σ_{r+1}ᴮ ≤ σ_{r+1}ᴬ + ‖ΔW‖ (Weyl), so
        // sin θ ≤ change / (gap − change) in units of σ₁ᴬ. Planted full rank 16, σ = 1 … 0.3:
        // Σσ² = 7.50 and σ₁₆² = 0.09 is 1.2% of it, so r = 16 and the gap is σ₁₆ − 0 = 0.3.
        CHECK(c->r == 16);
        CHECK(std::abs(c->gap_rel - 0.3) < 1e-2);
        REQUIRE(c->gap_rel > c->change_rel);
        const double bound = c->change_rel / (c->gap_rel - c->change_rel);
        CHECK(std::sin(c->max_angle_deg() / kDeg) <= bound);
        CHECK(c->max_angle_deg() < 20.0);
      }
}

TEST_CASE("audit diff: other architectures are input errors", "[rank]") {
  const std::string a = test::scratch_dir("diff-arch"), b = test::scratch_dir("diff-arch"),
                    c = test::scratch_dir("diff-arch"), m = test::scratch_dir("diff-mla");
  write_synth_checkpoint(a, llama("F32", 2));
  write_synth_checkpoint(b, llama("F32", 4));
  write_synth_checkpoint(c, llama("F32", 2, 3));
  auto message = [](const std::string& x, const std::string& y) -> std::string {
    try {
      diff_paths(x, y, {});
    } catch (const InputError& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK_THAT(message(a, b), Catch::Contains("layer 0 has KV heads 2 in the first and 4 in the second"));
  CHECK_THAT(message(a, c), Catch::Contains("2 layers against 3"));
  SynthOptions mla;
  mla.layout = SynthLayout::kDeepseekV3;
  mla.shape.variant = Variant::kMla;
  mla.shape.d_model = 96, mla.shape.heads = 3, mla.shape.kv_heads = 1, mla.shape.q_lora_rank = 32;
  mla.shape.kv_lora_rank = 24, mla.shape.qk_nope_dim = 16, mla.shape.qk_rope_dim = 8, mla.shape.v_head_dim = 16;
  mla.dtype = "F32";
  write_synth_checkpoint(m, mla);
  // MLA is read (tests/rank/audit_layouts_test.cpp); one against a GQA file is not one architecture.
  CHECK_THAT(message(m, a), Catch::Contains("are not one architecture"));
  AuditDiffOptions bad;
  bad.energy = 1.5;
  CHECK_THROWS_AS(diff_paths(a, a, bad), InputError);
  bad.energy = 0.99;
  bad.layers = {2};
  CHECK_THROWS_AS(diff_paths(a, a, bad), InputError);
}

TEST_CASE("audit diff: real llama.cpp Q4_K_M against its F32 source equals a dense float64 diff", "[rank]") {
  const auto f32 = test::shared_data("gguf-quant/synth-llama-d256-F32.gguf");
  const auto q4 = test::shared_data("gguf-quant/synth-llama-d256-Q4_K_M.gguf");
  if (!f32 || !q4) {
    test::skip_missing("../shared/data/gguf-quant/synth-llama-d256-*.gguf not found: skipping the Q4_K_M diff");
    return;
  }
  const Checkpoint ca = open_checkpoint(*f32), cb = open_checkpoint(*q4);
  const Layout la = detect_layout(ca), lb = detect_layout(cb);
  const AuditDiffReport r = diff_checkpoints(ca, la, cb, lb, {});
  REQUIRE(r.layers.size() == 2);
  const int checked = check_against_dense(r, ca, la, cb, lb, [](const CircuitDiff& c) {
    // Q4_K (4.5 bits per weight): small nonzero changes; the angles obey Wedin's bound.
    CHECK(c.change_rel > 0.01);
    CHECK(c.change_rel < 0.2);
    const double delta = c.sigma_a[static_cast<size_t>(c.r - 1)] - c.sigma_b[static_cast<size_t>(c.r)];
    if (delta > 0) CHECK(std::sin(c.max_angle_deg() / kDeg) <= c.change_rel * c.a.sigma_1 / delta);
  });
  CHECK(checked == 16);
}

TEST_CASE("audit diff: gmha's own BF16 and Q4_K_M synth checkpoints equal a dense float64 diff", "[rank]") {
  // The same planted weights (seed 7) stored as BF16 safetensors and as llama.cpp's Q4_K_M mix
  // (Q4_K, attn_v of some layers Q6_K) written by gmha's encoders: the audit diff across the two
  // formats must report what a dense float64 SVD of the formed circuits gives. d = 256 so that
  // every row is whole 256-element K-quant super-blocks; planted rank 8 per circuit (σ from 1 to
  // 0.3) so that the energy rank r = 8 has a clear gap (σ₈ = 0.3 against quantization noise).
  SynthOptions o;
  o.layout = SynthLayout::kLlama;
  o.shape.variant = Variant::kGqa;
  o.shape.d_model = 256, o.shape.heads = 4, o.shape.kv_heads = 2, o.shape.head_dim = 64;
  o.layers = 2;
  o.seed = 7;
  o.qk_rank.ranks = {8};
  o.vo_rank.ranks = {8};
  const std::string a = test::scratch_dir("diff-own-bf16"), b = test::scratch_dir("diff-own-q4km");
  o.dtype = "BF16";
  write_synth_checkpoint(a, o);
  o.dtype = "Q4_K_M";
  write_synth_checkpoint(b, o);
  // A GGUF synth is one model.gguf, its metadata standing in for config.json.
  const Checkpoint ca = open_checkpoint(a), cb = open_checkpoint(b + "/model.gguf");
  const Layout la = detect_layout(ca), lb = detect_layout(cb);
  const AuditDiffReport r = diff_checkpoints(ca, la, cb, lb, {});
  REQUIRE(r.layers.size() == 2);
  const int checked = check_against_dense(r, ca, la, cb, lb, [](const CircuitDiff& c) {
    CHECK(c.r == 8);
    // 4-6 bits per weight: a visible but small change, angles inside Wedin's bound with the
    // planted gap σ₈ − σ₉ ≈ 0.3·σ₁.
    CHECK(c.change_rel > 0.005);
    CHECK(c.change_rel < 0.2);
    CHECK(c.max_angle_deg() > 0);
    const double delta = c.sigma_a[static_cast<size_t>(c.r - 1)] - c.sigma_b[static_cast<size_t>(c.r)];
    REQUIRE(delta > 0);
    CHECK(std::sin(c.max_angle_deg() / kDeg) <= c.change_rel * c.a.sigma_1 / delta);
  });
  CHECK(checked == 16);
}
