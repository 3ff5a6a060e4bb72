// GGUF: metadata of each type, F32/F16/BF16/Q8_0 conversion, other types listed but refused,
// llama.cpp names mapped to Hugging Face names with the q/k rotary rows put back in HF order.
#include <catch2/catch.hpp>

#include "checkpoint/fixture_writer.hpp"
#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/checkpoint/gguf.hpp"
#include "gmha/core/error.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
using namespace gmha::test;

TEST_CASE("gguf: F32, F16, BF16 and Q8_0 convert exactly, IQ2_XXS is listed and refused",
          "[checkpoint]") {
  const std::string dir = scratch_dir("gguf-types");
  const auto v = ramp(64, 0.25f);
  std::vector<float> q(64);
  for (int i = 0; i < 64; ++i) q[static_cast<size_t>(i)] = 0.5f * static_cast<float>((i % 21) - 10);
  q[40] = 0.125f * 100;  // second block has scale 0.125
  for (int i = 32; i < 64; ++i) q[static_cast<size_t>(i)] = 0.125f * static_cast<float>((i % 50) - 25);
  GgufBuilder b;
  b.add_string("general.architecture", "test");
  b.add_u32("general.alignment", 64);
  b.add_f32("test.eps", 0.5f);
  b.add_string_array("tokens", {"a", "bc"});
  b.add_tensor("f32", {16, 4}, 0, f32_bytes(v));
  b.add_tensor("f16", {16, 4}, 1, f16_bytes(v));
  b.add_tensor("bf16", {16, 4}, 30, bf16_bytes(v));
  b.add_tensor("q8", {32, 2}, 8, q8_0_bytes(q, {0.5f, 0.125f}));
  b.add_tensor("iq2", {256}, 16, std::string(66, '\0'));
  write_bytes(dir + "/m.gguf", b.bytes(3, 64));
  auto g = GgufSource::open(dir + "/m.gguf");
  CHECK(g->header().version == 3);
  CHECK(g->header().alignment == 64);
  CHECK(g->header().metadata["test.eps"].get<double>() == 0.5);
  CHECK(g->header().metadata["tokens"] == nlohmann::json({"a", "bc"}));
  for (const auto& t : g->tensors()) CHECK(t.offset % 64 == 0);
  CHECK(g->info("f32").shape == std::vector<int64_t>{4, 16});  // torch order: ne reversed
  for (const char* name : {"f32", "f16", "bf16"}) {
    MatrixF m = g->read_matrix_f(name);
    for (int i = 0; i < 64; ++i) CHECK(m.data()[i] == v[static_cast<size_t>(i)]);
  }
  MatrixD m = g->read_matrix_d("q8");
  REQUIRE(m.rows() == 2);
  for (int i = 0; i < 64; ++i) CHECK(m.data()[i] == q[static_cast<size_t>(i)]);
  CHECK(g->read_rows_d("q8", 1, 2)(0, 5) == q[37]);
  CHECK(g->info("iq2").dtype == "IQ2_XXS");
  CHECK(g->info("iq2").bytes == 66);
  CHECK_THROWS_WITH(g->read_matrix_f("iq2"),
                    Catch::Contains("tensor 'iq2': type IQ2_XXS is not supported for conversion"));
}

TEST_CASE("gguf: version 2 files are read like version 3", "[checkpoint]") {
  const std::string dir = scratch_dir("gguf-v2");
  GgufBuilder b;
  b.add_tensor("x", {4}, 0, f32_bytes({1, 2, 3, 4}));
  write_bytes(dir + "/m.gguf", b.bytes(2));
  auto g = GgufSource::open(dir + "/m.gguf");
  CHECK(g->header().version == 2);
  CHECK(g->read_matrix_f("x")(3, 0) == 4.0f);
}

TEST_CASE("gguf: llama names map to HF names and q/k rows are put in rotate_half order",
          "[checkpoint]") {
  const std::string dir = scratch_dir("gguf-llama");
  // d 8, 2 heads of 4, 1 KV head: q [8, 8], k [4, 8]; row r holds the value r in every column.
  auto rows = [](int n, int cols) {
    std::vector<float> v;
    for (int r = 0; r < n; ++r)
      for (int c = 0; c < cols; ++c) v.push_back(static_cast<float>(r));
    return v;
  };
  GgufBuilder b;
  b.add_string("general.architecture", "llama");
  b.add_u32("llama.embedding_length", 8);
  b.add_u32("llama.feed_forward_length", 16);
  b.add_u32("llama.block_count", 1);
  b.add_u32("llama.attention.head_count", 2);
  b.add_u32("llama.attention.head_count_kv", 1);
  b.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  b.add_tensor("blk.0.attn_q.weight", {8, 8}, 0, f32_bytes(rows(8, 8)));
  b.add_tensor("blk.0.attn_k.weight", {8, 4}, 0, f32_bytes(rows(4, 8)));
  b.add_tensor("blk.0.attn_v.weight", {8, 4}, 0, f32_bytes(rows(4, 8)));
  b.add_tensor("token_embd.weight", {8, 3}, 0, f32_bytes(rows(3, 8)));
  write_bytes(dir + "/m.gguf", b.bytes());
  Checkpoint c = open_checkpoint(dir + "/m.gguf");
  CHECK(c.format == "gguf");
  CHECK(c.architecture == "llama");
  CHECK(c.config["num_key_value_heads"] == 1);
  CHECK(c.config["head_dim"] == 4);
  CHECK(c.config["tie_word_embeddings"] == true);
  CHECK(c.config["vocab_size"] == 3);
  const auto& q = c.tensors->info("model.layers.0.self_attn.q_proj.weight");
  CHECK(q.stored_name == "blk.0.attn_q.weight");
  // h = 4: HF row j*2 + i is stored row 2i + j -> HF rows 0..3 = stored 0, 2, 1, 3.
  MatrixF mq = c.tensors->read_matrix_f("model.layers.0.self_attn.q_proj.weight");
  const float want_q[] = {0, 2, 1, 3, 4, 6, 5, 7};
  for (int r = 0; r < 8; ++r) CHECK(mq(r, 5) == want_q[r]);
  MatrixD rk = c.tensors->read_rows_d("model.layers.0.self_attn.k_proj.weight", 1, 3);
  CHECK(rk(0, 0) == 2.0);
  CHECK(rk(1, 0) == 1.0);
  MatrixF mv = c.tensors->read_matrix_f("model.layers.0.self_attn.v_proj.weight");
  CHECK(mv(1, 0) == 1.0f);  // v is not permuted
  CHECK(c.stored->read_matrix_f("blk.0.attn_q.weight")(1, 0) == 1.0f);
}
