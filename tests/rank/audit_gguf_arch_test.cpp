// GGUF files of the Qwen MoE and Gemma 3 architectures (llama.cpp's qwen3moe, qwen2moe, gemma3
// metadata and blk.N names, written by the test's GGUF writer): read as their Hugging Face
// families, audited with a planted head rank, and priced as model inputs (experts, windows).
#include <catch2/catch.hpp>

#include <random>

#include <Eigen/Core>

#include "checkpoint/fixture_writer.hpp"
#include "gmha/bridge/checkpoint_model.hpp"
#include "gmha/bridge/layout.hpp"
#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/rank/audit.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
using namespace gmha::test;
using Eigen::MatrixXd;

namespace {

// A row-major [rows, cols] F32 weight as ggml stores it (ne = {cols, rows}).
void add_weight(GgufBuilder& b, const std::string& name, const MatrixXd& w) {
  std::vector<float> v;
  for (Eigen::Index i = 0; i < w.rows(); ++i)
    for (Eigen::Index j = 0; j < w.cols(); ++j) v.push_back(static_cast<float>(w(i, j)));
  b.add_tensor(name, {static_cast<uint64_t>(w.cols()), static_cast<uint64_t>(w.rows())}, 0, f32_bytes(v));
}
// A vector [n] of one value (norm weights, biases).
void add_vector(GgufBuilder& b, const std::string& name, size_t n, float value) {
  b.add_tensor(name, {n}, 0, f32_bytes(std::vector<float>(n, value)));
}

// Two layers of d = 64, 4 query heads and 2 KV heads of 16 with per-head q/k norms; head 1's
// query rows have rank 3 in layer 0. `arch` names the keys; MoE keys for the Qwen MoEs, a
// sliding window for Gemma 3 (whose stored norm weights are llama.cpp's 1 + w: here all 1).
std::string write_arch(const std::string& arch) {
  GgufBuilder b;
  const std::string p = arch + ".";
  b.add_string("general.architecture", arch);
  b.add_u32(p + "embedding_length", 64);
  b.add_u32(p + "block_count", 2);
  b.add_u32(p + "feed_forward_length", 128);
  b.add_u32(p + "attention.head_count", 4);
  b.add_u32(p + "attention.head_count_kv", 2);
  b.add_u32(p + "attention.key_length", 16);
  b.add_u32(p + "context_length", 4096);
  if (arch != "gemma3") {
    b.add_u32(p + "expert_count", 8);
    b.add_u32(p + "expert_used_count", 2);
    b.add_u32(p + "expert_feed_forward_length", 32);
  } else {
    b.add_u32(p + "attention.sliding_window", 512);
  }
  std::mt19937_64 rng(5);
  std::normal_distribution<double> z;
  auto random = [&](Eigen::Index r, Eigen::Index c) {
    MatrixXd m(r, c);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = z(rng);
    return m;
  };
  for (int l = 0; l < 2; ++l) {
    const std::string blk = "blk." + std::to_string(l) + ".";
    MatrixXd q = random(64, 64);
    if (l == 0) q.middleRows(16, 16) = random(16, 3) * random(3, 64);
    add_weight(b, blk + "attn_q.weight", q);
    add_weight(b, blk + "attn_k.weight", random(32, 64));
    add_weight(b, blk + "attn_v.weight", random(32, 64));
    add_weight(b, blk + "attn_output.weight", random(64, 64));
    add_vector(b, blk + "attn_q_norm.weight", 16, 1.0f);
    add_vector(b, blk + "attn_k_norm.weight", 16, 1.0f);
    if (arch == "qwen2moe") {  // Qwen2's q/k/v biases
      add_vector(b, blk + "attn_q.bias", 64, 0.0f);
      add_vector(b, blk + "attn_k.bias", 32, 0.0f);
      add_vector(b, blk + "attn_v.bias", 32, 0.0f);
    }
  }
  add_weight(b, "token_embd.weight", random(100, 64));
  const std::string path = scratch_dir("gguf-arch-" + arch) + "/model.gguf";
  write_bytes(path, b.bytes());
  return path;
}

}  // namespace

TEST_CASE("audit: GGUF qwen3moe, qwen2moe and gemma3 files read as their HF families", "[rank]") {
  for (const std::string arch : {"qwen3moe", "qwen2moe", "gemma3"}) {
    INFO(arch);
    const std::string path = write_arch(arch);
    const Checkpoint ck = open_checkpoint(path);
    CHECK(ck.architecture == (arch == "qwen3moe" ? "qwen3_moe" : arch == "qwen2moe" ? "qwen2_moe" : "gemma3_text"));
    const Layout lay = detect_layout(ck);
    REQUIRE(lay.layers.size() == 2);
    CHECK(lay.layers[0].q_norm == "model.layers.0.self_attn.q_norm.weight");
    // llama.cpp writes Gemma's norms as 1 + w already: nothing is added to a GGUF's.
    CHECK(lay.layers[0].qk_norm_offset == 0.0);
    const AuditReport r = audit_checkpoint(ck, lay, {});
    REQUIRE(r.layers[0].heads.size() == 4);
    CHECK(r.layers[0].heads[1].qk.metrics.numerical_rank == 3);
    CHECK(r.layers[0].heads[0].qk.metrics.numerical_rank == 16);
    CHECK(r.layers[1].heads[1].qk.metrics.numerical_rank == 16);
    // As a model input: the experts (Qwen MoE) or Gemma 3's 5 sliding : 1 global pattern.
    const auto m = model_from_checkpoint_file(path);
    REQUIRE(m.has_value());
    if (arch == "gemma3") {
      CHECK(m->layers[0].span.kind == SpanKind::kSlidingWindow);
      CHECK(m->layers[0].span.tokens == 512);
    } else {
      CHECK(m->layers[0].ffn.routed_experts == 8);
      CHECK(m->layers[0].ffn.top_k == 2);
      CHECK(m->layers[0].ffn.expert_intermediate == 32);
    }
  }
}
