// The real trained model in ../shared/data (stories260K) in four copies: Hugging Face F32 and
// BF16 folders, GGUF (llama.cpp) and llama2.c. Through open_checkpoint all four must yield the
// same tensors under the same HF names: bit-equal for the F32 copies (after undoing the q/k
// rotary row order of GGUF and llama2.c), and exactly the F32 values rounded to nearest-even BF16
// for the BF16 copy.
#include <bit>
#include <cmath>

#include <catch2/catch.hpp>

#include "gmha/checkpoint/checkpoint.hpp"
#include "gmha/checkpoint/element_decode.hpp"
#include "support/test_paths.hpp"

using namespace gmha;

namespace {

struct Copies {
  Checkpoint f32, bf16, gguf, l2c;
};

std::optional<Copies> open_copies() {
  auto f32 = test::shared_data("stories260K-hf-f32");
  auto bf16 = test::shared_data("stories260K-hf-bf16");
  auto gguf = test::shared_data("stories260K-gguf");
  auto l2c = test::shared_data("stories260K-llama2c");
  if (!f32 || !bf16 || !gguf || !l2c) return std::nullopt;
  return Copies{open_checkpoint(*f32), open_checkpoint(*bf16),
                open_checkpoint(*gguf + "/stories260K.gguf"),
                open_checkpoint(*l2c + "/stories260K.bin")};
}

bool bit_equal(const MatrixF& a, const MatrixF& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return false;
  for (Eigen::Index i = 0; i < a.size(); ++i)
    if (std::bit_cast<uint32_t>(a.data()[i]) != std::bit_cast<uint32_t>(b.data()[i])) return false;
  return true;
}

}  // namespace

TEST_CASE("stories260K: the four copies list the same model", "[checkpoint][data]") {
  auto c = open_copies();
  if (!c) {
    gmha::test::skip_missing("../shared/data/stories260K-* not found; skipping the real-model checks");
    return;
  }
  CHECK(c->f32.format == "safetensors");
  CHECK(c->gguf.format == "gguf");
  CHECK(c->l2c.format == "llama2c");
  CHECK(c->f32.tensors->tensors().size() == 47);
  CHECK(c->bf16.tensors->tensors().size() == 47);
  CHECK(c->gguf.tensors->tensors().size() == 48);  // + output.weight, a copy of the embedding
  CHECK(c->l2c.tensors->tensors().size() == 49);   // + freq_cis_real / freq_cis_imag
  for (const Checkpoint* ck : {&c->f32, &c->gguf, &c->l2c}) {
    INFO(ck->path);
    CHECK(ck->architecture == "llama");
    CHECK(ck->config["hidden_size"] == 64);
    CHECK(ck->config["num_hidden_layers"] == 5);
    CHECK(ck->config["num_attention_heads"] == 8);
    CHECK(ck->config["num_key_value_heads"] == 4);
    CHECK(ck->config["head_dim"] == 8);
    CHECK(ck->config["intermediate_size"] == 172);
    CHECK(ck->config["vocab_size"] == 512);
  }
  CHECK(c->gguf.tensors->info("model.layers.3.self_attn.k_proj.weight").shape ==
        std::vector<int64_t>{32, 64});
  CHECK(c->gguf.tensors->info("model.layers.3.mlp.down_proj.weight").shape ==
        std::vector<int64_t>{64, 172});
}

TEST_CASE("stories260K: F32 copies are bit-equal tensor by tensor, BF16 is their rounding",
          "[checkpoint][data]") {
  auto c = open_copies();
  if (!c) {
    gmha::test::skip_missing("../shared/data/stories260K-* not found; skipping the real-model checks");
    return;
  }
  int compared = 0;
  for (const auto& t : c->f32.tensors->tensors()) {
    INFO(t.name);
    const MatrixF ref = c->f32.tensors->read_matrix_f(t.name);
    CHECK(bit_equal(c->gguf.tensors->read_matrix_f(t.name), ref));
    CHECK(bit_equal(c->l2c.tensors->read_matrix_f(t.name), ref));
    const MatrixF b = c->bf16.tensors->read_matrix_f(t.name);
    REQUIRE(b.size() == ref.size());
    int off = 0;
    for (Eigen::Index i = 0; i < ref.size(); ++i)
      off += bf16_to_float(float_to_bf16(ref.data()[i])) != b.data()[i];
    CHECK(off == 0);
    ++compared;
  }
  CHECK(compared == 47);
  // The GGUF's classifier is a copy of the embedding (the model ties them).
  CHECK(bit_equal(c->gguf.tensors->read_matrix_f("lm_head.weight"),
                  c->f32.tensors->read_matrix_f("model.embed_tokens.weight")));
}

TEST_CASE("stories260K: GGUF and llama2.c store q/k rows in adjacent-pair rotary order",
          "[checkpoint][data]") {
  auto c = open_copies();
  if (!c) {
    gmha::test::skip_missing("../shared/data/stories260K-* not found; skipping the real-model checks");
    return;
  }
  // The stored rows differ from HF's (so the permutation is doing real work) and agree with
  // each other; v is stored the same everywhere.
  const MatrixF hf = c->f32.tensors->read_matrix_f("model.layers.0.self_attn.q_proj.weight");
  const MatrixF g = c->gguf.stored->read_matrix_f("blk.0.attn_q.weight");
  const MatrixF l = c->l2c.stored->read_matrix_f("layers.0.wq");
  CHECK_FALSE(bit_equal(g, hf));
  CHECK(bit_equal(g, l));
  CHECK(bit_equal(c->gguf.stored->read_matrix_f("blk.2.attn_v.weight"),
                  c->f32.tensors->read_matrix_f("model.layers.2.self_attn.v_proj.weight")));
}
