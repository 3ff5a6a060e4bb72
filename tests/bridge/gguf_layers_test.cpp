// GGUF metadata that varies per layer (head_count_kv and feed_forward_length arrays, a sliding
// window pattern, shared_kv_layers), written by the test's GGUF writer and read as a model input;
// the cache and the counts worked by hand.
#include <catch2/catch.hpp>

#include <cstring>

#include "checkpoint/fixture_writer.hpp"
#include "gmha/bridge/checkpoint_model.hpp"
#include "gmha/attention/weights.hpp"
#include "gmha/core/error.hpp"
#include "support/test_paths.hpp"

using namespace gmha;
using namespace gmha::test;

namespace {

// A GGUF array of u32 (element type 4) or bool (7): type 9, element type, count, elements.
std::string array_payload(uint32_t elem_type, const std::vector<uint32_t>& v) {
  std::string out(4 + 8, '\0');
  const uint64_t n = v.size();
  std::memcpy(out.data(), &elem_type, 4);
  std::memcpy(out.data() + 4, &n, 8);
  for (uint32_t x : v) {
    if (elem_type == 7) {
      out += static_cast<char>(x != 0);
    } else {
      char b[4];
      std::memcpy(b, &x, 4);
      out.append(b, 4);
    }
  }
  return out;
}

// Six llama layers, d = 256, 8 query heads of 32: KV heads [2, 4, 0, 2, 2, 2] (layer 2 has no
// attention), FFN widths [512, 512, 0, 1024, 512, 512], sliding window 128 on layers 0, 2, 4, and
// the last two layers reading earlier caches. A token embedding of 10 rows and no output.weight
// (tied).
GgufBuilder six_layers() {
  GgufBuilder b;
  b.add_string("general.architecture", "llama");
  b.add_u32("llama.embedding_length", 256);
  b.add_u32("llama.block_count", 6);
  b.add_u32("llama.attention.head_count", 8);
  b.add_raw("llama.attention.head_count_kv", 9, array_payload(4, {2, 4, 0, 2, 2, 2}));
  b.add_raw("llama.feed_forward_length", 9, array_payload(4, {512, 512, 0, 1024, 512, 512}));
  b.add_u32("llama.attention.sliding_window", 128);
  b.add_raw("llama.attention.sliding_window_pattern", 9, array_payload(7, {1, 0, 1, 0, 1, 0}));
  b.add_u32("llama.attention.shared_kv_layers", 2);
  b.add_u32("llama.context_length", 4096);
  b.add_tensor("token_embd.weight", {256, 10}, 0, f32_bytes(std::vector<float>(2560, 0.5f)));
  return b;
}

std::string write(const std::string& tag, const GgufBuilder& b) {
  const std::string path = scratch_dir(tag) + "/six.gguf";
  write_bytes(path, b.bytes());
  return path;
}

// A llama header of `layers` layers, d = 256, 8 query heads, FFN 512, with the given
// per-layer head_count_kv array (any length, so that a test can write a wrong one).
GgufBuilder llama_with_kv_heads(uint32_t layers, const std::vector<uint32_t>& kv_heads) {
  GgufBuilder b;
  b.add_string("general.architecture", "llama");
  b.add_u32("llama.embedding_length", 256);
  b.add_u32("llama.block_count", layers);
  b.add_u32("llama.attention.head_count", 8);
  b.add_raw("llama.attention.head_count_kv", 9, array_payload(4, kv_heads));
  b.add_u32("llama.feed_forward_length", 512);
  return b;
}

}  // namespace

TEST_CASE("gguf layers: per-layer KV heads, FFN widths, windows and shared caches", "[bridge]") {
  const auto m = model_from_checkpoint_file(write("gguf-layers", six_layers()));
  REQUIRE(m);
  REQUIRE(m->layers.size() == 6);
  CHECK(m->layers[0].attention.kv_heads == 2);
  CHECK(m->layers[1].attention.kv_heads == 4);
  CHECK_FALSE(m->layers[2].has_mixer);
  CHECK(m->layers[2].ffn.kind == FfnKind::kNone);
  CHECK(m->layers[3].ffn.intermediate == 1024);
  CHECK(m->layers[0].span == AttentionSpan{SpanKind::kSlidingWindow, 128});
  CHECK(m->layers[1].span.kind == SpanKind::kFull);
  // The last two layers read the nearest earlier cache with the same attention and fill rule.
  CHECK(m->layers[4].kv_source == 0);  // sliding, 2 KV heads
  CHECK(m->layers[5].kv_source == 3);  // full, 2 KV heads
  CHECK(m->tied_embeddings);
  CHECK(m->vocab_size == 10);

  // What each layer caches per token (elements) and its attention weights, from the one
  // enumeration the capacity figures read (attention/weights.hpp): K, V of h_kv x 32 each.
  int64_t cached = 0, attn_params = 0, owners = 0;
  for (const LayerSpec& l : m->layers) {
    if (mixer_kind(l) == MixerKind::kNone) continue;
    const AttentionCounts c = attention_counts(l.attention);
    attn_params += c.params;
    if (owns_cache(l)) {
      cached += c.cached_elements;
      ++owners;
    }
  }
  // Own caches: layer 0 (2 KV heads) 128 elements, layer 1 (4) 256, layer 3 (2) 128; in fp16 (a
  // GGUF is served in fp16) 1024 B per token.
  CHECK(owners == 3);
  CHECK(cached == 512);
  CHECK(m->layers[0].kv_dtype == DType::kF16);
  // Attention: q, o 256*256 each + k, v (h_kv*32)*256 each: 163840 with 2 KV heads (layers 0,
  // 3, 4, 5) and 196608 with 4 (layer 1); layer 2 has none.
  CHECK(attn_params == 4 * 163840 + 196608);
}

TEST_CASE("gguf layers: one value or a period reads as before, bad arrays name the key", "[bridge]") {
  GgufBuilder b = llama_with_kv_heads(4, {2, 2, 2, 2});
  b.add_u32("llama.attention.sliding_window", 64);
  b.add_u32("llama.attention.sliding_window_pattern", 2);  // period 2: layers 0 and 2 slide
  const auto m = model_from_checkpoint_file(write("gguf-layers-uniform", b));
  REQUIRE(m);
  for (size_t i = 0; i < 4; ++i) {
    INFO("layer " << i);
    CHECK(m->layers[i].attention.kv_heads == 2);
    CHECK((m->layers[i].span.kind == SpanKind::kSlidingWindow) == (i % 2 == 0));
  }

  // An array of the wrong length, and KV heads that do not divide the heads.
  GgufBuilder c = llama_with_kv_heads(4, {2, 2});
  CHECK_THROWS_WITH(model_from_checkpoint_file(write("gguf-layers-short", c)),
                    Catch::Contains("llama.attention.head_count_kv has 2 entries for 4 layers"));
  GgufBuilder d = llama_with_kv_heads(2, {2, 3});
  CHECK_THROWS_WITH(model_from_checkpoint_file(write("gguf-layers-indivisible", d)),
                    Catch::Contains("layer 1: head_count 8 is not divisible by head_count_kv 3"));
}
