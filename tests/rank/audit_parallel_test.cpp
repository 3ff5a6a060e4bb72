// Falcon-H1's decoder layers hold two mixers side by side (self_attn. and mamba., outputs summed):
// the layout has an entry for each, both named by the checkpoint's layer, and --layers, JSON,
// shard merging and audit diff keep them together (docs/audit.md, "Parallel mixers").
#include <catch2/catch.hpp>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "gmha/bridge/layout.hpp"
#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/checkpoint/safetensors_writer.hpp"
#include "gmha/core/atomic_file.hpp"
#include "gmha/core/error.hpp"
#include "gmha/rank/audit.hpp"
#include "gmha/rank/audit_diff.hpp"
#include "gmha/rank/audit_json.hpp"
#include "support/planted_checkpoint.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
using Eigen::MatrixXd;

namespace {
// Two Falcon-H1 layers: attention 4 heads of 8 (2 KV), Mamba2 d_ssm 32 (4 heads of 8), 2 groups
// of state 8, so in_proj is [z 32, x 32, B 2 x 8, C 2 x 8, dt 4] x 32. Planted: layer 1 head 2's
// QK rank 2 (its q_proj rows), layer 0's C of group 1 rank 3.
std::string write_falcon_h1(const std::string& name) {
  const std::string dir = test::scratch_dir(name);
  write_file_atomically(dir + "/config.json", R"({"model_type": "falcon_h1",
    "architectures": ["FalconH1ForCausalLM"], "hidden_size": 32, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "intermediate_size": 64,
    "vocab_size": 100, "mamba_d_ssm": 32, "mamba_n_heads": 4, "mamba_d_head": 8,
    "mamba_d_state": 8, "mamba_n_groups": 2, "mamba_d_conv": 4, "key_multiplier": 0.39,
    "ssm_multipliers": [0.35, 0.25, 0.35, 0.5, 0.35]})");
  test::Gaussian random(11);
  const auto tensor = test::f32_tensor;
  std::vector<TensorToWrite> t;
  for (int l = 0; l < 2; ++l) {
    const std::string b = "model.layers." + std::to_string(l) + ".";
    MatrixXd q = random(32, 32), in_proj = random(100, 32);
    if (l == 1) q.middleRows(16, 8) = random(8, 2) * random(2, 32);
    if (l == 0) in_proj.middleRows(88, 8) = random(8, 3) * random(3, 32);
    t.push_back(tensor(b + "self_attn.q_proj.weight", q));
    t.push_back(tensor(b + "self_attn.k_proj.weight", random(16, 32)));
    t.push_back(tensor(b + "self_attn.v_proj.weight", random(16, 32)));
    t.push_back(tensor(b + "self_attn.o_proj.weight", random(32, 32)));
    t.push_back(tensor(b + "mamba.in_proj.weight", in_proj));
  }
  write_safetensors(dir, t);
  return dir;
}

bool has_note(const LayerAudit& l, const std::string& text) {
  for (const auto& n : l.notes)
    if (n.find(text) != std::string::npos) return true;
  return false;
}
}  // namespace

TEST_CASE("audit: Falcon-H1's attention and parallel Mamba2 of each layer, planted ranks back", "[rank]") {
  const std::string dir = write_falcon_h1("falcon-h1-audit");
  const Checkpoint ck = open_checkpoint(dir);
  const Layout lay = detect_layout(ck);
  REQUIRE(lay.layers.size() == 4);
  CHECK(lay.decoder_layers() == 2);
  CHECK(lay.layers[1].layer == 0);
  CHECK(lay.layers[1].parallel);
  CHECK(lay.layers[1].kind == LayoutKind::kLinear);
  CHECK(lay.layers[1].q_proj == "model.layers.0.mamba.in_proj.weight");
  CHECK(lay.layers[2].layer == 1);
  CHECK_FALSE(lay.layers[2].parallel);
  CHECK(lay.layers[2].q_proj == "model.layers.1.self_attn.q_proj.weight");

  const AuditReport r = audit_checkpoint(ck, lay, {});
  REQUIRE(r.layers.size() == 4);
  CHECK(r.model_layers == 2);
  // Layer 0: attention full rank 8; its Mamba2 C_1 planted at 3, B and C_0 full (N = 8).
  CHECK(r.layers[0].heads.at(0).qk.metrics.numerical_rank == 8);
  REQUIRE(r.layers[1].recurrent_q.size() == 2);
  CHECK(r.layers[1].recurrent_q[1].metrics.numerical_rank == 3);
  CHECK(r.layers[1].recurrent_q[0].metrics.numerical_rank == 8);
  CHECK(r.layers[1].recurrent_k[1].metrics.numerical_rank == 8);
  CHECK(r.layers[1].parallel);
  CHECK(has_note(r.layers[1], "parallel mixer"));
  // Layer 1: head 2's QK planted at 2.
  CHECK(r.layers[2].heads.at(2).qk.metrics.numerical_rank == 2);
  CHECK(r.layers[2].heads.at(1).qk.metrics.numerical_rank == 8);
  CHECK(has_note(r.layers[2], "key_multiplier"));
  CHECK(summarize(r).layers == 2);  // the attention entries (the Mamba2 ones have no circuits)

  // --layers names checkpoint layers: 1 is both its mixers.
  AuditOptions one;
  one.layers = {1};
  const AuditReport r1 = audit_checkpoint(ck, lay, one);
  REQUIRE(r1.layers.size() == 2);
  CHECK(r1.layers[0].layer == 1);
  CHECK_FALSE(r1.layers[0].parallel);
  CHECK(r1.layers[1].layer == 1);
  CHECK(r1.layers[1].parallel);
  one.layers = {2};
  CHECK_THROWS_WITH(audit_checkpoint(ck, lay, one), Catch::Contains("the model has 2 layers"));

  // JSON keeps `parallel`; shards of layers 1 and 0 merge back in order.
  one.layers = {0};
  const AuditReport r0 = audit_checkpoint(ck, lay, one);
  auto round = [](const AuditReport& a) { return audit_from_json(nlohmann::json::parse(audit_to_json(a, false).dump()), "t"); };
  const AuditReport merged = merge_audits({round(r1), round(r0)}, {"one.json", "zero.json"});
  REQUIRE(merged.layers.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    INFO("entry " << i);
    CHECK(merged.layers[i].layer == static_cast<int64_t>(i / 2));
    CHECK(merged.layers[i].parallel == (i % 2 == 1));
  }
  CHECK(merged.layers[1].recurrent_q[1].metrics.numerical_rank == 3);
  CHECK(merged.layers[1].mixer == "Mamba2");
  CHECK(merged.layers[0].mixer.empty());
  CHECK_THROWS_WITH(merge_audits({round(r1), round(r1)}, {"a.json", "b.json"}),
                    Catch::Contains("layer 1 is also in a.json"));
}

TEST_CASE("audit diff: Falcon-H1 layers compare attention heads, the parallel Mamba2 entry listed", "[rank]") {
  const std::string dir = write_falcon_h1("falcon-h1-diff");
  const Checkpoint ck = open_checkpoint(dir);
  const Layout lay = detect_layout(ck);
  AuditDiffOptions o;
  o.layers = {1};
  const AuditDiffReport r = diff_checkpoints(ck, lay, ck, lay, o);
  REQUIRE(r.layers.size() == 2);
  CHECK(r.layers[0].layer == 1);
  CHECK(r.layers[0].audited);
  REQUIRE(r.layers[0].heads.size() == 4);
  CHECK(r.layers[0].heads[2].qk.max_angle_deg() < 1e-9);  // identical files
  CHECK(r.layers[0].heads[2].qk.change_rel == 0.0);
  CHECK(r.layers[1].parallel);
  CHECK_FALSE(r.layers[1].audited);
  CHECK(r.layers[1].kind_label() == "linear: Mamba2 (parallel)");
  // The Mamba2 entry's C and B factors of both groups, unmoved between identical files.
  REQUIRE(r.layers[1].recurrent_q.size() == 2);
  for (const auto* f : {&r.layers[1].recurrent_q, &r.layers[1].recurrent_k})
    for (const CircuitDiff& c : *f) {
      CHECK(c.max_angle_deg() < 1e-9);
      CHECK(c.change_rel == 0.0);
    }
}
