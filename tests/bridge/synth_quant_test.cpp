// synth's Q4_K_M mix against llama.cpp's rule written out by hand (llama-quant.cpp
// use_more_bits: i < n/8, i >= 7n/8, or (i - n/8) % 3 == 2 gives attn_v Q6_K), for 32 layers
// (Llama-3-8B's count) and for 80 layers with grouped KV heads, which llama.cpp types as 70B and
// whose other attn_v tensors it raises to Q5_K; every other projection is Q4_K, norms F32.
#include <catch2/catch.hpp>

#include <set>

#include "gmha/bridge/synth.hpp"
#include "gmha/checkpoint/gguf.hpp"
#include "support/test_paths.hpp"

using namespace gmha;

namespace {

std::vector<std::string> attn_v_types(int64_t layers, int64_t kv_heads) {
  SynthOptions o;
  o.layout = SynthLayout::kLlama;
  o.shape.variant = kv_heads == 4 ? Variant::kMha : Variant::kGqa;
  o.shape.d_model = 256, o.shape.heads = 4, o.shape.kv_heads = kv_heads, o.shape.head_dim = 64;
  o.layers = layers;
  o.dtype = "Q4_K_M";
  const std::string dir = test::scratch_dir("synth-q4km");
  write_synth_checkpoint(dir, o);
  auto g = GgufSource::open(dir + "/model.gguf");
  std::vector<std::string> v;
  for (int64_t l = 0; l < layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    v.push_back(g->info(b + "attn_v.weight").dtype);
    CHECK(g->info(b + "attn_q.weight").dtype == "Q4_K");
    CHECK(g->info(b + "attn_k.weight").dtype == "Q4_K");
    CHECK(g->info(b + "attn_output.weight").dtype == "Q4_K");
    CHECK(g->info(b + "attn_norm.weight").dtype == "F32");
  }
  CHECK(g->header().metadata["general.file_type"] == 15);  // LLAMA_FTYPE_MOSTLY_Q4_K_M
  return v;
}

}  // namespace

TEST_CASE("synth: Q4_K_M gives attn_v Q6_K on llama.cpp's layers", "[bridge][quant]") {
  // 32 layers: n/8 = 4, 7n/8 = 28: layers 0-3, 28-31 and 6, 9, ..., 27 ((i - 4) % 3 == 2).
  const std::set<int64_t> six = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
  const auto v32 = attn_v_types(32, 2);
  for (int64_t l = 0; l < 32; ++l) CHECK(v32[static_cast<size_t>(l)] == (six.count(l) ? "Q6_K" : "Q4_K"));
  // 80 layers, GQA (llama.cpp's 70B): n/8 = 10, 7n/8 = 70: Q6_K on 0-9, 12, 15, ..., 69, 70-79,
  // Q5_K elsewhere; with as many KV as query heads (65B) the rest stay Q4_K.
  const auto v80 = attn_v_types(80, 2);
  const auto v80mha = attn_v_types(80, 4);
  int64_t q6 = 0;
  for (int64_t l = 0; l < 80; ++l) {
    const bool more = l < 10 || l >= 70 || (l - 10) % 3 == 2;
    q6 += more;
    CHECK(v80[static_cast<size_t>(l)] == (more ? "Q6_K" : "Q5_K"));
    CHECK(v80mha[static_cast<size_t>(l)] == (more ? "Q6_K" : "Q4_K"));
  }
  CHECK(q6 == 40);  // 10 + 10 + the 20 of 12, 15, ..., 69
}
