// GGUF and llama2.c checkpoints as model inputs: the same stories260K in three formats gives the
// same layers and cache, and the counts differ only by what each file stores.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "gmha/attention/hf_config.hpp"
#include "gmha/bridge/checkpoint_model.hpp"
#include "gmha/attention/weights.hpp"
#include "gmha/core/error.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
using gmha::test::shared_data;

TEST_CASE("checkpoint_model: stories260K as GGUF, llama2.c and config.json", "[bridge]") {
  auto gguf = shared_data("stories260K-gguf");
  auto l2c = shared_data("stories260K-llama2c");
  auto hf = shared_data("stories260K-hf-f32");
  if (!gguf || !l2c || !hf) {
    gmha::test::skip_missing("../shared/data/stories260K-* not found; skipping");
    return;
  }
  const auto g = model_from_checkpoint_file(*gguf + "/stories260K.gguf");
  const auto b = model_from_checkpoint_file(*l2c + "/stories260K.bin");
  REQUIRE(g);
  REQUIRE(b);
  const ModelDesign h = read_hf_config(*hf);
  CHECK(g->name == "stories260K");
  for (const ModelDesign* m : {&*g, &*b}) {
    REQUIRE(m->layers.size() == h.layers.size());
    for (size_t i = 0; i < h.layers.size(); ++i) CHECK(same_layer(m->layers[i], h.layers[i]));
  }
  // Each of the 5 layers caches K and V of 4 heads x 8 = 64 elements per token (640 B in bf16
  // over the model; the figures are checked end to end in tests/cli/compare_cli_test.cpp).
  for (const ModelDesign* m : {&*g, &*b, &h}) {
    for (const auto& l : m->layers) CHECK(attention_counts(l.attention).cached_elements == 64);
    CHECK(m->vocab_size == 512);
  }
  // llama2.c shares the classifier and config.json ties it; llama.cpp's converter writes
  // output.weight as its own tensor, so the GGUF's model is untied (512*64 more parameters).
  CHECK(b->tied_embeddings);
  CHECK(h.tied_embeddings);
  CHECK_FALSE(g->tied_embeddings);
  // Context: the GGUF's metadata says 2048, the llama2.c header (and config.json) 512.
  CHECK(g->max_context == 2048);
  CHECK(b->max_context == 512);
}

TEST_CASE("checkpoint_model: other inputs are not checkpoints and broken GGUFs fail naming the file", "[bridge]") {
  CHECK_FALSE(model_from_checkpoint_file("step3"));  // a preset name
  auto hf = shared_data("stories260K-hf-f32");
  if (!hf) {
    gmha::test::skip_missing("../shared/data/stories260K-hf-f32 not found; skipping");
    return;
  }
  CHECK_FALSE(model_from_checkpoint_file(*hf));                   // a folder
  CHECK_FALSE(model_from_checkpoint_file(*hf + "/config.json"));  // a config
  // A .gguf that is not one: open_checkpoint's own error names the file.
  const std::string dir = gmha::test::scratch_dir("ckpt_model");
  const std::string bad = dir + "/broken.gguf";
  { std::ofstream(bad) << "not a gguf"; }
  CHECK_THROWS_WITH(model_from_checkpoint_file(bad), Catch::Contains("broken.gguf"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("checkpoint_model: a GGUF's weights are priced at the bytes its tensors store", "[bridge]") {
  auto q = shared_data("gguf-quant");
  if (!q) {
    gmha::test::skip_missing("../shared/data/gguf-quant not found; skipping");
    return;
  }
  // synth-llama-d256-Q4_K_M (its README: Q4_K x 13, Q6_K x 3 = output, blk.1 v and down, F32
  // norms). Q4_K: token_embd 512 x 256, layer 0's 786,432 and layer 1's q, k, o, gate, up
  // (557,056) = 1,474,560 elements at 144 B per 256; Q6_K: output 131,072 + v 32,768 + down
  // 196,608 = 360,448 at 210 B per 256; F32: 5 norms x 256 at 4 B. 829,440 + 295,680 + 5,120 =
  // 1,130,240 B over 1,836,288 weights.
  const auto k = model_from_checkpoint_file(*q + "/synth-llama-d256-Q4_K_M.gguf");
  REQUIRE(k);
  CHECK(k->stored_bits_per_weight == Approx(8.0 * 1130240 / 1836288).epsilon(1e-12));
  CHECK(k->stored_types == "Q4_K 80%, Q6_K 20%, F32 0%");
  // The F32 file stores every weight in 32 bits.
  const auto f = model_from_checkpoint_file(*q + "/synth-llama-d256-F32.gguf");
  REQUIRE(f);
  CHECK(f->stored_bits_per_weight == 32.0);
  CHECK(f->stored_types == "F32 100%");
}
